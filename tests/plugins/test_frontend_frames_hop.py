"""The frames front-end's default hop: 128 ms frames, and a value the tuner tries first."""

from __future__ import annotations

import torch

from merbench.plugin.registry import load_registry
from merbench.space import optuna_space
from merbench.train.tuning import default_params
from merbench_plugins.frontends import frames

SR = 16000


def test_default_hop_gives_one_frame_per_2048_samples():
    output = frames.build(SR)(torch.zeros(2, 1, 3 * SR))
    assert frames.HOP == 2048
    assert output.shape == (2, 3 * SR // 2048 + 1, frames.N_MELS + 4)


def test_the_default_hop_is_searched_so_the_first_trial_uses_it():
    spec = load_registry(plugins=[frames], entry_points=False).frontend("frames")
    space = optuna_space({f"frames.{k}": v for k, v in spec.search_space.items()})
    defaults = default_params(space, {"frames.": spec.build})
    assert defaults == {"frames.hop_length": frames.HOP, "frames.n_mels": frames.N_MELS}
    assert space["frames.hop_length"].choices == (1024, 2048)
