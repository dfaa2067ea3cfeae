"""Torch building blocks shared by the first-party deep models.

This module imports torch at the top, so model plugins import it only inside their builders:
plugin discovery never imports torch. The classes live at module level so that built networks
can be pickled and deep-copied.
"""

from __future__ import annotations

import torch
from torch import nn

INPUT_NORM_MOMENTUM = None
"""Batch norm on a model's raw input keeps a cumulative average (``momentum=None``).

Inputs arrive on scales far from batch norm's initial statistics (waveforms with a variance near
0.01, log spectrograms in decibels, features in hertz); with the default momentum of 0.1, a few
dozen training steps leave the running statistics short of the data's, and evaluation-mode
predictions after a short budget are off. The cumulative average is the exact statistic of
every training batch seen, which is what an input normaliser should hold.
"""


class AvgMaxPool(nn.Module):
    """Average and max over every axis after the channels, concatenated: ``[B, C, ...]`` ->
    ``[B, 2C]``; any input length gives the same size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(2, x.ndim))
        return torch.cat([x.mean(dim=dims), x.amax(dim=dims)], dim=1)


class LayerWeightedSum(nn.Module):
    """A learned softmax-weighted sum over the rows of ``[B, L, D]`` (a frozen encoder's hidden
    layers): ``[B, L, D]`` -> ``[B, D]``.

    Each layer's features are standardised first (batch norm over the ``L * D`` features), so
    the weights compare layers on one scale; the weights start equal (zero logits), as in the
    weighted-sum probes of SUPERB (Yang et al., Interspeech 2021) and MARBLE (Yuan et al.,
    NeurIPS 2023 Datasets and Benchmarks).
    """

    def __init__(self, layers: int, features: int) -> None:
        super().__init__()
        self.shape = (layers, features)
        self.norm = nn.BatchNorm1d(layers * features, momentum=INPUT_NORM_MOMENTUM)
        self.logits = nn.Parameter(torch.zeros(layers))

    def weights(self) -> torch.Tensor:
        """The layers' weights ``[L]`` (they sum to 1)."""
        return torch.softmax(self.logits, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        x = self.norm(x.reshape(b, -1)).reshape(b, *self.shape)
        return torch.einsum("bld,l->bd", x, self.weights())


class MultiKernelBlock1d(nn.Module):
    """Parallel 1D convolutions with different kernel sizes, concatenated, then batch norm, ReLU
    and max pooling (an inception-like block): ``[B, C, T]`` -> ``[B, len(kernels) * width,
    ceil(T / pool)]``."""

    def __init__(self, channels: int, width: int, kernels: tuple[int, ...], pool: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Conv1d(channels, width, k, padding=k // 2, bias=False) for k in kernels
        )
        self.post = nn.Sequential(
            nn.BatchNorm1d(width * len(kernels)),
            nn.ReLU(inplace=True),
            nn.MaxPool1d(pool, ceil_mode=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(torch.cat([branch(x) for branch in self.branches], dim=1))  # type: ignore[no-any-return]


class FeatureNorm(nn.Module):
    """Batch norm of each feature over the batch and time: ``[B, T, D]`` -> ``[B, T, D]``.

    Frame features have unrelated units (decibels, hertz, ratios); per-feature statistics put
    them on one scale without mixing them, as LayerNorm across features would.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(features, momentum=INPUT_NORM_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)  # type: ignore[no-any-return]


class MapsToSequence(nn.Module):
    """Feature maps as a sequence of time steps: ``[B, C, F, T]`` -> ``[B, T, C * F]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2).flatten(2)


class AttentionPool(nn.Module):
    """Feed-forward attention over time (Raffel & Ellis 2016): ``[B, T, H]`` -> ``[B, H]``."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(features, features), nn.Tanh(), nn.Linear(features, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(x), dim=1)  # [B, T, 1]
        return (weights * x).sum(dim=1)


class Recurrent(nn.Module):
    """A GRU or LSTM over a sequence, pooled over time: ``[B, T, D]`` -> ``[B, size]``.

    ``pooling`` is ``"attention"`` (learnt weights over time steps), ``"mean"`` (average of the
    outputs) or ``"last"`` (the final hidden state of the last layer; both directions when
    bidirectional). ``size`` is ``hidden`` times the number of directions.
    """

    def __init__(
        self,
        features: int,
        *,
        hidden: int,
        layers: int,
        cell: str,
        bidirectional: bool,
        pooling: str,
        dropout: float,
    ) -> None:
        super().__init__()
        recurrent = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.rnn = recurrent(
            features,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.directions = 2 if bidirectional else 1
        self.size = hidden * self.directions
        self.pooling = pooling
        self.attention = AttentionPool(self.size) if pooling == "attention" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, state = self.rnn(x)
        if self.attention is not None:
            return self.attention(outputs)  # type: ignore[no-any-return]
        if self.pooling == "mean":
            return outputs.mean(dim=1)  # type: ignore[no-any-return]
        final = state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)
        last_layer = final[-self.directions :]  # [directions, B, hidden]
        return last_layer.transpose(0, 1).reshape(x.shape[0], self.size)  # type: ignore[no-any-return]


def head(features: int, n_outputs: int, dropout: float) -> nn.Module:
    """Dropout and a linear layer: ``[B, features]`` -> ``[B, n_outputs]``."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(features, n_outputs))


def parse_kernels(text: str) -> tuple[int, ...]:
    """``"3-5-9"`` -> ``(3, 5, 9)``: kernel sizes of parallel branches, written as one choice."""
    return tuple(int(k) for k in text.split("-"))


class FeatureBranch(nn.Module):
    """Batch norm of each feature, then a dense layer: ``[B, D]`` -> ``[B, width]``.

    Hand-crafted features come in unrelated units; batch norm puts them on one scale.
    """

    def __init__(self, features: int, width: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.BatchNorm1d(features, momentum=INPUT_NORM_MOMENTUM),
            nn.Linear(features, width),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # type: ignore[no-any-return]


class Fusion(nn.Module):
    """Joins two embeddings ``[B, A]`` and ``[B, D]`` into ``[B, size]``.

    ``"concat"`` concatenates them (``size = A + D``). ``"gated"`` is a gated multimodal unit
    (Arevalo et al. 2017): both are projected to ``width`` with tanh, and a sigmoid gate computed
    from both weighs them per unit (``size = width``), so the network learns how much to trust
    the audio against the features.
    """

    def __init__(self, audio: int, features: int, *, mode: str, width: int) -> None:
        super().__init__()
        self.mode = mode
        self.size = audio + features if mode == "concat" else width
        if mode == "gated":
            self.audio = nn.Linear(audio, width)
            self.features = nn.Linear(features, width)
            self.gate = nn.Linear(audio + features, width)

    def forward(self, a: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        both = torch.cat([a, f], dim=1)
        if self.mode == "concat":
            return both
        gate = torch.sigmoid(self.gate(both))
        return gate * torch.tanh(self.audio(a)) + (1 - gate) * torch.tanh(self.features(f))


class TwoBranch(nn.Module):
    """An audio branch and a feature branch, fused, then a head: ``(x, v)`` -> ``[B, n]``."""

    def __init__(
        self, audio: nn.Module, features: nn.Module, fusion: Fusion, top: nn.Module
    ) -> None:
        super().__init__()
        self.audio = audio
        self.features = features
        self.fusion = fusion
        self.head = top

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.head(self.fusion(self.audio(x), self.features(v)))  # type: ignore[no-any-return]
