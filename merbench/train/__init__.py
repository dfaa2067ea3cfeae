"""Fitting one configuration of a candidate: tuned, trained, augmented, timed.

- ``fit``: ``Problem``, the scikit-learn fit, scoring a validation split; ``loop``: the torch
  training loop; ``torch_net``: front-ends joined to a model; ``family``: what differs between
  torch and scikit-learn models.
- ``tuning``: one Optuna study per cell; ``calibration``: rescaling whole-clip predictions.
- ``augment``, ``torch_augment``, ``policy``, ``prerender``, ``seeds``: training-time
  augmentation; ``timing``: a cell's time per phase; ``allocator``: the process's malloc setting.
"""
