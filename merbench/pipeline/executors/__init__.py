"""Who runs a run's cells: this process and its local workers, other machines, a Dask cluster.

- ``worker``: the claim loop every process runs (``merbench worker``, and ``merbench run``
  itself): claim a cell from the store's queue, build it, run it, store it, beat meanwhile.
- ``jobs``: ``--jobs``: local worker processes beside the run, the cores (or one CUDA device
  each) split among them.
- ``dask_executor`` (``--executor dask``): the run claims its cells and submits them as tasks to
  a Dask cluster, then stores their results; ``dask_tasks``: what a Dask worker runs.
"""
