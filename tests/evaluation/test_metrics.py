"""Tests of merbench.evaluation.metrics: textbook values on constructed data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from merbench.errors import ConfigError
from merbench.evaluation.metrics import (
    TASK_LABELS,
    TASK_METRICS,
    classification_metrics,
    compute_metrics,
    derive_classes,
    majority_chance,
    metric_direction,
    regression_metrics,
)
from merbench.evaluation.tasks import get_task

TRUE = np.array([1.0, 2.0, 3.0, 4.0, 5.0])


def _two_dims(arousal, valence):
    return np.column_stack([arousal, valence])


def test_identical_predictions_are_perfect():
    y = _two_dims(TRUE, TRUE[::-1] * 0.5)
    scores = regression_metrics(y, y.copy())
    for kind, best in (("r2", 1.0), ("ccc", 1.0), ("pearson", 1.0), ("rmse", 0.0)):
        for suffix in ("arousal", "valence", "mean"):
            assert scores[f"{kind}_{suffix}"] == pytest.approx(best)


def test_ccc_of_shifted_and_scaled_predictions_by_hand():
    # Population moments of TRUE: mean 3, variance 2.
    # Shift by 1: cov 2, var_pred 2, bias 1 -> 2*2 / (2 + 2 + 1) = 0.8.
    # Scale by 2: cov 4, var_pred 8, bias 3 -> 2*4 / (2 + 8 + 9) = 8/19.
    scores = regression_metrics(_two_dims(TRUE, TRUE), _two_dims(TRUE + 1, TRUE * 2))
    assert scores["ccc_arousal"] == pytest.approx(0.8)
    assert scores["ccc_valence"] == pytest.approx(8 / 19)
    assert scores["ccc_mean"] == pytest.approx((0.8 + 8 / 19) / 2)
    assert scores["pearson_arousal"] == pytest.approx(1.0)
    assert scores["pearson_valence"] == pytest.approx(1.0)
    assert scores["rmse_arousal"] == pytest.approx(1.0)
    assert scores["rmse_valence"] == pytest.approx(np.sqrt(np.mean(TRUE**2)))


def test_mean_prediction_gives_zero_r2_without_warnings():
    y = _two_dims(TRUE, TRUE**2)
    constant = np.broadcast_to(y.mean(axis=0), y.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = regression_metrics(y, constant)
    assert scores["r2_mean"] == pytest.approx(0.0)
    assert scores["pearson_mean"] == 0.0
    assert scores["ccc_mean"] == 0.0
    assert scores["rmse_arousal"] == pytest.approx(np.sqrt(2.0))
    assert all(np.isfinite(v) for v in scores.values())


def test_constant_truth_and_prediction_give_no_warnings_nor_nan():
    y = np.full((4, 2), 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = regression_metrics(y, y.copy())
        other = regression_metrics(y, y + np.array([[0.0, 1.0]]))
    assert same["ccc_mean"] == 1.0
    assert same["pearson_mean"] == 0.0
    assert other["ccc_valence"] == 0.0
    assert all(np.isfinite(v) for v in (*same.values(), *other.values()))


def test_anti_correlated_predictions():
    scores = regression_metrics(TRUE, TRUE[::-1], dims=("arousal",))
    assert scores["pearson_arousal"] == pytest.approx(-1.0)
    assert scores["ccc_arousal"] == pytest.approx(-1.0)
    assert scores["r2_arousal"] == pytest.approx(-3.0)  # SSE 40 / SST 10


def test_regression_rejects_bad_shapes_and_nan():
    with pytest.raises(ValueError, match="shape"):
        regression_metrics(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="differ"):
        regression_metrics(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError):
        regression_metrics(np.zeros((3, 2)), np.full((3, 2), np.nan))


def test_classification_metrics_by_hand():
    y_true = np.array([1, 1, 2, 2, 3, 4])
    y_pred = np.array([1, 2, 2, 2, 4, 4])
    scores = classification_metrics(y_true, y_pred, TASK_LABELS["quadrant"])
    assert scores["accuracy"] == pytest.approx(4 / 6)
    # Recalls 1/2, 1, 0, 1; F1s 2/3, 4/5, 0, 2/3.
    assert scores["balanced_accuracy"] == pytest.approx(2.5 / 4)
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 4 / 5 + 0 + 2 / 3) / 4)
    assert scores["confusion"] == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]]
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))


def test_class_missing_from_fold_gives_no_warning():
    y_true = np.array([1, 1, 2])
    y_pred = np.array([1, 3, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = classification_metrics(y_true, y_pred, (1, 2, 3, 4))
    assert scores["balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 1 + 0 + 0) / 4)


def test_top_k_accuracy_and_chance():
    y_true = np.array([1, 2, 3, 4])
    proba = np.array(
        [
            [0.7, 0.2, 0.05, 0.05],  # 1 is first
            [0.5, 0.3, 0.1, 0.1],  # 2 is second
            [0.4, 0.3, 0.2, 0.1],  # 3 is third
            [0.1, 0.2, 0.3, 0.4],  # 4 is first
        ]
    )
    scores = classification_metrics(y_true, proba.argmax(axis=1) + 1, (1, 2, 3, 4), proba, 2)
    assert scores["top2_accuracy"] == pytest.approx(3 / 4)
    assert scores["top2_chance"] == pytest.approx(0.5)
    assert "top2_accuracy" not in classification_metrics(y_true, y_true, (1, 2, 3, 4), top_k=2)


def test_top_1_accuracy_on_binary_equals_accuracy():
    y_true = np.array([0, 1, 1, 0])
    proba = np.array([[0.6, 0.4], [0.3, 0.7], [0.8, 0.2], [0.9, 0.1]])
    scores = classification_metrics(y_true, proba.argmax(axis=1), (0, 1), proba, 1)
    assert scores["top1_accuracy"] == pytest.approx(scores["accuracy"]) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="top_k"):
        classification_metrics(y_true, y_true, (0, 1), proba, 2)


def test_classification_rejects_unknown_classes():
    with pytest.raises(ValueError, match=r"classes \[5\]"):
        classification_metrics(np.array([1, 5]), np.array([1, 1]), (1, 2, 3, 4))


def test_majority_chance():
    assert majority_chance(np.array([1, 1, 2]), np.array([1, 2, 2, 2])) == pytest.approx(0.25)
    # A tie goes to the smallest label.
    assert majority_chance(np.array([0, 1]), np.array([0, 0, 1])) == pytest.approx(2 / 3)


def test_compute_metrics_dispatches_by_task():
    y = _two_dims(TRUE, TRUE)
    assert compute_metrics(get_task("av-regression"), y, y)["r2_mean"] == pytest.approx(1.0)
    scores = compute_metrics(get_task("quadrant"), np.array([1, 2, 3, 4]), np.array([1, 2, 3, 3]))
    assert len(scores["confusion"]) == 4
    binary = compute_metrics(get_task("valence-binary"), np.array([0, 1]), np.array([0, 0]))
    assert binary["accuracy"] == 0.5


def test_primary_metric_and_directions():
    assert get_task("av-regression").primary == "r2_mean"
    for task in ("quadrant", "arousal-binary", "valence-binary"):
        assert get_task(task).primary == "macro_f1"
    assert metric_direction("rmse_mean") == "minimize"
    assert metric_direction("rmse_valence") == "minimize"
    for name in ("r2_mean", "ccc_arousal", "pearson_mean", "accuracy", "macro_f1", "top2_accuracy"):
        assert metric_direction(name) == "maximize"
    for names in TASK_METRICS.values():
        assert all(metric_direction(name) for name in names)
    with pytest.raises(ConfigError, match="Unknown metric 'confusion'"):
        metric_direction("confusion")


def test_derive_quadrants():
    arousal = np.array([8.0, 8.0, 2.0, 2.0])
    valence = np.array([8.0, 2.0, 2.0, 8.0])
    assert derive_classes("quadrant", arousal, valence, 5.0).tolist() == [1, 2, 3, 4]
    assert derive_classes("arousal-binary", arousal, valence, 5.0).tolist() == [1, 1, 0, 0]
    assert derive_classes("valence-binary", arousal, valence, 5.0).tolist() == [1, 0, 0, 1]


def test_derive_classes_midpoint_counts_as_high():
    arousal = np.array([5.0, 5.0, 4.9, 4.9])
    valence = np.array([5.0, 4.9, 4.9, 5.0])
    assert derive_classes("quadrant", arousal, valence, 5.0).tolist() == [1, 2, 3, 4]
    assert derive_classes("arousal-binary", arousal, valence, 5.0).tolist() == [1, 1, 0, 0]
    assert derive_classes("valence-binary", arousal, valence, 5.0).tolist() == [1, 0, 0, 1]
    classes = derive_classes("quadrant", arousal, valence, 5.0)
    assert classes.dtype == np.int64
    assert set(classes.tolist()) <= set(TASK_LABELS["quadrant"])


def test_derive_classes_takes_a_task_by_name_or_record():
    arousal, valence = np.array([8.0, 2.0]), np.array([2.0, 8.0])
    by_record = derive_classes(get_task("quadrant"), arousal, valence, 5.0)
    assert (
        by_record.tolist() == derive_classes("quadrant", arousal, valence, 5.0).tolist() == [2, 4]
    )
    with pytest.raises(ConfigError, match="Did you mean 'quadrant'"):
        derive_classes("quadrants", arousal, valence, 5.0)


def test_derive_classes_rejects_regression_and_nan():
    with pytest.raises(ConfigError, match="Unknown task 'av-regression'"):
        derive_classes("av-regression", TRUE, TRUE, 3.0)
    with pytest.raises(ValueError, match="NaN"):
        derive_classes("quadrant", np.array([np.nan]), np.array([1.0]), 3.0)


def test_compute_metrics_adds_chance_levels_from_the_training_fold():
    y_test, y_pred = np.array([1, 2, 2, 2]), np.array([1, 2, 3, 2])
    scores = compute_metrics(get_task("quadrant"), y_test, y_pred, y_train=np.array([1, 1, 2]))
    assert scores["majority_chance"] == pytest.approx(0.25)
    assert "majority_chance" not in compute_metrics(get_task("quadrant"), y_test, y_pred)
    regression = compute_metrics(
        get_task("av-regression"), np.ones((3, 2)), np.ones((3, 2)), y_train=None
    )
    assert "majority_chance" not in regression


# --- multilabel -----------------------------------------------------------------------------------

TAGS = ("calm", "epic", "sad")


def test_multilabel_scores_each_tag_and_the_macro_mean_by_hand():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], float)
    score = np.array(
        [[0.9, 0.1, 0.2], [0.8, 0.3, 0.1], [0.2, 0.7, 0.3], [0.1, 0.6, 0.9], [0.3, 0.2, 0.1]]
    )
    scores = compute_metrics(get_task("mood-tags").with_tags(TAGS), y, score)
    # calm: both positives above every negative; epic: positives 0.3, 0.7 against 0.1, 0.6, 0.2
    # (5 of 6 pairs won); sad: 0.9 wins its 3 pairs, 0.1 ties one and loses two (3.5 of 6).
    assert scores["roc_auc_calm"] == 1.0
    assert scores["roc_auc_epic"] == pytest.approx(5 / 6)
    assert scores["roc_auc_sad"] == pytest.approx(3.5 / 6)
    assert scores["roc_auc_mean"] == pytest.approx((1 + 5 / 6 + 3.5 / 6) / 3)
    assert scores["pr_auc_calm"] == 1.0
    assert scores["prevalence_epic"] == pytest.approx(0.4)
    assert scores["prevalence_mean"] == pytest.approx(np.mean([0.4, 0.4, 0.4]))


def test_a_tag_no_test_track_has_is_left_out_of_the_macro_mean():
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]], float)
    score = np.array([[0.9, 0.5], [0.1, 0.4], [0.8, 0.2], [0.3, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn's undefined-AUC warning never fires
        scores = compute_metrics(get_task("mood-tags").with_tags(("calm", "epic")), y, score)
    assert scores["roc_auc_mean"] == scores["roc_auc_calm"] == 1.0
    assert "roc_auc_epic" not in scores and "pr_auc_epic" not in scores
    assert "prevalence_epic" not in scores


def test_constant_scores_are_at_the_chance_levels():
    rng = np.random.default_rng(0)
    y = (rng.random((50, 3)) < [0.1, 0.3, 0.5]).astype(float)
    scores = compute_metrics(get_task("mood-tags").with_tags(TAGS), y, np.full((50, 3), 0.2))
    assert scores["roc_auc_mean"] == 0.5
    for tag in TAGS:
        assert scores[f"pr_auc_{tag}"] == pytest.approx(scores[f"prevalence_{tag}"])


def test_multilabel_input_is_checked():
    spec = get_task("mood-tags").with_tags(TAGS)
    with pytest.raises(ValueError, match="must hold 0 or 1"):
        compute_metrics(spec, np.full((4, 3), 2.0), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"shape \[N, 3\]"):
        compute_metrics(spec, np.zeros((4, 2)), np.zeros((4, 2)))


def test_the_tags_of_a_multilabel_task_come_from_the_dataset_columns():
    spec = get_task("mood-tags")
    assert spec.targets == () and spec.n_outputs == 0
    bound = spec.bound_to(["track_id", "tag:sad", "tag:calm", "arousal"])
    assert bound.targets == ("calm", "sad") and bound.n_outputs == 2
    assert bound.source(["tag:sad", "tag:calm"]) == ("tag:calm", "tag:sad")
    assert spec.source(["arousal", "valence"]) is None
    assert get_task("quadrant").bound_to(["tag:sad"]) is get_task("quadrant")
    assert "roc_auc_sad" in bound.metric_names() and bound.primary == "roc_auc_mean"
    assert spec.reported(["roc_auc_mean", "roc_auc_sad", "roc_auc_sad_low"], "files") == [
        "roc_auc_mean",
        "roc_auc_sad",
    ]
    with pytest.raises(ValueError, match="takes no tags"):
        get_task("quadrant").with_tags(["sad"])
