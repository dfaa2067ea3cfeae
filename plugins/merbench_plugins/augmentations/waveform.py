"""Waveform augmentations kept mild enough not to change the emotion of the music.

Every transform works on one clip ``[C, T]`` (float32 numpy) through audiomentations, except
``chunk`` (a random crop, plain numpy). audiomentations draws from Python's ``random`` and
numpy's global generator; merbench seeds both per example and epoch and restores them, so a
run repeats exactly. The ranges are chosen for music emotion:

- ``gain``: up to +/-``max_db`` dB (loudness carries arousal, so a few dB only).
- ``noise``: Gaussian noise at a signal-to-noise ratio between ``min_snr_db`` and 40 dB.
- ``pitch``: a shift of up to +/-``semitones`` (at most 2): mode and contour survive, register
  (a valence cue) moves little. Pre-rendered by default: it is slow on a CPU.
- ``stretch``: tempo changed by up to +/-``max_rate_change`` (at most 10 %), length kept (a
  sped-up clip ends in a few zeros). Tempo carries arousal, hence the narrow range.
  Pre-rendered by default.
- ``lowpass``/``highpass``/``bandpass``: Butterworth filters that keep most of the spectrum
  (brightness is an arousal cue, so cut-offs stay far from the centre of the spectrum).
- ``polarity``: inverts the sign of the waveform; invisible to power spectrograms, so it only
  matters for raw-audio models.
- ``chunk``: a random window of ``fraction`` of the clip, a different one every epoch (the
  chunking of deep MER models); validation and test see the whole clip, so it needs a model
  that pools over time (every first-party one does).

Each applies with probability ``p`` (0.5) per example and epoch, except ``chunk`` (always).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import merbench
from merbench.space import FloatDistribution

MERBENCH_PLUGIN_API = 1

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _wrap(transform: Any, sample_rate: int) -> Transform:
    """An audiomentations transform as merbench's ``f(x, rng)`` on one clip ``[C, T]``."""

    def apply(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # The core has seeded the global generators audiomentations draws from.
        return np.asarray(transform(samples=x, sample_rate=sample_rate), dtype=np.float32)

    return apply


def build_gain(sample_rate: int, *, max_db: float = 4.0, p: float = 0.5) -> Transform:
    """Scale the clip by a gain drawn uniformly in [-max_db, max_db] dB."""
    from audiomentations import Gain

    return _wrap(Gain(min_gain_db=-max_db, max_gain_db=max_db, p=p), sample_rate)


def build_noise(sample_rate: int, *, min_snr_db: float = 20.0, p: float = 0.5) -> Transform:
    """Add Gaussian noise at an SNR drawn (in dB) between ``min_snr_db`` and 40 dB."""
    from audiomentations import AddGaussianSNR

    return _wrap(AddGaussianSNR(min_snr_db=min_snr_db, max_snr_db=40.0, p=p), sample_rate)


def build_pitch(sample_rate: int, *, semitones: float = 1.0, p: float = 0.5) -> Transform:
    """Shift the pitch by up to +/-``semitones`` (signalsmith stretch, tempo unchanged)."""
    from audiomentations import PitchShift

    return _wrap(PitchShift(min_semitones=-semitones, max_semitones=semitones, p=p), sample_rate)


def build_stretch(sample_rate: int, *, max_rate_change: float = 0.05, p: float = 0.5) -> Transform:
    """Change the tempo by a rate in [1 - change, 1 + change], pitch and length unchanged."""
    from audiomentations import TimeStretch

    stretch = TimeStretch(
        min_rate=1 - max_rate_change,
        max_rate=1 + max_rate_change,
        leave_length_unchanged=True,
        p=p,
    )
    return _wrap(stretch, sample_rate)


def build_lowpass(sample_rate: int, *, min_cutoff_hz: float = 4000.0, p: float = 0.5) -> Transform:
    """Low-pass filter with a cut-off between ``min_cutoff_hz`` and 0.45 x the sample rate."""
    from audiomentations import LowPassFilter

    top = 0.45 * sample_rate
    low = min(min_cutoff_hz, top)
    return _wrap(LowPassFilter(min_cutoff_freq=low, max_cutoff_freq=top, p=p), sample_rate)


def build_highpass(sample_rate: int, *, max_cutoff_hz: float = 200.0, p: float = 0.5) -> Transform:
    """High-pass filter with a cut-off between 20 Hz and ``max_cutoff_hz``."""
    from audiomentations import HighPassFilter

    highpass = HighPassFilter(min_cutoff_freq=20.0, max_cutoff_freq=max_cutoff_hz, p=p)
    return _wrap(highpass, sample_rate)


def build_bandpass(
    sample_rate: int, *, min_bandwidth_fraction: float = 1.5, p: float = 0.5
) -> Transform:
    """Band-pass filter around 0.5-2 kHz whose bandwidth is 1.5-1.99 x its centre by default."""
    from audiomentations import BandPassFilter

    band = BandPassFilter(
        min_center_freq=500.0,
        max_center_freq=2000.0,
        min_bandwidth_fraction=min_bandwidth_fraction,
        max_bandwidth_fraction=1.99,
        p=p,
    )
    return _wrap(band, sample_rate)


def build_polarity(sample_rate: int, *, p: float = 0.5) -> Transform:
    """Invert the waveform's sign."""
    from audiomentations import PolarityInversion

    return _wrap(PolarityInversion(p=p), sample_rate)


def build_chunk(sample_rate: int, *, fraction: float = 0.75) -> Transform:
    """Crop a random window of ``fraction`` of the clip: ``[C, T]`` -> ``[C, round(f T)]``."""

    def chunk(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        length = max(1, round(fraction * x.shape[-1]))
        offset = int(rng.integers(0, x.shape[-1] - length + 1))
        return np.array(x[..., offset : offset + length], dtype=np.float32)

    return chunk


@merbench.hookimpl
def merbench_augmentations() -> Iterator[merbench.AugmentationSpec]:
    def spec(name: str, build: Callable[..., Any], summary: str, **extra: Any) -> Any:
        return merbench.AugmentationSpec(
            name=name, stage="waveform", labels="preserve", build=build, summary=summary, **extra
        )

    yield spec(
        "gain",
        build_gain,
        "Random gain of a few dB (audiomentations Gain).",
        search_space={"max_db": FloatDistribution(1.0, 6.0)},
    )
    yield spec(
        "noise",
        build_noise,
        "Gaussian noise at a random SNR (audiomentations AddGaussianSNR).",
        search_space={"min_snr_db": FloatDistribution(10.0, 30.0)},
    )
    yield spec(
        "pitch",
        build_pitch,
        "Pitch shift of at most 2 semitones; pre-rendered by default (slow).",
        search_space={"semitones": FloatDistribution(0.25, 2.0)},
        mode="pre-rendered",
    )
    yield spec(
        "stretch",
        build_stretch,
        "Tempo change of at most 10 %, length kept; pre-rendered by default (slow).",
        search_space={"max_rate_change": FloatDistribution(0.02, 0.1)},
        mode="pre-rendered",
    )
    yield spec(
        "lowpass",
        build_lowpass,
        "Low-pass filter with a high cut-off (audiomentations LowPassFilter).",
        search_space={"min_cutoff_hz": FloatDistribution(2000.0, 6000.0)},
    )
    yield spec(
        "highpass",
        build_highpass,
        "High-pass filter with a low cut-off (audiomentations HighPassFilter).",
        search_space={"max_cutoff_hz": FloatDistribution(50.0, 400.0)},
    )
    yield spec(
        "bandpass",
        build_bandpass,
        "Wide band-pass filter (audiomentations BandPassFilter).",
        search_space={"min_bandwidth_fraction": FloatDistribution(0.8, 1.9)},
    )
    yield spec(
        "polarity",
        build_polarity,
        "Polarity inversion (matters for raw-audio models only).",
    )
    yield spec(
        "chunk",
        build_chunk,
        "A random crop of part of the clip every epoch (chunked training).",
        search_space={"fraction": FloatDistribution(0.5, 0.9)},
    )
