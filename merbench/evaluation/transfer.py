"""The cross-dataset transfer protocol: its names, its common label range and its scores.

Under ``--split transfer`` a candidate is tuned on dataset A (an inner grouped split of A), refit
on all of A and tested on all of B, for each ordered pair of the run's datasets that share a
task; the diagonal (A = B) is A's usual grouped cross-validation. A pair's cells are keyed like
any other cell, with the pair as their dataset (``pair_name``: ``A>B``) and ``transfer`` as
their split protocol, so the run resumes and every executor runs them.

Labels of different datasets are compared on one range: each dataset's arousal and valence are
mapped linearly from its declared ``LabelScale`` onto ``COMMON_SCALE`` (-1..1, the scale
midpoint onto 0), so classes (quadrants, high/low) derive from each dataset's own midpoint.
Scores across datasets are scale-free: Pearson r, CCC and ``r2_standardised``, R² after each
test set's labels are standardised by their own mean and standard deviation and the predictions
by those of the labels the model trained on (so a dataset's habit of rating everything a bit
higher is not counted as an error, while predicting the wrong songs high still is).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from merbench.evaluation.metrics import compute_metrics
from merbench.evaluation.tasks import TaskSpec

TRANSFER = "transfer"
"""The split protocol of a transfer pair's cells (and the ``--split`` value that asks for them)."""
PAIR_SEPARATOR = ">"
COMMON_SCALE = (-1.0, 1.0)
"""The range every dataset's arousal and valence are mapped onto (midpoint 0)."""
MAX_PAIR_NAME = 64
"""A pair name is stored in the ``dataset`` column (64 characters)."""


def pair_name(source: str, target: str) -> str:
    """The dataset name of a transfer pair's cells: ``source>target``."""
    return f"{source}{PAIR_SEPARATOR}{target}"


def parse_pair(name: str) -> tuple[str, str] | None:
    """``(source, target)`` of a pair name, ``None`` for a dataset's own name."""
    source, sep, target = name.partition(PAIR_SEPARATOR)
    return (source, target) if sep and source and target else None


def to_common(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map label values from a dataset's range ``low..high`` onto ``COMMON_SCALE``."""
    lo, hi = COMMON_SCALE
    return lo + (np.asarray(values, dtype=np.float64) - low) * (hi - lo) / (high - low)


def standardised_r2(
    y_true: np.ndarray, y_pred: np.ndarray, train_mean: np.ndarray, train_std: np.ndarray
) -> np.ndarray:
    """R² per target ``[D]`` after standardising: the test labels ``[N, D]`` by their own mean
    and standard deviation, the predictions by the training labels' (``train_*`` ``[D]``)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    z_true = (y_true - y_true.mean(axis=0)) / _nonzero(y_true.std(axis=0))
    z_pred = (np.asarray(y_pred, dtype=np.float64) - train_mean) / _nonzero(train_std)
    return np.asarray(1 - ((z_true - z_pred) ** 2).sum(axis=0) / len(z_true))


def _nonzero(std: np.ndarray) -> np.ndarray:
    std = np.asarray(std, dtype=np.float64)
    return np.where(std > 0, std, np.nan)


REGRESSION_SCORES = ("pearson_mean", "ccc_mean", "r2_standardised_mean")
CLASSIFICATION_SCORES = ("macro_f1", "accuracy")


def matrix_metric(task: TaskSpec) -> str:
    """The score a transfer matrix shows and compares: CCC (regression), else macro-F1."""
    return "ccc_mean" if task.is_regression else "macro_f1"


def transfer_scores(
    task: TaskSpec,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    train_stats: tuple[Sequence[float], Sequence[float]] | None = None,
) -> dict[str, float]:
    """The scale-free scores of predictions on the common range (``REGRESSION_SCORES`` or
    ``CLASSIFICATION_SCORES``); ``train_stats``: the training labels' mean and std per target."""
    metrics = compute_metrics(task, y_true, y_pred)
    if not task.is_regression:
        return {name: float(metrics[name]) for name in CLASSIFICATION_SCORES}
    out = {name: float(metrics[name]) for name in REGRESSION_SCORES[:2]}
    if train_stats is not None:
        mean, std = (np.asarray(s, dtype=np.float64) for s in train_stats)
        r2 = standardised_r2(y_true, y_pred, mean, std)
        out |= {f"r2_standardised_{t}": float(v) for t, v in zip(task.targets, r2, strict=True)}
        out["r2_standardised_mean"] = float(np.mean(r2))
    return out
