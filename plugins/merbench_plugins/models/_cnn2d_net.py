"""The ``cnn2d`` network: torch code, imported when the core first builds the model.

The ``cnn2d`` record names :func:`build` by its import path,
``"merbench_plugins.models._cnn2d_net:build"``, so discovering the plugin imports no torch.
"""

from __future__ import annotations

import torch
from torch import nn

import merbench
from merbench_plugins.models.cnn2d import KERNELS


class AvgMaxPool(nn.Module):
    """Adaptive average and max pooling, concatenated: ``[B, C, F, T]`` -> ``[B, 2C]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)


def build(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    width: int = 16,
    depth: int = 3,
    kernel: str = "3x3",
    dropout: float = 0.2,
) -> nn.Sequential:
    """Build the network for one spectrogram: ``[B, C, F, T]`` -> ``[B, n_outputs]``."""
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
    return nn.Sequential(
        # Spectrogram levels vary by dataset and front-end; a cumulative average holds the
        # training data's exact statistics even after a short budget (see models/layers.py).
        nn.BatchNorm2d(inputs[0].shape[0], momentum=None),
        *layers,
        AvgMaxPool(),
        nn.Dropout(dropout),
        nn.Linear(2 * channels, n_outputs),
    )
