"""The contract with plugins: what a plugin declares and how the core finds it.

- ``hookspecs``: the four hooks (datasets, front-ends, augmentations, models) and ``hookimpl``.
- ``specs``: the frozen records plugins yield (``DatasetSpec``, ``ModelSpec``, ...).
- ``lazy``: builders named by a ``"module:attribute"`` string, imported on first use.
- ``torch_space``: the optimiser keys every torch model is tuned over.
- ``registry``: entry-point discovery, the API check, conflicts -> ``Registry``;
  ``validation``: why a record is refused.
- ``scaffold`` and ``templates/``: ``merbench new-plugin``.

Plugin authors import these through ``merbench`` itself (``merbench.ModelSpec``,
``merbench.hookimpl``); search spaces come from ``merbench.space``.
"""
