"""synth: deterministic, cached, grouped, and its audio really carries arousal and valence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from merbench.registry import load_registry
from merbench_plugins.datasets import synth
from merbench_plugins.frontends import handcrafted

SMALL = {"n_clips": 60, "seconds": 4.0, "sample_rate": 8000, "n_artists": 6}
# Krumhansl & Kessler (1982) key profiles, tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("MERBENCH_CACHE", str(tmp_path_factory.mktemp("synth-cache")))
    table = synth.load(None, **SMALL)
    yield table
    mp.undo()


@pytest.fixture(scope="module")
def features(small):
    import soundfile

    audio = np.stack([soundfile.read(p, dtype="float32")[0] for p in small["audio_path"]])
    module = handcrafted.build(8000, n_fft=1024, hop_length=256, n_mfcc=13)
    with torch.inference_mode():
        values = module(torch.from_numpy(audio)[:, None, :]).numpy()
    return dict(zip(module.feature_names, values.T, strict=True))


def test_table_columns_ranges_and_groups(small):
    assert len(small) == 60
    assert {"track_id", "group", "audio_path", "arousal", "valence", "quadrant"} <= set(
        small.columns
    )
    assert small["track_id"].is_unique
    assert small["group"].nunique() == 6
    for column in ("arousal", "valence", "arousal_true", "valence_true"):
        assert small[column].between(1, 9).all()
    assert set(small["quadrant"]) <= {1, 2, 3, 4}


def test_deterministic_for_a_seed_and_cached(small, tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path))
    again = synth.load(None, **SMALL)
    assert again[["arousal", "valence"]].equals(small[["arousal", "valence"]])
    first, second = small["audio_path"][0], again["audio_path"][0]
    assert Path(first).read_bytes() == Path(second).read_bytes()
    stamps = [p.stat().st_mtime_ns for p in sorted(tmp_path.rglob("*.wav"))]
    synth.load(None, **SMALL)
    assert [p.stat().st_mtime_ns for p in sorted(tmp_path.rglob("*.wav"))] == stamps


def test_another_seed_gives_another_set(small, tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path))
    other = synth.load(None, **(SMALL | {"seed": 1}))
    assert not np.allclose(other["arousal"], small["arousal"])


def test_label_noise_is_rater_like(small):
    residual = small["arousal"] - small["arousal_true"]
    assert 0.2 < residual.std() < 0.8  # noise = 0.5 on the 1..9 scale, before clipping


def test_onset_rate_and_tempo_follow_arousal(small, features):
    rho_onsets = spearmanr(features["onset_rate"], small["arousal_true"]).statistic
    rho_rms = spearmanr(features["rms_mean"], small["arousal_true"]).statistic
    assert rho_onsets > 0.5, rho_onsets
    assert rho_rms > 0.5, rho_rms


def test_mode_estimate_follows_valence(small, features):
    pitch_classes = ["c", "cs", "d", "ds", "e", "f", "fs", "g", "gs", "a", "as", "b"]
    chroma = np.stack([features[f"chroma_{p}_mean"] for p in pitch_classes], axis=1)

    def best(profile):
        return np.max(
            [[np.corrcoef(c, np.roll(profile, k))[0, 1] for k in range(12)] for c in chroma], axis=1
        )

    majorness = best(MAJOR_PROFILE) - best(MINOR_PROFILE)
    rho = spearmanr(majorness, small["valence_true"]).statistic
    assert rho > 0.4, rho


def test_hook_yields_a_valid_spec():
    registry = load_registry(plugins=[synth], entry_points=False)
    assert registry.failures == []
    spec = registry.dataset("synth")
    assert spec.requires_path is False and spec.label_scale.low == 1
