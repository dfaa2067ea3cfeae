"""mlp: a small multilayer perceptron probe on feature vectors.

Probing frozen pretrained encoders with a shallow head is how their embeddings are compared on
emotion recognition (MARBLE's EMO task: a linear or one-hidden-layer probe on the frozen
features). ``mlp`` is that probe: per-feature batch norm (embeddings and hand-crafted features
come in unrelated scales), one hidden layer with ReLU (or none: a linear probe), dropout, and a
linear output layer: ``[B, D]`` -> ``[B, n_outputs]``. Its own search space is small: the hidden
size (0 is the linear probe) and the dropout; the core tunes the optimiser's ``lr`` and
``weight_decay`` as for every torch model.

``layer-mlp`` reads every hidden layer of an encoder (``mert-layers``: ``[B, L, D]``) and learns a
softmax-weighted sum of them before the same probe, the weighted-sum probe of SUPERB and
MARBLE; ``--models all`` leaves it out (its front-end needs pretrained weights).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import merbench
from merbench.space import CategoricalDistribution, FloatDistribution

MERBENCH_PLUGIN_API = 1

HIDDEN_SIZES = [0, 64, 256, 512]
"""Hidden units to try; ``0`` is a linear probe (no hidden layer)."""


def build_mlp(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    hidden: int = 256,
    dropout: float = 0.2,
) -> Any:
    """Build the probe on one vector input: ``[B, D]`` -> ``[B, n_outputs]``.

    Args:
        inputs: one vector shape ``(D,)``.
        n_outputs: head size (2 for arousal and valence, the number of classes otherwise).
        hidden: hidden units; ``0`` gives a linear probe.
        dropout: dropout before each linear layer.
    """
    from torch import nn

    from merbench_plugins.models.layers import INPUT_NORM_MOMENTUM

    features = inputs[0].shape[-1]
    layers: list[nn.Module] = [nn.BatchNorm1d(features, momentum=INPUT_NORM_MOMENTUM)]
    if hidden > 0:
        layers += [nn.Dropout(dropout), nn.Linear(features, hidden), nn.ReLU(inplace=True)]
        features = hidden
    layers += [nn.Dropout(dropout), nn.Linear(features, n_outputs)]
    return nn.Sequential(*layers)


def build_layer_mlp(
    inputs: tuple[merbench.InputShape, ...],
    n_outputs: int,
    *,
    hidden: int = 256,
    dropout: float = 0.2,
) -> Any:
    """Build the weighted-sum probe on one encoder's layers: ``[B, L, D]`` -> ``[B, n_outputs]``.

    A learned softmax-weighted sum of the ``L`` layers (each standardised), then the ``mlp``
    probe on the ``D`` features: the head learns which layers to read instead of a tuned
    single ``layer``.

    Args:
        inputs: one sequence shape ``(L, D)``: ``L`` layers of ``D`` features.
        n_outputs: head size (2 for arousal and valence, the number of classes otherwise).
        hidden: hidden units of the probe; ``0`` gives a linear probe.
        dropout: dropout before each linear layer.
    """
    from torch import nn

    from merbench_plugins.models.layers import LayerWeightedSum

    layers, features = inputs[0].shape[-2], inputs[0].shape[-1]
    vector = merbench.InputShape(kind="vector", shape=(features,))
    probe = build_mlp((vector,), n_outputs, hidden=hidden, dropout=dropout)
    return nn.Sequential(LayerWeightedSum(layers, features), probe)


def _probe_space() -> dict[str, Any]:
    """The probe's own search space (the core adds the optimiser's)."""
    return {
        "hidden": CategoricalDistribution(HIDDEN_SIZES),
        "dropout": FloatDistribution(0.0, 0.5),
    }


@merbench.hookimpl
def merbench_models() -> Iterator[merbench.ModelSpec]:
    yield merbench.ModelSpec(
        name="mlp",
        accepts=("vector",),
        build=build_mlp,
        search_space=_probe_space(),
        default_frontends=("handcrafted",),
        summary="One-hidden-layer (or linear) probe on feature vectors, e.g. frozen embeddings.",
    )
    yield merbench.ModelSpec(
        name="layer-mlp",
        accepts=("sequence",),
        build=build_layer_mlp,
        search_space=_probe_space(),
        default_frontends=("mert-layers",),
        summary="Learned weighted sum of a frozen encoder's layers, then the mlp probe.",
    )
