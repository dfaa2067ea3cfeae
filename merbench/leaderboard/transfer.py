"""The transfer page (``transfer.html``): a matrix per task and candidate, trained on (rows) x
tested on (columns), and the songs each pair left out (``merbench.results.transfer``).

Transfer cells are kept off every other page: their pair is not a dataset, and their one fold
is not a cross-validation. ``separate`` splits them from the collected stores.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from merbench.evaluation.scoring import metric_label
from merbench.evaluation.transfer import TRANSFER, parse_pair
from merbench.leaderboard.collect import Collected
from merbench.leaderboard.values import is_missing
from merbench.results.summaries import cells_frame, predictions_frame
from merbench.results.transfer import is_transfer, transfer_matrix

FILE = "transfer.html"
SCORE_LABELS = {
    "ccc_mean": "CCC (mean)",
    "pearson_mean": "Pearson r (mean)",
    "r2_standardised_mean": "R² after standardising (mean)",
    "macro_f1": "macro-F1",
    "accuracy": "accuracy",
}
CHANCE = {"ccc_mean": 0.0, "pearson_mean": 0.0, "r2_standardised_mean": None}


def separate(collected: Collected) -> tuple[Collected, pd.DataFrame]:
    """The stores without their transfer cells, and the transfer matrix (empty without any)."""
    cells = collected.cells
    if cells.empty or not is_transfer(cells).any():
        return collected, pd.DataFrame()
    every = cells_frame(cells)
    for column in ("run_index", "uid"):
        every[column] = cells[column].to_numpy()
    audits = {k: dict(v.get("audit") or {}) for k, v in collected.splits.items()}
    matrix = transfer_matrix(every, predictions_frame(every, collected.predictions), audits)
    kept = cells[~is_transfer(cells).to_numpy()]
    uids = set(kept["uid"])

    def own(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["uid"].isin(uids)] if "uid" in frame else frame

    if "is_baseline" in every and len(matrix):
        flagged = every["is_baseline"].fillna(False).astype(bool)
        baselines = set(every.loc[flagged, "candidate"].astype(str))
        matrix = matrix.assign(is_baseline=matrix["candidate"].isin(baselines))
    regular = dataclasses.replace(
        collected,
        cells=kept.reset_index(drop=True),
        trials=own(collected.trials),
        predictions=own(collected.predictions),
        splits={k: v for k, v in collected.splits.items() if parse_pair(k[0]) is None},
        protocols=[p for p in collected.protocols if p["protocol"] != TRANSFER],
    )
    return regular, matrix


def transfer_page(matrix: pd.DataFrame, collected: Collected) -> dict[str, Any] | None:
    """What ``transfer.html`` shows, or ``None`` when the run has no transfer cells."""
    if matrix.empty:
        return None
    sections = [
        _section(str(task), str(candidate), rows)
        for (task, candidate), rows in matrix.groupby(["task", "candidate"], sort=True)
    ]
    sections.sort(key=lambda s: (s["task"], s["is_baseline"]))  # baselines after the models
    return {
        "file": FILE,
        "sections": sections,
        "pairs": _pairs(collected),
        "notes": _scale_notes(collected),
    }


def _section(task: str, candidate: str, rows: pd.DataFrame) -> dict[str, Any]:
    metric = str(rows["metric"].iloc[0])
    datasets = sorted(set(rows["source"]) | set(rows["target"]))
    entries: dict[tuple[str, str], dict[str, Any]] = {
        (str(r["source"]), str(r["target"])): {str(k): v for k, v in r.items()}
        for r in rows.to_dict("records")
    }
    scores = [s for s in SCORE_LABELS if s in rows and s != metric]
    grid = [
        {
            "source": source,
            "cells": [_cell(entries.get((source, target)), metric, scores) for target in datasets],
        }
        for source in datasets
    ]
    return {
        "task": task,
        "candidate": candidate,
        "metric": metric,
        "metric_label": SCORE_LABELS.get(metric, metric_label(metric)),
        "chance": _chance(metric, rows),
        "datasets": datasets,
        "grid": grid,
        "is_baseline": bool(rows["is_baseline"].any()) if "is_baseline" in rows else False,
        "id": f"{task}-{candidate}".replace("@", "-").replace(":", "-").replace("+", "-"),
    }


def _cell(entry: Mapping[str, Any] | None, metric: str, scores: list[str]) -> dict[str, Any] | None:
    if entry is None:
        return None
    value = _number(entry.get(metric))
    return {
        "value": value,
        "is_diagonal": bool(entry["is_diagonal"]),
        "tier": entry.get("tier"),
        "is_best": bool(entry.get("is_column_best")),
        "p_holm": _number(entry.get("p_holm")),
        "drop": _number(entry.get("drop")),
        "drop_low": _number(entry.get("drop_low")),
        "drop_high": _number(entry.get("drop_high")),
        "n_test": int(entry.get("n_test") or 0),
        "n_removed": int(_number(entry.get("n_removed")) or 0),
        "others": [(SCORE_LABELS[s], _number(entry.get(s))) for s in scores],
    }


def _chance(metric: str, rows: pd.DataFrame) -> str:
    if metric in CHANCE:
        return "0 (no agreement)"
    return "1 / number of classes for a guess at the class frequencies or below"


def _number(value: Any) -> float | None:
    if is_missing(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _pairs(collected: Collected) -> list[dict[str, Any]]:
    """Per pair and task: tracks trained and tested on, songs removed and how they were found."""
    out = []
    for (_, task), split in sorted(collected.splits.items()):
        audit = split.get("audit") or {}
        if audit.get("protocol") != TRANSFER:
            continue
        methods = list(dict(audit.get("removed", {})).values())
        out.append(
            {
                "source": audit.get("source"),
                "target": audit.get("target"),
                "task": task,
                "n_train": audit.get("n_train"),
                "n_test": audit.get("n_tracks"),
                "n_removed": audit.get("n_removed", 0),
                "by_metadata": methods.count("metadata"),
                "by_fingerprint": methods.count("fingerprint"),
                "fingerprints": bool(audit.get("fingerprints")),
                "examples": sorted(dict(audit.get("removed", {})))[:8],
            }
        )
    return out


def _scale_notes(collected: Collected) -> list[dict[str, Any]]:
    """Each dataset's label range, what maps onto the common range, and its quadrant boundary."""
    scales: dict[str, tuple[float, float]] = {}
    for split in collected.splits.values():
        audit = split.get("audit") or {}
        if audit.get("protocol") == TRANSFER:
            scales |= {k: (float(v[0]), float(v[1])) for k, v in audit.get("scales", {}).items()}
    return [
        {
            "dataset": name,
            "low": f"{low:g}",
            "high": f"{high:g}",
            "midpoint": f"{(low + high) / 2:g}",
        }
        for name, (low, high) in sorted(scales.items())
    ]
