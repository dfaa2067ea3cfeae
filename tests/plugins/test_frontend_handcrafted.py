"""Tests for the ``handcrafted`` front-end plugin."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

import merbench
from merbench.plugin.registry import load_registry
from merbench.plugin.validation import validate_record
from merbench_plugins.frontends import _handcrafted_features, handcrafted

SR = 16000


@pytest.fixture(scope="module")
def frontend() -> torch.nn.Module:
    return _handcrafted_features.build(SR)


def _features(frontend: torch.nn.Module, *clips: np.ndarray) -> dict[str, np.ndarray]:
    """Run mono clips of equal length through the front-end; values by feature name."""
    batch = torch.from_numpy(np.stack(clips).astype(np.float32)[:, None, :])
    with torch.inference_mode():
        output = frontend(batch).numpy()
    return dict(zip(frontend.feature_names, output.T, strict=True))


def _seconds(seconds: float) -> np.ndarray:
    return np.arange(round(seconds * SR)) / SR


def _clicks(rate: float, seconds: float = 10.0) -> np.ndarray:
    clip = np.zeros(round(seconds * SR))
    clip[(np.arange(0.25, seconds, 1 / rate) * SR).round().astype(int)] = 1.0
    return clip


def test_output_is_finite_float32_with_one_name_per_feature(frontend):
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((2, 2, SR)).astype(np.float32) * 0.1
    silence = np.zeros((1, 2, SR), dtype=np.float32)
    output = frontend(torch.from_numpy(np.concatenate([noise, silence])))
    assert output.shape == (3, len(frontend.feature_names))
    assert output.dtype == torch.float32
    assert torch.isfinite(output).all()
    assert 100 <= output.shape[1] <= 150


@pytest.mark.parametrize("samples", [0, 1, 100, 600, round(0.2 * SR)])
def test_short_and_silent_clips_give_finite_features(frontend, samples):
    rng = np.random.default_rng(1)
    waveforms = torch.from_numpy(rng.standard_normal((2, 1, samples)).astype(np.float32))
    waveforms[1] = 0.0
    output = frontend(waveforms)
    assert output.shape == (2, len(frontend.feature_names))
    assert torch.isfinite(output).all()


def test_silence_has_floor_values(frontend):
    values = _features(frontend, np.zeros(SR))
    assert values["rms_mean"][0] == pytest.approx(-100.0)
    assert values["zcr_mean"][0] == 0.0
    assert values["onset_rate"][0] == 0.0
    assert values["tempo"][0] == pytest.approx(120.0)
    assert values["pulse_clarity"][0] == 0.0


def test_output_is_deterministic_and_independent_of_the_batch(frontend):
    rng = np.random.default_rng(2)
    waveforms = torch.from_numpy(rng.standard_normal((3, 1, SR)).astype(np.float32) * 0.2)
    first = frontend(waveforms)
    assert torch.equal(first, frontend(waveforms))
    assert torch.equal(first, _handcrafted_features.build(SR)(waveforms))
    alone = torch.cat([frontend(waveforms[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(alone, first, rtol=1e-4, atol=1e-3)


def test_channels_are_mixed_to_mono(frontend):
    rng = np.random.default_rng(3)
    mono = torch.from_numpy(rng.standard_normal((1, 1, SR)).astype(np.float32) * 0.2)
    stereo = torch.cat([mono, mono], dim=1)
    torch.testing.assert_close(frontend(stereo), frontend(mono))
    torch.testing.assert_close(frontend(stereo.double()), frontend(mono))


def test_feature_names_match_the_output_and_need_no_torch(frontend):
    names = frontend.feature_names
    assert len(names) == len(set(names))
    assert names == handcrafted.feature_names(SR)
    for name in ("mfcc03_mean", "chroma_a_std", "contrast0_mean", "centroid_p90", "tempo"):
        assert name in names
    smaller = _handcrafted_features.build(SR, n_mfcc=13, n_fft=512, hop_length=256, n_mels=40)
    output = smaller(torch.zeros(1, 1, SR))
    assert output.shape == (1, len(smaller.feature_names))
    assert smaller.feature_names == handcrafted.feature_names(SR, n_mfcc=13, n_fft=512)


@pytest.mark.parametrize(("rate", "tempi"), [(2.0, (120.0,)), (4.0, (120.0, 240.0))])
def test_click_trains_give_their_onset_rate_and_tempo(frontend, rate, tempi):
    values = _features(frontend, _clicks(rate))
    assert values["onset_rate"][0] == pytest.approx(rate, abs=0.2)
    # An autocorrelation tempo may land an octave away; 120 BPM is the prior's centre.
    assert any(values["tempo"][0] == pytest.approx(t, rel=0.05) for t in tempi)
    assert values["pulse_clarity"][0] > 0.3


def test_faster_clicks_give_more_onsets(frontend):
    slow, fast = _features(frontend, _clicks(2.0), _clicks(4.0))["onset_rate"]
    assert fast > 1.5 * slow


def test_a4_tone_peaks_on_pitch_class_a(frontend):
    values = _features(frontend, 0.5 * np.sin(2 * np.pi * 440.0 * _seconds(2.0)))
    chroma = [values[f"chroma_{pc}_mean"][0] for pc in handcrafted.PITCH_CLASSES]
    assert handcrafted.PITCH_CLASSES[int(np.argmax(chroma))] == "a"


def test_chroma_filterbank_maps_bins_to_pitch_classes():
    bank = handcrafted.chroma_filterbank(SR, 4096)
    assert bank.shape == (12, 2049)
    assert np.all(bank[:, 0] == 0.0)
    for hz, pitch_class in [(440.0, "a"), (261.63, "c"), (392.0, "g")]:
        column = bank[:, round(hz * 4096 / SR)]
        assert handcrafted.PITCH_CLASSES[int(np.argmax(column))] == pitch_class


def test_brighter_signals_have_higher_centroid_and_rolloff(frontend):
    time = _seconds(2.0)
    low = 0.5 * np.sin(2 * np.pi * 110.0 * time)
    harmonics = sum(0.5 / k * np.sin(2 * np.pi * 110.0 * k * time) for k in range(1, 30))
    noise = 0.1 * np.random.default_rng(4).standard_normal(time.size)
    values = _features(frontend, low, harmonics, noise)
    for name in ("centroid_mean", "rolloff_mean", "bandwidth_mean"):
        assert values[name][0] < values[name][1] < values[name][2], name
    assert values["zcr_mean"][2] > values["zcr_mean"][0]
    assert values["flatness_mean"][2] > values["flatness_mean"][0]


def test_louder_signal_has_higher_rms(frontend):
    tone = np.sin(2 * np.pi * 220.0 * _seconds(1.0))
    values = _features(frontend, 0.01 * tone, 0.5 * tone)
    assert values["rms_mean"][1] - values["rms_mean"][0] == pytest.approx(
        20 * np.log10(50), abs=0.1
    )


def test_module_pickles(frontend):
    waveforms = torch.randn(1, 1, SR, generator=torch.Generator().manual_seed(5))
    restored = pickle.loads(pickle.dumps(frontend))
    assert restored.feature_names == frontend.feature_names
    torch.testing.assert_close(restored(waveforms), frontend(waveforms))


def test_importing_the_plugin_does_not_import_torch():
    code = (
        "import sys, merbench_plugins.frontends.handcrafted as h; "
        "assert 'torch' not in sys.modules; assert 'torchaudio' not in sys.modules; "
        "assert len(h.feature_names(16000)) > 0; assert 'torch' not in sys.modules; "
        "from merbench.plugin.registry import load_registry; "
        "r = load_registry(plugins=[h], entry_points=False, strict=True); "
        "assert isinstance(r.frontend('handcrafted').build, str); "
        "assert 'torch' not in sys.modules; assert 'torchaudio' not in sys.modules; "
        "r.frontend('handcrafted').builder(16000); assert 'torchaudio' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_hook_yields_a_valid_frontend_spec():
    assert handcrafted.MERBENCH_PLUGIN_API == merbench.PLUGIN_API
    (spec,) = handcrafted.merbench_frontends()
    assert isinstance(spec, merbench.FrontEndSpec)
    assert (spec.name, spec.output, spec.trainable) == ("handcrafted", "vector", False)
    assert spec.search_space == {}
    assert spec.summary
    assert validate_record("frontend", spec) == ""
    registry = load_registry(plugins=[handcrafted], entry_points=False, strict=True)
    assert spec.build == "merbench_plugins.frontends._handcrafted_features:build"
    assert registry.frontend("handcrafted").builder is _handcrafted_features.build
