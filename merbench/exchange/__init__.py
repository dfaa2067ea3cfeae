"""What leaves a run and what comes into it from outside.

- ``export``, ``manifest``, ``bundle``: a final model trained on every track, its ``model.json``
  and its files (read without executing anything); ``inference``: its predictions of any audio.
- ``predictions``, ``external``: per-track predictions made elsewhere, checked against a run's
  folds and scored beside its candidates.
"""
