"""Mean ranks of candidates over several dataset x task comparisons (Demšar's critical difference).

Each dataset x task page is one block: candidates are ranked within it by the mean of the page's
primary metric (1 = best, ties share the average rank). The Friedman test asks whether the mean
ranks differ at all; the Nemenyi critical difference ``CD = q_alpha sqrt(k (k + 1) / (6 N))`` says
which pairs do: candidates whose mean ranks differ by less than CD are not significantly different
and are joined by a bar. Only candidates that finished on every page compared take part (a
complete block design); the others are listed as left out.

Reference:
    J. Demšar (2006). Statistical comparisons of classifiers over multiple data sets. JMLR 7.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from merbench.evaluation.metrics import metric_direction

ALPHA = 0.05
MIN_DATASETS = 10
"""Datasets a comparison across pages needs before candidates are ranked over them. The
Friedman and Nemenyi tests treat each page as an independent sample; Demšar (2006) found them
usable from about 10 data sets, and the tasks of one dataset share its tracks, so they count as
one. With fewer, the index shows each page's tiers side by side instead."""


@dataclass(frozen=True, kw_only=True)
class RankComparison:
    """Mean ranks of the candidates common to several pages.

    Attributes:
        candidates: names, best (lowest) mean rank first.
        mean_ranks: their mean ranks, the same order.
        blocks: the ``(dataset, task)`` pages ranked over.
        critical_difference: Nemenyi's CD at ``ALPHA``.
        friedman_p: p-value of the Friedman test (``None`` with fewer than three candidates).
        groups: ``(first, last)`` index ranges of ``candidates`` not significantly different
            from one another (maximal, two or more candidates each).
        left_out: candidates missing from some pages, with the number of pages they are on.
    """

    candidates: tuple[str, ...]
    mean_ranks: tuple[float, ...]
    blocks: tuple[tuple[str, str], ...]
    critical_difference: float
    friedman_p: float | None
    groups: tuple[tuple[int, int], ...]
    left_out: tuple[tuple[str, int], ...]


def compare_ranks(summary: pd.DataFrame, min_datasets: int = MIN_DATASETS) -> RankComparison | None:
    """Rank candidates over every dataset x task page of ``summary``.

    Returns:
        ``None`` unless there are at least two pages from ``min_datasets`` datasets and two
        candidates finished on all of them.
    """
    if summary.empty or "status" not in summary:
        return None
    done = summary[(summary["status"] == "done")]
    scores: dict[tuple[str, str], pd.Series] = {}
    for (dataset, task), page in done.groupby(["dataset", "task"], sort=True):
        primary = str(page["primary"].iloc[0])
        values = page.set_index("candidate")[primary].astype(float).dropna()
        sign = -1.0 if metric_direction(primary) == "maximize" else 1.0
        scores[(str(dataset), str(task))] = sign * values
    if len(scores) < 2 or len({dataset for dataset, _ in scores}) < min_datasets:
        return None
    table = pd.DataFrame(scores)  # candidates x blocks, lower is better
    complete = table.dropna()
    if len(complete) < 2:
        return None
    ranks = complete.rank(axis=0, method="average")
    mean = ranks.mean(axis=1).sort_values(kind="stable")
    counts = table.notna().sum(axis=1)
    return _comparison(mean, complete, tuple(scores), counts[table.isna().any(axis=1)])


def _comparison(
    mean: pd.Series,
    complete: pd.DataFrame,
    blocks: tuple[tuple[str, str], ...],
    partial: pd.Series,
) -> RankComparison:
    k = len(mean)
    cd = nemenyi_cd(k, len(blocks))
    values = mean.to_numpy(dtype=float)
    return RankComparison(
        candidates=tuple(str(c) for c in mean.index),
        mean_ranks=tuple(float(v) for v in values),
        blocks=blocks,
        critical_difference=cd,
        friedman_p=friedman_p(complete.to_numpy(dtype=float)),
        groups=not_different(values, cd),
        left_out=tuple((str(c), int(n)) for c, n in sorted(partial.items())),
    )


def nemenyi_cd(k: int, n_blocks: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of mean ranks for ``k`` candidates over ``n_blocks``."""
    q = float(sps.studentized_range.ppf(1.0 - alpha, k, np.inf)) / math.sqrt(2.0)
    return q * math.sqrt(k * (k + 1) / (6.0 * n_blocks))


def friedman_p(scores: np.ndarray) -> float | None:
    """P-value of Friedman's test on ``[k, N]`` scores of ``k`` candidates over ``N`` blocks.

    ``scipy.stats.friedmanchisquare``, which ranks within each block and corrects the statistic
    for ties (without ties it is Demšar's ``12 N / (k (k + 1)) (sum R_j^2 - k (k + 1)^2 / 4)``).
    ``None`` with fewer than three candidates; ``1.0`` when every block ties every candidate
    (no evidence of a difference, where the tie correction would divide by zero).
    """
    if scores.shape[0] < 3:
        return None
    if all(np.ptp(scores[:, block]) == 0.0 for block in range(scores.shape[1])):
        return 1.0
    return float(sps.friedmanchisquare(*scores).pvalue)


def not_different(mean_ranks: np.ndarray, cd: float) -> tuple[tuple[int, int], ...]:
    """Maximal runs of sorted ``[k]`` mean ranks that span less than ``cd``."""
    groups: list[tuple[int, int]] = []
    for first in range(mean_ranks.size):
        last = first
        while last + 1 < mean_ranks.size and mean_ranks[last + 1] - mean_ranks[first] < cd:
            last += 1
        if last > first and not any(a <= first and last <= b for a, b in groups):
            groups.append((first, last))
    return tuple(groups)


def tiers_side_by_side(summary: pd.DataFrame) -> dict[str, object] | None:
    """Each candidate's rank and tier on every dataset x task page, for an index with too few
    datasets to rank across them: ``{"pages": [(dataset, task)], "rows": [{candidate, cells}]}``,
    ``None`` with fewer than two pages."""
    if summary.empty or "status" not in summary:
        return None
    done = summary[summary["status"] == "done"]
    pages = sorted({(str(d), str(t)) for d, t in zip(done["dataset"], done["task"], strict=True)})
    if len(pages) < 2:
        return None
    cells: dict[str, dict[tuple[str, str], str]] = {}
    for row in done.to_dict("records"):
        rank = "" if pd.isna(row.get("rank")) else f"{int(row['rank'])}, "
        page = (str(row["dataset"]), str(row["task"]))
        cells.setdefault(str(row["candidate"]), {})[page] = f"{rank}{row.get('tier') or ''}"
    rows = [{"candidate": c, "cells": [by.get(p, "") for p in pages]} for c, by in cells.items()]
    n_datasets = len({d for d, _ in pages})
    return {"pages": pages, "rows": sorted(rows, key=lambda r: str(r["candidate"])),
            "n_datasets": n_datasets, "min_datasets": MIN_DATASETS}  # fmt: skip
