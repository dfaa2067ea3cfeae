"""cnn1d: a raw-audio 1D CNN with a strided first layer and multi-kernel blocks.

A waveform ``[B, C, T]`` goes through batch norm (levels differ between datasets), a strided
first convolution whose kernel equals its stride (frame-like: 3 samples as in sample-level CNNs,
Lee et al. 2017; longer frames as in Dieleman & Schrauwen 2014), then blocks of parallel
convolutions with different kernel sizes concatenated (an inception-like multi-kernel block;
the kernel set is tunable), each with batch norm, ReLU and max pooling by 3. Adaptive average
and max pooling give a fixed-size vector whatever the clip length, and a dense head the outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import merbench
from merbench.space import CategoricalDistribution, FloatDistribution, IntDistribution

MERBENCH_PLUGIN_API = 1

POOL = 3


def encoder(
    channels: int, *, width: int, depth: int, kernels: str, stem_stride: int
) -> tuple[Any, int]:
    """The convolutional part: ``[B, C, T]`` -> ``[B, size, T']``; returns it and ``size``.

    Args:
        channels: input channels ``C``.
        width: channels of each branch in the first block (doubling twice with depth).
        depth: number of multi-kernel blocks.
        kernels: kernel sizes of the parallel branches, e.g. ``"3-5-9"``.
        stem_stride: kernel size and stride of the first convolution, in samples.
    """
    from torch import nn

    from merbench_plugins.models.layers import (
        INPUT_NORM_MOMENTUM,
        MultiKernelBlock1d,
        parse_kernels,
    )

    sizes = parse_kernels(kernels)
    layers: list[nn.Module] = [
        nn.BatchNorm1d(channels, momentum=INPUT_NORM_MOMENTUM),
        nn.Conv1d(channels, 2 * width, stem_stride, stride=stem_stride, bias=False),
        nn.BatchNorm1d(2 * width),
        nn.ReLU(inplace=True),
    ]
    size = 2 * width
    for block in range(depth):
        branch = width * 2 ** min(block, 2)
        layers.append(MultiKernelBlock1d(size, branch, sizes, POOL))
        size = branch * len(sizes)
    return nn.Sequential(*layers), size


def build(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    width: int = 8,
    depth: int = 5,
    kernels: str = "3-5-9",
    stem_stride: int = 27,
    dropout: float = 0.2,
) -> Any:
    """Build the network for one waveform: ``[B, C, T]`` -> ``[B, n_outputs]``.

    Args:
        inputs: one waveform shape ``(C, T)``; any ``T`` works (adaptive pooling).
        n_outputs: head size (2 for arousal and valence, the number of classes otherwise).
        width: channels of each branch in the first block (doubling twice with depth).
        depth: number of multi-kernel blocks, each pooling time by 3.
        kernels: kernel sizes of the parallel branches, e.g. ``"3-5-9"``.
        stem_stride: kernel size and stride of the first convolution, in samples.
        dropout: dropout before the head.
    """
    from torch import nn

    from merbench_plugins.models.layers import AvgMaxPool, head

    convolutions, size = encoder(
        inputs[0].shape[0], width=width, depth=depth, kernels=kernels, stem_stride=stem_stride
    )
    return nn.Sequential(convolutions, AvgMaxPool(), head(2 * size, n_outputs, dropout))


SEARCH_SPACE = {
    "width": CategoricalDistribution([8, 16]),
    "depth": IntDistribution(4, 6),
    "kernels": CategoricalDistribution(["3", "3-9", "3-5-9"]),
    "stem_stride": CategoricalDistribution([9, 27, 81]),
    "dropout": FloatDistribution(0.0, 0.5),
}


@merbench.hookimpl
def merbench_models() -> Iterator[merbench.ModelSpec]:
    yield merbench.ModelSpec(
        name="cnn1d",
        accepts=("waveform",),
        build=build,
        search_space=SEARCH_SPACE,
        default_frontends=("raw",),
        default_augmentations=("gain+mixup",),
        summary="Raw-audio CNN: strided first layer, multi-kernel blocks, avg+max pooling.",
    )
