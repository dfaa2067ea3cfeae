"""A transfer pair: two datasets' tracks on one label range, the songs they share left out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile

from merbench.data.songs import Fingerprints
from merbench.data.tracks import Tracks
from merbench.data.transfer import make_pair, make_transfer_split
from merbench.errors import DatasetError
from merbench.evaluation.tasks import get_task
from merbench.plugin.specs import DatasetSpec, LabelScale
from tests.data.test_songs import RATE, _fpcalc, _music


def _tracks(name, table, low=1.0, high=9.0, tasks=("av-regression",)):
    spec = DatasetSpec(
        name=name, load=lambda root: table, tasks=tasks, label_scale=LabelScale(low=low, high=high)
    )
    return Tracks(name=name, spec=spec, table=table)


def _table(folder, prefix, n, seeds, **columns):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, seed in zip(range(n), seeds, strict=True):
        path = folder / f"{prefix}{i}.wav"
        soundfile.write(path, _music(seed, seconds=6.0), RATE)
        paths.append(str(path))
    rng = np.random.default_rng(len(prefix))
    base = {
        "track_id": [f"{i}" for i in range(n)],
        "group": [f"artist {i % 3}" for i in range(n)],
        "audio_path": paths,
    }
    return (
        pd.DataFrame(base | columns)
        if columns
        else pd.DataFrame(base).assign(arousal=rng.uniform(1, 9, n), valence=rng.uniform(1, 9, n))
    )


def test_a_pair_stacks_both_datasets_on_the_common_range_and_drops_shared_songs(tmp_path):
    a = _table(tmp_path / "a", "a", 6, range(6))
    a = a.assign(
        artist=["X", "Y", None, "Z", "W", None], title=["One", "Two", None, "3", "4", None]
    )
    b = _table(tmp_path / "b", "b", 5, [100, 101, 2, 103, 104])  # b2 is a2's recording
    b = b.assign(
        artist=["The X", "Other", None, None, "V"], title=["One (Live)", "Two", None, None, "5"]
    )
    b[["arousal", "valence"]] = b[["arousal", "valence"]] / 9  # a 0..1 scale
    source, target = _tracks("deam", a), _tracks("mine", b, low=0.0, high=1.0)
    pair = make_pair(source, target, fingerprint=Fingerprints(_fpcalc(), tmp_path / "prints"))
    assert pair.removed == {"0": "metadata", "2": "fingerprint"}
    table = pair.tracks.table
    assert table["track_id"].tolist()[:2] == ["deam/0", "deam/1"]
    assert table["track_id"].tolist()[6:8] == ["mine/0", "mine/1"]
    assert table["group"].nunique() == 6  # artists of two datasets never merge
    assert table["arousal"].tolist()[6] == pytest.approx(2 * b["arousal"][0] - 1)
    assert table["valence"].tolist()[0] == pytest.approx((a["valence"][0] - 5) / 4)
    assert pair.tracks.scale.midpoint == 0.0

    split = make_transfer_split(pair, get_task("av-regression"))
    (fold,) = split.folds
    assert fold.train.tolist() == list(range(6))
    assert table["track_id"].iloc[fold.test].tolist() == ["mine/1", "mine/3", "mine/4"]
    audit = split.audit
    assert audit["n_removed"] == 2 and audit["removed"] == {"0": "metadata", "2": "fingerprint"}
    assert audit["scales"] == {"deam": [1.0, 9.0], "mine": [0.0, 1.0]}
    assert len(audit["train_mean"]) == 2 and audit["fingerprints"] is True
    # The manifest names the training tracks as well: another source gives another hash
    other = make_pair(_tracks("deam", a.iloc[1:]), target, fingerprint=False)
    assert make_transfer_split(other, get_task("av-regression")).digest != split.digest


def test_a_pair_with_a_quadrant_only_dataset_derives_quadrants_at_each_midpoint(tmp_path):
    a = _table(tmp_path / "a", "a", 4, range(4))
    a["arousal"], a["valence"] = [6.0, 6.0, 2.0, 2.0], [6.0, 2.0, 2.0, 6.0]  # Q1, Q2, Q3, Q4
    b = _table(tmp_path / "b", "b", 4, range(10, 14), quadrant=[4, 3, 2, 1])
    source = _tracks("av", a, tasks=("quadrant",))
    target = _tracks("fourq", b, tasks=("quadrant",))
    pair = make_pair(source, target, fingerprint=False)
    assert "arousal" not in pair.tracks.table
    assert pair.tracks.table["quadrant"].tolist() == [1, 2, 3, 4, 4, 3, 2, 1]
    assert pair.fingerprints is False


def test_a_pair_whose_test_songs_are_all_shared_is_refused(tmp_path):
    a = _table(tmp_path / "a", "a", 4, range(4)).assign(artist="X", title=list("abcd"))
    b = _table(tmp_path / "b", "b", 2, range(2)).assign(artist="x", title=["A", "b"])
    pair = make_pair(_tracks("one", a), _tracks("two", b), fingerprint=False)
    with pytest.raises(DatasetError, match="every track of 'two' is also in 'one'"):
        make_transfer_split(pair, get_task("av-regression"))


def test_each_side_of_a_pair_keeps_its_own_datasets_cap(tmp_path):
    """A's tracks are cut into the same windows in the pair's cells as in A's own folds."""
    from merbench.data.audio import AudioSettings, AudioStore
    from merbench.data.features import FeatureStore

    source = _tracks("long", _table(tmp_path / "a", "a", 3, range(3)))  # 6-s clips
    target = _tracks("open", _table(tmp_path / "b", "b", 2, [10, 11]))
    pair = make_pair(source, target, fingerprint=False)
    audio = AudioStore(AudioSettings(sample_rate=RATE, seconds=1.0), tmp_path / "audio")
    store = FeatureStore(audio, tmp_path / "features", max_seconds={"long": 2.0})
    own, whole = np.diff(store.windows(source).offsets), np.diff(store.windows(target).offsets)
    assert own.max() < whole.min()  # 2 s of A's 6-s clips; all of B's
    windows = store.windows(pair.tracks)
    assert np.diff(windows.offsets).tolist() == [*own, *whole]
    assert store.caps(pair.tracks) == {"long": 2.0, "open": None}
    assert store.cap(pair.tracks) is None  # the longer of the two: whole clips
    waves = store.waveforms(pair.tracks)
    n = int(own.sum())
    assert np.array_equal(waves[:n], store.waveforms(source))
    assert np.array_equal(waves[n:], store.waveforms(target))
    # Another cap for one side gives the pair other windows, under another cache key
    other = FeatureStore(audio, tmp_path / "features", max_seconds={"long": 3.0})
    assert other.window_key(pair.tracks) != store.window_key(pair.tracks)
    longer = np.diff(other.windows(pair.tracks).offsets).tolist()
    assert longer[:3] > own.tolist() and longer[3:] == whole.tolist()


def test_a_pairs_features_are_its_datasets_features_not_computed_again(tmp_path, monkeypatch):
    import merbench
    from merbench.data import features
    from merbench.data.audio import AudioSettings, AudioStore
    from merbench.data.features import FeatureStore

    monkeypatch.setattr(features, "STACK_BYTES", 20)  # rows of 8 bytes: copied 2 at a time

    seen: list[int] = []

    def build(sample_rate):
        def summarise(batch):
            seen.append(len(batch))
            return np.stack([batch.mean(axis=(1, 2)), batch.std(axis=(1, 2))], axis=1)

        return summarise

    spec = merbench.FrontEndSpec(name="summary", output="vector", build=build)
    source = _tracks("long", _table(tmp_path / "a", "a", 3, range(3)))
    target = _tracks("open", _table(tmp_path / "b", "b", 2, [10, 11]))
    pair = make_pair(source, target, fingerprint=False)
    audio = AudioStore(AudioSettings(sample_rate=RATE, seconds=1.0), tmp_path / "audio")
    cold = FeatureStore(audio, tmp_path / "cold", max_seconds={"long": 2.0})
    stacked = np.array(cold.features(pair.tracks, spec, {}))  # the pair first, on a cold cache
    n_source, n_target = len(cold.windows(source)), len(cold.windows(target))
    assert sum(seen) == n_source + n_target  # each dataset's windows once
    assert stacked.shape == (n_source + n_target, 2)
    assert np.array_equal(stacked[:n_source], cold.features(source, spec, {}))
    assert np.array_equal(stacked[n_source:], cold.features(target, spec, {}))
    assert sum(seen) == n_source + n_target  # the datasets' own entries were cached

    # Another process finds the pair's entry cached
    seen.clear()
    warm = FeatureStore(audio, tmp_path / "cold", max_seconds={"long": 2.0})
    assert np.array_equal(warm.features(pair.tracks, spec, {}), stacked) and not seen
