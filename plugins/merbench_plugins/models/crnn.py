"""crnn: convolutional blocks on a spectrogram, then a GRU or LSTM over time.

After batch norm of the input levels, convolutional blocks (3x3 convolution, batch norm, ReLU,
max pooling) pool frequency by 2 in every block and time by 2 in the first two only, so the
recurrent layer still sees a quarter of the frame rate. The remaining frequency bins and channels
of each time step are flattened into one vector, a GRU or LSTM (optionally bidirectional) reads
the sequence, attention or last-state pooling summarises it and a dense head gives the outputs.
This follows the convolutional recurrent networks of Choi et al. 2017 ("Convolutional recurrent
neural networks for music classification") as used for MER by Malik et al. 2017 ("Stacked
convolutional and recurrent neural networks for music emotion recognition").
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import merbench
from merbench.space import CategoricalDistribution, FloatDistribution, IntDistribution
from merbench_plugins.models.rnn import POOLINGS

MERBENCH_PLUGIN_API = 1

TIME_POOLS = 2  # blocks that also halve time


def build(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    width: int = 16,
    depth: int = 3,
    cell: str = "gru",
    hidden: int = 64,
    bidirectional: bool = True,
    pooling: str = "attention",
    dropout: float = 0.2,
) -> Any:
    """Build the network for one spectrogram: ``[B, C, F, T]`` -> ``[B, n_outputs]``.

    Args:
        inputs: one spectrogram shape ``(C, F, T)``; any ``T`` works.
        n_outputs: head size (2 for arousal and valence, the number of classes otherwise).
        width: channels of the first block (doubling once with depth).
        depth: convolutional blocks, each halving frequency.
        cell: ``"gru"`` or ``"lstm"``.
        hidden: recurrent units per direction.
        bidirectional: read the sequence in both directions.
        pooling: ``"attention"``, ``"mean"`` or ``"last"`` (final hidden state).
        dropout: dropout before the head.
    """
    from torch import nn

    from merbench_plugins.models.layers import (
        INPUT_NORM_MOMENTUM,
        MapsToSequence,
        Recurrent,
        head,
    )

    channels, bins = inputs[0].shape[0], inputs[0].shape[1]
    layers: list[nn.Module] = [nn.BatchNorm2d(channels, momentum=INPUT_NORM_MOMENTUM)]
    for block in range(depth):
        out = width * 2 ** min(block, 1)
        layers += [
            nn.Conv2d(channels, out, 3, padding=1, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
            nn.MaxPool2d((2, 2 if block < TIME_POOLS else 1), ceil_mode=True),
        ]
        channels, bins = out, math.ceil(bins / 2)
    recurrent = Recurrent(
        channels * bins, hidden=hidden, layers=1, cell=cell, bidirectional=bidirectional,
        pooling=pooling, dropout=0.0,
    )  # fmt: skip

    return nn.Sequential(
        *layers, MapsToSequence(), recurrent, head(recurrent.size, n_outputs, dropout)
    )


@merbench.hookimpl
def merbench_models() -> Iterator[merbench.ModelSpec]:
    yield merbench.ModelSpec(
        name="crnn",
        accepts=("spectrogram",),
        build=build,
        search_space={
            "width": CategoricalDistribution([8, 16, 32]),
            "depth": IntDistribution(2, 4),
            "cell": CategoricalDistribution(["gru", "lstm"]),
            "hidden": CategoricalDistribution([32, 64, 128]),
            "bidirectional": CategoricalDistribution([False, True]),
            "pooling": CategoricalDistribution(POOLINGS),
            "dropout": FloatDistribution(0.0, 0.5),
        },
        default_frontends=("mel",),
        summary="Conv blocks pooling frequency, then a GRU/LSTM with attention pooling.",
    )
