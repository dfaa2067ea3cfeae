"""The ``frames`` front-end: a frame-level feature sequence ``[B, T, D]`` for recurrent models.

A fixed front-end (computed once per dataset and parameters and cached by the core) mapping
waveforms ``[B, C, T]``, mixed to mono, to one feature vector per frame, ``[B, N, n_mels + 4]``
with ``N = T // hop_length + 1``. Every definition is pinned here, as in ``spectral.py``: a
periodic Hann window of ``n_fft = 2 * hop_length`` samples (50 % overlap), ``center=True`` with
reflect padding, power spectra, the HTK mel scale from 0 Hz to Nyquist without filter
normalisation. The hop is 2048 samples by default (128 ms at 16 kHz; 1024 is 64 ms): half the
time steps of 1024 train ``lstm``/``gru`` 1.6-1.7x faster per step at the same synth scores
(``benchmarks/bench_recurrent.py``, ``docs/models.md``).

Features per frame, in ``feature_names`` order, in units chosen so that every value is of order
one (recurrent models get no input scaling from the core; log powers are in bels, dB / 10):

- ``melNN``: ``log10(mel power + 1e-10)``, one per band, low to high.
- ``rms``: ``log10(mean square + 1e-10)`` of the frame's samples (the centred, reflect-padded
  frame the STFT sees), so 0 is a full-scale square wave and -10 the floor.
- ``centroid``: the magnitude-weighted mean frequency over Nyquist, in ``[0, 1]``.
- ``flatness``: ``log10`` of the geometric over the arithmetic mean of the power spectrum
  (power floored at 1e-10), ``<= 0``; 0 for white noise.
- ``flux``: the mean over bands of the rise of ``melNN`` since the previous frame (falls count
  as 0), 0 for the first frame.

Discovering the plugin imports no torch; ``build`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import merbench
from merbench.space import CategoricalDistribution

if TYPE_CHECKING:
    import torch

MERBENCH_PLUGIN_API = 1

HOP = 2048  # 128 ms at 16 kHz; the tuner also tries 1024
HOPS = [1024, HOP]
N_MELS = 40
DESCRIPTORS = ("rms", "centroid", "flatness", "flux")
FLOOR = 1e-10


def feature_names(n_mels: int = N_MELS) -> list[str]:
    """Return the names of the ``D = n_mels + 4`` features, in output order (no torch needed).

    Args:
        n_mels: number of mel bands.

    Returns:
        ``mel00`` ... then ``rms``, ``centroid``, ``flatness``, ``flux``.
    """
    return [f"mel{k:02d}" for k in range(n_mels)] + list(DESCRIPTORS)


def build(sample_rate: int, *, n_mels: int = N_MELS, hop_length: int = HOP) -> torch.nn.Module:
    """Build the front-end: float waveforms ``[B, C, T]`` -> features ``[B, N, n_mels + 4]``.

    Args:
        sample_rate: the sample rate of the waveforms in Hz.
        n_mels: number of mel bands.
        hop_length: hop between frames in samples; the window is twice as long.

    Returns:
        A ``torch.nn.Module`` without parameters; its ``feature_names`` lists the ``D`` names.
    """
    import torch
    import torchaudio

    n_fft = 2 * hop_length
    spectrogram = torchaudio.transforms.Spectrogram(
        n_fft=n_fft, hop_length=hop_length, window_fn=torch.hann_window, power=2.0,
        center=True, pad_mode="reflect", normalized=False,
    )  # fmt: skip
    mel_scale = torchaudio.transforms.MelScale(
        n_mels=n_mels, sample_rate=sample_rate, f_min=0.0, f_max=sample_rate / 2,
        n_stft=n_fft // 2 + 1, norm=None, mel_scale="htk",
    )  # fmt: skip

    class Frames(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.spectrogram = spectrogram
            self.mel_scale = mel_scale
            self.feature_names = feature_names(n_mels)

        def forward(self, waveform: torch.Tensor) -> torch.Tensor:
            mono = waveform.to(torch.float32).mean(dim=1)  # [B, T]
            power = self.spectrogram(mono)  # [B, F, N]
            log_mel = (self.mel_scale(power) + FLOOR).log10()  # [B, M, N]
            descriptors = [
                _rms(mono, n_fft, hop_length),
                _centroid(power),
                _flatness(power),
                _flux(log_mel),
            ]
            features = torch.cat([log_mel, torch.stack(descriptors, dim=1)], dim=1)
            return features.transpose(1, 2).contiguous()  # [B, N, D]

    return Frames()


def _rms(mono: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """``log10`` mean square of each centred, reflect-padded frame: ``[B, T]`` -> ``[B, N]``."""
    import torch.nn.functional as F

    half = n_fft // 2
    padded = F.pad(mono.unsqueeze(1), (half, half), mode="reflect")  # [B, 1, T + n_fft]
    mean_square = F.avg_pool1d(padded.square(), n_fft, stride=hop_length).squeeze(1)
    return (mean_square + FLOOR).log10()


def _centroid(power: torch.Tensor) -> torch.Tensor:
    """Magnitude-weighted mean bin over the Nyquist bin: ``[B, F, N]`` -> ``[B, N]`` in [0, 1]."""
    import torch

    magnitude = power.sqrt()
    position = torch.linspace(0.0, 1.0, power.shape[1], dtype=power.dtype, device=power.device)
    return (position @ magnitude) / (magnitude.sum(dim=1) + FLOOR)


def _flatness(power: torch.Tensor) -> torch.Tensor:
    """``log10`` geometric over arithmetic mean power: ``[B, F, N]`` -> ``[B, N]``, ``<= 0``."""
    floored = power.clamp(min=FLOOR)
    return floored.log10().mean(dim=1) - floored.mean(dim=1).log10()


def _flux(log_mel: torch.Tensor) -> torch.Tensor:
    """Mean rise of the log mel bands since the previous frame: ``[B, M, N]`` -> ``[B, N]``."""
    import torch.nn.functional as F

    rise = (log_mel[..., 1:] - log_mel[..., :-1]).clamp(min=0.0).mean(dim=1)
    return F.pad(rise, (1, 0))


@merbench.hookimpl
def merbench_frontends() -> Iterator[merbench.FrontEndSpec]:
    yield merbench.FrontEndSpec(
        name="frames",
        output="sequence",
        trainable=False,
        build=build,
        search_space={
            "n_mels": CategoricalDistribution([24, 40, 64]),
            "hop_length": CategoricalDistribution(HOPS),
        },
        summary="Per-frame log mel bands, RMS, centroid, flatness and flux, [B, T, D].",
    )
