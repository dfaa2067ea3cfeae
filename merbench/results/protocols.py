"""Split protocols side by side: which protocol ranks, and what the others add to a summary.

A run may evaluate each dataset under several split protocols (``--split grouped,random``). The
leaderboard ranks candidates under one **primary** protocol per dataset and task, the first of
``grouped``, ``official``, ``random`` that the run has; every other protocol adds, per candidate,
its mean primary metric with a 95 % confidence interval, and the **leakage gap**: that mean minus
the primary protocol's. A positive gap under random folds is what a candidate gains when the
test tracks' artists were also in training.

The gap's interval treats the two protocols' fold scores as independent samples (their folds
differ, so they are not paired): the difference of the means +- t * sqrt(s1²/n1 + s2²/n2) with
Welch's degrees of freedom. It is wide with 5 folds; it says whether the gap is clearly there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from merbench.results.schema import DEFAULT_SPLIT

PRECEDENCE = ("grouped", "official", "random")


def primary_protocol(protocols: Iterable[str]) -> str:
    """The protocol that ranks: grouped, else official, else random, else the first given."""
    given = list(dict.fromkeys(protocols))
    return next((p for p in PRECEDENCE if p in given), given[0] if given else DEFAULT_SPLIT)


def with_protocols(cells: pd.DataFrame) -> pd.DataFrame:
    """``cells`` with a ``split`` column (``grouped`` where a store predates protocols)."""
    if "split" not in cells:
        return cells.assign(split=DEFAULT_SPLIT)
    return cells.assign(split=cells["split"].fillna(DEFAULT_SPLIT).astype(str))


def split_by_protocol(cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells of each dataset and task's primary protocol, and the cells of the others."""
    cells = with_protocols(cells)
    if cells.empty:
        return cells, cells
    primary = cells.groupby(["dataset", "task"])["split"].transform(
        lambda s: primary_protocol(s.tolist())
    )
    is_primary = cells["split"] == primary
    return cells[is_primary].reset_index(drop=True), cells[~is_primary].reset_index(drop=True)


def protocol_columns(
    summary: pd.DataFrame, primary: pd.DataFrame, other: pd.DataFrame
) -> pd.DataFrame:
    """Add, per other protocol ``p``: ``<metric>_<p>`` (mean, ``_low``, ``_high``) and
    ``leakage_gap_<p>`` (mean, ``_low``, ``_high``) to the summary rows of the primary metric."""
    if other.empty or summary.empty:
        return summary
    out = summary.copy()
    for index, row in summary.iterrows():
        metric = str(row["primary"])
        mine = (other["dataset"] == row["dataset"]) & (other["task"] == row["task"])
        mine &= (other["candidate"] == row["candidate"]) & (other["status"] == "done")
        base = _scores(primary, row, metric)
        for protocol, group in other[mine].groupby("split"):
            if metric not in group:
                continue
            scores = np.asarray(group[metric].dropna(), dtype=float)
            if not len(scores):
                continue
            for name, values in (
                (f"{metric}_{protocol}", _mean_ci(scores)),
                (f"leakage_gap_{protocol}", _difference_ci(scores, base)),
            ):
                for suffix, value in zip(("", "_low", "_high"), values, strict=True):
                    out.loc[index, f"{name}{suffix}"] = value
    return out


def _scores(cells: pd.DataFrame, row: pd.Series, metric: str) -> np.ndarray:
    mine = (cells["dataset"] == row["dataset"]) & (cells["task"] == row["task"])
    mine &= (cells["candidate"] == row["candidate"]) & (cells["status"] == "done")
    if metric not in cells:
        return np.array([])
    return np.asarray(cells.loc[mine, metric].dropna(), dtype=float)


def _mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    from merbench.evaluation.stats import mean_ci

    return mean_ci(values) if len(values) > 1 else (float(values[0]),) * 3


def _difference_ci(values: np.ndarray, base: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``values`` minus mean of ``base``, with a Welch 95 % interval."""
    from scipy import stats

    if not len(base):
        return (math.nan, math.nan, math.nan)
    gap = float(values.mean() - base.mean())
    if len(values) < 2 or len(base) < 2:
        return (gap, math.nan, math.nan)
    a, b = values.var(ddof=1) / len(values), base.var(ddof=1) / len(base)
    se = math.sqrt(a + b)
    if se == 0:
        return (gap, gap, gap)
    df = (a + b) ** 2 / (a**2 / (len(values) - 1) + b**2 / (len(base) - 1))
    half = float(stats.t.ppf(0.975, df)) * se
    return (gap, gap - half, gap + half)
