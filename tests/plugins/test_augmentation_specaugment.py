"""SpecAugment: time and frequency masks of bounded width, filled with the example's mean."""

from __future__ import annotations

import numpy as np
import torch

from merbench.testing import check_plugin
from merbench_plugins.augmentations import specaugment


def test_the_module_passes_the_contract_kit():
    assert all(c.passed for c in check_plugin(specaugment))


def _apply(x, seed, **params):
    """One example ``[C, F, T]`` through the batched transform, as a batch of one."""
    transform = specaugment.build(16000, **params)
    return transform(x.clone()[None], [np.random.default_rng(seed)])[0]


def _masked(x, seed, **params):
    return _apply(x, seed, **params) != x


def test_masks_are_whole_rows_and_columns_of_bounded_width():
    x = torch.randn(1, 48, 100) + 5.0
    for seed in range(10):
        changed = _masked(x, seed, time_mask=12, freq_mask=6, n_masks=1)[0]
        columns = changed.all(dim=0)  # time steps masked in every band
        rows = changed.all(dim=1)  # bands masked at every time step
        assert torch.equal(changed, columns.unsqueeze(0) | rows.unsqueeze(1))
        assert int(columns.sum()) <= 12 and int(rows.sum()) <= 6


def test_masked_cells_take_the_mean_not_zero():
    x = torch.full((1, 32, 80), -60.0)
    x[0, :, ::2] = -40.0
    out = _apply(x, 1, time_mask=30, freq_mask=10)
    changed = out != x
    assert changed.any()
    assert torch.allclose(out[changed], torch.tensor(-50.0))


def test_masks_differ_between_examples_and_repeat_for_a_seed():
    x = torch.randn(1, 48, 100)
    assert torch.equal(_masked(x, 3), _masked(x, 3))
    assert not torch.equal(_masked(x, 3), _masked(x, 4))
