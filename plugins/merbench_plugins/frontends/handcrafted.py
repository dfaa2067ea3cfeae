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

The torch code is in ``_handcrafted_features``, named lazily by its import path: discovering
the plugin imports neither torch nor torchaudio; building the front-end does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

import merbench

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


@merbench.hookimpl
def merbench_frontends() -> Iterator[merbench.FrontEndSpec]:
    yield merbench.FrontEndSpec(
        name="handcrafted",
        output="vector",
        trainable=False,
        build="merbench_plugins.frontends._handcrafted_features:build",
        search_space={},
        summary=(
            "Clip statistics of MFCC, chroma, spectral shape, contrast, flux, RMS and ZCR "
            "frames, with onset rate and tempo."
        ),
    )
