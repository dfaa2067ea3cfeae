"""The page of one candidate on one dataset x task: folds, hyperparameters, tuning, predictions.

Per outer fold it shows the scores, costs and best hyperparameters; where the cells' time went
(``merbench.train.timing``); then the Optuna tuning curve of every fold, and predicted-against-true
scatter plots (regression), the confusion matrix summed over folds (classification) or the
scores of each tag (multilabel).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from merbench.evaluation.scoring import metric_label
from merbench.evaluation.tasks import TASK_SPECS
from merbench.leaderboard.collect import Collected
from merbench.leaderboard.dataset import dataset_metadata
from merbench.leaderboard.figures.folds import Series, scatter_plot, tuning_plot
from merbench.leaderboard.figures.studies import study_section
from merbench.leaderboard.figures.svg import Plot
from merbench.leaderboard.pages import (
    candidate_file,
    components,
    providers,
    split_candidate,
)
from merbench.leaderboard.tags import tag_rows
from merbench.leaderboard.values import is_missing, records, run_label
from merbench.train.timing import PHASES

MAX_POINTS = 2000
"""Scatter plots show at most this many predictions per target (a fixed random sample)."""


def candidate_pages(
    page: Mapping[str, Any], cells: pd.DataFrame, collected: Collected
) -> list[dict[str, Any]]:
    """One page per candidate of a dataset x task page (finished or not)."""
    rows = {r["candidate"]: r for r in page["rows"]}
    out = []
    for candidate in sorted(set(cells["candidate"])):
        mine = cells[cells["candidate"] == candidate].sort_values(["repeat", "fold"])
        out.append(_candidate_page(page, str(candidate), rows.get(candidate), mine, collected))
    return out


def _candidate_page(
    page: Mapping[str, Any],
    candidate: str,
    row: Mapping[str, Any] | None,
    cells: pd.DataFrame,
    collected: Collected,
) -> dict[str, Any]:
    model, frontends, augmentation = split_candidate(candidate)
    file = candidate_file(page["dataset"], page["task"], candidate)
    stem = file.removesuffix(".html")
    raw = collected.cells[collected.cells["uid"].isin(set(cells["uid"]))]
    info = [c.get("info") or {} for c in raw.to_dict("records")]
    uids = list(cells["uid"])
    folds = _folds(cells, raw)
    return {
        "candidate": candidate,
        "file": file,
        "stem": stem,
        "model": model,
        "frontends": frontends,
        "augmentation": augmentation,
        "row": row,
        "folds": folds,
        "params": _params(folds),
        "plugins": sorted({p for i in info for p in i.get("plugins", [])}),
        "devices": sorted({str(i["device"]) for i in info if i.get("device")}),
        "runs": sorted({run_label(collected.runs[int(i)]) for i in cells["run_index"]}),
        "components": components(candidate, providers(_runs(collected, cells))),
        "tuning": _tuning(collected.trials, uids, folds, stem, page["primary"]),
        "scatter": _scatter(collected, uids, folds, stem, page),
        "confusion": _confusion(raw, page["task"]),
        "tags": _tags(page["task"], candidate, row),
        "time": time_breakdown(raw),
        "study": study_section(collected.trials, raw, folds, stem, metric_label(page["primary"])),
        "default": _default_column(folds, page["primary"]),
    }


def _tags(task: str, candidate: str, row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The candidate's per-tag scores (multilabel tasks)."""
    rows = tag_rows(task, row)
    return {"candidates": [candidate], "rows": rows} if rows else None


def _default_column(folds: Sequence[Mapping[str, Any]], primary: str) -> str | None:
    """``default_<primary>`` when a fold reports its plugin-default configuration's score."""
    column = f"default_{primary}"
    return column if any(not is_missing(f.get(column)) for f in folds) else None


def time_breakdown(raw: pd.DataFrame) -> dict[str, Any] | None:
    """Seconds per phase (``merbench.train.timing``) summed over finished folds, with shares."""
    totals: dict[str, float] = {}
    n_folds = 0
    for timings, status in zip(raw["timings"], raw["status"], strict=True):
        if status != "done" or not isinstance(timings, Mapping):
            continue
        phases = {k[6:-2]: float(v) for k, v in timings.items() if k.startswith("phase_")}
        phases.pop("total", None)
        if not phases:
            continue
        n_folds += 1
        for name, seconds in phases.items():
            totals[name] = totals.get(name, 0.0) + seconds
    whole = sum(totals.values())
    if not n_folds or whole <= 0:
        return None
    order = [p for p in PHASES if p in totals] + sorted(set(totals) - set(PHASES))
    rows = [{"phase": p, "seconds": totals[p], "share": totals[p] / whole} for p in order]
    return {"rows": rows, "seconds": whole, "n_folds": n_folds}


def _runs(collected: Collected, cells: pd.DataFrame) -> list[dict[str, Any]]:
    return [collected.runs[i] for i in sorted({int(i) for i in cells["run_index"]})]


def _fold_label(repeat: Any, fold: Any, repeats: int) -> str:
    return f"repeat {repeat} fold {fold}" if repeats > 1 else f"fold {fold}"


def _folds(cells: pd.DataFrame, raw: pd.DataFrame) -> list[dict[str, Any]]:
    """Per-fold rows: the cell's scores and timings with its label and sizes from ``info``."""
    info = {uid: i or {} for uid, i in zip(raw["uid"], raw["info"], strict=True)}
    repeats = int(cells["repeat"].nunique())
    out = []
    for cell in records(cells):
        extra = info.get(cell["uid"], {})
        cell["label"] = _fold_label(cell["repeat"], cell["fold"], repeats)
        keys = ("n_train", "n_valid", "n_test", "device", "refit_epochs")
        cell |= {k: extra.get(k) for k in keys}
        out.append(cell)
    return out


def _params(folds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Best hyperparameters per fold: the union of names as columns, one row per fold."""
    per_fold = [
        (fold["label"], params)
        for fold in folds
        if isinstance(params := fold.get("best_params"), Mapping)
    ]
    names = sorted({str(k) for _, params in per_fold for k in params})
    rows = [
        {"label": label, "values": [params.get(n) for n in names]}
        for label, params in per_fold
        if params
    ]
    return {"names": names, "rows": rows}


def _tuning(
    trials: pd.DataFrame,
    uids: Sequence[str],
    folds: Sequence[Mapping[str, Any]],
    stem: str,
    primary: str,
) -> Plot | None:
    if trials.empty or "number" not in trials:
        return None
    mine = trials[trials["uid"].isin(set(uids))]
    if mine.empty or not any(bool(p) for p in mine["params"]):
        return None  # no search space: nothing was tuned
    series = []
    for fold in folds:
        rows = mine[(mine["uid"] == fold["uid"]) & mine["value"].notna()]
        complete = rows[rows["state"] == "complete"]
        pruned = rows[rows["state"] == "pruned"]
        series.append(
            Series(
                label=str(fold["label"]),
                points=_pairs(complete, "number", "value"),
                pruned=_pairs(pruned, "number", "value"),
            )
        )
    if not any(s.points or s.pruned for s in series):
        return None
    return tuning_plot(series, plot_id=f"tuning-{stem}", metric=metric_label(primary))


def _scatter(
    collected: Collected,
    uids: Sequence[str],
    folds: Sequence[Mapping[str, Any]],
    stem: str,
    page: Mapping[str, Any],
) -> list[Plot]:
    predictions = collected.predictions
    spec = TASK_SPECS.get(page["task"])
    if predictions.empty or spec is None or not spec.is_regression:
        return []
    mine = predictions[predictions["uid"].isin(set(uids))]
    scale = _label_scale(collected, page["dataset"])
    plots = []
    for target in spec.targets:
        rows = mine[mine["target"] == target]
        if rows.empty:
            continue
        note = ""
        if len(rows) > MAX_POINTS:
            note = f"{MAX_POINTS:,} of {len(rows):,} predictions (random sample)"
            rows = rows.sample(MAX_POINTS, random_state=0)
        series = [
            Series(
                label=str(fold["label"]),
                points=_pairs(rows[rows["uid"] == fold["uid"]], "y_true", "y_pred"),
            )
            for fold in folds
        ]
        plot_id = f"scatter-{target}-{stem}"
        plots.append(scatter_plot(series, plot_id=plot_id, target=target, scale=scale, note=note))
    return plots


def _pairs(rows: pd.DataFrame, x: str, y: str) -> tuple[tuple[float, float], ...]:
    return tuple(zip(rows[x].astype(float), rows[y].astype(float), strict=True))


def _label_scale(collected: Collected, dataset: str) -> tuple[float, float] | None:
    scale = dataset_metadata(collected.runs).get(dataset, {}).get("label_scale")
    return scale if isinstance(scale, tuple) else None


def _confusion(raw: pd.DataFrame, task: str) -> dict[str, Any] | None:
    """The confusion matrix summed over finished folds, with row shares for shading."""
    spec = TASK_SPECS.get(task)
    if spec is None or not spec.labels:
        return None
    labels, names = spec.labels, spec.class_names
    matrices = [
        np.asarray(m["confusion"], dtype=float)
        for m, status in zip(raw["metrics"], raw["status"], strict=True)
        if status == "done" and isinstance(m, Mapping) and "confusion" in m
    ]
    matrices = [m for m in matrices if m.shape == (len(labels), len(labels))]
    if not matrices:
        return None
    total = np.sum(matrices, axis=0)
    rows = []
    for i, label in enumerate(labels):
        support = total[i].sum()
        cells = [
            {
                "count": int(v),
                "share": v / support if support else 0.0,
                "level": min(5, math.ceil(5 * v / support)) if support else 0,
                "diagonal": i == j,
            }
            for j, v in enumerate(total[i])
        ]
        rows.append(
            {"label": names.get(label, str(label)), "support": int(support), "cells": cells}
        )
    return {
        "labels": [names.get(label, str(label)) for label in labels],
        "rows": rows,
        "n_folds": len(matrices),
        "accuracy": float(np.trace(total) / total.sum()) if total.sum() else math.nan,
    }
