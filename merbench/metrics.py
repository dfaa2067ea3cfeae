"""Task metrics: what each task is scored by, and the class labels derived from arousal/valence.

Every candidate is scored by the same functions on the same outer test folds. Regression is
scored per dimension (R², RMSE, Lin's CCC, Pearson r) and on the mean over dimensions;
classification by accuracy, balanced accuracy, macro-F1 and the confusion matrix. Results are
plain Python floats and lists, ready for the results store, and never NaN: the degenerate cases
(constant predictions, a class missing from a test fold) have documented values and raise no
warnings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    r2_score,
    root_mean_squared_error,
    top_k_accuracy_score,
)

from merbench.errors import ConfigError, did_you_mean

Direction = Literal["maximize", "minimize"]

REGRESSION_DIMS: tuple[str, ...] = ("arousal", "valence")
_REGRESSION_KINDS: tuple[str, ...] = ("r2", "rmse", "ccc", "pearson")
_CLASSIFICATION_METRICS: tuple[str, ...] = ("macro_f1", "accuracy", "balanced_accuracy")

TASK_LABELS: dict[str, tuple[int, ...]] = {
    "quadrant": (1, 2, 3, 4),
    "arousal-binary": (0, 1),
    "valence-binary": (0, 1),
}
"""The class labels of each classification task, in the order of confusion matrices and of the
columns of class probabilities. Quadrants follow Russell's circumplex: 1 = +valence +arousal,
2 = -valence +arousal, 3 = -valence -arousal, 4 = +valence -arousal; binary tasks use 1 = high."""

TASK_METRICS: dict[str, tuple[str, ...]] = {
    "av-regression": (
        *(f"{kind}_mean" for kind in _REGRESSION_KINDS),
        *(f"{kind}_{dim}" for dim in REGRESSION_DIMS for kind in _REGRESSION_KINDS),
    ),
    **{task: _CLASSIFICATION_METRICS for task in TASK_LABELS},
}
"""The scalar metrics reported for each task; the first one is the task's primary metric."""


def _check_task(task: str, allowed: Mapping[str, object]) -> None:
    """Raise a ``ConfigError`` naming the allowed tasks when ``task`` is not one of them."""
    if task not in allowed:
        choices = ", ".join(allowed)
        raise ConfigError(
            f"Unknown task '{task}'.{did_you_mean(task, allowed)} Choose one of: {choices}."
        )


def primary_metric(task: str) -> str:
    """Return the metric that ranks candidates on ``task`` (``r2_mean`` or ``macro_f1``).

    Raises:
        ConfigError: unknown task, with the allowed ones.
    """
    _check_task(task, TASK_METRICS)
    return TASK_METRICS[task][0]


def metric_direction(name: str) -> Direction:
    """Return whether a higher (``"maximize"``) or lower (``"minimize"``) ``name`` is better.

    Only RMSE metrics (``rmse``, ``rmse_<dim>``) are minimized; R², CCC, Pearson r, accuracies,
    macro-F1 and ``top<k>_accuracy`` are maximized.

    Raises:
        ConfigError: ``name`` is not a scalar metric merbench reports.
    """
    base = name.split("_", 1)[0]
    if base == "rmse":
        return "minimize"
    known = {*_REGRESSION_KINDS, *_CLASSIFICATION_METRICS}
    is_top_k = base.startswith("top") and base[3:].isdigit() and name == f"{base}_accuracy"
    if name in known or base in _REGRESSION_KINDS or is_top_k:
        return "maximize"
    every = sorted({m for names in TASK_METRICS.values() for m in names})
    raise ConfigError(
        f"Unknown metric '{name}'.{did_you_mean(name, every)} Choose one of: {', '.join(every)}."
    )


def _as_columns(values: np.ndarray, n_dims: int, what: str) -> np.ndarray:
    """Return ``values`` as a float ``[N, n_dims]`` array (a ``[N]`` array is one column)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != n_dims or array.shape[0] == 0:
        raise ValueError(f"{what} must have shape [N, {n_dims}] with N > 0, got {array.shape}.")
    return array


def _ccc_pearson(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    """Return Lin's CCC and Pearson r of two ``[N]`` arrays, with population moments.

    CCC = 2 cov / (var_true + var_pred + (mean_true - mean_pred)²). Pearson r is defined as 0.0
    when either array is constant (no linear association can be measured); CCC of a constant
    prediction is 0.0 naturally, and 1.0 in the one 0/0 case, two identical constant arrays.
    """
    true_dev = y_true - y_true.mean()
    pred_dev = y_pred - y_pred.mean()
    cov = float(np.mean(true_dev * pred_dev))
    var_true = float(np.mean(true_dev**2))
    var_pred = float(np.mean(pred_dev**2))
    bias = float(y_true.mean() - y_pred.mean())
    denominator = var_true + var_pred + bias**2
    ccc = 2.0 * cov / denominator if denominator > 0 else 1.0
    spread = np.sqrt(var_true * var_pred)
    pearson = float(np.clip(cov / spread, -1.0, 1.0)) if spread > 0 else 0.0
    return ccc, pearson


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
        ``r2_<dim>``, ``rmse_<dim>``, ``ccc_<dim>``, ``pearson_<dim>`` for each dimension and
        ``r2_mean``, ``rmse_mean``, ``ccc_mean``, ``pearson_mean``, their means over dimensions.
        R² follows scikit-learn (a constant ``y_true`` gives 1.0 for a perfect prediction, else
        0.0); Pearson r of a constant array is 0.0 (see ``_ccc_pearson``).

    Raises:
        ValueError: shapes that do not match ``dims``, an empty array, or NaN/inf values.
    """
    true = _as_columns(y_true, len(dims), "y_true")
    pred = _as_columns(y_pred, len(dims), "y_pred")
    if true.shape != pred.shape:
        raise ValueError(f"y_true {true.shape} and y_pred {pred.shape} differ in shape.")
    per_kind: dict[str, list[float]] = {
        "r2": [float(v) for v in r2_score(true, pred, multioutput="raw_values")],
        "rmse": [float(v) for v in root_mean_squared_error(true, pred, multioutput="raw_values")],
        "ccc": [],
        "pearson": [],
    }
    for column in range(true.shape[1]):
        ccc, pearson = _ccc_pearson(true[:, column], pred[:, column])
        per_kind["ccc"].append(ccc)
        per_kind["pearson"].append(pearson)
    out: dict[str, float] = {}
    for kind in _REGRESSION_KINDS:
        out.update({f"{kind}_{dim}": per_kind[kind][i] for i, dim in enumerate(dims)})
        out[f"{kind}_mean"] = float(np.mean(per_kind[kind]))
    return out


def _balanced_accuracy(confusion: np.ndarray) -> float:
    """Mean recall over the classes present in ``y_true`` (rows of ``confusion`` with support).

    Same value as ``sklearn.metrics.balanced_accuracy_score``, without its warning when a test
    fold lacks a class that was predicted.
    """
    support = confusion.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(confusion)[present] / support[present]))


def _top_k(y_true: np.ndarray, proba: np.ndarray, labels: Sequence[int], k: int) -> float:
    """Return top-``k`` accuracy of class probabilities ``[N, C]`` (columns in ``labels`` order)."""
    if not 1 <= k < len(labels):
        raise ValueError(f"top_k must be between 1 and {len(labels) - 1}, got {k}.")
    scores = np.asarray(proba, dtype=np.float64)
    if scores.shape != (len(y_true), len(labels)):
        raise ValueError(
            f"proba must have shape [{len(y_true)}, {len(labels)}], got {scores.shape}."
        )
    # scikit-learn wants the positive class's column alone in the binary case.
    scores = scores[:, 1] if len(labels) == 2 else scores
    return float(top_k_accuracy_score(y_true, scores, k=k, labels=list(labels)))


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: Sequence[int],
    proba: np.ndarray | None = None,
    top_k: int | None = None,
) -> dict[str, Any]:
    """Score class predictions.

    Args:
        y_true: true classes, ``[N]`` int, each one of ``labels``.
        y_pred: predicted classes, ``[N]`` int.
        labels: every class of the task, in order (e.g. ``TASK_LABELS["quadrant"]``).
        proba: class probabilities ``[N, C]``, columns in ``labels`` order; used for top-k.
        top_k: report ``top<k>_accuracy`` and its chance level ``top<k>_chance = k / C``
            (only when ``proba`` is given); ``1 <= top_k < C``.

    Returns:
        ``accuracy``, ``balanced_accuracy`` (mean recall over the classes present in ``y_true``),
        ``macro_f1`` (over all ``labels``; an undefined F1 counts as 0), ``confusion`` (a list of
        lists, rows = true class, columns = predicted class, both in ``labels`` order), and the
        top-k entries when asked for.

    Raises:
        ValueError: mismatched lengths, an empty fold, a class outside ``labels``, a bad ``top_k``.
    """
    true = np.asarray(y_true).ravel()
    pred = np.asarray(y_pred).ravel()
    if true.shape != pred.shape or true.size == 0:
        raise ValueError(f"y_true {true.shape} and y_pred {pred.shape} must be equal, non-empty.")
    unknown = sorted(set(np.unique(np.concatenate([true, pred])).tolist()) - set(labels))
    if unknown:
        raise ValueError(f"classes {unknown} are not among the labels {list(labels)}.")
    confusion = confusion_matrix(true, pred, labels=list(labels))
    out: dict[str, Any] = {
        "accuracy": float(accuracy_score(true, pred)),
        "balanced_accuracy": _balanced_accuracy(confusion),
        "macro_f1": float(
            f1_score(true, pred, labels=list(labels), average="macro", zero_division=0)
        ),
        "confusion": confusion.tolist(),
    }
    if top_k is not None and proba is not None:
        out[f"top{top_k}_accuracy"] = _top_k(true, proba, labels, top_k)
        out[f"top{top_k}_chance"] = top_k / len(labels)
    return out


def majority_chance(y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Return the test accuracy of always answering the training set's most frequent class.

    A chance level that respects class imbalance; ties go to the smallest class label.

    Args:
        y_train: training classes, ``[N_train]``.
        y_test: test classes, ``[N_test]``.

    Raises:
        ValueError: an empty array.
    """
    train = np.asarray(y_train).ravel()
    test = np.asarray(y_test).ravel()
    if train.size == 0 or test.size == 0:
        raise ValueError("y_train and y_test must not be empty.")
    classes, counts = np.unique(train, return_counts=True)
    return float(np.mean(test == classes[np.argmax(counts)]))


def compute_metrics(
    task: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    labels: Sequence[int] | None = None,
    proba: np.ndarray | None = None,
    top_k: int | None = None,
) -> dict[str, Any]:
    """Score predictions of ``task`` with its metrics.

    Args:
        task: ``av-regression``, ``quadrant``, ``arousal-binary`` or ``valence-binary``.
        y_true: ``[N, 2]`` float (arousal, valence) for regression, ``[N]`` int classes else.
        y_pred: the same shape as ``y_true``.
        labels: classes of a classification task; ``TASK_LABELS[task]`` when omitted.
        proba: class probabilities ``[N, C]`` for top-k accuracy (classification only).
        top_k: see ``classification_metrics``.

    Returns:
        ``regression_metrics`` or ``classification_metrics`` of the predictions.

    Raises:
        ConfigError: unknown task.
    """
    _check_task(task, TASK_METRICS)
    if task == "av-regression":
        return dict(regression_metrics(y_true, y_pred))
    classes = TASK_LABELS[task] if labels is None else labels
    return classification_metrics(y_true, y_pred, classes, proba=proba, top_k=top_k)


def derive_classes(
    task: str, arousal: np.ndarray, valence: np.ndarray, midpoint: float
) -> np.ndarray:
    """Turn continuous arousal and valence into the classes of a classification task.

    A value equal to ``midpoint`` counts as *high*, so every track gets a class and the split is
    the same for both dimensions. Quadrants: 1 = +V +A, 2 = -V +A, 3 = -V -A, 4 = +V -A;
    ``arousal-binary`` / ``valence-binary``: 1 = high, 0 = low.

    Args:
        task: ``quadrant``, ``arousal-binary`` or ``valence-binary``.
        arousal: ``[N]`` arousal labels on the dataset's scale.
        valence: ``[N]`` valence labels on the same scale.
        midpoint: the value splitting high from low (``LabelScale.midpoint``).

    Returns:
        ``[N]`` int64 classes, from ``TASK_LABELS[task]``.

    Raises:
        ConfigError: ``task`` is not a classification task.
        ValueError: NaN labels or arrays of different shapes.
    """
    _check_task(task, TASK_LABELS)
    a = np.asarray(arousal, dtype=np.float64)
    v = np.asarray(valence, dtype=np.float64)
    if a.shape != v.shape or np.isnan(a).any() or np.isnan(v).any():
        raise ValueError("arousal and valence must have the same shape and no NaN values.")
    high_a = a >= midpoint
    high_v = v >= midpoint
    if task == "arousal-binary":
        return high_a.astype(np.int64)
    if task == "valence-binary":
        return high_v.astype(np.int64)
    return np.select([high_v & high_a, high_a, ~high_v], [1, 2, 3], default=4).astype(np.int64)
