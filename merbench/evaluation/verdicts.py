"""The verdict of one dataset x task table: tiers that follow the ranks, and "cannot tell".

``merbench.evaluation.stats`` ranks the candidates and tests each against the leader. Two rules
turn those tests into what a table says:

- **Tiers follow the ranks.** Holm's step-down procedure over comparisons of different
  variances can reject a candidate ranked above one it keeps in the leader's tier. A candidate
  is never put in a better tier than a candidate ranked strictly above it: once a rank is
  ``worse``, every lower rank is too (``tier_from_rank`` marks those the rule moved).
- **"Cannot tell".** When the leader is not told apart from the task's trivial baseline
  (``mean``, ``majority``: the cells' ``is_baseline``), the leader's tier holds a predictor that
  learnt nothing, and "≈ best" would read as praise. Those candidates are ``cannot tell``
  instead, and the table gives the smallest difference from the baseline the run could have
  detected (``detectable_difference``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

CANNOT_TELL = "cannot tell"
"""The tier of a table whose leader is not told apart from a trivial baseline."""
CANNOT_TELL_TEXT = "cannot tell: not enough tracks or folds to rank these"
POWER = 0.8
"""The power at which ``detectable_difference`` is stated."""
VERDICT_COLUMNS = ("tier_from_rank", "detectable_diff")
"""What ``settle_tiers`` adds to a tier table."""


def ordered_tiers(ranks: Sequence[int], tiers: Sequence[str]) -> list[bool]:
    """Which candidates the order makes ``worse``: those ranked strictly below a ``worse`` one.

    Args:
        ranks: each candidate's rank (1 = best; ties share a rank).
        tiers: each candidate's tier from its own test, the same order.

    Returns:
        Per candidate, whether it is ``worse`` by the order although its own test kept it in the
        leader's tier.
    """
    worse_ranks = [r for r, t in zip(ranks, tiers, strict=True) if t == "worse"]
    first = min(worse_ranks, default=math.inf)
    return [t != "worse" and r > first for r, t in zip(ranks, tiers, strict=True)]


def detectable_difference(
    se: float,
    *,
    n_tests: int,
    alpha: float = 0.05,
    power: float = POWER,
    df: int | None = None,
    se_null: float | None = None,
) -> float:
    """The smallest true difference a two-sided test of standard error ``se`` finds at ``power``.

    ``q_{1 - a/2} se_null + q_{power} se`` with ``a = alpha / n_tests``, the level of the first
    step of Holm's procedure over ``n_tests`` comparisons (a bound that holds whatever the others
    show), and ``q`` standard normal quantiles, or Student t with ``df`` degrees of freedom (the
    corrected resampled t-test). The test rejects past ``q_{1 - a/2} se_null``, the critical
    value of its null distribution (the permuted differences' spread for the permutation test;
    ``se`` when not given), and the observed difference spreads by ``se`` about the true one.
    For one test at 5 % and 80 % power with ``se_null = se`` the factor is 2.80.

    Returns:
        The difference, NaN when ``se`` or ``se_null`` is not a finite number.
    """
    null = se if se_null is None else se_null
    if not (np.isfinite(se) and np.isfinite(null)):
        return math.nan
    level = alpha / max(n_tests, 1)
    if df is None:
        critical, margin = sps.norm.ppf(1.0 - level / 2.0), sps.norm.ppf(power)
    else:
        critical, margin = sps.t.ppf(1.0 - level / 2.0, df), sps.t.ppf(power, df)
    return float(critical * null + margin * se)


def settle_tiers(table: pd.DataFrame, baselines: Collection[str]) -> pd.DataFrame:
    """Apply the order rule and the "cannot tell" rule to a tier table.

    Args:
        table: ``stats.bootstrap_tiers`` (or ``significance_tiers``) output, best first.
        baselines: the names of the trivial baselines among its candidates.

    Returns:
        ``table`` with ``tier`` settled (``best``, ``worse`` or ``cannot tell``) and the columns
        ``VERDICT_COLUMNS``: ``tier_from_rank`` and ``detectable_diff``, the smallest difference
        between the leader and the best-ranked baseline the run could have detected at 80 %
        power (the same on every row; NaN without a baseline or a test between them).
    """
    table = table.copy()
    moved = ordered_tiers(table["rank"].tolist(), table["tier"].tolist())
    table["tier_from_rank"] = moved
    table.loc[np.asarray(moved, dtype=bool), "tier"] = "worse"
    table["detectable_diff"] = _baseline_detectable(table, baselines)
    is_baseline = table["candidate"].isin(list(baselines))
    if is_baseline.any() and (table.loc[is_baseline, "tier"] != "worse").any():
        table.loc[table["tier"] == "best", "tier"] = CANNOT_TELL
    return table


def _baseline_detectable(table: pd.DataFrame, baselines: Collection[str]) -> float:
    """``detectable_difference`` of the comparison between the leader and a baseline: the
    best-ranked baseline, or the best-ranked other candidate when the leader is a baseline."""
    is_baseline = table["candidate"].isin(list(baselines))
    if not is_baseline.any():
        return math.nan
    leader_is_baseline = bool(is_baseline[table["is_leader"]].any())
    others = table[~table["is_leader"] & (~is_baseline if leader_is_baseline else is_baseline)]
    if others.empty:
        return math.nan
    row = others.iloc[0]
    is_ttest = row.get("tier_test") in (None, "t-test") or pd.isna(row.get("tier_test"))
    df = int(row["n_folds"]) - 1 if is_ttest and row["n_folds"] >= 2 else None
    se_null = None if is_ttest else float(row["se_null_vs_leader"])
    n_tests = int(table["p_vs_leader"].notna().sum())
    se = float(row["se_vs_leader"])
    return detectable_difference(se, n_tests=n_tests, df=df, se_null=se_null)
