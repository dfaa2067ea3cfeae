"""Fixed spectral front-ends: ``raw``, ``stft``, ``mel``, ``mfcc`` (torchaudio), ``cqt`` (nnAudio).

Every definition is pinned here rather than left to library defaults (torchaudio's and
librosa's differ): a Hann window, ``center=True`` with reflect padding, power spectra, the HTK mel
scale without filter normalisation, and ``10 * log10(x + 1e-10)`` as the log compression. The
cached output of a fixed front-end and the same front-end run in the graph are therefore the
same numbers. Outputs are spectrogram-kind ``[B, 1, F, T]`` (``raw``: waveform ``[B, 1, T]``).

torchaudio has no constant-Q transform, so ``cqt`` is nnAudio's ``CQT2010v2`` with its kernels
fixed: 7 octaves from C1 (32.70 Hz; top bin B7 = 3951 Hz at 12 bins per octave), ``filter_scale``
1, Hann-windowed kernels with L1 basis normalisation, early downsampling, librosa's output
normalisation (times the square root of each kernel's length), and the power ``|C|^2`` in the
same ``10 * log10(x + 1e-10)``. Its padding is zeros, not reflection: nnAudio falls back from
reflection to zeros (with a warning) when a clip's lowest octave is shorter than half a kernel,
which would make the definition depend on clip length. ``learnable-cqt`` (``learnable.py``) is
the same transform with trainable kernels. Frames: ``T // hop_length + 1``, as for the STFT.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import merbench
from merbench.space import CategoricalDistribution

MERBENCH_PLUGIN_API = 1

N_FFT = 1024
HOP = 512  # about 31 frames per second at 16 kHz: small inputs for CNNs on two cores
LOG_FLOOR = 1e-10
CQT_FMIN = 32.70  # C1
CQT_OCTAVES = 7


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


def log_spectrogram(transform: Any) -> Any:
    """Wrap ``transform`` (mono ``[B, T]`` -> power ``[B, F, N]``) into ``[B, C, T]`` -> dB.

    The pinned log compression of every spectrogram front-end: ``10 * log10(power + 1e-10)``,
    with the channel axis added back: ``[B, 1, F, N]``.
    """
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
    return log_spectrogram(transform)


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
    return log_spectrogram(mel_transform(sample_rate, n_fft, hop_length, n_mels))


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


def cqt_power(sample_rate: int, hop_length: int, bins_per_octave: int, *, trainable: bool) -> Any:
    """The pinned constant-Q power transform shared by ``cqt`` and ``learnable-cqt``.

    Args:
        sample_rate: the sample rate in Hz.
        hop_length: hop between frames in samples (a multiple of 64: the lowest octave is
            computed at 1/64 of it).
        bins_per_octave: frequency resolution; ``CQT_OCTAVES`` octaves from ``CQT_FMIN``.
        trainable: make nnAudio's CQT kernels trainable parameters.

    Returns:
        A module from mono ``[B, T]`` to power ``[B, 7 * bins_per_octave, T // hop_length + 1]``.

    Raises:
        ValueError: ``hop_length`` is not a multiple of 64.
    """
    import torch

    step = 2 ** (CQT_OCTAVES - 1)
    if hop_length % step:
        raise ValueError(
            f"cqt: hop_length {hop_length} is not a multiple of {step} (the lowest of "
            f"{CQT_OCTAVES} octaves is computed at 1/{step} of the sample rate). "
            f"Use a multiple of {step}, such as {HOP}."
        )
    from nnAudio.features import CQT2010v2

    transform = CQT2010v2(
        sr=sample_rate, hop_length=hop_length, fmin=CQT_FMIN,
        n_bins=CQT_OCTAVES * bins_per_octave, bins_per_octave=bins_per_octave, filter_scale=1,
        norm=True, basis_norm=1, window="hann", pad_mode="constant", earlydownsample=True,
        trainable=trainable, output_format="Complex", verbose=False,
    )  # fmt: skip

    class CqtPower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cqt = transform

        def forward(self, mono: torch.Tensor) -> torch.Tensor:
            # Power from the real and imaginary parts, not nnAudio's magnitude output, which adds
            # 1e-8 under the square root when trainable and so would differ from the fixed one.
            parts = self.cqt(mono, normalization_type="librosa")  # [B, F, N, 2]
            return parts.square().sum(dim=-1)

    return CqtPower()


def build_cqt(sample_rate: int, *, hop_length: int = HOP, bins_per_octave: int = 12) -> Any:
    """Log constant-Q power: ``[B, C, T]`` -> ``[B, 1, 7 * bins_per_octave, frames]``."""
    return log_spectrogram(cqt_power(sample_rate, hop_length, bins_per_octave, trainable=False))


HOPS = CategoricalDistribution([256, 512])
# The search spaces of the spectrograms that have trainable twins (learnable.py uses the same).
STFT_SPACE = {"hop_length": HOPS}
MEL_SPACE = {"n_mels": CategoricalDistribution([48, 64, 96]), "hop_length": HOPS}
CQT_SPACE = {"bins_per_octave": CategoricalDistribution([12, 24]), "hop_length": HOPS}


@merbench.hookimpl
def merbench_frontends() -> Iterator[merbench.FrontEndSpec]:
    yield merbench.FrontEndSpec(
        name="raw", output="waveform", build=build_raw, summary="The waveform, mono."
    )
    yield merbench.FrontEndSpec(
        name="stft",
        output="spectrogram",
        build=build_stft,
        search_space=STFT_SPACE,
        summary="Log power spectrogram (Hann, 1024-point FFT).",
    )
    yield merbench.FrontEndSpec(
        name="mel",
        output="spectrogram",
        build=build_mel,
        search_space=MEL_SPACE,
        summary="Log mel spectrogram (HTK scale, 64 bands).",
    )
    yield merbench.FrontEndSpec(
        name="cqt",
        output="spectrogram",
        build=build_cqt,
        search_space=CQT_SPACE,
        summary="Log constant-Q power spectrogram (nnAudio CQT2010v2, 7 octaves from C1).",
    )
    yield merbench.FrontEndSpec(
        name="mfcc",
        output="spectrogram",
        build=build_mfcc,
        search_space={"n_mfcc": CategoricalDistribution([13, 20, 40])},
        summary="Mel-frequency cepstral coefficients as a [coefficient x frame] image.",
    )
