"""mixup: one lambda per batch for inputs and labels alike, pairs from the generator."""

from __future__ import annotations

import numpy as np
import torch

from merbench.testing import check_plugin
from merbench_plugins.augmentations import mixup


def test_the_module_passes_the_contract_kit():
    assert all(c.passed for c in check_plugin(mixup))


def test_every_input_of_a_hybrid_is_mixed_with_the_same_pairs_and_lambda():
    y = torch.arange(8, dtype=torch.float32).reshape(-1, 1).repeat(1, 2)
    waveform = y[:, :1].reshape(-1, 1, 1).repeat(1, 1, 50)
    vector = 10 * y
    (mixed_wave, mixed_vector), mixed_y = mixup.build(16000, alpha=0.5)(
        [waveform, vector], y, np.random.default_rng(2)
    )
    assert torch.allclose(mixed_wave[:, 0, 0], mixed_y[:, 0])
    assert torch.allclose(mixed_vector, 10 * mixed_y)
    assert not torch.allclose(mixed_y, y)


def test_alpha_sets_how_far_from_the_originals_the_mix_goes():
    y = torch.eye(2).repeat(32, 1)

    def spread(alpha):
        lams = [mixup.build(16000, alpha=alpha)([y], y, np.random.default_rng(s))[1].max(dim=1)
                .values.min() for s in range(40)]  # fmt: skip
        return float(torch.stack(lams).mean())

    assert spread(0.1) > spread(1.0)
