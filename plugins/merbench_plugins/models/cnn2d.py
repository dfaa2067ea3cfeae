"""cnn2d: a 2D CNN on spectrograms with tunable kernel shapes and adaptive pooling.

Convolutional blocks (convolution, batch norm, ReLU, max pooling) over a spectrogram
``[B, C, F, T]``, then adaptive average and max pooling concatenated into a fixed-size vector
whatever the clip length, then a dense head. The kernel shape is tunable: square kernels
(3x3, 5x5) as in image CNNs, or musically motivated rectangles spanning frequency or time
(Pons et al. 2017, "Timbre analysis of music audio signals with convolutional neural
networks"). Works on any spectrogram front-end (``mel``, ``stft``, ``mfcc``).

The network is in ``_cnn2d_net``, named lazily by its import path: discovering this plugin
imports no torch.
"""

from __future__ import annotations

from collections.abc import Iterator

import merbench
from merbench.space import CategoricalDistribution, FloatDistribution, IntDistribution

MERBENCH_PLUGIN_API = 1

KERNELS = {"3x3": (3, 3), "5x5": (5, 5), "freq": (7, 3), "time": (3, 7)}


@merbench.hookimpl
def merbench_models() -> Iterator[merbench.ModelSpec]:
    yield merbench.ModelSpec(
        name="cnn2d",
        accepts=("spectrogram",),
        build="merbench_plugins.models._cnn2d_net:build",
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
