"""Results as pandas tables: per-cell rows, and per-candidate summaries with statistics.

This is what the leaderboard, ``merbench status`` and the Python API (``load_results``) read.
Summaries give the mean and a 95 % confidence interval of each metric over outer folds, and the
significance tier of each candidate against the leader (corrected resampled t-test, Holm).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merbench.metrics import metric_direction, primary_metric
from merbench.protocols import protocol_columns, split_by_protocol, with_protocols
from merbench.stats import mean_ci, significance_tiers
from merbench.store import Store
from merbench.tasks import get_task
from merbench.urls import store_url

CELL_KEY = ["dataset", "task", "candidate", "repeat", "fold", "split"]


def read_tables(urls: Iterable[str]) -> dict[str, pd.DataFrame]:
    """Read and merge the cells, splits and runs of one or more stores."""
    merged: dict[str, list[pd.DataFrame]] = {"cells": [], "splits": [], "runs": [], "trials": []}
    for url in urls:
        store = Store(url)
        try:
            for name in merged:
                merged[name].append(pd.DataFrame(store.table(name)))
        finally:
            store.close()
    return {name: pd.concat(frames, ignore_index=True) for name, frames in merged.items()}


def cells_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: the key, status, error, timings and every scalar metric as columns."""
    if cells.empty:
        return pd.DataFrame(columns=[*CELL_KEY, "status"])
    rows = []
    for cell in with_protocols(cells).to_dict("records"):
        row = {k: cell[k] for k in [*CELL_KEY, "status", "error"]}
        metrics = cell.get("metrics") or {}
        row |= {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        row |= {f"time_{k}": v for k, v in (cell.get("timings") or {}).items()}
        info = cell.get("info") or {}
        row["n_params"] = info.get("n_params")
        row["is_baseline"] = bool(info.get("is_baseline", False))
        row["plugins"] = ", ".join(info.get("plugins", []))
        row["best_params"] = cell.get("best_params")
        rows.append(row)
    return pd.DataFrame(rows)


def load_results(run: str | Path) -> pd.DataFrame:
    """Load the per-cell results of an existing run directory (or store URL)."""
    return cells_frame(read_tables([store_url(run)])["cells"])


def summarize(cells: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, task and candidate: metrics (mean, CI), tier, rank, cost and failures.

    Candidates are ranked under each dataset and task's primary split protocol; the others
    (``--split grouped,random``) add their score and the leakage gap (``merbench.protocols``).
    """
    if cells.empty:
        return pd.DataFrame()
    primary, other = split_by_protocol(cells)
    parts = [
        _summarize_task(str(dataset), str(task), group)
        for (dataset, task), group in primary.groupby(["dataset", "task"], sort=True)
    ]
    return protocol_columns(pd.concat(parts, ignore_index=True), primary, other)


def _summarize_task(dataset: str, task: str, cells: pd.DataFrame) -> pd.DataFrame:
    done = cells[cells["status"] == "done"].copy()
    primary = primary_metric(task)
    rows = []
    if not done.empty:
        tiers = _tiers(done, primary)
        metrics = get_task(task).reported(done.columns, "files")
        for candidate, group in done.groupby("candidate", sort=False):
            row: dict[str, Any] = {"dataset": dataset, "task": task, "candidate": candidate}
            row |= tiers.get(str(candidate), {})
            for metric in [m for m in metrics if m in group]:
                mean, low, high = _ci(group[metric].to_numpy(dtype=float))
                row |= {metric: mean, f"{metric}_low": low, f"{metric}_high": high}
            row |= _costs(group)
            rows.append(row)
    for candidate, group in cells[cells["status"] != "done"].groupby("candidate"):
        if candidate in set(done["candidate"]):
            continue
        errors = group["error"].dropna()
        rows.append({"dataset": dataset, "task": task, "candidate": candidate,
                     "status": str(group["status"].iloc[0]),
                     "error": str(errors.iloc[0]) if len(errors) else ""})  # fmt: skip
    table = pd.DataFrame(rows)
    for column in ("rank", "status", "is_leader", "tier"):
        if column not in table:
            table[column] = None
    table["primary"] = primary
    return table.sort_values(["rank", "candidate"], na_position="last").reset_index(drop=True)


def _tiers(done: pd.DataFrame, primary: str) -> dict[str, dict[str, Any]]:
    scores = pd.DataFrame(
        {
            "candidate": done["candidate"],
            "fold": done["repeat"].astype(str) + "-" + done["fold"].astype(str),
            "value": done[primary].astype(float),
        }
    ).dropna()
    n_folds = max(int(done["fold"].max()) + 1, 2)
    table = significance_tiers(
        scores, metric_direction=metric_direction(primary), test_train_ratio=1 / (n_folds - 1)
    )
    out = {}
    for row in table.to_dict("records"):
        out[str(row["candidate"])] = {
            "status": "done",
            "rank": int(row["rank"]),
            "tier": row["tier"],
            "is_leader": bool(row["is_leader"]),
            "p_holm": row["p_holm"],
            "n_folds": int(row["n_folds"]),
        }
    return out


def _ci(values: np.ndarray) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return (np.nan, np.nan, np.nan)
    return mean_ci(values)


def _costs(group: pd.DataFrame) -> dict[str, Any]:
    def mean_of(column: str) -> float:
        return float(group[column].mean()) if column in group else np.nan

    return {
        "is_baseline": bool(group["is_baseline"].any()) if "is_baseline" in group else False,
        "plugins": str(group["plugins"].iloc[0]) if "plugins" in group else "",
        "n_params": mean_of("n_params"),
        "fit_s": mean_of("time_refit_s"),
        "tune_s": mean_of("time_tune_s"),
        "per_clip_ms": mean_of("time_per_clip_ms"),
    }


def leaders(summary: pd.DataFrame) -> pd.DataFrame:
    """The leader of every dataset and task."""
    if summary.empty or "is_leader" not in summary:
        return pd.DataFrame()
    return summary[summary["is_leader"].fillna(False).astype(bool)].reset_index(drop=True)


def metric_columns(summary: pd.DataFrame, task: str) -> Sequence[str]:
    """The metrics a leaderboard table shows for ``task`` (``MetricSpec.shown == "table"``)."""
    return get_task(task).reported(summary.columns, "table")
