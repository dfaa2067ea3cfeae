"""hybrid and hybrid2d: an audio branch and a hand-crafted feature branch, fused before the head.

Deep MER work sets networks learnt from audio (Orjesek et al. 2019 on raw audio, Malik et al.
2017 on spectrograms) against hand-crafted descriptors (compared side by side by Sarkar et al.
2020); these models use both, raw audio plus computed features. Two inputs, in this order:

- ``hybrid``: a waveform ``[B, C, T]`` read by the ``cnn1d`` encoder (strided first layer,
  multi-kernel blocks, average and max pooling), default candidate ``hybrid@raw+handcrafted``;
- ``hybrid2d``: a spectrogram ``[B, C, F, T]`` read by the ``cnn2d`` network without its head,
  default candidate ``hybrid2d@mel+handcrafted``;

and a feature vector ``[B, D]`` (``handcrafted``) through batch norm and a dense layer. The two
embeddings are concatenated or joined by a gated multimodal unit (``fusion``), then a dense head
gives ``[B, n_outputs]``. A model record accepts one tuple of input kinds, so the waveform and
spectrogram variants are two records that share the feature branch, the fusion and the head.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import merbench
from merbench.space import CategoricalDistribution, FloatDistribution, IntDistribution
from merbench_plugins.models import cnn1d, cnn2d

MERBENCH_PLUGIN_API = 1

FUSIONS = ["gated", "concat"]


def _fused(
    audio: Any, audio_size: int, features: int, n_outputs: int, *, feature_width: int,
    fusion: str, dropout: float,
) -> Any:  # fmt: skip
    """Join ``audio`` (giving ``[B, audio_size]``) with a feature branch on ``[B, features]``."""
    from merbench_plugins.models.layers import FeatureBranch, Fusion, TwoBranch, head

    joined = Fusion(audio_size, feature_width, mode=fusion, width=feature_width)
    return TwoBranch(
        audio,
        FeatureBranch(features, feature_width),
        joined,
        head(joined.size, n_outputs, dropout),
    )


def build(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    width: int = 8,
    depth: int = 5,
    kernels: str = "3-5-9",
    stem_stride: int = 27,
    feature_width: int = 64,
    fusion: str = "gated",
    dropout: float = 0.2,
) -> Any:
    """Build the waveform hybrid: ``([B, C, T], [B, D])`` -> ``[B, n_outputs]``.

    Args:
        inputs: a waveform shape ``(C, T)`` and a feature shape ``(D,)``.
        n_outputs: head size (2 for arousal and valence, the number of classes otherwise).
        width, depth, kernels, stem_stride: the ``cnn1d`` encoder's (see ``cnn1d.build``).
        feature_width: units of the feature branch (and of the gated fusion).
        fusion: ``"gated"`` (gated multimodal unit) or ``"concat"``.
        dropout: dropout before the head.
    """
    from torch import nn

    from merbench_plugins.models.layers import AvgMaxPool

    convolutions, size = cnn1d.encoder(
        inputs[0].shape[0], width=width, depth=depth, kernels=kernels, stem_stride=stem_stride
    )
    return _fused(
        nn.Sequential(convolutions, AvgMaxPool()), 2 * size, inputs[1].shape[0], n_outputs,
        feature_width=feature_width, fusion=fusion, dropout=dropout,
    )  # fmt: skip


def build_2d(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    width: int = 16,
    depth: int = 3,
    kernel: str = "3x3",
    feature_width: int = 64,
    fusion: str = "gated",
    dropout: float = 0.2,
) -> Any:
    """Build the spectrogram hybrid: ``([B, C, F, T], [B, D])`` -> ``[B, n_outputs]``.

    Args:
        inputs: a spectrogram shape ``(C, F, T)`` and a feature shape ``(D,)``.
        n_outputs: head size (2 for arousal and valence, the number of classes otherwise).
        width, depth, kernel: the ``cnn2d`` network's (see ``_cnn2d_net.build``).
        feature_width: units of the feature branch (and of the gated fusion).
        fusion: ``"gated"`` (gated multimodal unit) or ``"concat"``.
        dropout: dropout before the head.
    """
    from merbench_plugins.models._cnn2d_net import build as build_cnn2d

    network = build_cnn2d(inputs[:1], 1, width=width, depth=depth, kernel=kernel, dropout=0.0)
    size = network[-1].in_features
    return _fused(
        network[:-2], size, inputs[1].shape[0], n_outputs,  # without cnn2d's dropout and head
        feature_width=feature_width, fusion=fusion, dropout=dropout,
    )  # fmt: skip


SHARED_SPACE = {
    "feature_width": CategoricalDistribution([32, 64, 128]),
    "fusion": CategoricalDistribution(FUSIONS),
    "dropout": FloatDistribution(0.0, 0.5),
}


@merbench.hookimpl
def merbench_models() -> Iterator[merbench.ModelSpec]:
    yield merbench.ModelSpec(
        name="hybrid",
        accepts=("waveform", "vector"),
        build=build,
        search_space={
            key: cnn1d.SEARCH_SPACE[key] for key in ("width", "depth", "kernels", "stem_stride")
        }
        | SHARED_SPACE,
        default_frontends=("raw+handcrafted",),
        summary="Raw-audio CNN branch and hand-crafted feature branch, gated or concatenated.",
    )
    yield merbench.ModelSpec(
        name="hybrid2d",
        accepts=("spectrogram", "vector"),
        build=build_2d,
        search_space={
            "width": CategoricalDistribution([8, 16, 32]),
            "depth": IntDistribution(2, 4),
            "kernel": CategoricalDistribution(list(cnn2d.KERNELS)),
        }
        | SHARED_SPACE,
        default_frontends=("mel+handcrafted",),
        summary="Spectrogram CNN branch and hand-crafted feature branch, gated or concatenated.",
    )
