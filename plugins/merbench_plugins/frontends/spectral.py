"""Fixed spectral front-ends computed with torchaudio: ``raw``, ``stft``, ``mel`` and ``mfcc``.

Every definition is pinned here rather than left to library defaults (torchaudio's and
librosa's differ): a Hann window, ``center=True`` with reflect padding, power spectra, the HTK mel
scale without filter normalisation, and ``10 * log10(x + 1e-10)`` as the log compression. The
cached output of a fixed front-end and the same front-end run in the graph are therefore the
same numbers. Outputs are spectrogram-kind ``[B, 1, F, T]`` (``raw``: waveform ``[B, 1, T]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from optuna.distributions import CategoricalDistribution

import merbench

MERBENCH_PLUGIN_API = 1

N_FFT = 1024
HOP = 512  # about 31 frames per second at 16 kHz: small inputs for CNNs on two cores
LOG_FLOOR = 1e-10


def _mono(waveform: Any) -> Any:
    """``[B, C, T]`` -> ``[B, T]`` by averaging the channels."""
    return waveform.mean(dim=1)


def build_raw(sample_rate: int) -> Any:
    """The waveform itself, mixed to mono: ``[B, C, T]`` -> ``[B, 1, T]``."""
    import torch

    class Raw(torch.nn.Module):
        def forward(self, waveform: torch.Tensor) -> torch.Tensor:
            return _mono(waveform).unsqueeze(1)

    return Raw()


def _log_spectrogram(transform: Any) -> Any:
    import torch

    class LogSpectrogram(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transform = transform

        def forward(self, waveform: torch.Tensor) -> torch.Tensor:
            power = self.transform(_mono(waveform))
            return (10 * torch.log10(power + LOG_FLOOR)).unsqueeze(1)

    return LogSpectrogram()


def build_stft(sample_rate: int, *, n_fft: int = N_FFT, hop_length: int = HOP) -> Any:
    """Log power spectrogram: ``[B, C, T]`` -> ``[B, 1, n_fft // 2 + 1, frames]``."""
    import torch
    import torchaudio

    transform = torchaudio.transforms.Spectrogram(
        n_fft=n_fft, hop_length=hop_length, window_fn=torch.hann_window, power=2.0,
        center=True, pad_mode="reflect", normalized=False,
    )  # fmt: skip
    return _log_spectrogram(transform)


def mel_transform(sample_rate: int, n_fft: int, hop_length: int, n_mels: int) -> Any:
    """The pinned mel power spectrogram shared by ``mel`` and ``mfcc``."""
    import torch
    import torchaudio

    return torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
        f_min=0.0, f_max=sample_rate / 2, window_fn=torch.hann_window, power=2.0,
        center=True, pad_mode="reflect", norm=None, mel_scale="htk",
    )  # fmt: skip


def build_mel(
    sample_rate: int, *, n_fft: int = N_FFT, hop_length: int = HOP, n_mels: int = 64
) -> Any:
    """Log mel spectrogram: ``[B, C, T]`` -> ``[B, 1, n_mels, frames]``."""
    return _log_spectrogram(mel_transform(sample_rate, n_fft, hop_length, n_mels))


def build_mfcc(
    sample_rate: int, *, n_mfcc: int = 20, n_fft: int = N_FFT, hop_length: int = HOP
) -> Any:
    """MFCCs (orthonormal DCT-II of the log mel spectrum): -> ``[B, 1, n_mfcc, frames]``."""
    import torch
    import torchaudio

    dct = torchaudio.functional.create_dct(n_mfcc, 64, norm="ortho")
    logmel = build_mel(sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=64)

    class Mfcc(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.logmel = logmel
            self.register_buffer("dct", dct)

        def forward(self, waveform: torch.Tensor) -> torch.Tensor:
            spectrum = self.logmel(waveform).squeeze(1).transpose(1, 2)  # [B, frames, mels]
            return (spectrum @ self.dct).transpose(1, 2).unsqueeze(1)

    return Mfcc()


HOPS = CategoricalDistribution([256, 512])


@merbench.hookimpl
def merbench_frontends() -> Iterator[merbench.FrontEndSpec]:
    yield merbench.FrontEndSpec(
        name="raw", output="waveform", build=build_raw, summary="The waveform, mono."
    )
    yield merbench.FrontEndSpec(
        name="stft",
        output="spectrogram",
        build=build_stft,
        search_space={"hop_length": HOPS},
        summary="Log power spectrogram (Hann, 1024-point FFT).",
    )
    yield merbench.FrontEndSpec(
        name="mel",
        output="spectrogram",
        build=build_mel,
        search_space={"n_mels": CategoricalDistribution([48, 64, 96]), "hop_length": HOPS},
        summary="Log mel spectrogram (HTK scale, 64 bands).",
    )
    yield merbench.FrontEndSpec(
        name="mfcc",
        output="spectrogram",
        build=build_mfcc,
        search_space={"n_mfcc": CategoricalDistribution([13, 20, 40])},
        summary="Mel-frequency cepstral coefficients as a [coefficient x frame] image.",
    )
