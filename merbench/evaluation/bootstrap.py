"""Paired group bootstrap of a metric difference between two candidates' test predictions.

Two candidates of a run predict the same tracks: every track once per repeat, in the outer test
fold that holds it. Pooling those out-of-fold predictions gives one score per candidate and
repeat; the bootstrap resamples whole groups (artists) with replacement, the same groups for both
candidates and every repeat, and recomputes the difference of the scores each time. Resampling
groups rather than tracks keeps the dependence between an artist's tracks, which the grouped
folds were made for; the difference is paired because both candidates see the same resample.

It is fast because every metric that ranks candidates is a function of per-group sums: moments
(``n``, sums of ``y``, ``y²``, ``ŷ``, ``ŷ²``, ``yŷ`` per target) for R², RMSE, CCC and Pearson r,
confusion counts for accuracy, balanced accuracy, macro-F1 and MCC
(``merbench.evaluation.closed_forms``). A resample is a vector of group counts, so all resamples
are one matrix product. Any other metric falls back to
``merbench.evaluation.metrics.compute_metrics`` on each resample (correct, slower).

References:
    B. Efron, R. Tibshirani (1993). An Introduction to the Bootstrap. Chapman & Hall.
    A. C. Cameron, D. L. Miller (2015). A practitioner's guide to cluster-robust inference.
    Journal of Human Resources 50.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from merbench.evaluation.closed_forms import from_sums, row_statistics
from merbench.evaluation.metrics import compute_metrics
from merbench.evaluation.scoring import find_metric
from merbench.evaluation.tasks import TaskSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Paired:
    """The test predictions of two candidates on the same tracks, pooled over outer folds.

    Attributes:
        task: the task, which fixes targets or classes.
        y_true: ``[N, D]`` regression targets in ``TaskSpec.targets`` order, or ``[N]`` classes.
        pred_a: the first candidate's predictions, the shape of ``y_true``.
        pred_b: the second candidate's predictions, the shape of ``y_true``.
        groups: ``[N]`` group (artist) of each row's track.
        repeats: ``[N]`` repeat of each row (a track appears once per repeat), or ``None``.
    """

    task: TaskSpec
    y_true: np.ndarray
    pred_a: np.ndarray
    pred_b: np.ndarray
    groups: np.ndarray
    repeats: np.ndarray | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class BootstrapResult:
    """A paired group bootstrap of ``metric(a) - metric(b)``.

    Attributes:
        metric: the metric column compared (e.g. ``r2_mean``, ``macro_f1``).
        value_a: the first candidate's pooled score (mean over repeats).
        value_b: the second candidate's pooled score.
        diff: ``value_a - value_b``.
        se: its bootstrap standard error.
        ci_low: lower end of its interval (``diff - z se``).
        ci_high: upper end.
        p_value: two-sided p-value of ``diff = 0`` (see ``group_bootstrap``).
        n_groups: groups resampled.
        n_boot: resamples drawn.
    """

    metric: str
    value_a: float
    value_b: float
    diff: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    n_groups: int
    n_boot: int


def group_bootstrap(
    paired: Paired,
    metric: str,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Compare two candidates' pooled scores by resampling whole groups, paired.

    Each resample draws as many groups as there are, with replacement, and scores both
    candidates on the tracks of the drawn groups (a group drawn twice counts twice), in every
    repeat; a candidate's score is the mean over repeats of the pooled score of that repeat.
    The standard error of the observed difference ``d`` is the spread of the resampled ones,
    ``se = sd(d*) sqrt(G / (G - 1))`` over ``G`` groups (the factor undoes the bootstrap's
    shrinkage of a variance over clusters, as in cluster-robust standard errors). The test is
    ``z = d / se`` against the standard normal, two-sided, and the interval is
    ``d ± z_{(1+confidence)/2} se``, so ``p < 1 - confidence`` exactly when it excludes 0.
    This keeps the level in simulations where reading the percentiles of ``d*`` does not
    (``docs/protocol.md`` gives both). Identical predictions give ``d = 0``, ``se = 0`` and
    ``p = 1``.

    Args:
        paired: the predictions, groups and repeats.
        metric: a scalar metric column of the task (``r2_mean``, ``rmse_valence``, ``macro_f1``).
        n_boot: resamples, at least 100.
        seed: seed of the resamples (the same seed draws the same groups for every pair).
        confidence: coverage of the interval, in (0, 1).

    Raises:
        ValueError: shapes that differ, no rows, fewer than 2 groups, a bad ``n_boot`` or
            ``confidence``, or a metric the task does not report.
    """
    if n_boot < 100 or not 0.0 < confidence < 1.0:
        raise ValueError(
            f"n_boot must be >= 100 and confidence in (0, 1), got {n_boot} and {confidence}."
        )
    observed, resampled, n_groups = resample(paired, metric, n_boot=n_boot, seed=seed)
    return summarize_resamples(metric, observed, resampled, n_groups, confidence=confidence)


def summarize_resamples(
    metric: str,
    observed: tuple[float, float],
    resampled: tuple[np.ndarray, np.ndarray],
    n_groups: int,
    *,
    confidence: float = 0.95,
) -> BootstrapResult:
    """The difference, standard error, interval and p-value of ``resample``'s output."""
    diff = observed[0] - observed[1]
    spread = float(np.std(resampled[0] - resampled[1], ddof=1))
    se = spread * math.sqrt(n_groups / (n_groups - 1))
    half = float(sps.norm.ppf((1.0 + confidence) / 2.0)) * se
    return BootstrapResult(
        metric=metric,
        value_a=observed[0],
        value_b=observed[1],
        diff=diff,
        se=se,
        ci_low=diff - half,
        ci_high=diff + half,
        p_value=_two_sided(diff, se),
        n_groups=n_groups,
        n_boot=len(resampled[0]),
    )


def resample(
    paired: Paired, metric: str, *, n_boot: int, seed: int
) -> tuple[tuple[float, float], tuple[np.ndarray, np.ndarray], int]:
    """Both candidates' observed scores, their scores on ``n_boot`` group resamples, and ``G``.

    What ``group_bootstrap`` summarises; the resampled scores are ``[n_boot]`` arrays.

    Raises:
        ValueError: as ``group_bootstrap``.
    """
    group_index, repeat_index, n_groups = _indices(paired)
    score = _scorer(paired, metric, group_index, repeat_index, n_groups)
    observed_a, observed_b = score(np.ones((1, n_groups)))
    return (
        (float(observed_a[0]), float(observed_b[0])),
        score(_draws(n_groups, n_boot, seed)),
        n_groups,
    )


def _two_sided(diff: float, se: float) -> float:
    """``2 Φ(-|diff| / se)``; with no spread, 1 for no difference and 0 for any other."""
    if se > 0.0:
        return min(1.0, 2.0 * float(sps.norm.sf(abs(diff) / se)))
    return 1.0 if diff == 0.0 else 0.0


def _indices(paired: Paired) -> tuple[np.ndarray, np.ndarray, int]:
    """Check shapes; return each row's group index ``[N]``, repeat index ``[N]`` and group count."""
    true, a, b = (np.asarray(x) for x in (paired.y_true, paired.pred_a, paired.pred_b))
    groups = np.asarray(paired.groups).ravel()
    repeats = np.zeros(len(groups), int) if paired.repeats is None else np.asarray(paired.repeats)
    if not (true.shape == a.shape == b.shape) or len(true) == 0:
        raise ValueError(f"y_true {true.shape}, pred_a {a.shape}, pred_b {b.shape} must match.")
    if groups.shape != (len(true),) or repeats.ravel().shape != (len(true),):
        raise ValueError(f"groups and repeats need one entry per row ({len(true)}).")
    _, group_index = np.unique(groups, return_inverse=True)
    _, repeat_index = np.unique(repeats.ravel(), return_inverse=True)
    n_groups = int(group_index.max()) + 1
    if n_groups < 2:
        raise ValueError("the bootstrap needs at least 2 groups.")
    return group_index, repeat_index, n_groups


def _draws(n_groups: int, n_boot: int, seed: int) -> np.ndarray:
    """``[n_boot, n_groups]`` counts: how often each group is drawn in each resample."""
    drawn = np.random.default_rng(seed).integers(0, n_groups, (n_boot, n_groups))
    flat = (drawn + n_groups * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n_groups).reshape(n_boot, n_groups).astype(float)


Scorer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""Group weights ``[B, G]`` -> both candidates' scores ``[B]``."""


def _scorer(
    paired: Paired, metric: str, group_index: np.ndarray, repeat_index: np.ndarray, n_groups: int
) -> Scorer:
    """Score both candidates under group weights, by sums when the metric allows it."""
    if metric not in paired.task.metric_names():
        raise ValueError(f"task '{paired.task.name}' does not report '{metric}'.")
    if paired.task.is_multilabel and metric == "roc_auc_mean":
        return _roc_auc_scorer(paired, group_index, repeat_index)
    found = find_metric(metric)
    form = None if found is None else from_sums(found, metric, paired.task)
    if form is None:
        log.info("no closed form for %s: scoring each resample (slower)", metric)
        return _slow_scorer(paired, metric, group_index, repeat_index)
    cells = repeat_index * n_groups + group_index
    n_repeats = int(repeat_index.max()) + 1

    def sums(pred: np.ndarray) -> np.ndarray:
        rows = row_statistics(paired.task, np.asarray(paired.y_true), np.asarray(pred))
        total = np.zeros((n_repeats * n_groups, rows.shape[1]))
        np.add.at(total, cells, rows)
        return total.reshape(n_repeats, n_groups, -1)

    sums_a, sums_b = sums(paired.pred_a), sums(paired.pred_b)

    def score(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # [R, B, K] sums of each resample, scored, then averaged over repeats.
        a = form(np.matmul(weights[None], sums_a)).mean(axis=0)
        b = form(np.matmul(weights[None], sums_b)).mean(axis=0)
        return a, b

    return score


def _roc_auc_scorer(paired: Paired, group_index: np.ndarray, repeat_index: np.ndarray) -> Scorer:
    """Macro ROC-AUC under group weights, every resample at once (``roc_auc_score`` with
    ``sample_weight`` gives the same values, one call per resample and tag).

    A tag's weighted AUC is ``sum_{i pos} w_i (W_neg(s < s_i) + W_neg(s = s_i) / 2) /
    (W_pos W_neg)``; with each tag's rows sorted once by score, the negative weights below and
    at each score are cumulative sums. Tags a resample cannot score (no positive or no negative
    weight) are left out of its macro mean, as ``compute_metrics`` leaves them out of a fold's.
    """
    true = np.asarray(paired.y_true, dtype=np.float64).reshape(len(group_index), -1)
    strata = [np.flatnonzero(repeat_index == r) for r in np.unique(repeat_index)]

    def one(pred: np.ndarray, weights: np.ndarray) -> np.ndarray:
        per_stratum = []
        for rows in strata:
            w = weights[:, group_index[rows]]  # [B, n]
            aucs = [_weighted_auc(true[rows, t], pred[rows, t], w) for t in range(true.shape[1])]
            with np.errstate(invalid="ignore"):
                stacked = np.stack(aucs, axis=1)  # [B, T]
                counted = np.isfinite(stacked).sum(axis=1)
                total = np.where(np.isfinite(stacked), stacked, 0.0).sum(axis=1)
                per_stratum.append(np.where(counted > 0, total / np.maximum(counted, 1), np.nan))
        return np.asarray(np.mean(per_stratum, axis=0))

    pred_a = np.asarray(paired.pred_a, dtype=np.float64).reshape(true.shape)
    pred_b = np.asarray(paired.pred_b, dtype=np.float64).reshape(true.shape)

    def score(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        chunks = [weights[i : i + _AUC_CHUNK] for i in range(0, len(weights), _AUC_CHUNK)]
        a = np.concatenate([one(pred_a, chunk) for chunk in chunks])
        b = np.concatenate([one(pred_b, chunk) for chunk in chunks])
        return a, b

    return score


_AUC_CHUNK = 50
"""Resamples scored together by ``_roc_auc_scorer``: its arrays are ``[50, fold size]``. On
MTG-Jamendo's size 50 was fastest (0.11 s a resample against 0.26 s for 10 and 0.39 s for 100,
whose arrays leave the CPU's caches; benchmarks/bench_auc_bootstrap.py)."""


def _weighted_auc(truth: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC of one tag under each row of ``weights`` ``[B, n]``: ``[B]``, NaN where a row
    gives the positives or the negatives no weight."""
    order = np.argsort(score, kind="stable")
    sorted_score, positive = score[order], truth[order] > 0.5
    w = weights[:, order]
    below = np.concatenate([np.zeros((len(w), 1)), np.cumsum(w * ~positive, axis=1)], axis=1)
    left = np.searchsorted(sorted_score, sorted_score, side="left")
    right = np.searchsorted(sorted_score, sorted_score, side="right")
    wins = below[:, left] + 0.5 * (below[:, right] - below[:, left])  # [B, n]
    numerator = (w * positive * wins).sum(axis=1)
    pairs = (w * positive).sum(axis=1) * below[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, numerator / np.where(pairs > 0, pairs, 1.0), np.nan)


def _slow_scorer(
    paired: Paired, metric: str, group_index: np.ndarray, repeat_index: np.ndarray
) -> Scorer:
    """Score each resample with ``compute_metrics`` (any metric; one call per resample)."""
    true = np.asarray(paired.y_true)
    by_group = [np.flatnonzero(group_index == g) for g in range(int(group_index.max()) + 1)]

    def one(weights: np.ndarray, pred: np.ndarray) -> float:
        rows = np.concatenate([np.repeat(by_group[g], int(w)) for g, w in enumerate(weights)])
        values = []
        for picked in (rows[repeat_index[rows] == r] for r in np.unique(repeat_index)):
            scores = compute_metrics(paired.task, true[picked], pred[picked]) if picked.size else {}
            if metric not in scores:
                raise ValueError(f"'{metric}' cannot be computed from predictions alone.")
            values.append(float(scores[metric]))
        return float(np.mean(values))

    def score(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = np.array([one(w, np.asarray(paired.pred_a)) for w in weights])
        b = np.array([one(w, np.asarray(paired.pred_b)) for w in weights])
        return a, b

    return score
