"""Trainable nnAudio front-ends: ``learnable-stft``, ``learnable-mel`` and ``learnable-cqt``.

Each is the trainable twin of a fixed front-end in ``spectral.py`` and starts from the same
definition, so that under the same folds learning the front-end is the only difference: a
periodic Hann window, ``n_fft`` 1024, the same hop, ``center=True`` with reflect padding (zeros
for the CQT, as in ``cqt``), power spectra, the HTK mel scale from 0 Hz to Nyquist without filter
normalisation, and ``10 * log10(x + 1e-10)``. Their parameters train with the model:

- ``learnable-stft``: nnAudio's ``STFT(trainable=True)``; its windowed Fourier kernels
  (``wsin``, ``wcos``, ``[n_fft // 2 + 1, 1, n_fft]`` each) are parameters.
- ``learnable-mel``: nnAudio's ``MelSpectrogram`` with ``trainable_mel`` (the ``[n_mels,
  n_fft // 2 + 1]`` filterbank) and, by default, ``trainable_STFT`` (its Fourier kernels).
- ``learnable-cqt``: ``spectral.cqt_power`` with ``trainable=True``; nnAudio's ``CQT2010v2``
  shares one octave of kernels over all octaves, and those kernels are parameters.

Two deliberate departures from calling nnAudio's modules as they are, both so that a twin at
initialisation equals its fixed front-end: the power is computed from the complex output
(``re^2 + im^2``) rather than by squaring nnAudio's trainable magnitude, which adds ``1e-8``
under the square root (quiet bins would floor at -80 dB instead of -100 dB); and the mel
filterbank is clamped at zero in the forward pass, which leaves it unchanged at initialisation
but keeps a band's power non-negative (a learned negative weight would otherwise make the log
undefined).

At initialisation ``learnable-cqt`` equals ``cqt`` exactly (the same nnAudio transform).
``learnable-stft`` and ``learnable-mel`` compute the STFT as a convolution with float32 kernels
where torchaudio uses an FFT; on a tone with a little noise they agree with ``stft`` and ``mel``
within 0.05 dB and 0.005 dB (the largest gaps are in the lowest-energy bins of the edge
frames), which the tests hold them to.

Discovering the plugin imports neither torch nor nnAudio; ``build`` does. These front-ends are
trainable, so the core runs them in the model's graph and never caches their output.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import merbench
from merbench_plugins.frontends.spectral import (
    CQT_SPACE,
    HOP,
    MEL_SPACE,
    N_FFT,
    STFT_SPACE,
    cqt_power,
    log_spectrogram,
)

if TYPE_CHECKING:
    import torch

MERBENCH_PLUGIN_API = 1


def _nnaudio_stft(
    sample_rate: int, n_fft: int, hop_length: int, *, trainable: bool
) -> torch.nn.Module:
    from nnAudio.features import STFT

    return STFT(
        n_fft=n_fft, win_length=n_fft, hop_length=hop_length, window="hann", freq_scale="no",
        center=True, pad_mode="reflect", sr=sample_rate, trainable=trainable,
        output_format="Complex", verbose=False,
    )  # fmt: skip


def build_learnable_stft(
    sample_rate: int, *, n_fft: int = N_FFT, hop_length: int = HOP
) -> torch.nn.Module:
    """Trainable log power spectrogram: ``[B, C, T]`` -> ``[B, 1, n_fft // 2 + 1, frames]``.

    Args:
        sample_rate: the sample rate in Hz.
        n_fft: FFT size (and window length) in samples.
        hop_length: hop between frames in samples.

    Returns:
        A module whose Fourier kernels are trainable parameters.
    """
    import torch

    stft = _nnaudio_stft(sample_rate, n_fft, hop_length, trainable=True)

    class StftPower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stft = stft

        def forward(self, mono: torch.Tensor) -> torch.Tensor:
            return self.stft(mono, output_format="Complex").square().sum(dim=-1)

    return log_spectrogram(StftPower())


def build_learnable_mel(
    sample_rate: int,
    *,
    n_fft: int = N_FFT,
    hop_length: int = HOP,
    n_mels: int = 64,
    train_stft: bool = True,
) -> torch.nn.Module:
    """Trainable log mel spectrogram: ``[B, C, T]`` -> ``[B, 1, n_mels, frames]``.

    Args:
        sample_rate: the sample rate in Hz.
        n_fft: FFT size (and window length) in samples.
        hop_length: hop between frames in samples.
        n_mels: number of mel bands.
        train_stft: also train the Fourier kernels, not only the mel filterbank.

    Returns:
        A module whose mel filterbank (and Fourier kernels) are trainable parameters.
    """
    import torch
    from nnAudio.features import MelSpectrogram

    mel = MelSpectrogram(
        sr=sample_rate, n_fft=n_fft, win_length=n_fft, n_mels=n_mels, hop_length=hop_length,
        window="hann", center=True, pad_mode="reflect", power=2.0, htk=True, fmin=0.0,
        fmax=sample_rate / 2, norm=None, trainable_mel=True, trainable_STFT=train_stft,
        verbose=False,
    )  # fmt: skip

    class MelPower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mel = mel

        def forward(self, mono: torch.Tensor) -> torch.Tensor:
            power = self.mel.stft(mono, output_format="Complex").square().sum(dim=-1)
            return self.mel.mel_basis.clamp(min=0.0) @ power

    return log_spectrogram(MelPower())


def build_learnable_cqt(
    sample_rate: int, *, hop_length: int = HOP, bins_per_octave: int = 12
) -> torch.nn.Module:
    """Trainable log constant-Q power: ``[B, C, T]`` -> ``[B, 1, 7 * bins_per_octave, frames]``.

    Args:
        sample_rate: the sample rate in Hz.
        hop_length: hop between frames in samples (a multiple of 64).
        bins_per_octave: frequency resolution, over 7 octaves from C1.

    Returns:
        A module whose CQT kernels are trainable parameters.
    """
    return log_spectrogram(cqt_power(sample_rate, hop_length, bins_per_octave, trainable=True))


@merbench.hookimpl
def merbench_frontends() -> Iterator[merbench.FrontEndSpec]:
    yield merbench.FrontEndSpec(
        name="learnable-stft",
        output="spectrogram",
        trainable=True,
        build=build_learnable_stft,
        search_space=STFT_SPACE,
        summary="Log power spectrogram with trainable Fourier kernels (nnAudio), twin of stft.",
    )
    yield merbench.FrontEndSpec(
        name="learnable-mel",
        output="spectrogram",
        trainable=True,
        build=build_learnable_mel,
        search_space=MEL_SPACE,
        summary="Log mel spectrogram with a trainable filterbank and STFT (nnAudio), twin of mel.",
    )
    yield merbench.FrontEndSpec(
        name="learnable-cqt",
        output="spectrogram",
        trainable=True,
        build=build_learnable_cqt,
        search_space=CQT_SPACE,
        summary="Log constant-Q power with trainable kernels (nnAudio), twin of cqt.",
    )
