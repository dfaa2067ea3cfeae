"""The frames front-end: shapes, pinned definitions, descriptor values, caching, lazy torch."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import merbench
from merbench.data.audio import AudioSettings, AudioStore
from merbench.data.features import FeatureStore
from merbench.data.tracks import Tracks
from merbench.plugin.registry import load_registry
from merbench.testing import tone, write_tone_dataset
from merbench_plugins.frontends import frames, spectral

SR = 16000


def _column(output, name):
    return output[0, :, frames.feature_names(40).index(name)]


def _sine(seconds, frequency=440.0, amplitude=0.5):
    t = np.arange(round(seconds * SR)) / SR
    return torch.from_numpy((amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32))


def test_shape_is_frames_by_features():
    stereo = torch.from_numpy(tone(2.0, SR)).reshape(1, 1, -1).repeat(3, 2, 1)
    for n_mels, hop in [(40, 1024), (24, 512)]:
        module = frames.build(SR, n_mels=n_mels, hop_length=hop)
        assert module(stereo).shape == (3, 2 * SR // hop + 1, n_mels + 4)
        assert len(module.feature_names) == n_mels + 4
    assert frames.feature_names(2) == ["mel00", "mel01", "rms", "centroid", "flatness", "flux"]


def test_mel_bands_are_the_pinned_mel_spectrogram_in_bels():
    waveform = torch.from_numpy(tone(2.0, SR)).reshape(1, 1, -1)
    mel_db = spectral.build_mel(SR, n_fft=2048, hop_length=1024, n_mels=40)(waveform)[0, 0]
    bels = frames.build(SR, hop_length=1024)(waveform)[0, :, :40].T
    torch.testing.assert_close(10 * bels, mel_db, rtol=0, atol=1e-3)


def test_descriptors_of_a_sine():
    output = frames.build(SR)(_sine(2.0).reshape(1, 1, -1))
    inner = slice(2, -2)  # away from the reflect-padded edges
    rms = _column(output, "rms")[inner]
    torch.testing.assert_close(rms, torch.full_like(rms, np.log10(0.125)), rtol=0, atol=0.01)
    centroid = _column(output, "centroid")[inner]
    assert float((centroid - 440 / (SR / 2)).abs().max()) < 0.01
    assert float(_column(output, "flatness")[inner].max()) < -2  # a tone is far from flat


def test_white_noise_is_flat_and_an_onset_shows_in_the_flux():
    noise = np.random.default_rng(0).normal(0, 0.1, SR).astype(np.float32)
    flatness = _column(frames.build(SR)(torch.from_numpy(noise).reshape(1, 1, -1)), "flatness")
    assert float(flatness[2:-2].min()) > -0.5  # E[log p] - log E[p] = -0.25 bels for noise
    onset = torch.cat([torch.zeros(SR), torch.from_numpy(noise)]).reshape(1, 1, -1)
    output = frames.build(SR, hop_length=1024)(onset)
    flux = _column(output, "flux")[:-1]  # the last frame sees reflect padding
    assert int(flux.argmax()) in (15, 16)  # the noise starts at frame 16000 / 1024 = 15.6
    assert float(flux.max()) > 10 * float(flux[18:].max())  # steady noise: little flux


def test_silence_is_finite_at_the_floor():
    output = frames.build(SR)(torch.zeros(2, 1, SR))
    assert bool(torch.isfinite(output).all())
    assert float(output[..., :40].max()) == pytest.approx(-10.0)
    assert float(_column(output, "rms").max()) == pytest.approx(-10.0)


def test_the_core_caches_frames_like_any_fixed_frontend(tmp_path):
    rows = write_tone_dataset(tmp_path / "audio", n_tracks=3, seconds=1.0, sample_rate=SR)
    spec = merbench.DatasetSpec(name="tones", load=lambda root: None, tasks=("av-regression",))
    tracks = Tracks(name="tones", spec=spec, table=pd.DataFrame(rows))
    frontend = load_registry(plugins=[frames], entry_points=False).frontend("frames")
    assert frontend.output == "sequence" and not frontend.trainable
    audio = AudioStore(AudioSettings(sample_rate=SR, seconds=1.0), tmp_path / "audio-cache")
    (tmp_path / "features").mkdir()
    first = FeatureStore(audio, tmp_path / "features")
    computed = first.features(tracks, frontend, {"n_mels": 24, "hop_length": 512})
    assert computed.shape == (3, SR // 512 + 1, 28) and first.computed == 1
    again = FeatureStore(audio, tmp_path / "features")
    assert np.array_equal(again.features(tracks, frontend, {"n_mels": 24, "hop_length": 512}),
                          computed)  # fmt: skip
    assert again.loaded == 1 and again.computed == 0


def test_module_imports_without_torch():
    code = "import sys, merbench_plugins.frontends.frames; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
