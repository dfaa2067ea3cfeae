"""Windows: cut, drawn per track and epoch for training only, aggregated per track."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import merbench
from merbench.data.audio import AudioSettings, AudioStore
from merbench.data.features import FeatureStore
from merbench.data.windows import Feed, Windows, aggregate, read_rows, window_starts
from merbench.evaluation.budgets import BUDGETS
from merbench.evaluation.tasks import get_task
from merbench.pipeline.cell import run_cell
from merbench.train.calibration import AGGREGATION, Rescaling
from merbench.train.fit import Problem, fit_sklearn
from merbench.train.loop import fit_torch
from tests.helpers.tracks import RATE, _spy_model, _spy_plan, _write_tracks


def test_windows_cover_the_clip_with_a_last_window_at_its_end():
    assert window_starts(10, 4, 2).tolist() == [0, 2, 4, 6]
    assert window_starts(11, 4, 2).tolist() == [0, 2, 4, 6, 7]  # tail covered
    assert window_starts(3, 4, 2).tolist() == [0]  # short clip: one padded window
    assert window_starts(11, 4, 2, windowing="single").tolist() == [3]  # centre crop
    assert window_starts(11, 4, 2, windowing="single", centre=False).tolist() == [0]


def test_window_rows_and_owners_of_tracks():
    windows = Windows.build([10, 3, 11], 4, 2)
    assert windows.offsets.tolist() == [0, 4, 5, 10]
    rows, owner = windows.rows_of(np.array([2, 0]))
    assert rows.tolist() == [5, 6, 7, 8, 9, 0, 1, 2, 3]
    assert owner.tolist() == [0] * 5 + [1] * 4
    assert set(windows.track[rows[owner == 0]]) == {2}


def test_window_draws_are_seeded_per_track_and_epoch_and_independent_of_order():
    windows = Windows.build([100] * 30, 10, 5)
    tracks = np.arange(30)
    first = windows.pick(tracks, seed=1, epoch=1)
    assert np.array_equal(first, windows.pick(tracks, seed=1, epoch=1))
    assert np.array_equal(first[::-1], windows.pick(tracks[::-1], seed=1, epoch=1))
    assert np.array_equal(first[:5], windows.pick(tracks[:5], seed=1, epoch=1))
    assert not np.array_equal(first, windows.pick(tracks, seed=1, epoch=2))
    assert not np.array_equal(first, windows.pick(tracks, seed=2, epoch=1))
    assert (windows.track[first] == tracks).all()
    epochs = np.stack([windows.pick(tracks, seed=1, epoch=e) for e in range(1, 40)])
    assert len(np.unique(epochs)) > 0.8 * len(windows)  # draws move over the whole clip


def test_aggregation_is_the_mean_per_track():
    values = np.array([[1.0, 0.0], [3.0, 2.0], [10.0, 10.0]])
    assert aggregate(values, np.array([0, 0, 1]), 2).tolist() == [[2.0, 1.0], [10.0, 10.0]]


def test_rows_read_from_a_memory_map_keep_the_asked_order(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(20, dtype=np.float32).reshape(10, 2))
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert read_rows(mapped, np.array([7, 1, 7, 3]))[:, 0].tolist() == [14, 2, 14, 6]


@pytest.fixture
def store(tmp_path):
    audio = AudioStore(AudioSettings(sample_rate=RATE, seconds=1.0), tmp_path / "audio")
    return FeatureStore(audio, tmp_path / "features")


def test_features_are_cached_per_window_and_capped_per_dataset(tmp_path, store):
    tracks = _write_tracks(tmp_path, [3.0, 0.5, 2.2])
    windows = store.windows(tracks)
    assert store.windows(tracks).offsets.tolist() == [0, 5, 6, 10]
    waves = store.waveforms(tracks)
    assert isinstance(waves, np.memmap) and waves.shape == (10, 1, RATE)
    audio = store.audio.load(tracks.table["audio_path"][2])
    assert np.array_equal(waves[9, 0], audio[-RATE:])  # the last window ends at the clip's end
    assert not waves[5, 0, RATE // 2 :].any()  # the short clip is zero-padded
    assert len(windows) == 10
    capped = FeatureStore(store.audio, tmp_path / "capped", max_seconds={"long": 1.5})
    assert capped.windows(tracks).offsets.tolist() == [0, 2, 3, 5]
    assert capped.waveforms(tracks).shape[0] == 5


def test_no_window_of_a_test_track_reaches_training(tmp_path, store):
    tracks = _write_tracks(tmp_path, [2.5] * 6)
    waves = store.waveforms(tracks)
    windows = store.windows(tracks)
    first = {float(waves[w, 0, 0]): int(windows.track[w]) for w in range(len(windows))}
    seen: list[np.ndarray] = []
    plan = _spy_plan(tracks, _spy_model(seen))
    fold = plan.fold
    result = run_cell(plan, store)
    trained = {first[float(v)] for batch in seen for v in batch}
    assert trained and trained <= set(fold.train)
    assert result.info["n_windows_test"] == 2 * 4 and result.info["window_s"] == 1.0
    # Two validation tracks are too few to fit a slope: the mean of the windows is kept.
    assert result.info["aggregation"] == AGGREGATION
    assert result.info["rescale_slopes"] == [1.0, 1.0]


def test_torch_and_sklearn_predict_one_value_per_track_from_all_its_windows():
    windows = Windows.build([4, 2, 6], 2, 2)  # 2, 1, 3 windows
    x = np.array([[0.0], [2.0], [5.0], [1.0], [1.0], [4.0]], dtype=np.float32)
    y = np.array([[1.0, 1.0], [5.0, 5.0], [2.0, 2.0]])
    feed = Feed(sources=[x], windows=windows, rows=np.arange(3))
    assert np.allclose(feed.pooled()[0][:, 0], [1.0, 5.0, 2.0])
    problem = Problem(
        task=get_task("av-regression"), labels=(), budget=BUDGETS["smoke"], sample_rate=RATE
    )
    linear = merbench.ModelSpec(name="lin", accepts=("vector",), family="sklearn", build=_linear)
    fitted = fit_sklearn(linear, {}, feed, y, problem)
    assert np.allclose(fitted.predict(feed, 3), y)
    net = merbench.ModelSpec(name="mlp", accepts=("vector",), build=_torch_linear)
    fitted = fit_torch(net, {}, (feed, y), problem, seed=0, trainables=[None], epochs=1)
    prediction = fitted.predict(feed, 3)
    assert prediction.shape == (3, 2)
    # A linear model's mean over windows equals its output at the mean input.
    at_mean = fitted.predict([feed.pooled()[0].astype(np.float32)], 3)
    assert np.allclose(prediction, at_mean, atol=1e-5)


def test_the_refit_rescales_by_the_best_trials_slopes_about_its_training_mean(
    tmp_path, store, monkeypatch
):
    tracks = _write_tracks(tmp_path, [2.5] * 6)
    plan = _spy_plan(tracks, _spy_model([]))

    def fixed(slopes):
        def fit(self, window_outputs):
            return np.array(slopes), aggregate(window_outputs, self.owner, len(self.y_true))

        return fit

    results = []
    for slopes in ([1.0, 1.0], [2.0, 3.0]):
        monkeypatch.setattr(Rescaling, "fit", fixed(slopes))
        results.append(run_cell(plan, store))
    plain, scaled = (np.array([row[3] for row in r.predictions]).reshape(-1, 2) for r in results)
    centre = tracks.targets(plan.problem.task)[plan.fold.train].mean(axis=0)
    assert not np.allclose(plain, centre)
    assert np.allclose(scaled, centre + np.array([2.0, 3.0]) * (plain - centre))
    assert results[1].info["rescale_slopes"] == [2.0, 3.0]


def _linear():
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


def _torch_linear(inputs, n_outputs):
    return torch.nn.Linear(inputs[0].shape[0], n_outputs)


def test_pre_rendered_copies_are_rendered_per_window(tmp_path, store, monkeypatch):
    from merbench.plugin.registry import load_registry
    from merbench.train.augment import TrainingSetup, prepare_training
    from merbench.train.policy import N_COPIES, make_policy

    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    tracks = _write_tracks(tmp_path, [2.5, 1.0])
    registry = load_registry()
    policy = make_policy(
        [registry.augmentation("gain")], {}, sample_rate=RATE, run_mode="pre-rendered"
    )
    raw = merbench.FrontEndSpec(
        name="raw", output="waveform", trainable=True, build=lambda sr: torch.nn.Identity()
    )
    setup = TrainingSetup(policy=policy, features=store, tracks=tracks, frontends=[raw],
                          frontend_params=[{}], rows=np.arange(2), seed=0, render_seed=0,
                          sample_rate=RATE)  # fmt: skip
    plan = prepare_training(setup)
    assert plan.n_copies == N_COPIES
    assert plan.waveforms is not None and plan.waveforms.shape[:2] == (5, N_COPIES)
