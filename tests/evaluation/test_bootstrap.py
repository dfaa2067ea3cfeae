"""Tests of merbench.evaluation.bootstrap and closed_forms: closed forms against the metric
records, and the test's shape."""

from __future__ import annotations

import numpy as np
import pytest

from merbench.evaluation import bootstrap, closed_forms
from merbench.evaluation.bootstrap import Paired, paired_group_test
from merbench.evaluation.metrics import compute_metrics
from merbench.evaluation.scoring import find_metric
from merbench.evaluation.tasks import TASK_SPECS, get_task

REGRESSION = get_task("av-regression")


def _regression(seed=0, n=120, n_groups=30, spread_b=1.2):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, n)
    y = rng.normal(5.0, 2.0, (n, 2)) + rng.normal(0, 1.0, (n_groups, 2))[groups]
    a = y + rng.normal(0, 1.0, (n, 2))
    b = y + rng.normal(0, spread_b, (n, 2))
    return Paired(task=REGRESSION, y_true=y, pred_a=a, pred_b=b, groups=groups)


def _quadrants(seed=0, n=200):
    rng = np.random.default_rng(seed)
    y = rng.integers(1, 5, n)
    a = np.where(rng.random(n) < 0.6, y, rng.integers(1, 5, n))
    b = np.where(rng.random(n) < 0.4, y, rng.integers(1, 5, n))
    return Paired(
        task=get_task("quadrant"), y_true=y, pred_a=a, pred_b=b, groups=rng.integers(0, 40, n)
    )


def _closed_form(task, metric, y, p):
    form = closed_forms.from_sums(find_metric(metric), metric, task)
    return None if form is None else float(form(closed_forms.row_statistics(task, y, p).sum(0))[()])


@pytest.mark.parametrize("name", ["av-regression", "quadrant", "arousal-binary"])
def test_closed_forms_match_the_metric_records(name):
    task = get_task(name)
    rng = np.random.default_rng(3)
    if task.is_regression:
        y = rng.normal(5, 2, (80, 2))
        cases = [y + rng.normal(0, 1, y.shape), np.full_like(y, 4.0), y.copy()]
    else:
        labels = np.asarray(task.labels)
        y = rng.choice(labels[:-1], 80)  # the last class never true: an undefined F1 and recall
        cases = [rng.choice(labels, 80), np.full(80, labels[0]), y.copy()]
    for pred in cases:
        expected = compute_metrics(task, y, pred)
        for metric in task.metric_names():
            value = _closed_form(task, metric, y, pred)
            if value is not None:
                assert value == pytest.approx(expected[metric], abs=1e-10), metric


def _tags(seed=0, n=150, n_tags=4):
    """Multi-label truths and two candidates' tag scores; the last tag is on no track."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_tags)) < 0.3).astype(float)
    y[:, -1] = 0.0
    a = y * 0.5 + rng.random((n, n_tags))
    b = np.round(rng.random((n, n_tags)), 1)  # ties
    task = get_task("mood-tags").with_tags([f"t{i}" for i in range(n_tags)])
    return Paired(task=task, y_true=y, pred_a=a, pred_b=b, groups=rng.integers(0, 30, n))


def _paired_for(task):
    if task.is_multilabel:
        return _tags()
    if task.is_regression:
        return _regression()
    quadrants = _quadrants()
    y = np.asarray(quadrants.y_true)
    if task.name == "quadrant":
        return quadrants
    pick = {1: 1, 2: 1, 3: 0, 4: 0} if task.name == "arousal-binary" else {1: 1, 2: 0, 3: 0, 4: 1}
    to = np.vectorize(pick.get)
    return Paired(task=task, y_true=to(y), pred_a=to(quadrants.pred_a), pred_b=to(quadrants.pred_b),
                  groups=quadrants.groups)  # fmt: skip


def test_every_ranking_metric_is_scored_without_a_call_per_resample(monkeypatch):
    def slow(*args):
        raise AssertionError("the primary metric fell back to one compute_metrics per resample")

    monkeypatch.setattr(bootstrap, "_slow_scorer", slow)
    for task in TASK_SPECS.values():
        drawn = bootstrap.draw(_paired_for(task), task.primary, n_boot=100, n_perm=100, seed=0)
        assert np.isfinite(drawn.observed).all() and drawn.resampled[0].shape == (100,), task.name
        assert drawn.permuted.shape == (100,), task.name


def test_macro_roc_auc_resamples_match_scikit_learn_with_sample_weights():
    from sklearn.metrics import roc_auc_score

    paired = _tags()
    tags = paired.task.targets
    drawn = bootstrap.draw(paired, "roc_auc_mean", n_boot=100, n_perm=100, seed=4)
    observed, resampled, n_groups = drawn.observed, drawn.resampled, drawn.n_groups
    y, a = np.asarray(paired.y_true), np.asarray(paired.pred_a)
    assert observed[0] == pytest.approx(compute_metrics(paired.task, y, a)["roc_auc_mean"])
    _, group_index = np.unique(paired.groups, return_inverse=True)
    counts = bootstrap._draws(n_groups, 100, 4)
    for draw in (0, 57):
        weights = counts[draw][group_index]
        scored = [
            roc_auc_score(y[:, t], a[:, t], sample_weight=weights)
            for t in range(len(tags))
            if 0 < weights[y[:, t] > 0].sum() < weights.sum()
        ]
        assert resampled[0][draw] == pytest.approx(np.mean(scored), abs=1e-12)
    b = np.asarray(paired.pred_b)
    swaps = bootstrap._swaps(n_groups, 100, 4)
    for draw in (0, 57):  # a swap exchanges the candidates' predictions on the groups marked 1
        mask = (swaps[draw][group_index] > 0)[:, None]
        first, second = np.where(mask, b, a), np.where(mask, a, b)
        scored = [t for t in range(len(tags)) if 0 < y[:, t].sum() < len(y)]
        difference = np.mean([roc_auc_score(y[:, t], first[:, t]) for t in scored])
        difference -= np.mean([roc_auc_score(y[:, t], second[:, t]) for t in scored])
        assert drawn.permuted[draw] == pytest.approx(difference, abs=1e-12)


def test_macro_roc_auc_strata_average_the_folds_scores():
    paired = _tags()
    folds = np.arange(len(paired.groups)) % 3
    per_fold = Paired(
        task=paired.task, y_true=paired.y_true, pred_a=paired.pred_a, pred_b=paired.pred_b,
        groups=paired.groups, repeats=folds,
    )  # fmt: skip
    observed = bootstrap.draw(per_fold, "roc_auc_mean", n_boot=100, n_perm=100, seed=0).observed
    y, b = np.asarray(paired.y_true), np.asarray(paired.pred_b)
    expected = np.mean(
        [
            compute_metrics(paired.task, y[folds == f], b[folds == f])["roc_auc_mean"]
            for f in range(3)
        ]
    )
    assert observed[1] == pytest.approx(expected, abs=1e-12)


def test_identical_predictions_are_no_difference():
    paired = _regression()
    same = Paired(
        task=paired.task, y_true=paired.y_true, pred_a=paired.pred_a, pred_b=paired.pred_a,
        groups=paired.groups,
    )  # fmt: skip
    result = paired_group_test(same, "r2_mean", n_boot=200)
    assert (result.diff, result.se, result.p_value, result.se_null) == (0.0, 0.0, 1.0, 0.0)
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)


def test_observed_values_are_the_pooled_metrics():
    paired = _regression()
    result = paired_group_test(paired, "r2_mean", n_boot=200)
    expected_a = compute_metrics(paired.task, paired.y_true, paired.pred_a)["r2_mean"]
    expected_b = compute_metrics(paired.task, paired.y_true, paired.pred_b)["r2_mean"]
    assert result.value_a == pytest.approx(expected_a)
    assert result.diff == pytest.approx(expected_a - expected_b)
    assert result.n_groups == len(np.unique(paired.groups)) and result.n_boot == 200
    assert result.n_perm == 200


def test_swapping_the_candidates_mirrors_the_result():
    paired = _quadrants()
    swapped = Paired(
        task=paired.task, y_true=paired.y_true, pred_a=paired.pred_b, pred_b=paired.pred_a,
        groups=paired.groups,
    )  # fmt: skip
    one = paired_group_test(paired, "macro_f1", n_boot=500, seed=4)
    other = paired_group_test(swapped, "macro_f1", n_boot=500, seed=4)
    assert other.diff == pytest.approx(-one.diff)
    assert (other.ci_low, other.ci_high) == pytest.approx((-one.ci_high, -one.ci_low))
    assert other.p_value == one.p_value
    assert paired_group_test(paired, "macro_f1", n_boot=500, seed=4) == one  # seeded


def test_a_clear_difference_is_found_by_both_the_test_and_the_interval():
    clear = paired_group_test(_regression(spread_b=2.0), "r2_mean", n_boot=999)
    assert clear.ci_high < 0.0 or clear.ci_low > 0.0
    assert clear.p_value == 1 / 1000  # no permuted difference as large: the smallest p-value
    assert clear.ci_high - clear.diff == pytest.approx(1.959963984540054 * clear.se)
    assert paired_group_test(_regression(spread_b=2.0), "r2_mean", n_perm=4999).p_value == 1 / 5000


def test_the_p_value_counts_the_permuted_differences_as_far_from_zero():
    paired = _regression(spread_b=1.1)
    result = paired_group_test(paired, "r2_mean", n_boot=300, seed=5)
    draws = bootstrap.draw(paired, "r2_mean", n_boot=300, n_perm=300, seed=5)
    far = np.sum(np.abs(draws.permuted) >= abs(result.diff))
    assert result.p_value == pytest.approx((1 + far) / 301)
    assert 0.0 < result.p_value < 1.0
    assert result.se_null == pytest.approx(np.sqrt(np.mean(draws.permuted**2)))


@pytest.mark.parametrize("metric", ["r2_mean", "ccc_mean", "macro_f1"])
def test_a_permutation_swaps_the_candidates_on_whole_groups(metric):
    paired = _quadrants(seed=3) if metric == "macro_f1" else _regression(seed=3)
    group_index, repeat_index, n_groups = bootstrap._indices(paired)
    scorer = bootstrap._scorer(paired, metric, group_index, repeat_index, n_groups)
    swaps = np.random.default_rng(0).integers(0, 2, (3, n_groups)).astype(float)
    a, b = scorer.swapped(swaps)
    for row, score_a, score_b in zip(swaps, a, b, strict=True):
        mask = (row[group_index] > 0).reshape((-1,) + (1,) * (paired.y_true.ndim - 1))
        pred_a = np.where(mask, paired.pred_b, paired.pred_a)
        pred_b = np.where(mask, paired.pred_a, paired.pred_b)
        assert score_a == pytest.approx(compute_metrics(paired.task, paired.y_true, pred_a)[metric])
        assert score_b == pytest.approx(compute_metrics(paired.task, paired.y_true, pred_b)[metric])
    everything = scorer.swapped(np.ones((1, n_groups)))
    assert everything[0] == pytest.approx(scorer.weighted(np.ones((1, n_groups)))[1])


def test_the_permutation_test_keeps_its_level_on_exchangeable_candidates():
    rejected = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        groups = rng.integers(0, 25, 80)
        y = rng.integers(1, 5, 80)
        a, b = (np.where(rng.random(80) < 0.5, y, rng.integers(1, 5, 80)) for _ in range(2))
        paired = Paired(task=get_task("quadrant"), y_true=y, pred_a=a, pred_b=b, groups=groups)
        rejected += paired_group_test(paired, "macro_f1", n_boot=100, n_perm=199).p_value < 0.05
    assert rejected <= 17  # 5 % of 200 is 10; 17 is past the 97.5 % binomial quantile


def test_standard_error_is_the_spread_of_the_resamples():
    paired = _regression()
    result = paired_group_test(paired, "r2_mean", n_boot=400, seed=9)
    draws = bootstrap.draw(paired, "r2_mean", n_boot=400, n_perm=100, seed=9)
    (a, b), n_groups = draws.resampled, draws.n_groups
    assert draws.observed[0] - draws.observed[1] == result.diff
    factor = np.sqrt(n_groups / (n_groups - 1))
    assert result.se == pytest.approx(np.std(a - b, ddof=1) * factor)


def test_groups_widen_the_interval_when_errors_follow_the_artist():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(30), 8)
    y = rng.normal(0, 1, (240, 2))
    a = y + rng.normal(0, 0.8, (30, 2))[groups]  # the error is the artist's, not the track's
    b = y + rng.normal(0, 0.8, (30, 2))[groups]
    by_group = paired_group_test(Paired(task=REGRESSION, y_true=y, pred_a=a, pred_b=b,
                                      groups=groups), "r2_mean", n_boot=500)  # fmt: skip
    by_track = paired_group_test(Paired(task=REGRESSION, y_true=y, pred_a=a, pred_b=b,
                                      groups=np.arange(240)), "r2_mean", n_boot=500)  # fmt: skip
    assert by_group.ci_high - by_group.ci_low > 2 * (by_track.ci_high - by_track.ci_low)


def test_repeats_average_the_pooled_scores():
    paired = _regression()
    twice = Paired(
        task=paired.task, y_true=np.tile(paired.y_true, (2, 1)),
        pred_a=np.concatenate([paired.pred_a, paired.pred_b]),
        pred_b=np.concatenate([paired.pred_b, paired.pred_b]),
        groups=np.tile(paired.groups, 2), repeats=np.repeat([0, 1], len(paired.groups)),
    )  # fmt: skip
    result = paired_group_test(twice, "r2_mean", n_boot=200)
    single = paired_group_test(paired, "r2_mean", n_boot=200)
    assert result.diff == pytest.approx(single.diff / 2)  # repeat 1 has no difference


def test_metrics_without_a_closed_form_are_scored_per_resample(monkeypatch):
    paired = _quadrants(n=60)
    fast = paired_group_test(paired, "mcc", n_boot=100, seed=2)
    monkeypatch.delitem(closed_forms._CLASSIFICATION, "mcc")
    slow = paired_group_test(paired, "mcc", n_boot=100, seed=2)
    assert slow.diff == pytest.approx(fast.diff)
    assert (slow.ci_low, slow.ci_high, slow.p_value, slow.se_null) == pytest.approx(
        (fast.ci_low, fast.ci_high, fast.p_value, fast.se_null)
    )
    with pytest.raises(ValueError, match="from predictions alone"):
        paired_group_test(paired, "majority_chance", n_boot=100)


def test_bad_input_is_refused():
    paired = _regression()
    with pytest.raises(ValueError, match="n_boot"):
        paired_group_test(paired, "r2_mean", n_boot=10)
    with pytest.raises(ValueError, match="n_perm"):
        paired_group_test(paired, "r2_mean", n_perm=10)
    with pytest.raises(ValueError, match="does not report"):
        paired_group_test(paired, "macro_f1")
    short = Paired(task=REGRESSION, y_true=paired.y_true, pred_a=paired.pred_a[:5],
                   pred_b=paired.pred_b, groups=paired.groups)  # fmt: skip
    with pytest.raises(ValueError, match="must match"):
        paired_group_test(short, "r2_mean")
    one_group = Paired(task=REGRESSION, y_true=paired.y_true, pred_a=paired.pred_a,
                       pred_b=paired.pred_b, groups=np.zeros(len(paired.groups)))  # fmt: skip
    with pytest.raises(ValueError, match="at least 2 groups"):
        paired_group_test(one_group, "r2_mean")
