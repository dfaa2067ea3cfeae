"""What leaves a run and what comes into it from outside.

- ``export``, ``manifest``, ``bundle``: a final model trained on every track, its ``model.json``
  and its files (read without executing anything); ``schema``, ``archive``: what ``model.json``
  and a skops file may hold, checked before use; ``inference``: its predictions of any audio;
  ``runtime``: per model family, how its weights are written, read back and run.
- ``predictions``, ``external``: per-track predictions made elsewhere, checked against a run's
  folds and scored beside its candidates.
"""
