"""Tests of merbench.evaluation.tasks and merbench.evaluation.scoring: the records agree with each
other and drive scoring, results files and pages."""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest

from merbench.errors import ConfigError
from merbench.evaluation import scoring
from merbench.evaluation.budgets import BUDGETS
from merbench.evaluation.metrics import compute_metrics, derive_classes, metric_direction
from merbench.evaluation.scoring import (
    MetricSpec,
    Scoring,
    find_metric,
    metric_bounds,
    metric_label,
)
from merbench.evaluation.tasks import TASK_SPECS, get_metric, get_task
from merbench.leaderboard.pages import task_file
from merbench.leaderboard.render import render_site
from merbench.plugin.specs import TASKS
from merbench.results.summaries import cells_frame, metric_columns, read_tables, summarize
from merbench.train.fit import Problem
from tests.helpers.stores import fake_store

CLASSIFICATION = [name for name, spec in TASK_SPECS.items() if spec.is_classification]


def test_task_records_agree_with_the_task_literal():
    assert tuple(TASK_SPECS) == TASKS
    assert all(name == spec.name for name, spec in TASK_SPECS.items())


@pytest.mark.parametrize("name", list(TASK_SPECS))
def test_every_reported_metric_is_known_and_the_primary_comes_first(name):
    spec = get_task(name)
    reported = spec.metric_names()
    assert spec.primary in reported
    assert spec.reported(None, "table")[0] == spec.primary
    for column in reported:
        metric = get_metric(column)
        assert spec.kind in metric.kinds
        assert metric.direction in ("maximize", "minimize")
        low, high = metric.bounds
        assert low < high
        assert metric_label(column) != column
    assert set(spec.reported(None, "table")) <= set(spec.reported(None, "files")) <= set(reported)


def test_chance_levels_name_metrics_of_the_same_kinds():
    for metric in scoring.METRIC_SPECS:
        if isinstance(metric.chance, str):
            reference = find_metric(metric.chance.format(k=3))
            assert reference is not None and set(metric.kinds) <= set(reference.kinds)
        elif metric.chance is not None:
            assert metric.bounds[0] <= metric.chance <= metric.bounds[1]


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_class_labels_are_what_derive_classes_gives(name):
    spec = get_task(name)
    grid = np.linspace(1.0, 9.0, 9)
    arousal, valence = (a.ravel() for a in np.meshgrid(grid, grid))
    classes = derive_classes(name, arousal, valence, 5.0)
    assert sorted(set(classes.tolist())) == sorted(spec.labels)
    assert list(spec.class_names) == list(spec.labels)
    assert spec.n_outputs == len(spec.labels) and not spec.targets
    # The same classes from the quadrant labels alone (4Q-style datasets).
    quadrants = derive_classes("quadrant", arousal, valence, 5.0)
    from_quadrants = spec.classes_from({"quadrant": quadrants.astype(float)}, 5.0)
    np.testing.assert_array_equal(from_quadrants, classes)


def test_quadrants_follow_russell_and_binary_tasks_say_high_or_low():
    quadrant = get_task("quadrant")
    assert quadrant.labels == (1, 2, 3, 4)
    assert quadrant.class_names[2] == "Q2 (A+ V\N{MINUS SIGN})"
    assert get_task("arousal-binary").class_names == {0: "low arousal", 1: "high arousal"}
    assert get_task("valence-binary").class_names == {0: "low valence", 1: "high valence"}


def test_regression_reads_its_targets_and_has_no_classes():
    spec = get_task("av-regression")
    assert spec.targets == ("arousal", "valence") and spec.sources == (spec.targets,)
    assert spec.labels == () and spec.n_outputs == 2
    with pytest.raises(ConfigError, match="Unknown task 'av-regression' for classes"):
        spec.classes_from({"arousal": np.ones(2), "valence": np.ones(2)}, 0.5)


def test_label_sources_prefer_arousal_and_valence():
    spec = get_task("arousal-binary")
    assert spec.source(["track_id", "quadrant", "arousal", "valence"]) == ("arousal", "valence")
    assert spec.source(["quadrant", "arousal"]) == ("quadrant",)
    assert spec.source(["arousal"]) is None
    assert get_task("av-regression").source(["quadrant"]) is None


def test_unknown_task_and_metric_suggest_close_names():
    with pytest.raises(
        ConfigError,
        match=r"^Unknown task 'quadrants'\. Did you mean 'quadrant'\? Choose one of: "
        r"av-regression, quadrant, arousal-binary, valence-binary, mood-tags\.$",
    ):
        get_task("quadrants")
    with pytest.raises(ConfigError, match=r"Unknown metric 'macro_f2'\. Did you mean 'macro_f1'"):
        get_metric("macro_f2")


def test_columns_find_their_metric_label_bounds_and_direction():
    assert metric_label("r2_mean") == "R² (mean)"
    assert metric_label("rmse_valence") == "RMSE valence"
    assert metric_label("top3_accuracy") == "Top-3 acc."
    assert metric_label("top3_chance") == "Top-3 chance"
    assert metric_label("majority_chance") == "Majority-class acc."
    assert metric_label("n_params") == "n_params"
    assert metric_bounds("r2_arousal") == (-math.inf, 1.0)
    assert metric_bounds("rmse_mean") == (0.0, math.inf)
    assert metric_bounds("pearson_valence") == (-1.0, 1.0)
    assert metric_bounds("top2_accuracy") == (0.0, 1.0)
    assert metric_bounds("fit_s") == (-math.inf, math.inf)
    assert metric_direction("rmse_arousal") == "minimize"
    assert find_metric("top2_accuracy_low") is None and find_metric("r2_") is None


def test_results_and_table_columns_keep_their_order():
    regression = get_task("av-regression")
    assert regression.reported(None, "files") == [
        "r2_mean", "ccc_mean", "pearson_mean", "rmse_mean", "r2_arousal", "r2_valence",
        "ccc_arousal", "ccc_valence", "rmse_arousal", "rmse_valence",
    ]  # fmt: skip
    assert regression.reported(None, "table") == [
        "r2_mean", "ccc_mean", "pearson_mean", "rmse_mean", "r2_arousal", "r2_valence",
    ]  # fmt: skip
    columns = ["top3_chance", "accuracy", "top3_accuracy_low", "macro_f1", "top3_accuracy"]
    assert get_task("quadrant").reported(columns, "table") == [
        "macro_f1", "accuracy", "top3_accuracy", "top3_chance",
    ]  # fmt: skip


def test_problem_takes_its_shape_from_the_record():
    smoke = BUDGETS["smoke"]
    regression = Problem(task=get_task("av-regression"), labels=(), budget=smoke, sample_rate=16000)
    binary = Problem(
        task=get_task("valence-binary"), labels=(0, 1), budget=smoke, sample_rate=16000
    )
    assert regression.is_regression and regression.n_outputs == 2
    assert not binary.is_regression and binary.n_outputs == 2


def _errors(s: Scoring) -> float:
    return float(np.sum(np.asarray(s.y_true) != np.asarray(s.y_pred)))


ERRORS = MetricSpec(
    name="errors",
    label="Wrong tracks",
    direction="minimize",
    bounds=(0.0, math.inf),
    kinds=("classification",),
    compute=_errors,
)


def test_a_registered_metric_reaches_scores_results_and_pages(monkeypatch, tmp_path):
    monkeypatch.setattr(scoring, "METRIC_SPECS", (*scoring.METRIC_SPECS, ERRORS))
    scores = compute_metrics(get_task("quadrant"), np.array([1, 2, 3, 4]), np.array([1, 2, 4, 4]))
    assert scores["errors"] == 1.0
    assert "errors" not in compute_metrics(
        get_task("av-regression"), np.ones((3, 2)), np.ones((3, 2))
    )
    assert metric_direction("errors") == "minimize"

    url = fake_store(tmp_path / "a", {"svr": 0, "majority": 0}, task="quadrant")
    summary = summarize(cells_frame(read_tables([url])["cells"]))
    assert {"errors", "errors_low", "errors_high"} <= set(summary.columns)
    assert list(metric_columns(summary, "quadrant"))[-1] == "errors"
    render_site([url], tmp_path / "site")
    with (tmp_path / "site" / "results.csv").open() as f:
        assert "errors" in next(csv.reader(f))
    page = (tmp_path / "site" / task_file("data", "quadrant")).read_text()
    assert 'data-first="ascending">Wrong tracks</th>' in page


def test_mcc_by_hand():
    # Binary: TP 2, TN 2, FP 1, FN 1 -> (2*2 - 1*1) / sqrt(3*3*3*3) = 1/3.
    binary = compute_metrics(
        get_task("arousal-binary"), np.array([1, 1, 1, 0, 0, 0]), np.array([1, 1, 0, 0, 0, 1])
    )
    assert binary["mcc"] == pytest.approx(1 / 3)
    # Quadrants: true counts t = (2, 2, 1, 1), predicted p = (1, 3, 0, 2), 4 of n = 6 correct:
    # (4*6 - t.p) / sqrt((36 - p.p) (36 - t.t)) = (24 - 10) / sqrt(22 * 26).
    quadrant = compute_metrics(
        get_task("quadrant"), np.array([1, 1, 2, 2, 3, 4]), np.array([1, 2, 2, 2, 4, 4])
    )
    assert quadrant["mcc"] == pytest.approx(14 / math.sqrt(22 * 26))
    inverted = compute_metrics(
        get_task("valence-binary"), np.array([0, 1, 0, 1]), np.array([1, 0, 1, 0])
    )
    assert inverted["mcc"] == pytest.approx(-1.0)
    assert get_metric("mcc").bounds == (-1.0, 1.0) and metric_direction("mcc") == "maximize"


def test_mcc_is_zero_where_undefined_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        constant = compute_metrics(
            get_task("quadrant"), np.array([1, 2, 3, 1]), np.array([2, 2, 2, 2])
        )
        one_class = compute_metrics(get_task("quadrant"), np.array([3, 3, 3]), np.array([3, 3, 3]))
    assert constant["mcc"] == 0.0 and one_class["mcc"] == 0.0
    assert "mcc" not in compute_metrics(get_task("av-regression"), np.ones((3, 2)), np.ones((3, 2)))


def test_mcc_reaches_results_files_and_pages(tmp_path):
    assert "mcc" in get_task("quadrant").reported(None, "table")
    url = fake_store(tmp_path / "a", {"svr": 0, "majority": 0}, task="quadrant")
    summary = summarize(cells_frame(read_tables([url])["cells"]))
    assert {"mcc", "mcc_low", "mcc_high"} <= set(summary.columns)
    render_site([url], tmp_path / "site")
    with (tmp_path / "site" / "results.csv").open() as f:
        assert "mcc" in next(csv.reader(f))
    page = (tmp_path / "site" / task_file("data", "quadrant")).read_text()
    assert 'data-first="descending">MCC</th>' in page
