"""Datasets, their audio and windows, cached features and folds.

- ``config``: ``datasets.toml`` (``config_checks``: its single entries); ``tracks``: a dataset's
  tracks and labels (``Tracks``).
- ``decoding``: decode, resample, crop; ``audio``: the on-disk audio cache; ``windows``: a
  track's windows.
- ``features``: cached outputs of fixed front-ends per window; ``splits``: a dataset's folds,
  stored with their manifest and audit.
"""
