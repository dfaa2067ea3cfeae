"""Render results stores into a static leaderboard site (Jinja, no server, no CDN).

The site is written beside the data it was rendered from: ``results.csv`` and ``results.json``
(per-candidate summaries and per-cell rows) and ``provenance.json``. Templates autoescape
everything and fail on undefined names, so names chosen by third-party plugins render as text.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from merbench import __version__
from merbench.results import cells_frame, metric_columns, read_tables, summarize

RESULTS_SCHEMA = 1
MISSING = "\N{EN DASH}"
METRIC_LABELS = {
    "r2_mean": "R² (mean)", "ccc_mean": "CCC (mean)", "pearson_mean": "Pearson r (mean)",
    "rmse_mean": "RMSE (mean)", "r2_arousal": "R² arousal", "r2_valence": "R² valence",
    "ccc_arousal": "CCC arousal", "ccc_valence": "CCC valence", "rmse_arousal": "RMSE arousal",
    "rmse_valence": "RMSE valence", "macro_f1": "Macro-F1", "balanced_accuracy": "Balanced acc.",
    "accuracy": "Accuracy", "majority_chance": "Majority-class acc.",
}  # fmt: skip


def environment() -> Environment:
    """The Jinja environment: autoescaped, strict about undefined names."""
    env = Environment(
        loader=PackageLoader("merbench.leaderboard"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["metric"] = _format_metric
    env.filters["seconds"] = _format_seconds
    env.filters["count"] = _format_count
    return env


def _format_metric(value: Any) -> str:
    if _missing(value):
        return MISSING
    rounded = round(float(value), 3)
    return f"{rounded + 0.0 if rounded else 0.0:.3f}"  # never "-0.000"


def _format_seconds(value: Any) -> str:
    if _missing(value):
        return MISSING
    value = float(value)
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _format_count(value: Any) -> str:
    if _missing(value):
        return MISSING
    value = float(value)
    return (
        f"{value / 1e6:.2f} M"
        if value >= 1e6
        else f"{value / 1e3:.1f} k"
        if value >= 1e4
        else f"{value:.0f}"
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def slug(*parts: str) -> str:
    """A file-name-safe slug of dataset and task names."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-") or "page"


def render_site(urls: Sequence[str], out: Path, *, title: str = "merbench leaderboard") -> Path:
    """Render the site of one or more results stores into ``out``; return the index path."""
    tables = read_tables(urls)
    cells = cells_frame(tables["cells"])
    summary = summarize(cells)
    provenance = _records(tables["runs"])
    audits = {(r["dataset"], r["task"]): r["audit"] for r in _records(tables["splits"])}
    out.mkdir(parents=True, exist_ok=True)
    env = environment()
    pages = _task_pages(summary, audits)
    common = {"title": title, "version": __version__, "runs": provenance, "labels": METRIC_LABELS}
    for page in pages:
        html = env.get_template("task.html").render(page=page, **common)
        (out / page["file"]).write_text(html, encoding="utf-8")
    index = out / "index.html"
    index.write_text(env.get_template("index.html").render(pages=pages, **common), encoding="utf-8")
    _write_data(out, summary, cells, provenance)
    for asset in ("style.css", "sort.js"):
        shutil.copyfile(Path(__file__).parent / "static" / asset, out / asset)
    return index


def _task_pages(summary: pd.DataFrame, audits: dict[tuple[str, str], Any]) -> list[dict[str, Any]]:
    if summary.empty:
        return []
    pages = []
    for (dataset, task), group in summary.groupby(["dataset", "task"], sort=True):
        rows = _records(group)
        leader = next((r for r in rows if r.get("is_leader")), None)
        pages.append(
            {
                "dataset": dataset,
                "task": task,
                "file": slug(str(dataset), str(task)) + ".html",
                "primary": str(group["primary"].iloc[0]),
                "metrics": list(metric_columns(group, str(task))),
                "rows": [r for r in rows if r.get("status") == "done"],
                "failed": [r for r in rows if r.get("status") != "done"],
                "leader": leader,
                "audit": audits.get((str(dataset), str(task)), {}),
            }
        )
    return pages


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as plain dicts with NaN turned into None (templates and JSON)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [{str(k): v for k, v in r.items()} for r in clean.to_dict("records")]


def _write_data(
    out: Path, summary: pd.DataFrame, cells: pd.DataFrame, provenance: list[dict[str, Any]]
) -> None:
    summary.to_csv(out / "results.csv", index=False)
    payload = {
        "schema": RESULTS_SCHEMA,
        "merbench": __version__,
        "summary": _records(summary),
        "cells": _records(cells),
    }
    (out / "results.json").write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    (out / "provenance.json").write_text(
        json.dumps(provenance, indent=1, default=str), encoding="utf-8"
    )
