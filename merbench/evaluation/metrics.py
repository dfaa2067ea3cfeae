"""Scoring predictions: the task's metrics on one test fold, and classes from arousal/valence.

Every candidate is scored by the same functions on the same outer test folds. Which metrics a
task reports, how each is computed, its direction and its range are records in
``merbench.evaluation.scoring`` and ``merbench.evaluation.tasks``; this module checks the
predictions and applies them. Regression is scored per dimension (R², RMSE, Lin's CCC, Pearson r)
and on the mean over dimensions; classification by accuracy, balanced accuracy, macro-F1 and the
confusion matrix; multi-label tagging per tag (ROC-AUC, PR-AUC, the tag's prevalence) and on the
macro mean over the tags the fold can score. Results are plain Python floats and lists, ready for
the results store, and never NaN: the degenerate cases (constant predictions, a class missing from
a test fold, a tag no test track has, which is left out) have documented values and raise no
warnings; only a fold that can score no tag at all has a NaN macro mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from merbench.evaluation.scoring import Direction, Scoring, TaskKind, majority_chance, metrics_of
from merbench.evaluation.tasks import TASK_SPECS, TaskSpec, get_metric, get_task

__all__ = [
    "REGRESSION_DIMS",
    "TASK_LABELS",
    "TASK_METRICS",
    "Direction",
    "classification_metrics",
    "compute_metrics",
    "derive_classes",
    "majority_chance",
    "metric_direction",
    "multilabel_metrics",
    "regression_metrics",
]

REGRESSION_DIMS: tuple[str, ...] = TASK_SPECS["av-regression"].targets

TASK_LABELS: dict[str, tuple[int, ...]] = {
    name: spec.labels for name, spec in TASK_SPECS.items() if spec.is_classification
}
"""The class labels of each classification task (``TaskSpec.labels``), in the order of confusion
matrices and of the columns of class probabilities."""

TASK_METRICS: dict[str, tuple[str, ...]] = {
    name: (spec.primary, *(m for m in spec.metric_names() if m != spec.primary))
    for name, spec in TASK_SPECS.items()
}
"""The scalar metrics reported for each task; the first one is the task's primary metric."""


def metric_direction(name: str) -> Direction:
    """Return whether a higher (``"maximize"``) or lower (``"minimize"``) ``name`` is better.

    Raises:
        ConfigError: ``name`` is not a scalar metric merbench reports.
    """
    return get_metric(name).direction


def _as_columns(values: np.ndarray, n_dims: int, what: str) -> np.ndarray:
    """Return ``values`` as a float ``[N, n_dims]`` array (a ``[N]`` array is one column)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != n_dims or array.shape[0] == 0:
        raise ValueError(f"{what} must have shape [N, {n_dims}] with N > 0, got {array.shape}.")
    return array


def _apply(kind: TaskKind, scoring: Scoring) -> dict[str, float]:
    """Every registered metric of task kind ``kind`` on one fold, in registry order."""
    out: dict[str, float] = {}
    for spec in metrics_of(kind):
        out |= spec.values(scoring)
    return out


def regression_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    dims: Sequence[str] = REGRESSION_DIMS,
) -> dict[str, float]:
    """Score continuous predictions per dimension and on average.

    Args:
        y_true: true labels, ``[N, D]`` with ``D = len(dims)`` (``[N]`` when ``D == 1``).
        y_pred: predictions, the same shape.
        dims: the names of the columns, e.g. ``("arousal", "valence")``.

    Returns:
        For every regression metric (``r2``, ``ccc``, ``pearson``, ``rmse``): ``<metric>_<dim>``
        for each dimension and ``<metric>_mean``, their mean over dimensions. R² follows
        scikit-learn (a constant ``y_true`` gives 1.0 for a perfect prediction, else 0.0);
        Pearson r of a constant array is 0.0, CCC of two identical constant arrays 1.0.

    Raises:
        ValueError: shapes that do not match ``dims``, an empty array, or NaN/inf values.
    """
    true = _as_columns(y_true, len(dims), "y_true")
    pred = _as_columns(y_pred, len(dims), "y_pred")
    if true.shape != pred.shape:
        raise ValueError(f"y_true {true.shape} and y_pred {pred.shape} differ in shape.")
    return _apply("regression", Scoring(y_true=true, y_pred=pred, dims=tuple(dims)))


def multilabel_metrics(
    y_true: np.ndarray, y_score: np.ndarray, tags: Sequence[str]
) -> dict[str, float]:
    """Score per-tag probabilities (or any scores that rank tracks) of a multi-label task.

    Args:
        y_true: ``[N, T]`` 0/1, whether each track has each tag (``T = len(tags)``).
        y_score: ``[N, T]`` scores, higher meaning more likely.
        tags: the tag names, in column order.

    Returns:
        ``roc_auc_<tag>``, ``pr_auc_<tag>`` (average precision) and ``prevalence_<tag>`` (the
        tag's share of positive test tracks: the PR-AUC of an uninformed score) for every tag
        with both positive and negative test tracks; ``roc_auc_mean``, ``pr_auc_mean`` and
        ``prevalence_mean``, the macro means over those tags (NaN when there is none). A tag no
        test track (or every one) has is left out, so the tags a fold scored are those with a
        ``roc_auc_<tag>`` value: its ROC-AUC is undefined.

    Raises:
        ValueError: shapes that do not match ``tags``, an empty fold, NaN/inf scores or truths
            other than 0 and 1.
    """
    true = _as_columns(y_true, len(tags), "y_true")
    score = _as_columns(y_score, len(tags), "y_score")
    if true.shape != score.shape:
        raise ValueError(f"y_true {true.shape} and y_score {score.shape} differ in shape.")
    if not np.isin(true, (0.0, 1.0)).all() or not np.isfinite(score).all():
        raise ValueError("y_true must hold 0 or 1 and y_score finite values.")
    return _apply("multilabel", Scoring(y_true=true, y_pred=score, dims=tuple(tags)))


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: Sequence[int],
    proba: np.ndarray | None = None,
    top_k: int | None = None,
    y_train: np.ndarray | None = None,
) -> dict[str, Any]:
    """Score class predictions.

    Args:
        y_true: true classes, ``[N]`` int, each one of ``labels``.
        y_pred: predicted classes, ``[N]`` int.
        labels: every class of the task, in order (e.g. ``TASK_LABELS["quadrant"]``).
        proba: class probabilities ``[N, C]``, columns in ``labels`` order; used for top-k.
        top_k: report ``top<k>_accuracy`` and its chance level ``top<k>_chance = k / C``
            (only when ``proba`` is given); ``1 <= top_k < C``.
        y_train: the training fold's classes; adds ``majority_chance``.

    Returns:
        Every registered classification metric: ``macro_f1`` (over all ``labels``; an
        undefined F1 counts as 0), ``balanced_accuracy`` (mean recall over the classes present
        in ``y_true``), ``accuracy``, the chance levels and top-k entries when their inputs are
        given; and ``confusion`` (a list of lists, rows = true class, columns = predicted class,
        both in ``labels`` order).

    Raises:
        ValueError: mismatched lengths, an empty fold, a class outside ``labels``, a bad ``top_k``.
    """
    from sklearn.metrics import confusion_matrix

    true = np.asarray(y_true).ravel()
    pred = np.asarray(y_pred).ravel()
    if true.shape != pred.shape or true.size == 0:
        raise ValueError(f"y_true {true.shape} and y_pred {pred.shape} must be equal, non-empty.")
    unknown = sorted(set(np.unique(np.concatenate([true, pred])).tolist()) - set(labels))
    if unknown:
        raise ValueError(f"classes {unknown} are not among the labels {list(labels)}.")
    scoring = Scoring(
        y_true=true,
        y_pred=pred,
        labels=tuple(labels),
        proba=proba,
        top_k=top_k,
        y_train=y_train,
    )
    out: dict[str, Any] = dict(_apply("classification", scoring))
    out["confusion"] = confusion_matrix(true, pred, labels=list(labels)).tolist()
    return out


def compute_metrics(
    task: TaskSpec,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    labels: Sequence[int] | None = None,
    proba: np.ndarray | None = None,
    top_k: int | None = None,
    y_train: np.ndarray | None = None,
) -> dict[str, Any]:
    """Score predictions of ``task`` with its metrics.

    Args:
        task: the task.
        y_true: ``[N, D]`` float targets (``TaskSpec.targets``) for regression, ``[N, T]`` 0/1
            tags for a multilabel task, ``[N]`` int classes else.
        y_pred: the same shape as ``y_true``.
        labels: classes of a classification task; ``TaskSpec.labels`` when omitted.
        proba: class probabilities ``[N, C]`` for top-k accuracy (classification only).
        top_k: see ``classification_metrics``.
        y_train: the training fold's targets, for chance levels that depend on it.

    Returns:
        ``regression_metrics``, ``classification_metrics`` or ``multilabel_metrics`` (over the
        task's tags, ``TaskSpec.with_tags``) of the predictions.
    """
    if task.is_regression:
        return dict(regression_metrics(y_true, y_pred, task.targets))
    if task.is_multilabel:
        tags = task.targets or tuple(f"tag{t}" for t in range(np.shape(y_true)[-1]))
        return dict(multilabel_metrics(y_true, y_pred, tags))
    classes = task.labels if labels is None else labels
    return classification_metrics(
        y_true, y_pred, classes, proba=proba, top_k=top_k, y_train=y_train
    )


def derive_classes(
    task: str | TaskSpec, arousal: np.ndarray, valence: np.ndarray, midpoint: float
) -> np.ndarray:
    """Turn continuous arousal and valence into the classes of a classification task.

    A value equal to ``midpoint`` counts as *high*, so every track gets a class and the split is
    the same for both dimensions; the classes follow ``TaskSpec.rule`` (quadrants: 1 = +V +A,
    2 = -V +A, 3 = -V -A, 4 = +V -A; ``arousal-binary`` / ``valence-binary``: 1 = high, 0 = low).

    Args:
        task: ``quadrant``, ``arousal-binary`` or ``valence-binary``, by name or record.
        arousal: ``[N]`` arousal labels on the dataset's scale.
        valence: ``[N]`` valence labels on the same scale.
        midpoint: the value splitting high from low (``LabelScale.midpoint``).

    Returns:
        ``[N]`` int64 classes, from ``TaskSpec.labels``.

    Raises:
        ConfigError: ``task`` is unknown or not a classification task.
        ValueError: NaN labels or arrays of different shapes.
    """
    # Dataset plugins name their task; the public function takes the name as it is written.
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    columns = {"arousal": arousal, "valence": valence}
    return spec.classes_from(columns, midpoint)
