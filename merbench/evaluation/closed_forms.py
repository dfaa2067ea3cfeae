"""Metrics in closed form from per-row statistics summed over any weighting of the rows.

Every metric that ranks candidates is a function of sums: moments (``n``, sums of ``y``, ``y²``,
``ŷ``, ``ŷ²``, ``yŷ`` per target) for R², RMSE, CCC and Pearson r, confusion counts for accuracy,
balanced accuracy, macro-F1 and MCC. ``row_statistics`` gives each row's share of those sums and
``from_sums`` the metric from their total, so the paired group bootstrap
(``merbench.evaluation.bootstrap``) scores all its resamples with one matrix product.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from merbench.evaluation.scoring import MetricSpec
from merbench.evaluation.tasks import TaskSpec

FromSums = Callable[[np.ndarray], np.ndarray]
"""A metric from summed statistics ``[..., K]`` to values ``[...]``."""
_MOMENTS = 6  # n, sum y, sum y², sum ŷ, sum ŷ², sum yŷ


def row_statistics(task: TaskSpec, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-row statistics whose sums give the metrics: ``[N, K]``.

    Regression: per target the moments ``1, y, y², ŷ, ŷ², yŷ`` (``K = 6 D``), after subtracting
    each target's mean of ``y`` from ``y`` and ``ŷ`` (the metrics do not change, the sums keep
    their precision). Classification: the one-hot cell of the confusion matrix (``K = C²``).
    """
    if task.is_regression:
        true = y_true.reshape(len(y_true), -1).astype(np.float64)
        pred = y_pred.reshape(len(y_pred), -1).astype(np.float64)
        centre = true.mean(axis=0)
        true, pred = true - centre, pred - centre
        parts = [np.ones_like(true), true, true**2, pred, pred**2, true * pred]
        return np.stack(parts, axis=2).reshape(len(true), -1)
    labels = np.asarray(task.labels)
    n_classes, order = len(labels), np.argsort(labels)
    true_index = order[np.searchsorted(labels[order], y_true.astype(np.int64))]
    pred_index = order[np.searchsorted(labels[order], y_pred.astype(np.int64))]
    rows = np.zeros((len(y_true), n_classes * n_classes))
    rows[np.arange(len(y_true)), true_index * n_classes + pred_index] = 1.0
    return rows


def from_sums(metric: MetricSpec, column: str, task: TaskSpec) -> FromSums | None:
    """The closed form of ``column`` (a column of ``metric``) from summed statistics, or
    ``None`` when it has none."""
    if task.is_regression:
        form = _REGRESSION.get(metric.name)
        part = metric.part(column)
        if form is None or part is None:
            return None
        dims = list(task.targets)
        if part == "mean":
            return lambda sums: form(_moments(sums)).mean(axis=-1)
        index = dims.index(part)
        return lambda sums: form(_moments(sums))[..., index]
    classes = _CLASSIFICATION.get(metric.name)
    n_classes = len(task.labels)
    if classes is None:
        return None
    return lambda sums: classes(sums.reshape(*sums.shape[:-1], n_classes, n_classes))


def _moments(sums: np.ndarray) -> tuple[np.ndarray, ...]:
    """Split ``[..., 6 D]`` sums into six ``[..., D]`` arrays: n, Σy, Σy², Σŷ, Σŷ², Σyŷ."""
    per_target = sums.reshape(*sums.shape[:-1], -1, _MOMENTS)
    return tuple(per_target[..., i] for i in range(_MOMENTS))


def _divide(numerator: np.ndarray, denominator: np.ndarray, fill: float | np.ndarray) -> np.ndarray:
    """``numerator / denominator``, ``fill`` where the denominator is 0."""
    safe = np.where(denominator == 0.0, 1.0, denominator)
    return np.where(denominator == 0.0, fill, numerator / safe)


def _r2(m: tuple[np.ndarray, ...]) -> np.ndarray:
    """R² as scikit-learn gives it (constant truth: 1 for a perfect prediction, else 0)."""
    n, sy, syy, _, spp, syp = m
    sse = np.maximum(syy - 2.0 * syp + spp, 0.0)
    sst = np.maximum(syy - _divide(sy**2, n, 0.0), 0.0)
    return _divide(-sse, sst, np.where(sse == 0.0, 0.0, -1.0)) + 1.0


def _rmse(m: tuple[np.ndarray, ...]) -> np.ndarray:
    n, _, syy, _, spp, syp = m
    return np.asarray(np.sqrt(_divide(np.maximum(syy - 2.0 * syp + spp, 0.0), n, 0.0)))


def _population(m: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Means, population variances and covariance: ``mean_y, mean_ŷ, var_y, var_ŷ, cov``."""
    n, sy, syy, sp, spp, syp = m
    mean_y, mean_p = _divide(sy, n, 0.0), _divide(sp, n, 0.0)
    var_y = _variance(_divide(syy, n, 0.0), mean_y)
    var_p = _variance(_divide(spp, n, 0.0), mean_p)
    return mean_y, mean_p, var_y, var_p, _divide(syp, n, 0.0) - mean_y * mean_p


def _variance(second: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``E[x²] - E[x]²``, exactly 0 where rounding alone keeps it from 0 (constant values)."""
    variance = second - mean**2
    return np.where(variance <= 1e-12 * second, 0.0, variance)


def _ccc(m: tuple[np.ndarray, ...]) -> np.ndarray:
    mean_y, mean_p, var_y, var_p, cov = _population(m)
    return _divide(2.0 * cov, var_y + var_p + (mean_y - mean_p) ** 2, 1.0)


def _pearson(m: tuple[np.ndarray, ...]) -> np.ndarray:
    _, _, var_y, var_p, cov = _population(m)
    return np.asarray(np.clip(_divide(cov, np.sqrt(var_y * var_p), 0.0), -1.0, 1.0))


def _accuracy(confusion: np.ndarray) -> np.ndarray:
    return _divide(np.trace(confusion, axis1=-2, axis2=-1), confusion.sum(axis=(-2, -1)), 0.0)


def _macro_f1(confusion: np.ndarray) -> np.ndarray:
    """Mean over every class of ``2 TP / (2 TP + FP + FN)``; 0 for a class never seen."""
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    denominator = confusion.sum(axis=-1) + confusion.sum(axis=-2)
    return np.asarray(_divide(2.0 * tp, denominator, 0.0).mean(axis=-1))


def _balanced_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Mean recall over the classes present in the truth."""
    support = confusion.sum(axis=-1)
    recall = _divide(np.diagonal(confusion, axis1=-2, axis2=-1), support, 0.0)
    present = (support > 0).sum(axis=-1)
    return _divide(recall.sum(axis=-1), present, 0.0)


def _mcc(confusion: np.ndarray) -> np.ndarray:
    """Gorodkin's multiclass MCC, 0 where undefined (as scikit-learn)."""
    correct = np.trace(confusion, axis1=-2, axis2=-1)
    total = confusion.sum(axis=(-2, -1))
    true, pred = confusion.sum(axis=-1), confusion.sum(axis=-2)
    numerator = correct * total - (true * pred).sum(axis=-1)
    first = total**2 - (pred**2).sum(axis=-1)
    second = total**2 - (true**2).sum(axis=-1)
    return _divide(numerator, np.sqrt(first * second), 0.0)


_REGRESSION: dict[str, Callable[[tuple[np.ndarray, ...]], np.ndarray]] = {
    "r2": _r2,
    "rmse": _rmse,
    "ccc": _ccc,
    "pearson": _pearson,
}
_CLASSIFICATION: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "accuracy": _accuracy,
    "macro_f1": _macro_f1,
    "balanced_accuracy": _balanced_accuracy,
    "mcc": _mcc,
}
"""Metrics (``MetricSpec.name``) with a closed form from sums; the tests check each against its
``MetricSpec.compute``."""
