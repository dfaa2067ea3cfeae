"""mixup (Zhang et al. 2018): convex combinations of pairs of training examples and labels.

A batch is mixed with a shuffled copy of itself, ``x = lam * x_i + (1 - lam) * x_j`` with one
``lam ~ Beta(alpha, alpha)`` per batch, and so are its targets with the same ``lam``: arousal
and valence for regression, soft (one-hot) class labels for classification, which then sum to
1. Every model input of a hybrid is mixed with the same pairs and ``lam``. The core applies it
to the model inputs after the front-ends (spectrograms, features or waveforms).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import merbench
from merbench.space import FloatDistribution

MERBENCH_PLUGIN_API = 1


def build(sample_rate: int, *, alpha: float = 0.3) -> Callable[..., Any]:
    """Mix a batch: ``(xs: list of [B, ...], y: [B, D], rng) -> (xs, y)``."""

    def mixup(xs: list[Any], y: Any, rng: Any) -> tuple[list[Any], Any]:
        import torch

        lam = float(rng.beta(alpha, alpha))
        pairs = torch.as_tensor(rng.permutation(len(y)), device=y.device)
        mixed = [lam * x + (1 - lam) * x[pairs] for x in xs]
        return mixed, lam * y + (1 - lam) * y[pairs]

    return mixup


@merbench.hookimpl
def merbench_augmentations() -> Iterator[merbench.AugmentationSpec]:
    yield merbench.AugmentationSpec(
        name="mixup",
        stage="batch",
        labels="mix",
        build=build,
        search_space={"alpha": FloatDistribution(0.1, 1.0, log=True)},
        summary="mixup of example pairs and their labels (soft labels for classes).",
    )
