"""Statistics for comparing candidates over the same resampled cross-validation folds.

Fold scores of one candidate are not independent (training sets overlap), so the plain paired
t-test over folds is too eager to call a difference significant. merbench uses the corrected
resampled t-test of Nadeau & Bengio (2003), as recommended by Bouckaert & Frank (2004), whose
variance term grows by the test/train size ratio; the same correction widens the confidence
intervals of ``significance_tiers``. Where the per-track predictions are at hand,
``bootstrap_tiers`` makes the tiers from the paired permutation test over artists of
``merbench.evaluation.bootstrap`` instead, with the paired group bootstrap's interval beside it
(much more power on 5 folds; ``docs/protocol.md`` says what each test conditions on), and keeps
the t-test's p-value beside it. Comparisons against the
leader are Holm-corrected.

References:
    C. Nadeau, Y. Bengio (2003). Inference for the generalization error. Machine Learning 52.
    R. Bouckaert, E. Frank (2004). Evaluating the replicability of significance tests for
    comparing learning algorithms. PAKDD.
    S. Holm (1979). A simple sequentially rejective multiple test procedure. Scand. J. Statist. 6.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

if TYPE_CHECKING:
    from merbench.evaluation.bootstrap import PairedTest

SCORE_COLUMNS = ("candidate", "fold", "value")
TIER_COLUMNS = (
    "candidate",
    "mean",
    "ci_low",
    "ci_high",
    "n_folds",
    "p_vs_leader",
    "p_holm",
    "is_leader",
    "tier",
    "rank",
    "rank_value",
    "se_vs_leader",
)
BOOTSTRAP_COLUMNS = (
    "tier_test",
    "p_ttest_holm",
    "diff_vs_leader",
    "diff_low_uncorrected",
    "diff_high_uncorrected",
    "boot_groups",
    "se_null_vs_leader",
)
"""What ``bootstrap_tiers`` adds to ``TIER_COLUMNS``."""


def _as_vector(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    """Return ``values`` as a finite, non-empty float ``[N]`` array."""
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0 or not np.isfinite(array).all():
        raise ValueError(f"{what} must be a non-empty sequence of finite numbers.")
    return array


def mean_ci(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    *,
    test_train_ratio: float = 0.0,
) -> tuple[float, float, float]:
    """Return the mean of per-fold scores and its Student-t confidence interval.

    The interval is ``mean ± t_{(1+confidence)/2, n-1} * sqrt((1/n + test_train_ratio) * s²)``
    with ``s²`` the sample variance over the ``n`` folds. ``test_train_ratio = 0`` gives the
    textbook interval; ``n_test / n_train`` (≈ ``1/(K-1)`` for K-fold) gives the Nadeau & Bengio
    correction for overlapping training sets, which is wider and more honest for CV scores.

    A single value has no spread to estimate: the interval is ``(nan, nan)`` (unknown, shown as
    such), not a zero-width one that would look certain.

    Args:
        values: per-fold scores, ``[n]``.
        confidence: coverage of the interval, in (0, 1).
        test_train_ratio: see above; ``>= 0``.

    Returns:
        ``(mean, low, high)``.

    Raises:
        ValueError: empty or non-finite values, a confidence outside (0, 1), a negative ratio.
    """
    array = _as_vector(values, "values")
    if not 0.0 < confidence < 1.0 or test_train_ratio < 0.0:
        raise ValueError("confidence must be in (0, 1) and test_train_ratio >= 0.")
    mean = float(array.mean())
    n = array.size
    if n < 2:
        return mean, math.nan, math.nan
    half = float(sps.t.ppf((1.0 + confidence) / 2.0, n - 1)) * _standard_error(
        array, test_train_ratio
    )
    return mean, mean - half, mean + half


def _standard_error(values: np.ndarray, test_train_ratio: float) -> float:
    """Return ``sqrt((1/n + test_train_ratio) * s²)`` of ``[n]`` values (``n >= 2``)."""
    variance = float(np.var(values, ddof=1))
    return math.sqrt((1.0 / values.size + test_train_ratio) * variance)


def corrected_resampled_ttest(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    test_train_ratio: float,
) -> tuple[float, float]:
    """Compare two candidates' paired per-fold scores with the corrected resampled t-test.

    With ``d = a - b`` over ``n`` paired folds, ``t = mean(d) / sqrt((1/n + n2/n1) * var(d))``
    (sample variance), Student t with ``n - 1`` degrees of freedom (Nadeau & Bengio 2003;
    Bouckaert & Frank 2004). The test is symmetric: swapping ``a`` and ``b`` negates ``t``.

    Zero variance of ``d``: identical scores give ``(0.0, 1.0)``; a constant non-zero difference
    gives ``(±inf, 0.0)``, since every fold agrees on the sign and size of the difference.

    Args:
        a: scores of the first candidate, ``[n]``, fold ``i`` paired with ``b[i]``.
        b: scores of the second candidate, ``[n]``.
        test_train_ratio: ``n_test / n_train`` of one fold, ≈ ``1/(K-1)`` for K-fold CV
            (repeats do not change it); ``0`` gives the uncorrected paired t-test.

    Returns:
        ``(t, p)`` with ``p`` the two-sided p-value.

    Raises:
        ValueError: lengths differ, fewer than two pairs, non-finite scores, a negative ratio.
    """
    first = _as_vector(a, "a")
    second = _as_vector(b, "b")
    if first.shape != second.shape or first.size < 2 or test_train_ratio < 0.0:
        raise ValueError(
            "a and b need the same length, at least 2 paired folds, and test_train_ratio >= 0;"
            f" got {first.size}, {second.size} and {test_train_ratio}."
        )
    diff = first - second
    mean = float(diff.mean())
    if float(np.ptp(diff)) == 0.0:
        return (0.0, 1.0) if mean == 0.0 else (math.copysign(math.inf, mean), 0.0)
    t = mean / _standard_error(diff, test_train_ratio)
    p = 2.0 * float(sps.t.sf(abs(t), diff.size - 1))
    return t, min(p, 1.0)


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Adjust p-values for multiple comparisons with Holm's step-down procedure.

    With the ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted value is
    ``min(1, max_{j <= i} (m - j + 1) p_(j))``: monotone in the raw p-values and capped at 1.
    It controls the family-wise error rate under any dependence. NaN p-values (comparisons that
    could not be made) stay NaN and do not count towards ``m``.

    Args:
        pvalues: raw p-values by name.

    Returns:
        Adjusted p-values under the same names, in the same order.

    Raises:
        ValueError: a p-value outside [0, 1].
    """
    valid = {name: p for name, p in pvalues.items() if not math.isnan(p)}
    if any(not 0.0 <= p <= 1.0 for p in valid.values()):
        raise ValueError(f"p-values must lie in [0, 1], got {dict(pvalues)}.")
    ordered = sorted(valid, key=lambda name: valid[name])
    adjusted: dict[str, float] = {}
    running = 0.0
    for i, name in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - i) * valid[name]))
        adjusted[name] = running
    return {name: adjusted.get(name, math.nan) for name in pvalues}


def _check_scores(scores: pd.DataFrame) -> None:
    """Raise ``ValueError`` unless ``scores`` is a usable long table of fold scores."""
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing or scores.empty:
        raise ValueError(
            f"scores needs the columns {list(SCORE_COLUMNS)} and rows; missing {missing}."
        )
    if scores.duplicated(["candidate", "fold"]).any():
        raise ValueError("scores has more than one value for a (candidate, fold) pair.")
    _as_vector(scores["value"].to_numpy(), "scores['value']")


def _summaries(
    wide: pd.DataFrame,
    test_train_ratio: float,
    direction: Literal["maximize", "minimize"],
    ranking: Mapping[str, float] | None,
) -> pd.DataFrame:
    """Return mean, CI and fold count per candidate (rows), best ``rank_value`` first, then by
    name; ``rank_value`` is ``ranking``'s value, else the mean."""
    rows = []
    for candidate in wide.columns:
        values = wide[candidate].dropna().to_numpy()
        mean, low, high = mean_ci(values, test_train_ratio=test_train_ratio)
        rows.append((candidate, mean, low, high, values.size))
    table = pd.DataFrame(rows, columns=["candidate", "mean", "ci_low", "ci_high", "n_folds"])
    table["rank_value"] = table["mean"] if ranking is None else table["candidate"].map(ranking)
    sign = -1.0 if direction == "maximize" else 1.0
    table["_key"] = sign * table["rank_value"].astype(float)
    table = table.sort_values(["_key", "candidate"], kind="stable")
    table["rank"] = table["_key"].rank(method="min").astype(int)
    return table.drop(columns="_key").reset_index(drop=True)


def _p_vs_leader(
    wide: pd.DataFrame, leader: str, test_train_ratio: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Return the two-sided p-value and the corrected standard error of the difference of each
    non-leader against the leader on their common folds.

    NaN when fewer than two folds are shared: no test is possible.
    """
    out: dict[str, float] = {}
    errors: dict[str, float] = {}
    for candidate in wide.columns:
        if candidate == leader:
            continue
        pair = wide[[candidate, leader]].dropna()
        if len(pair) < 2:
            out[candidate] = errors[candidate] = math.nan
            continue
        first, second = pair[candidate].to_numpy(), pair[leader].to_numpy()
        out[candidate] = corrected_resampled_ttest(first, second, test_train_ratio)[1]
        errors[candidate] = _standard_error(first - second, test_train_ratio)
    return out, errors


def significance_tiers(
    scores: pd.DataFrame,
    *,
    metric_direction: Literal["maximize", "minimize"],
    test_train_ratio: float,
    alpha: float = 0.05,
    ranking: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Rank candidates by mean fold score and mark those significantly worse than the leader.

    The leader has the best mean (ties broken by name), or the best ``ranking`` value when one
    is given for every candidate (the pooled out-of-fold score ``bootstrap_tiers`` tests).
    Every other candidate is compared with it by ``corrected_resampled_ttest`` on the folds both
    have scores for; the p-values are Holm-corrected together. A candidate is ``"worse"`` when
    its Holm p-value is below ``alpha``, else ``"best"`` (the leader's tier: not
    distinguishable from it). A candidate sharing fewer than two folds with the leader cannot
    be tested: its p-values are NaN and its tier is
    ``"best"`` (not shown to be worse). Intervals are ``mean_ci`` at 95 % with the same
    ``test_train_ratio`` correction as the test.

    Args:
        scores: long table with columns ``candidate``, ``fold`` (the pairing key shared by
            candidates, e.g. ``"0-3"`` for repeat 0, fold 3) and ``value`` (the metric).
        metric_direction: ``"maximize"`` or ``"minimize"`` (``metrics.metric_direction``).
        test_train_ratio: ``n_test / n_train`` of a fold, ≈ ``1/(K-1)`` for K-fold CV.
        alpha: family-wise significance level.
        ranking: the value that ranks each candidate, by name; ``None``: the mean fold score.

    Returns:
        One row per candidate, best first, with the columns ``TIER_COLUMNS``: ``candidate``,
        ``mean``, ``ci_low``, ``ci_high``, ``n_folds``, ``p_vs_leader`` (raw), ``p_holm``,
        ``is_leader``, ``tier``, ``rank`` (1 = best; equal values share a rank), ``rank_value``
        (what ranked it) and ``se_vs_leader`` (the t-test's standard error of the difference).

    Raises:
        ValueError: missing columns, no rows, duplicate (candidate, fold) pairs, non-finite
            values.
    """
    _check_scores(scores)
    wide = scores.pivot(index="fold", columns="candidate", values="value")
    if ranking is not None and not set(wide.columns) <= set(ranking):
        raise ValueError(f"ranking needs a value for every candidate, got {sorted(ranking)}.")
    table = _summaries(wide, test_train_ratio, metric_direction, ranking)
    leader = str(table["candidate"].iloc[0])
    raw, errors = _p_vs_leader(wide, leader, test_train_ratio)
    adjusted = holm(raw)
    table["se_vs_leader"] = table["candidate"].map(errors).astype(float)
    table["p_vs_leader"] = table["candidate"].map(raw).astype(float)
    table["p_holm"] = table["candidate"].map(adjusted).astype(float)
    table["is_leader"] = table["candidate"] == leader
    table["tier"] = np.where(table["p_holm"] < alpha, "worse", "best")
    return table[list(TIER_COLUMNS)]


def bootstrap_tiers(
    tiers: pd.DataFrame,
    tests: Mapping[str, PairedTest],
    *,
    metric_direction: Literal["maximize", "minimize"],
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Remake the tiers of ``significance_tiers`` from paired tests against the leader.

    A candidate with a paired test (``tests``: its difference to the leader, ``candidate -
    leader``) is tested by its permutation p-value; one without keeps the corrected resampled
    t-test. The p-values of the tests made are Holm-corrected together (``p_holm``,
    ``p_vs_leader`` the raw ones). A candidate is ``"worse"`` when its Holm p-value is below
    ``alpha`` and its difference goes the leader's way; else ``"best"``. The leader and rank
    stay those of ``significance_tiers``: give it the pooled out-of-fold scores as ``ranking``,
    so the test and the ranks read the same estimate. The t-test's own Holm p-value stays as
    ``p_ttest_holm``; ``se_vs_leader`` becomes the bootstrap's standard error where the
    permutation test made the tier, and ``se_null_vs_leader`` the spread of the permuted
    differences (the test's null).

    Args:
        tiers: the table ``significance_tiers`` returned.
        tests: ``paired_group_test`` of each non-leader (first) against the leader (second).
        metric_direction: ``"maximize"`` or ``"minimize"``.
        alpha: family-wise significance level.

    Returns:
        ``tiers`` with the columns ``BOOTSTRAP_COLUMNS`` added: ``tier_test`` (``permutation`` or
        ``t-test``; null for the leader), ``p_ttest_holm``, ``diff_vs_leader``,
        ``diff_low_uncorrected``, ``diff_high_uncorrected`` (its 95 % interval, not corrected
        for the multiple comparisons the Holm tiers are), ``boot_groups`` (groups resampled and
        swapped) and ``se_null_vs_leader``.
    """
    table = tiers.copy()
    table["p_ttest_holm"] = table["p_holm"]
    is_tested = table["candidate"].isin(list(tests)) & ~table["is_leader"]
    table["tier_test"] = np.where(is_tested, "permutation", "t-test")
    table.loc[table["is_leader"], "tier_test"] = None
    columns = {
        "diff_vs_leader": "diff",
        "diff_low_uncorrected": "ci_low",
        "diff_high_uncorrected": "ci_high",
    }
    for column, field in [
        *columns.items(),
        ("boot_groups", "n_groups"),
        ("se_null_vs_leader", "se_null"),
    ]:
        values = {name: getattr(result, field) for name, result in tests.items()}
        table[column] = table["candidate"].map(values).where(is_tested).astype(float)
    errors = table["candidate"].map({name: result.se for name, result in tests.items()})
    table["se_vs_leader"] = errors.where(is_tested, table["se_vs_leader"]).astype(float)
    boot = {name: result.p_value for name, result in tests.items()}
    raw = table["candidate"].map(boot).where(is_tested, table["p_vs_leader"]).astype(float)
    table["p_vs_leader"] = raw.where(~table["is_leader"])
    adjusted = holm(dict(zip(table["candidate"], table["p_vs_leader"], strict=True)))
    table["p_holm"] = table["candidate"].map(adjusted).astype(float)
    sign = 1.0 if metric_direction == "maximize" else -1.0
    goes_leaders_way = ~(sign * table["diff_vs_leader"] > 0.0)  # NaN (t-test): by construction
    table["tier"] = np.where((table["p_holm"] < alpha) & goes_leaders_way, "worse", "best")
    return table[[*TIER_COLUMNS, *BOOTSTRAP_COLUMNS]]


def leakage_share(
    train_groups: Sequence[str] | np.ndarray, test_groups: Sequence[str] | np.ndarray
) -> float:
    """Return the share of test items whose group (artist) also appears in the training part.

    0.0 for a grouped split; above 0 when the same artist is on both sides, which lets a model
    score by recognising the artist rather than the emotion.

    Args:
        train_groups: group of each training item, ``[N_train]``.
        test_groups: group of each test item, ``[N_test]``.

    Raises:
        ValueError: no test items.
    """
    test = np.asarray(test_groups).ravel()
    if test.size == 0:
        raise ValueError("test_groups must not be empty.")
    return float(np.mean(np.isin(test, np.asarray(train_groups).ravel())))


def noise_ceiling_r2(label_std: np.ndarray, labels: np.ndarray, n_raters: int | None) -> float:
    """Estimate the best R² a model can reach on labels that are means of noisy ratings.

    Each label is the mean of ``n_raters`` ratings with spread ``label_std``, so it misses the
    raters' consensus by a standard error ``se = label_std / sqrt(n_raters)``. Even a model that
    predicts the consensus exactly leaves that error, so its expected R² is

        ceiling = 1 - mean(se²) / var(labels),

    computed per column of ``labels`` and averaged over columns. With ``n_raters=None``,
    ``label_std`` is taken to be the standard error of each label already. The estimate falls
    below 0 only when the stated spread exceeds the labels' own variance.

    Args:
        label_std: per-track standard deviation of the ratings, ``[N]`` or ``[N, D]``.
        labels: per-track labels (mean ratings), the same shape.
        n_raters: raters per track, or ``None`` (see above).

    Returns:
        The ceiling, mean over dimensions.

    Raises:
        ValueError: shapes differ, NaN values, ``n_raters < 1``, or a constant label column.
    """
    std = np.asarray(label_std, dtype=np.float64)
    values = np.asarray(labels, dtype=np.float64)
    if std.shape != values.shape or std.size == 0 or np.isnan(std).any() or np.isnan(values).any():
        raise ValueError(f"label_std {std.shape} and labels {values.shape} must match, no NaN.")
    if n_raters is not None and n_raters < 1:
        raise ValueError(f"n_raters must be at least 1, got {n_raters}.")
    std, values = std.reshape(len(std), -1), values.reshape(len(values), -1)
    variance = values.var(axis=0)
    if (variance == 0).any():
        raise ValueError("labels must vary: R² is undefined for a constant column.")
    se2 = std**2 / (n_raters if n_raters is not None else 1)
    return float(np.mean(1.0 - se2.mean(axis=0) / variance))
