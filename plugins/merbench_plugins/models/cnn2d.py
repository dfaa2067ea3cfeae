"""cnn2d: a 2D CNN on spectrograms with tunable kernel shapes and adaptive pooling.

Convolutional blocks (convolution, batch norm, ReLU, max pooling) over a spectrogram
``[B, C, F, T]``, then adaptive average and max pooling concatenated into a fixed-size vector
whatever the clip length, then a dense head. The kernel shape is tunable: square kernels
(3x3, 5x5) as in image CNNs, or musically motivated rectangles spanning frequency or time
(Pons et al. 2017, "Timbre analysis of music audio signals with convolutional neural
networks"). Works on any spectrogram front-end (``mel``, ``stft``, ``mfcc``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import merbench
from merbench.space import CategoricalDistribution, FloatDistribution, IntDistribution

MERBENCH_PLUGIN_API = 1

KERNELS = {"3x3": (3, 3), "5x5": (5, 5), "freq": (7, 3), "time": (3, 7)}


def build(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    width: int = 16,
    depth: int = 3,
    kernel: str = "3x3",
    dropout: float = 0.2,
) -> Any:
    """Build the network for one spectrogram: ``[B, C, F, T]`` -> ``[B, n_outputs]``."""
    import torch
    from torch import nn

    channels = inputs[0].shape[0]
    size = KERNELS[kernel]
    padding = (size[0] // 2, size[1] // 2)
    layers: list[nn.Module] = []
    for block in range(depth):
        out = width * 2 ** min(block, 2)
        layers += [
            nn.Conv2d(channels, out, size, padding=padding, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, ceil_mode=True),
        ]
        channels = out

    class AvgMaxPool(nn.Module):
        """Adaptive average and max pooling, concatenated: ``[B, C, F, T]`` -> ``[B, 2C]``."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)

    return nn.Sequential(
        # Spectrogram levels vary by dataset and front-end; a cumulative average holds the
        # training data's exact statistics even after a short budget (see models/layers.py).
        nn.BatchNorm2d(inputs[0].shape[0], momentum=None),
        *layers,
        AvgMaxPool(),
        nn.Dropout(dropout),
        nn.Linear(2 * channels, n_outputs),
    )


@merbench.hookimpl
def merbench_models() -> Iterator[merbench.ModelSpec]:
    yield merbench.ModelSpec(
        name="cnn2d",
        accepts=("spectrogram",),
        build=build,
        search_space={
            "width": CategoricalDistribution([8, 16, 32]),
            "depth": IntDistribution(2, 4),
            "kernel": CategoricalDistribution(list(KERNELS)),
            "dropout": FloatDistribution(0.0, 0.5),
        },
        default_frontends=("mel",),
        default_augmentations=("specaugment",),
        summary="Conv blocks with tunable kernel shapes, adaptive avg+max pooling, dense head.",
    )
