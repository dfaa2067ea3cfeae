"""Paired comparison of two candidates' pooled test predictions, over whole groups (artists).

Two candidates of a run predict the same tracks: every track once per repeat, in the outer test
fold that holds it. Pooling those out-of-fold predictions gives one score per candidate and
repeat. ``paired_group_test`` compares the two scores in two ways that both keep an artist's
tracks together (they share production and labelling and err together, which the grouped folds
were made for):

- **The verdict: a paired permutation test over groups.** If the two candidates are
  exchangeable (identical models, up to noise), swapping their predictions for all of an
  artist's tracks changes nothing in distribution. Each permutation swaps every group with
  probability 1/2, the same groups in every repeat, and recomputes the difference of the pooled
  scores; the p-value is the share of permuted differences at least as far from 0 as the
  observed one, ``(1 + k) / (1 + B)``. It is exact for any metric, ratio-type ones such as
  macro-F1 included, and its null distribution is symmetric about 0 by construction (swapping
  the complement negates a difference).
- **The interval: a paired group bootstrap.** Resampling groups with replacement, the same
  groups for both candidates and every repeat, gives the spread of the observed difference and
  its interval ``d ± z se``.

It is fast because every metric that ranks candidates is a function of per-group sums: moments
(``n``, sums of ``y``, ``y²``, ``ŷ``, ``ŷ²``, ``yŷ`` per target) for R², RMSE, CCC and Pearson r,
confusion counts for accuracy, balanced accuracy, macro-F1 and MCC
(``merbench.evaluation.closed_forms``). A resample is a vector of group counts and a permutation
a vector of swapped groups, so all of them are one matrix product each. Any other metric falls
back to ``merbench.evaluation.metrics.compute_metrics`` on each draw (correct, slower).

References:
    B. Efron, R. Tibshirani (1993). An Introduction to the Bootstrap. Chapman & Hall.
    P. Good (2005). Permutation, Parametric, and Bootstrap Tests of Hypotheses. Springer.
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
class PairedTest:
    """A paired comparison of ``metric(a) - metric(b)`` over groups.

    Attributes:
        metric: the metric column compared (e.g. ``r2_mean``, ``macro_f1``).
        value_a: the first candidate's pooled score (mean over repeats).
        value_b: the second candidate's pooled score.
        diff: ``value_a - value_b``.
        se: its bootstrap standard error (the spread of the observed difference).
        ci_low: lower end of its bootstrap interval (``diff - z se``).
        ci_high: upper end.
        p_value: two-sided p-value of the permutation test of no difference.
        se_null: the spread of the permuted differences (root mean square; the null
            distribution is centred on 0), what the test's critical value scales with.
        n_groups: groups resampled and swapped.
        n_boot: bootstrap resamples drawn.
        n_perm: permutations drawn.
    """

    metric: str
    value_a: float
    value_b: float
    diff: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    se_null: float
    n_groups: int
    n_boot: int
    n_perm: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Draws:
    """What ``paired_group_test`` summarises.

    Attributes:
        observed: both candidates' pooled scores.
        resampled: both candidates' scores on each bootstrap resample, two ``[n_boot]`` arrays.
        permuted: the difference of the scores under each permutation, ``[n_perm]``.
        n_groups: ``G``, the groups resampled and swapped.
    """

    observed: tuple[float, float]
    resampled: tuple[np.ndarray, np.ndarray]
    permuted: np.ndarray
    n_groups: int


def paired_group_test(
    paired: Paired,
    metric: str,
    *,
    n_boot: int = 2000,
    n_perm: int | None = None,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedTest:
    """Compare two candidates' pooled scores: a permutation test and a bootstrap interval.

    The p-value is the paired permutation test over groups (see the module docstring): with
    ``k`` of ``B`` permuted differences at least as far from 0 as the observed ``d``,
    ``p = (1 + k) / (1 + B)``, exact at every level ``(1 + k) / (1 + B)`` can reach; the
    smallest p-value is ``1 / (1 + B)``, so ``B`` must grow with the number of comparisons a
    multiplicity correction divides the level by. The interval is the bootstrap's
    ``d ± z_{(1+confidence)/2} se``, ``se = sd(d*) sqrt(G / (G - 1))`` over ``G`` groups (the
    factor undoes the bootstrap's shrinkage of a variance over clusters, as in cluster-robust
    standard errors). The two can disagree near the level; the p-value decides.
    Identical predictions give ``d = 0``, ``se = 0`` and ``p = 1``.

    Args:
        paired: the predictions, groups and repeats.
        metric: a scalar metric column of the task (``r2_mean``, ``rmse_valence``, ``macro_f1``).
        n_boot: bootstrap resamples, at least 100.
        n_perm: permutations, at least 100; ``None``: ``n_boot``.
        seed: seed of the draws (the same seed draws the same groups for every pair).
        confidence: coverage of the interval, in (0, 1).

    Raises:
        ValueError: shapes that differ, no rows, fewer than 2 groups, a bad ``n_boot``,
            ``n_perm`` or ``confidence``, or a metric the task does not report.
    """
    n_perm = n_boot if n_perm is None else n_perm
    if min(n_boot, n_perm) < 100 or not 0.0 < confidence < 1.0:
        raise ValueError(
            "n_boot and n_perm must be >= 100 and confidence in (0, 1), "
            f"got {n_boot}, {n_perm} and {confidence}."
        )
    return summarize_draws(
        metric, draw(paired, metric, n_boot=n_boot, n_perm=n_perm, seed=seed), confidence
    )


def summarize_draws(metric: str, draws: Draws, confidence: float = 0.95) -> PairedTest:
    """The difference, its bootstrap interval and the permutation p-value of ``draw``'s output."""
    diff = draws.observed[0] - draws.observed[1]
    se = bootstrap_se(draws)
    half = float(sps.norm.ppf((1.0 + confidence) / 2.0)) * se
    return PairedTest(
        metric=metric,
        value_a=draws.observed[0],
        value_b=draws.observed[1],
        diff=diff,
        se=se,
        ci_low=diff - half,
        ci_high=diff + half,
        p_value=permutation_p(diff, draws.permuted),
        se_null=float(np.sqrt(np.mean(draws.permuted**2))),
        n_groups=draws.n_groups,
        n_boot=len(draws.resampled[0]),
        n_perm=len(draws.permuted),
    )


def bootstrap_se(draws: Draws) -> float:
    """``sd(d*) sqrt(G / (G - 1))``: the bootstrap standard error of the difference."""
    spread = float(np.std(draws.resampled[0] - draws.resampled[1], ddof=1))
    return spread * math.sqrt(draws.n_groups / (draws.n_groups - 1))


def permutation_p(diff: float, permuted: np.ndarray) -> float:
    """``(1 + k) / (1 + B)``: ``k`` of the ``B`` permuted differences as far from 0 as ``diff``.

    Differences equal to ``|diff|`` up to rounding count as far (ties go to the null).
    """
    tolerance = 1e-12 * max(1.0, abs(diff))
    k = int(np.count_nonzero(np.abs(permuted) >= abs(diff) - tolerance))
    return (1.0 + k) / (1.0 + len(permuted))


def draw(paired: Paired, metric: str, *, n_boot: int, n_perm: int, seed: int) -> Draws:
    """Both candidates' observed scores, ``n_boot`` bootstrap resamples and ``n_perm`` swaps.

    Raises:
        ValueError: as ``paired_group_test``.
    """
    group_index, repeat_index, n_groups = _indices(paired)
    scorer = _scorer(paired, metric, group_index, repeat_index, n_groups)
    observed_a, observed_b = scorer.weighted(np.ones((1, n_groups)))
    swapped_a, swapped_b = scorer.swapped(_swaps(n_groups, n_perm, seed))
    return Draws(
        observed=(float(observed_a[0]), float(observed_b[0])),
        resampled=scorer.weighted(_draws(n_groups, n_boot, seed)),
        permuted=swapped_a - swapped_b,
        n_groups=n_groups,
    )


def weighted_scores(
    paired: Paired, metric: str, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Both candidates' scores ``[B]`` under group weights ``[B, G]`` (groups in sorted order).

    A bootstrap resample is a vector of counts; a jackknife leaves one group out.
    """
    group_index, repeat_index, n_groups = _indices(paired)
    return _scorer(paired, metric, group_index, repeat_index, n_groups).weighted(weights)


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
        raise ValueError("the comparison needs at least 2 groups.")
    return group_index, repeat_index, n_groups


def _draws(n_groups: int, n_boot: int, seed: int) -> np.ndarray:
    """``[n_boot, n_groups]`` counts: how often each group is drawn in each resample."""
    drawn = np.random.default_rng(seed).integers(0, n_groups, (n_boot, n_groups))
    flat = (drawn + n_groups * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n_groups).reshape(n_boot, n_groups).astype(float)


def _swaps(n_groups: int, n_perm: int, seed: int) -> np.ndarray:
    """``[n_perm, n_groups]`` of 0 and 1: which groups each permutation swaps, each with
    probability 1/2 (the bits of random bytes: a bit a group, not an integer)."""
    packed = np.random.default_rng((seed, 1)).integers(0, 256, (n_perm, -(-n_groups // 8)))
    return np.unpackbits(packed.astype(np.uint8), axis=1, count=n_groups).astype(float)


Scores = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``[B, G]`` group weights or swaps -> both candidates' scores ``[B]``."""


@dataclass(frozen=True, slots=True)
class _Scorer:
    weighted: Scores
    """Scores with each group's tracks counted as often as its weight."""
    swapped: Scores
    """Scores with the candidates' predictions exchanged on the groups marked 1."""


def _scorer(
    paired: Paired, metric: str, group_index: np.ndarray, repeat_index: np.ndarray, n_groups: int
) -> _Scorer:
    """Score both candidates under group weights or swaps, by sums when the metric allows it."""
    if metric not in paired.task.metric_names():
        raise ValueError(f"task '{paired.task.name}' does not report '{metric}'.")
    if paired.task.is_multilabel and metric == "roc_auc_mean":
        return _roc_auc_scorer(paired, group_index, repeat_index)
    found = find_metric(metric)
    form = None if found is None else from_sums(found, metric, paired.task)
    if form is None:
        log.info("no closed form for %s: scoring each draw (slower)", metric)
        return _slow_scorer(paired, metric, group_index, repeat_index)
    cells = repeat_index * n_groups + group_index
    n_repeats = int(repeat_index.max()) + 1

    def sums(pred: np.ndarray) -> np.ndarray:
        rows = row_statistics(paired.task, np.asarray(paired.y_true), np.asarray(pred))
        total = np.zeros((n_repeats * n_groups, rows.shape[1]))
        np.add.at(total, cells, rows)
        return total.reshape(n_repeats, n_groups, -1)

    sums_a, sums_b = sums(paired.pred_a), sums(paired.pred_b)
    totals_a, totals_b = sums_a.sum(axis=1, keepdims=True), sums_b.sum(axis=1, keepdims=True)
    exchange = sums_b - sums_a

    def weighted(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # [R, B, K] sums of each resample, scored, then averaged over repeats.
        a = form(np.matmul(weights[None], sums_a)).mean(axis=0)
        b = form(np.matmul(weights[None], sums_b)).mean(axis=0)
        return a, b

    def swapped(swaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # What a swapped group moves from one candidate's sums to the other's, [R, B, K].
        moved = np.matmul(swaps[None], exchange)
        return form(totals_a + moved).mean(axis=0), form(totals_b - moved).mean(axis=0)

    return _Scorer(weighted, swapped)


def _roc_auc_scorer(paired: Paired, group_index: np.ndarray, repeat_index: np.ndarray) -> _Scorer:
    """Macro ROC-AUC under group weights or swaps, many draws at once (``roc_auc_score`` with
    ``sample_weight`` gives the same values, one call per draw and tag).

    A tag's weighted AUC is ``sum_{i pos} w_i (W_neg(s < s_i) + W_neg(s = s_i) / 2) /
    (W_pos W_neg)``; with each tag's rows sorted once by score, the negative weights below and
    at each score are cumulative sums. A swap changes the scores themselves, so each swapped
    draw is ranked anew (average ranks for ties, the Mann-Whitney form). Tags a draw cannot score
    (no positive or no negative weight) are left out of its macro mean, as ``compute_metrics``
    leaves them out of a fold's.
    """
    true = np.asarray(paired.y_true, dtype=np.float64).reshape(len(group_index), -1)
    strata = [np.flatnonzero(repeat_index == r) for r in np.unique(repeat_index)]
    pred_a = np.asarray(paired.pred_a, dtype=np.float64).reshape(true.shape)
    pred_b = np.asarray(paired.pred_b, dtype=np.float64).reshape(true.shape)

    def macro(aucs: list[np.ndarray]) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            stacked = np.stack(aucs, axis=1)  # [B, T]
            counted = np.isfinite(stacked).sum(axis=1)
            total = np.where(np.isfinite(stacked), stacked, 0.0).sum(axis=1)
            return np.where(counted > 0, total / np.maximum(counted, 1), np.nan)

    def one(pred: np.ndarray, weights: np.ndarray) -> np.ndarray:
        per_stratum = []
        for rows in strata:
            w = weights[:, group_index[rows]]  # [B, n]
            tags = range(true.shape[1])
            per_stratum.append(
                macro([_weighted_auc(true[rows, t], pred[rows, t], w) for t in tags])
            )
        return np.asarray(np.mean(per_stratum, axis=0))

    def one_swapped(first: np.ndarray, second: np.ndarray, swaps: np.ndarray) -> np.ndarray:
        per_stratum = []
        for rows in strata:
            mask = swaps[:, group_index[rows]] > 0  # [B, n]: second's predictions there
            aucs = [
                _ranked_auc(true[rows, t], np.where(mask, second[rows, t], first[rows, t]))
                for t in range(true.shape[1])
            ]
            per_stratum.append(macro(aucs))
        return np.asarray(np.mean(per_stratum, axis=0))

    def chunks(draws: np.ndarray) -> list[np.ndarray]:
        return [draws[i : i + _AUC_CHUNK] for i in range(0, len(draws), _AUC_CHUNK)]

    def weighted(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = np.concatenate([one(pred_a, chunk) for chunk in chunks(weights)])
        b = np.concatenate([one(pred_b, chunk) for chunk in chunks(weights)])
        return a, b

    def swapped(swaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = np.concatenate([one_swapped(pred_a, pred_b, chunk) for chunk in chunks(swaps)])
        b = np.concatenate([one_swapped(pred_b, pred_a, chunk) for chunk in chunks(swaps)])
        return a, b

    return _Scorer(weighted, swapped)


def _ranked_auc(truth: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC-AUC of one tag for each row of ``scores`` ``[B, n]``: ``[B]``, NaN without a positive
    or a negative (the Mann-Whitney U of the positives' average ranks)."""
    positive = truth > 0.5
    n_pos = int(positive.sum())
    n_neg = len(truth) - n_pos
    if n_pos == 0 or n_neg == 0:
        return np.full(len(scores), np.nan)
    ranks = np.asarray(sps.rankdata(scores, axis=1), dtype=np.float64)
    wins: np.ndarray = ranks[:, positive].sum(axis=1) - n_pos * (n_pos + 1) / 2
    return wins / (n_pos * n_neg)


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
) -> _Scorer:
    """Score each draw with ``compute_metrics`` (any metric; one call per draw)."""
    true = np.asarray(paired.y_true)
    pred_a, pred_b = np.asarray(paired.pred_a), np.asarray(paired.pred_b)
    by_group = [np.flatnonzero(group_index == g) for g in range(int(group_index.max()) + 1)]
    every = np.arange(len(true))

    def one(rows: np.ndarray, pred: np.ndarray) -> float:
        values = []
        for picked in (rows[repeat_index[rows] == r] for r in np.unique(repeat_index)):
            scores = compute_metrics(paired.task, true[picked], pred[picked]) if picked.size else {}
            if metric not in scores:
                raise ValueError(f"'{metric}' cannot be computed from predictions alone.")
            values.append(float(scores[metric]))
        return float(np.mean(values))

    def weighted(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        picks = [
            np.concatenate([np.repeat(by_group[g], int(w)) for g, w in enumerate(row)])
            for row in weights
        ]
        return np.array([one(p, pred_a) for p in picks]), np.array([one(p, pred_b) for p in picks])

    def swapped(swaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        shape = (-1,) + (1,) * (pred_a.ndim - 1)
        masks = [(row[group_index] > 0).reshape(shape) for row in swaps]
        a = [one(every, np.where(mask, pred_b, pred_a)) for mask in masks]
        b = [one(every, np.where(mask, pred_a, pred_b)) for mask in masks]
        return np.array(a), np.array(b)

    return _Scorer(weighted, swapped)
