"""lstm and gru: recurrent networks on frame-feature sequences, with attention pooling.

A sequence of frame features ``[B, T, D]`` (the ``frames`` front-end) is normalised per feature
(batch norm over the batch and time, since frame features have unrelated units), read by one or
two GRU or LSTM layers, optionally bidirectional, pooled over time by feed-forward attention
(Raffel & Ellis 2016), the mean of the outputs or the last hidden state, and mapped to the
outputs by a dense head. Recurrent networks on frame features are the classic sequence models of
continuous MER (e.g. Weninger et al. 2014; the LSTM entries of the MediaEval "Emotion in Music"
task, Aljanaki et al. 2017).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import merbench
from merbench.space import CategoricalDistribution, FloatDistribution, IntDistribution

MERBENCH_PLUGIN_API = 1


def sequence_model(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    cell: str,
    hidden: int,
    layers: int,
    bidirectional: bool,
    pooling: str,
    dropout: float,
) -> Any:
    """A recurrent network on one sequence: ``[B, T, D]`` -> ``[B, n_outputs]``."""
    from torch import nn

    from merbench_plugins.models.layers import FeatureNorm, Recurrent, head

    features = inputs[0].shape[-1]
    recurrent = Recurrent(
        features, hidden=hidden, layers=layers, cell=cell, bidirectional=bidirectional,
        pooling=pooling, dropout=dropout,
    )  # fmt: skip
    return nn.Sequential(FeatureNorm(features), recurrent, head(recurrent.size, n_outputs, dropout))


def build_lstm(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    hidden: int = 64,
    layers: int = 1,
    bidirectional: bool = True,
    pooling: str = "attention",
    dropout: float = 0.2,
) -> Any:
    """Build an LSTM on one frame sequence: ``[B, T, D]`` -> ``[B, n_outputs]``.

    Args:
        inputs: one sequence shape ``(T, D)``; any ``T`` works.
        n_outputs: head size (2 for arousal and valence, the number of classes otherwise).
        hidden: hidden units per direction.
        layers: stacked recurrent layers.
        bidirectional: read the sequence in both directions.
        pooling: ``"attention"``, ``"mean"`` or ``"last"`` (final hidden state).
        dropout: dropout between recurrent layers and before the head.
    """
    return sequence_model(
        inputs, n_outputs, cell="lstm", hidden=hidden, layers=layers,
        bidirectional=bidirectional, pooling=pooling, dropout=dropout,
    )  # fmt: skip


def build_gru(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    hidden: int = 64,
    layers: int = 1,
    bidirectional: bool = True,
    pooling: str = "attention",
    dropout: float = 0.2,
) -> Any:
    """Build a GRU on one frame sequence: ``[B, T, D]`` -> ``[B, n_outputs]``.

    Args:
        inputs: one sequence shape ``(T, D)``; any ``T`` works.
        n_outputs: head size (2 for arousal and valence, the number of classes otherwise).
        hidden: hidden units per direction.
        layers: stacked recurrent layers.
        bidirectional: read the sequence in both directions.
        pooling: ``"attention"``, ``"mean"`` or ``"last"`` (final hidden state).
        dropout: dropout between recurrent layers and before the head.
    """
    return sequence_model(
        inputs, n_outputs, cell="gru", hidden=hidden, layers=layers,
        bidirectional=bidirectional, pooling=pooling, dropout=dropout,
    )  # fmt: skip


POOLINGS = ["attention", "mean", "last"]
SEARCH_SPACE = {
    "hidden": CategoricalDistribution([32, 64, 128]),
    "layers": IntDistribution(1, 2),
    "bidirectional": CategoricalDistribution([False, True]),
    "pooling": CategoricalDistribution(POOLINGS),
    "dropout": FloatDistribution(0.0, 0.5),
}


@merbench.hookimpl
def merbench_models() -> Iterator[merbench.ModelSpec]:
    for name, build in (("lstm", build_lstm), ("gru", build_gru)):
        yield merbench.ModelSpec(
            name=name,
            accepts=("sequence",),
            build=build,
            search_space=SEARCH_SPACE,
            default_frontends=("frames",),
            summary=f"{name.upper()} on frame features, attention or last-state pooling.",
        )
