"""The waveform augmentations: strengths stay in their documented, emotion-safe ranges."""

from __future__ import annotations

import numpy as np
import pytest

from merbench.testing import check_plugin, tone
from merbench.train.seeds import call_seeded
from merbench_plugins.augmentations import waveform

RATE = 16000


def _apply(build, x, seed=0, **params):
    return call_seeded(build(RATE, **params), x, rng=np.random.default_rng(seed))


def _clip(seconds=1.0, frequency=440.0):
    return tone(seconds, RATE, frequency=frequency, amplitude=0.4).reshape(1, -1)


def test_the_module_passes_the_contract_kit():
    names = {c.name.split(":")[0] for c in check_plugin(waveform)}
    expected = {"gain", "noise", "pitch", "stretch", "lowpass", "highpass", "bandpass",
                "polarity", "chunk"}  # fmt: skip
    assert {f"augmentation {n}" for n in expected} <= names


def test_gain_stays_within_max_db():
    x = _clip()
    ratios = [np.abs(_apply(waveform.build_gain, x, s, max_db=3.0, p=1.0)).max() / np.abs(x).max()
              for s in range(20)]  # fmt: skip
    decibels = 20 * np.log10(ratios)
    assert np.all(np.abs(decibels) <= 3.0 + 1e-4) and np.ptp(decibels) > 1.0


def test_noise_is_added_at_the_requested_snr():
    x = _clip()
    out = _apply(waveform.build_noise, x, min_snr_db=20.0, p=1.0)
    snr = 10 * np.log10(np.mean(x**2) / np.mean((out - x) ** 2))
    assert 19.0 <= snr <= 41.0


def _peak_hz(x):
    spectrum = np.abs(np.fft.rfft(x[0] * np.hanning(x.shape[-1])))
    return np.fft.rfftfreq(x.shape[-1], 1 / RATE)[spectrum.argmax()]


def test_pitch_shift_moves_a_tone_by_at_most_the_given_semitones():
    x = _clip(frequency=440.0)
    shifts = [12 * np.log2(_peak_hz(_apply(waveform.build_pitch, x, s, semitones=2.0, p=1.0)) / 440)
              for s in range(4)]  # fmt: skip
    assert all(abs(shift) <= 2.0 + 0.15 for shift in shifts)
    assert max(abs(shift) for shift in shifts) > 0.3


def test_time_stretch_keeps_length_and_pitch():
    x = _clip(frequency=440.0)
    out = _apply(waveform.build_stretch, x, max_rate_change=0.1, p=1.0)
    assert out.shape == x.shape and not np.array_equal(out, x)
    assert abs(_peak_hz(out) - 440.0) < 10.0


@pytest.mark.parametrize(
    ("build", "params", "kept_hz", "cut_hz"),
    [
        (waveform.build_lowpass, {"min_cutoff_hz": 2000.0}, 300.0, 7000.0),
        (waveform.build_highpass, {"max_cutoff_hz": 400.0}, 3000.0, 30.0),
    ],
)
def test_filters_keep_the_pass_band_and_cut_the_other(build, params, kept_hz, cut_hz):
    kept, cut = _clip(frequency=kept_hz), _clip(frequency=cut_hz)
    gain_kept = np.std(_apply(build, kept, p=1.0, **params)) / np.std(kept)
    gain_cut = np.std(_apply(build, cut, p=1.0, **params)) / np.std(cut)
    assert gain_kept > 0.7 and gain_cut < 0.5


def test_polarity_inverts_the_sign():
    x = _clip()
    assert np.array_equal(_apply(waveform.build_polarity, x, p=1.0), -x)


def test_chunk_crops_a_random_window_of_the_clip():
    x = np.arange(1000, dtype=np.float32).reshape(1, -1)
    crops = [_apply(waveform.build_chunk, x, s, fraction=0.6) for s in range(5)]
    assert all(c.shape == (1, 600) for c in crops)
    assert all(np.array_equal(c[0], np.arange(c[0, 0], c[0, 0] + 600)) for c in crops)
    assert len({int(c[0, 0]) for c in crops}) > 1


def test_slow_transforms_are_pre_rendered_by_default_and_the_ranges_are_narrow():
    specs = {s.name: s for s in waveform.merbench_augmentations()}
    assert {n for n, s in specs.items() if s.mode == "pre-rendered"} == {"pitch", "stretch"}
    assert specs["pitch"].search_space["semitones"].high <= 2.0
    assert specs["stretch"].search_space["max_rate_change"].high <= 0.1
    assert all(s.labels == "preserve" and s.stage == "waveform" for s in specs.values())
