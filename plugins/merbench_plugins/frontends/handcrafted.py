"""The ``handcrafted`` front-end: clip statistics of frame features common in MER.

A fixed front-end mapping waveforms ``[B, C, T]`` (mixed to mono) to one vector ``[B, D]`` per
clip. Every definition is pinned here rather than left to library defaults: a periodic Hann
window, centred frames with reflect padding, power spectra, an HTK mel scale without filter
normalisation. Frame features, each summarised by its mean and standard deviation over frames:

- ``mfccNN``: MFCCs (orthonormal DCT-II) of the log mel spectrogram in dB (80 dB floor).
- ``chroma_<pc>``: 12 pitch classes from ``c`` to ``b``, a log2-frequency mapping of the STFT bins
  (A4 = 440 Hz), each frame scaled to a maximum of 1.
- ``contrastK``: spectral contrast in dB (peak vs valley 2 % quantiles) in octave sub-bands
  from 200 Hz (up to 7 bands, fewer at low sample rates).

and, with their 10th and 90th percentiles too: ``centroid``, ``bandwidth`` and ``rolloff``
(85 % of the energy) in kHz, ``flatness`` (log10 of geometric over arithmetic mean power),
``flux`` (half-wave rectified log-mel difference, mean over bands, dB), ``rms`` (dB) and
``zcr`` (crossings per sample). Clip-level: ``onset_rate`` (peaks of the flux envelope per second,
above a moving-average threshold), ``tempo`` (BPM in 40-240 from the envelope's autocorrelation
under a log-Gaussian prior around 120 BPM; 120 when nothing is periodic) and ``pulse_clarity``
(the autocorrelation at that tempo over its value at lag 0).

Discovering the plugin imports neither torch nor torchaudio; ``build`` does.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

import merbench

if TYPE_CHECKING:
    import torch

MERBENCH_PLUGIN_API = 1

PITCH_CLASSES = ("c", "cs", "d", "ds", "e", "f", "fs", "g", "gs", "a", "as", "b")
TRAJECTORIES = ("centroid", "bandwidth", "rolloff", "flatness", "flux", "rms", "zcr")
CLIP_FEATURES = ("onset_rate", "tempo", "pulse_clarity")
CONTRAST_FMIN = 200.0
CONTRAST_MAX_EDGES = 6
CONTRAST_QUANTILE = 0.02
ROLLOFF = 0.85
TOP_DB = 80.0
POWER_FLOOR = 1e-10
EPS = 1e-10
ONSET_DELTA = 0.07
ONSET_MAX_SECONDS = 0.03
ONSET_AVG_SECONDS = 0.1
TEMPO_RANGE = (40.0, 240.0)
TEMPO_PRIOR_BPM = 120.0
TEMPO_PRIOR_OCTAVES = 1.0


def contrast_bands(sample_rate: int, n_fft: int) -> list[tuple[int, int]]:
    """Return the STFT bin ranges ``[lo, hi)`` of the spectral-contrast sub-bands.

    Band edges are ``0, 200, 400, ... 6400 Hz`` (those below Nyquist), then Nyquist; each band
    holds at least one bin.

    Args:
        sample_rate: the sample rate in Hz.
        n_fft: FFT size in samples.

    Returns:
        One ``(start, stop)`` bin range per band, low to high.
    """
    n_bins = n_fft // 2 + 1
    nyquist = sample_rate / 2
    edges = [0.0] + [CONTRAST_FMIN * 2**k for k in range(CONTRAST_MAX_EDGES)]
    edges = [e for e in edges if e < nyquist] + [nyquist]
    step = sample_rate / n_fft
    bands = []
    for k, (low, high) in enumerate(itertools.pairwise(edges)):
        start = min(math.ceil(low / step), n_bins - 1)
        stop = n_bins if k == len(edges) - 2 else math.ceil(high / step)
        bands.append((start, max(stop, start + 1)))
    return bands


def feature_names(sample_rate: int, *, n_mfcc: int = 20, n_fft: int = 1024) -> list[str]:
    """Return the names of the ``D`` features, in output order (no torch needed).

    Args:
        sample_rate: the sample rate in Hz (it sets the number of contrast bands).
        n_mfcc: number of MFCCs.
        n_fft: FFT size in samples.

    Returns:
        Names such as ``mfcc03_mean``, ``chroma_a_std``, ``centroid_p90``, ``tempo``.
    """
    n_bands = len(contrast_bands(sample_rate, n_fft))
    per_frame = (
        [f"mfcc{k:02d}" for k in range(n_mfcc)]
        + [f"chroma_{pc}" for pc in PITCH_CLASSES]
        + [f"contrast{k}" for k in range(n_bands)]
    )
    names = [f"{name}_{stat}" for name in per_frame for stat in ("mean", "std")]
    names += [f"{name}_{stat}" for name in TRAJECTORIES for stat in ("mean", "std", "p10", "p90")]
    return names + list(CLIP_FEATURES)


def chroma_filterbank(sample_rate: int, n_fft: int) -> np.ndarray:
    """Return the ``[12, n_fft // 2 + 1]`` weights mapping power-spectrum bins to pitch classes.

    Each bin's MIDI pitch ``69 + 12 log2(f / 440)`` is spread over the pitch classes by a
    Gaussian (s.d. half a semitone, or half the bin's width in semitones when wider), weights sum
    to one per bin, and a Gaussian over pitch (centre C5, s.d. two octaves) favours the
    mid-register. The DC bin gets no weight.

    Args:
        sample_rate: the sample rate in Hz.
        n_fft: FFT size in samples.

    Returns:
        Float64 weights, rows ``c, cs, ..., b`` (``PITCH_CLASSES``), one column per STFT bin.
    """
    bins = np.arange(1, n_fft // 2 + 1, dtype=np.float64)
    midi = 69.0 + 12.0 * np.log2(bins * sample_rate / n_fft / 440.0)
    width = 12.0 * np.log2((bins + 0.5) / (bins - 0.5))
    sigma = np.maximum(width, 1.0) / 2.0
    distance = (midi[None, :] - np.arange(12)[:, None] + 6.0) % 12.0 - 6.0
    weights = np.exp(-0.5 * (distance / sigma) ** 2)
    weights /= weights.sum(axis=0, keepdims=True)
    weights *= np.exp(-0.5 * ((midi - 72.0) / 24.0) ** 2)
    return np.concatenate([np.zeros((12, 1)), weights], axis=1)


def build(
    sample_rate: int,
    *,
    n_mfcc: int = 20,
    n_fft: int = 1024,
    hop_length: int = 512,
    n_mels: int = 64,
) -> torch.nn.Module:
    """Build the front-end: float32 waveforms ``[B, C, T]`` -> features ``[B, D]``.

    Args:
        sample_rate: the sample rate of the waveforms in Hz.
        n_mfcc: number of MFCCs.
        n_fft: FFT size (and window length) in samples.
        hop_length: hop between frames in samples.
        n_mels: number of mel bands behind the MFCCs and the spectral flux.

    Returns:
        A ``torch.nn.Module`` without parameters; its ``feature_names`` lists the ``D`` names.
    """
    module_class = _module_class()
    return module_class(sample_rate, n_mfcc, n_fft, hop_length, n_mels)


@merbench.hookimpl
def merbench_frontends() -> Iterator[merbench.FrontEndSpec]:
    yield merbench.FrontEndSpec(
        name="handcrafted",
        output="vector",
        trainable=False,
        build=build,
        search_space={},
        summary=(
            "Clip statistics of MFCC, chroma, spectral shape, contrast, flux, RMS and ZCR "
            "frames, with onset rate and tempo."
        ),
    )


def __getattr__(name: str) -> Any:
    # The module class is defined on first use so that discovery does not import torch; this
    # also lets pickle find it as ``handcrafted.HandcraftedFeatures``.
    if name == "HandcraftedFeatures":
        return _module_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _module_class() -> type[torch.nn.Module]:
    import torch

    class HandcraftedFeatures(torch.nn.Module):
        """Handcrafted clip features: ``[B, C, T]`` float waveforms -> ``[B, D]`` float32."""

        def __init__(
            self, sample_rate: int, n_mfcc: int, n_fft: int, hop_length: int, n_mels: int
        ) -> None:
            super().__init__()
            self.sample_rate = sample_rate
            self.n_fft = n_fft
            self.hop_length = hop_length
            self.bands = contrast_bands(sample_rate, n_fft)
            self.feature_names = feature_names(sample_rate, n_mfcc=n_mfcc, n_fft=n_fft)
            for name, value in _buffers(sample_rate, n_mfcc, n_fft, n_mels).items():
                self.register_buffer(name, value, persistent=False)

        def forward(self, waveform: torch.Tensor) -> torch.Tensor:
            return _extract(self, waveform)

    HandcraftedFeatures.__qualname__ = "HandcraftedFeatures"
    return HandcraftedFeatures


def _buffers(sample_rate: int, n_mfcc: int, n_fft: int, n_mels: int) -> dict[str, torch.Tensor]:
    import torch
    import torchaudio.functional as AF

    n_bins = n_fft // 2 + 1
    mel = AF.melscale_fbanks(
        n_bins,
        f_min=0.0,
        f_max=sample_rate / 2,
        n_mels=n_mels,
        sample_rate=sample_rate,
        norm=None,
        mel_scale="htk",
    )
    return {
        "window": torch.hann_window(n_fft, periodic=True, dtype=torch.float32),
        "mel_t": mel.T.contiguous().to(torch.float32),  # [M, F]
        "dct_t": AF.create_dct(n_mfcc, n_mels, norm="ortho").T.contiguous(),  # [n_mfcc, M]
        "chroma": torch.from_numpy(chroma_filterbank(sample_rate, n_fft)).to(torch.float32),
        "freqs": torch.arange(n_bins, dtype=torch.float32) * (sample_rate / n_fft),
    }


def _extract(frontend: Any, waveform: torch.Tensor) -> torch.Tensor:
    """Compute ``frontend``'s features (a ``HandcraftedFeatures``): ``[B, C, T]`` -> ``[B, D]``.

    Clips shorter than one window are zero-padded to ``n_fft`` samples; rates still use the
    original duration.
    """
    import torch

    mono = waveform.to(torch.float32).mean(dim=1)  # [B, T]
    seconds = mono.shape[-1] / frontend.sample_rate
    mono = torch.nn.functional.pad(mono, (0, max(0, frontend.n_fft - mono.shape[-1])))
    spectrum = torch.stft(
        mono,
        n_fft=frontend.n_fft,
        hop_length=frontend.hop_length,
        win_length=frontend.n_fft,
        window=frontend.window,
        center=True,
        pad_mode="reflect",
        normalized=False,
        onesided=True,
        return_complex=True,
    )
    power = spectrum.real.square() + spectrum.imag.square()  # [B, F, N]
    log_mel = _log_mel(power, frontend.mel_t)  # [B, M, N]
    flux = _flux(log_mel)  # [B, N]
    shape = _spectral_shape(power, frontend.freqs)  # [B, 4, N]
    level = _level(mono, frontend.n_fft, frontend.hop_length)  # [B, 2, N]
    fps = frontend.sample_rate / frontend.hop_length
    pieces = [
        _mean_std(frontend.dct_t @ log_mel),
        _mean_std(_chroma(power, frontend.chroma)),
        _mean_std(_contrast(power, frontend.bands)),
        _trajectory_stats(torch.cat([shape, flux.unsqueeze(1)], dim=1)),
        _trajectory_stats(level),
        _onset_rate(flux, fps, seconds).unsqueeze(1),
        _tempo(flux, fps),
    ]
    return torch.cat(pieces, dim=1)


def _log_mel(power: torch.Tensor, mel_t: torch.Tensor) -> torch.Tensor:
    """Mel power in dB, floored ``TOP_DB`` below each clip's maximum: ``[B, M, N]``."""
    decibels = 10.0 * (mel_t @ power).clamp(min=POWER_FLOOR).log10()
    peak = decibels.amax(dim=(1, 2), keepdim=True)
    return decibels.maximum(peak - TOP_DB)


def _flux(log_mel: torch.Tensor) -> torch.Tensor:
    """Positive log-mel differences, mean over bands, 0 for the first frame: ``[B, N]``."""
    import torch.nn.functional as F

    rise = (log_mel[..., 1:] - log_mel[..., :-1]).clamp(min=0.0).mean(dim=1)
    return F.pad(rise, (1, 0))


def _spectral_shape(power: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Centroid, bandwidth, rolloff (kHz) and log10 flatness per frame: ``[B, 4, N]``.

    Centroid and bandwidth weight frequencies by magnitude, rolloff and flatness use power.
    """
    import torch

    magnitude = power.sqrt()
    khz = freqs / 1000.0
    total = magnitude.sum(dim=1) + EPS  # [B, N]
    centroid = (khz @ magnitude) / total
    bandwidth = ((khz.square() @ magnitude) / total - centroid.square()).clamp(min=0.0).sqrt()
    cumulative = power.cumsum(dim=1)
    below = (cumulative < ROLLOFF * cumulative[:, -1:, :]).sum(dim=1)
    rolloff = khz[below.clamp(max=khz.numel() - 1)]
    floored = power.clamp(min=POWER_FLOOR)
    flatness = (floored.log().mean(dim=1) - floored.mean(dim=1).log()) / math.log(10.0)
    return torch.stack([centroid, bandwidth, rolloff, flatness], dim=1)


def _chroma(power: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """Pitch-class energy per frame, scaled to a maximum of 1: ``[B, 12, N]``."""
    energy = chroma @ power
    return energy / (energy.amax(dim=1, keepdim=True) + EPS)


def _contrast(power: torch.Tensor, bands: list[tuple[int, int]]) -> torch.Tensor:
    """Spectral contrast in dB per sub-band and frame: ``[B, n_bands, N]``."""
    import torch

    contrasts = []
    for start, stop in bands:
        peak, valley = _band_extremes(power[:, start:stop])
        contrasts.append(10.0 * (peak.log10() - valley.log10()))
    return torch.stack(contrasts, dim=1)


def _band_extremes(band: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of the top and of the bottom ``CONTRAST_QUANTILE`` of each frame's bins, floored."""
    count = max(1, round(CONTRAST_QUANTILE * band.shape[1]))
    if count == 1:  # max and min are much faster than a top-1 search
        peak, valley = band.amax(dim=1), band.amin(dim=1)
    else:
        peak = band.topk(count, dim=1).values.mean(dim=1)
        valley = band.topk(count, dim=1, largest=False).values.mean(dim=1)
    return peak.clamp(min=POWER_FLOOR), valley.clamp(min=POWER_FLOOR)


def _level(mono: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """RMS (dB re full scale, -100 dB floor) and zero-crossing rate per frame: ``[B, 2, N]``.

    Frames are centred and reflect-padded as in the STFT; frame sums are strided average pools,
    which avoids materialising ``[B, N, n_fft]`` frames. Zero counts as positive; the crossing
    rate is sign changes per adjacent sample pair in the frame.
    """
    import torch
    import torch.nn.functional as F

    half = n_fft // 2
    padded = F.pad(mono.unsqueeze(1), (half, half), mode="reflect")  # [B, 1, L]
    mean_square = F.avg_pool1d(padded.square(), n_fft, stride=hop_length).squeeze(1)
    rms_db = 10.0 * mean_square.clamp(min=POWER_FLOOR).log10()
    positive = padded >= 0
    changes = (positive[..., 1:] != positive[..., :-1]).to(mono.dtype)
    crossings = F.avg_pool1d(changes, n_fft - 1, stride=hop_length).squeeze(1)
    return torch.stack([rms_db, crossings], dim=1)


def _mean_std(values: torch.Tensor) -> torch.Tensor:
    """``[B, K, N]`` -> ``[B, 2K]``: mean and population s.d. over frames, interleaved."""
    import torch

    std, mean = torch.std_mean(values, dim=-1, correction=0)
    return torch.stack([mean, std], dim=-1).flatten(1)


def _trajectory_stats(values: torch.Tensor) -> torch.Tensor:
    """``[B, K, N]`` -> ``[B, 4K]``: mean, s.d., 10th and 90th percentiles, interleaved."""
    import torch

    std, mean = torch.std_mean(values, dim=-1, correction=0)
    q = torch.tensor([0.1, 0.9], dtype=values.dtype, device=values.device)
    low, high = torch.quantile(values, q, dim=-1, interpolation="linear")
    return torch.stack([mean, std, low, high], dim=-1).flatten(1)


def _onset_rate(envelope: torch.Tensor, fps: float, seconds: float) -> torch.Tensor:
    """Onsets per second: local maxima of the min-max scaled envelope above its local mean.

    A frame is an onset when it is the maximum within ``ONSET_MAX_SECONDS`` either side, rises
    above the previous frame, and exceeds the mean within ``ONSET_AVG_SECONDS`` either side by
    ``ONSET_DELTA``. Returns ``[B]``.
    """
    import torch.nn.functional as F

    low = envelope.amin(dim=1, keepdim=True)
    scaled = (envelope - low) / (envelope.amax(dim=1, keepdim=True) - low + EPS)
    near = max(1, round(ONSET_MAX_SECONDS * fps))
    wide = max(1, round(ONSET_AVG_SECONDS * fps))
    channel = scaled.unsqueeze(1)
    local_max = F.max_pool1d(channel, 2 * near + 1, stride=1, padding=near).squeeze(1)
    local_mean = F.avg_pool1d(
        channel, 2 * wide + 1, stride=1, padding=wide, count_include_pad=False
    ).squeeze(1)
    previous = F.pad(scaled[:, :-1], (1, 0), value=-1.0)
    is_onset = (scaled >= local_max) & (scaled > previous) & (scaled >= local_mean + ONSET_DELTA)
    return is_onset.sum(dim=1).to(envelope.dtype) / max(seconds, EPS)


def _tempo(envelope: torch.Tensor, fps: float) -> torch.Tensor:
    """Tempo (BPM) and pulse clarity from the envelope's autocorrelation: ``[B, 2]``."""
    import torch

    n_frames = envelope.shape[1]
    first = max(1, math.ceil(60.0 * fps / TEMPO_RANGE[1]))
    last = max(first, math.floor(60.0 * fps / TEMPO_RANGE[0]))
    centred = envelope - envelope.mean(dim=1, keepdim=True)
    size = 2 ** math.ceil(math.log2(n_frames + last + 2))
    spectrum = torch.fft.rfft(centred, n=size)
    autocorr = torch.fft.irfft(spectrum.real.square() + spectrum.imag.square(), n=size)
    autocorr = autocorr[:, : last + 2].clone()
    autocorr[:, n_frames:] = 0.0  # lags past the clip carry only round-off
    lags = torch.arange(first, last + 1, device=envelope.device, dtype=envelope.dtype)
    octaves = torch.log2(60.0 * fps / lags / TEMPO_PRIOR_BPM) / TEMPO_PRIOR_OCTAVES
    best = (autocorr[:, first : last + 1] * torch.exp(-0.5 * octaves.square())).argmax(dim=1)
    best = best + first
    left, middle, right = (autocorr.gather(1, (best + k)[:, None])[:, 0] for k in (-1, 0, 1))
    curvature = left - 2.0 * middle + right
    safe = torch.where(curvature < 0, curvature, torch.ones_like(curvature))
    offset = torch.where(curvature < 0, 0.5 * (left - right) / safe, 0.0).clamp(-0.5, 0.5)
    clarity = (middle / (autocorr[:, 0] + EPS)).clamp(0.0, 1.0)
    bpm = (60.0 * fps / (best + offset)).clamp(*TEMPO_RANGE)
    bpm = torch.where(clarity > 0, bpm, torch.full_like(bpm, TEMPO_PRIOR_BPM))
    return torch.stack([bpm, clarity], dim=1)
