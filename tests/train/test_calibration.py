"""Rescaling whole-clip predictions: undo what averaging windows shrank, as labels confirm."""

from __future__ import annotations

import numpy as np

from merbench.data.windows import Feed, Windows, aggregate
from merbench.evaluation.metrics import compute_metrics
from merbench.evaluation.tasks import get_task
from merbench.train import calibration
from merbench.train.calibration import MIN_TRACKS, Rescaling, rescale, shrinkage
from merbench.train.family import SKLEARN, TORCH

CENTRE = np.array([5.0, 5.0])


def _windows(n_tracks, n_windows, kind, seed=0):
    """Labels ``[N, 2]``, each window's track ``[M]`` and window outputs ``[M, 2]``.

    ``cue``: one window per track predicts its label, the others the training mean;
    ``stationary``: every window predicts half the label's distance from the mean;
    ``noise``: windows scatter about the mean whatever the label.
    """
    rng = np.random.default_rng(seed)
    y = CENTRE + rng.normal(0, 2, (n_tracks, 2))
    owner = np.repeat(np.arange(n_tracks), n_windows)
    if kind == "stationary":
        return y, owner, CENTRE + 0.5 * (y[owner] - CENTRE)
    outputs = CENTRE + rng.normal(0, 0.01 if kind == "cue" else 1.0, (len(owner), 2))
    if kind == "cue":
        cue = np.arange(n_tracks) * n_windows + rng.integers(0, n_windows, n_tracks)
        outputs[cue] = y
    return y, owner, outputs


def _r2(y, y_pred):
    return compute_metrics(get_task("av-regression"), y, y_pred)["r2_mean"]


def test_a_cue_in_one_window_of_ten_is_scaled_back_to_its_label():
    y, owner, outputs = _windows(40, 10, "cue")
    plain = aggregate(outputs, owner, 40)
    slopes, validated = Rescaling(y_true=y, owner=owner, centre=CENTRE).fit(outputs)
    assert np.all((slopes > 9.0) & (slopes < 10.5))  # averaging shrank the cue tenfold
    assert _r2(y, plain) < 0.3
    assert _r2(y, validated) > 0.95
    assert np.allclose(rescale(plain, slopes, CENTRE), CENTRE + slopes * (plain - CENTRE))


def test_windows_that_agree_keep_the_plain_mean_even_when_the_model_is_too_timid():
    y, owner, outputs = _windows(40, 6, "stationary")
    slopes, validated = Rescaling(y_true=y, owner=owner, centre=CENTRE).fit(outputs)
    assert shrinkage(outputs - CENTRE, outputs - CENTRE).tolist() == [1.0, 1.0]
    assert slopes.tolist() == [1.0, 1.0]  # the labels want 2; averaging did not shrink them
    assert np.allclose(validated, aggregate(outputs, owner, 40))


def test_noisy_windows_averaged_away_are_not_blown_up_again():
    y, owner, outputs = _windows(40, 10, "noise")
    x = outputs - CENTRE
    assert np.all(shrinkage(x, aggregate(x, owner, 40)[owner]) > 5)  # averaging shrank them
    slopes, validated = Rescaling(y_true=y, owner=owner, centre=CENTRE).fit(outputs)
    assert slopes.tolist() == [1.0, 1.0]  # but the labels do not confirm any of it
    assert np.allclose(validated, aggregate(outputs, owner, 40))


def test_too_few_validation_tracks_keep_the_plain_mean():
    y, owner, outputs = _windows(MIN_TRACKS - 1, 10, "cue")
    slopes, validated = Rescaling(y_true=y, owner=owner, centre=CENTRE).fit(outputs)
    assert slopes.tolist() == [1.0, 1.0]
    assert np.allclose(validated, aggregate(outputs, owner, MIN_TRACKS - 1))


def test_each_validation_track_is_rescaled_by_a_slope_fitted_without_it(monkeypatch):
    monkeypatch.setattr(calibration, "PENALTIES", np.array([0.3]))  # no choice left to LOO
    y, owner, outputs = _windows(12, 5, "cue", seed=3)
    y[:, 1] += np.random.default_rng(4).normal(0, 1.5, 12)  # a noisy target: slopes differ
    x = aggregate(outputs - CENTRE, owner, 12)
    cap = shrinkage(outputs - CENTRE, x[owner])
    target = y - CENTRE
    alpha = 0.3 * np.square(x).sum(axis=0)
    expected = np.empty_like(x)
    for i in range(12):
        kept = np.arange(12) != i
        num = (x[kept] * (target[kept] - x[kept])).sum(axis=0)
        slope = 1 + num / (np.square(x[kept]).sum(axis=0) + alpha)
        expected[i] = CENTRE + np.clip(slope, 1, cap) * x[i]
    _, validated = Rescaling(y_true=y, owner=owner, centre=CENTRE).fit(outputs)
    assert np.allclose(validated, expected)
    changed = y.copy()
    changed[0] += 10.0  # a track's own label does not move its validation prediction
    _, again = Rescaling(y_true=changed, owner=owner, centre=CENTRE).fit(outputs)
    assert np.allclose(again[0], validated[0])


def test_rescale_without_slopes_leaves_predictions_and_only_multi_window_torch_regression_is():
    predictions = np.array([[1.0, 2.0]])
    assert rescale(predictions, None, CENTRE).tolist() == [[1.0, 2.0]]
    assert rescale(predictions, [2.0, 1.0], CENTRE).tolist() == [[-3.0, 2.0]]
    assert TORCH.rescales(True, np.array([1, 3]))
    assert not TORCH.rescales(True, np.array([1, 1]))
    assert not SKLEARN.rescales(True, np.array([3, 3]))
    assert not TORCH.rescales(False, np.array([3, 3]))


def test_a_feed_by_window_predicts_every_window_of_its_tracks():
    windows = Windows.build([4, 2, 6], 2, 2)  # 2, 1, 3 windows
    x = np.arange(6, dtype=np.float32)[:, None]
    each, owner = Feed(sources=[x], windows=windows, rows=np.array([2, 0])).by_window()
    assert len(each) == each.n_windows() == 5
    assert each.pooled()[0][:, 0].tolist() == [3.0, 4.0, 5.0, 0.0, 1.0]
    assert owner.tolist() == [0, 0, 0, 1, 1]
