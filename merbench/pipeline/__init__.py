"""A run: its settings, its plan, its cells, and the processes that work through them.

- ``settings``: ``RunSettings``, every run option declared once; ``candidates``: candidate names.
- ``plan``: datasets and tasks chosen, folds stored, any cell built from its key.
- ``cell``: tune, refit and test one cell; ``fitting``: ``CellPlan`` and ``CandidateFit``, one
  candidate's inputs, fits and predictions; ``record``: what a cell's result says of it;
  ``runner``: one run; ``jobs``: local worker processes; ``worker``: the claim loop of
  ``merbench worker``; ``progress``: the reporter protocol and the run log; ``provenance``:
  versions and machine of a run.
"""
