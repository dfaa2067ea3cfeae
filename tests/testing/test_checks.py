"""Early-stopping checks: non-overlapping windows of each validation track, scored once."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from merbench.data.windows import Feed, Windows
from merbench.train.fit import score
from tests.helpers.training import MODEL, _failures, _problem

SIZE, HOP = 30, 15


def test_spaced_windows_do_not_overlap_and_cover_each_track_from_its_start() -> None:
    windows = Windows.build([100, 30, 10, 61], SIZE, HOP)
    rows, owner = windows.spaced_rows_of(np.array([0, 1, 2, 3]))
    all_rows, all_owner = windows.rows_of(np.array([0, 1, 2, 3]))
    assert set(rows) <= set(all_rows)
    for track in range(4):
        starts = windows.start[rows[owner == track]]
        assert starts[0] == 0  # every track keeps its first window
        assert np.all(np.diff(starts) >= SIZE)  # no two kept windows overlap
    # 100 samples: starts 0, 15, 30, 45, 60, 70 -> 0, 30, 60 kept
    assert windows.start[rows[owner == 0]].tolist() == [0, 30, 60]
    # a track shorter than a window has one (padded) window, kept
    assert (owner == 2).sum() == 1 and (all_owner == 2).sum() == 1


def test_a_spaced_feed_reads_only_the_spaced_windows() -> None:
    windows = Windows.build([100, 61], SIZE, HOP)
    source = np.arange(len(windows), dtype=np.float32)[:, None]
    feed = Feed(sources=[source], windows=windows, rows=np.array([1, 0]))
    spaced = dataclasses.replace(feed, spaced=True)
    rows, owner = spaced.window_rows()
    # the feed's order: track 1 (61 samples: starts 0, 15, 30, 31) then track 0 (100 samples)
    assert owner.tolist() == [0, 0, 1, 1, 1]
    assert windows.start[rows].tolist() == [0, 30, 0, 30, 60]
    assert feed.read(rows)[0][:, 0].tolist() == rows.tolist()
    assert len(feed.window_rows()[0]) == 10


def test_a_trial_value_is_the_kept_epochs_check_on_spaced_windows() -> None:
    from merbench.train.loop import fit_torch

    rng = np.random.default_rng(0)
    n, length = 64, 100
    windows = Windows.build([length] * n, SIZE, HOP)
    x = rng.standard_normal((len(windows), 6)).astype(np.float32)
    y = np.stack([windows.counts(np.arange(n)), rng.standard_normal(n)], axis=1).astype(float)
    train, valid = np.arange(48), np.arange(48, 64)
    fitted = fit_torch(
        MODEL,
        {"lr": 3e-3, "weight_decay": 1e-4},
        (Feed(sources=[x], windows=windows, rows=train), y[train]),
        _problem(epochs=5, patience=5),
        seed=0,
        trainables=[None],
        valid=(Feed(sources=[x], windows=windows, rows=valid), y[valid]),
    )
    assert fitted.valid_score == max(fitted.history)
    feed = Feed(sources=[x], windows=windows, rows=valid)
    problem = _problem(epochs=5, patience=5)
    spaced = score(problem, y[valid], fitted.predict(dataclasses.replace(feed, spaced=True), 16))
    every = score(problem, y[valid], fitted.predict(feed, 16))
    assert fitted.valid_score == pytest.approx(spaced, abs=1e-9)
    assert every != pytest.approx(spaced, abs=1e-9)  # the test fold reads every window


def test_kit_catches_a_batched_transform_whose_examples_depend_on_their_batch():
    def build(sample_rate):
        # draws every example's mask from the first generator: batch-dependent
        def mask(xs, rngs):
            starts = rngs[0].integers(0, xs.shape[-1] - 4, size=len(xs))
            out = xs.clone()
            for b, start in enumerate(starts):
                out[b, ..., int(start) : int(start) + 4] = 0.0
            return out

        return mask

    spec = {"stage": "spectrogram", "labels": "preserve", "build": build, "batched": True}
    assert _failures(masks=spec) == [
        "an example's output depends on its batch; draw example b only from rngs[b]"
    ]


def test_specaugment_masks_each_example_from_its_own_generator_in_one_call():
    import torch

    from merbench.plugin.registry import load_registry

    spec = load_registry().augmentation("specaugment")
    assert spec.batched
    transform = spec.build(16000, time_mask=10, freq_mask=4, n_masks=2)
    x = torch.randn(4, 1, 32, 50, generator=torch.Generator().manual_seed(0))
    out = transform(x.clone(), [np.random.default_rng(s) for s in range(4)])
    alone = transform(x[2:3].clone(), [np.random.default_rng(2)])
    assert torch.equal(out[2:3], alone)
    for b in range(4):
        changed = out[b] != x[b]
        assert changed.any()  # at least one band or frame masked
        assert torch.allclose(out[b][changed], x[b].mean().expand(int(changed.sum())))


def test_a_trials_slopes_come_from_its_kept_check_without_another_pass(tmp_path, monkeypatch):
    from merbench.data.audio import AudioSettings, AudioStore
    from merbench.data.features import FeatureStore
    from merbench.data.windows import aggregate
    from merbench.pipeline.cell import run_cell
    from merbench.train.calibration import Rescaling
    from tests.helpers.tracks import _spy_model, _spy_plan, _write_tracks

    settings = AudioSettings(sample_rate=8000, seconds=1.0)
    store = FeatureStore(AudioStore(settings, tmp_path / "audio"), tmp_path / "features")
    tracks = _write_tracks(tmp_path, [2.5] * 6)
    seen_owners = []

    def fit(self, window_outputs):
        seen_owners.append(np.asarray(self.owner).copy())
        return np.ones(2), aggregate(window_outputs, self.owner, len(self.y_true))

    def no_second_pass(self):
        raise AssertionError("the validation tracks were predicted again")

    monkeypatch.setattr(Rescaling, "fit", fit)
    monkeypatch.setattr(Feed, "by_window", no_second_pass)
    run_cell(_spy_plan(tracks, _spy_model([])), store)
    windows = store.windows(tracks)
    assert seen_owners  # one fit per trial that finished
    for owner in seen_owners:
        # the check's windows: each validation track's non-overlapping windows (2.5 s -> 0, 1 s)
        assert np.bincount(owner).tolist() == [2] * (owner.max() + 1)
        assert len(owner) < windows.counts(np.arange(4)).sum()
