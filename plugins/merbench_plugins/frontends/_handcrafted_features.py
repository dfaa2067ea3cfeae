"""The ``handcrafted`` front-end's torch code, imported when the core first builds it.

The ``handcrafted`` record names :func:`build` by its import path,
``"merbench_plugins.frontends._handcrafted_features:build"``, so discovering the plugin imports
neither torch nor torchaudio. The features are described in ``handcrafted``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
import torchaudio.functional as AF

from merbench_plugins.frontends.handcrafted import (
    CONTRAST_QUANTILE,
    EPS,
    ONSET_AVG_SECONDS,
    ONSET_DELTA,
    ONSET_MAX_SECONDS,
    POWER_FLOOR,
    ROLLOFF,
    TEMPO_PRIOR_BPM,
    TEMPO_PRIOR_OCTAVES,
    TEMPO_RANGE,
    TOP_DB,
    chroma_filterbank,
    contrast_bands,
    feature_names,
)


def build(
    sample_rate: int,
    *,
    n_mfcc: int = 20,
    n_fft: int = 1024,
    hop_length: int = 512,
    n_mels: int = 64,
) -> HandcraftedFeatures:
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
    return HandcraftedFeatures(sample_rate, n_mfcc, n_fft, hop_length, n_mels)


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


def _buffers(sample_rate: int, n_mfcc: int, n_fft: int, n_mels: int) -> dict[str, torch.Tensor]:
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

    rise = (log_mel[..., 1:] - log_mel[..., :-1]).clamp(min=0.0).mean(dim=1)
    return F.pad(rise, (1, 0))


def _spectral_shape(power: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Centroid, bandwidth, rolloff (kHz) and log10 flatness per frame: ``[B, 4, N]``.

    Centroid and bandwidth weight frequencies by magnitude, rolloff and flatness use power.
    """
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

    std, mean = torch.std_mean(values, dim=-1, correction=0)
    return torch.stack([mean, std], dim=-1).flatten(1)


def _trajectory_stats(values: torch.Tensor) -> torch.Tensor:
    """``[B, K, N]`` -> ``[B, 4K]``: mean, s.d., 10th and 90th percentiles, interleaved."""

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
