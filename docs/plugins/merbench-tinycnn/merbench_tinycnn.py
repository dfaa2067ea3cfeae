"""A two-block 2D CNN with adaptive pooling, for spectrogram inputs.

The example model plugin of merbench's plugin guide (docs/plugins.md): one module, one hook,
one record. Install it with ``pip install -e docs/plugins/merbench-tinycnn`` and run it with
``merbench run --models tinycnn --budget smoke``.
"""

from __future__ import annotations

from collections.abc import Iterator

import merbench
from merbench.space import FloatDistribution, IntDistribution

MERBENCH_PLUGIN_API = 1


def build(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    width: int = 16,
    dropout: float = 0.1,
) -> object:
    """Build the network for one spectrogram input of shape [C, F, T]: -> [B, n_outputs]."""
    from torch import nn

    channels = inputs[0].shape[0]
    return nn.Sequential(
        nn.Conv2d(channels, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(2 * width, n_outputs),
    )


@merbench.hookimpl
def merbench_models() -> Iterator[merbench.ModelSpec]:
    yield merbench.ModelSpec(
        name="tinycnn",
        accepts=("spectrogram",),
        build=build,
        search_space={
            "width": IntDistribution(8, 64, log=True),
            "dropout": FloatDistribution(0.0, 0.5),
        },
        default_frontends=("mel",),
        summary="Two conv blocks and adaptive average pooling.",
    )
