"""Render results stores into a static leaderboard site (Jinja, no server, no CDN).

The site has an index (every dataset x task with its leader, and the mean ranks of candidates
across them), one page per dataset, per dataset x task and per candidate on it, and SVG plots
drawn at build time (``plots/``, also inlined in the pages). It is written beside the data it was
rendered from: ``results.csv`` and ``results.json`` (schema in ``docs/leaderboard.md``) and
``provenance.json``. Templates autoescape everything and fail on undefined names, so names and
messages from third-party plugins render as text.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from merbench.csvfiles import write_csv
from merbench.evaluation.scoring import metric_label
from merbench.evaluation.transfer import TRANSFER
from merbench.leaderboard.candidate import candidate_pages
from merbench.leaderboard.collect import Collected, collect
from merbench.leaderboard.dataset import dataset_pages
from merbench.leaderboard.figures.plots import rank_plot
from merbench.leaderboard.figures.svg import Plot
from merbench.leaderboard.leakage import protocol_table
from merbench.leaderboard.methods import write_methods
from merbench.leaderboard.pages import (
    METRIC_LABELS,
    index_rows,
    slug,
    split_candidate,
    task_pages,
)
from merbench.leaderboard.ranks import RankComparison, compare_ranks, tiers_side_by_side
from merbench.leaderboard.sitefiles import staged
from merbench.leaderboard.transfer import separate, transfer_page
from merbench.leaderboard.values import as_float, is_missing, records
from merbench.results.protocols import split_by_protocol
from merbench.results.run_result import summaries_by_split
from merbench.results.summaries import cells_frame, predictions_frame, split_groups, summarize
from merbench.version import __version__

__all__ = ["METRIC_LABELS", "RESULTS_SCHEMA", "environment", "render_site", "slug"]

RESULTS_SCHEMA = 1
"""Version of ``results.json`` and ``provenance.json``; bumped when a field changes meaning or
disappears (new fields keep it)."""
MISSING = "\N{EN DASH}"
STATIC = ("style.css", "sort.js")


def environment() -> Environment:
    """The Jinja environment: autoescaped, strict about undefined names."""
    env = Environment(
        loader=PackageLoader("merbench.leaderboard"),
        autoescape=select_autoescape(["html", "svg"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["metric"] = _format_metric
    env.filters["seconds"] = _format_seconds
    env.filters["count"] = _format_count
    env.filters["clip_ms"] = _format_clip_ms
    env.filters["param"] = _format_param
    env.filters["label"] = metric_label
    env.filters["half"] = _half_width
    env.filters["breakable"] = _breakable
    return env


def _breakable(name: Any) -> Markup:
    """A candidate name, escaped, that may wrap after its ``@``, ``+`` and ``:`` separators.

    Each piece is an inline block: a line can break between them where ``white-space`` allows
    (in print), never on screen, where ``td.name`` is ``nowrap`` (Chromium breaks at ``<wbr>``
    even then).
    """
    parts = [p for p in re.split(r"(?<=[@+:])", str(name)) if p]
    return Markup("").join(Markup('<span class="part">%s</span>') % part for part in parts)


def _format_metric(value: Any) -> str:
    if is_missing(value):
        return MISSING
    rounded = round(float(value), 3)
    text = f"{rounded + 0.0 if rounded else 0.0:.3f}"  # never "-0.000"
    return text.replace("-", "\N{MINUS SIGN}")


def _format_seconds(value: Any) -> str:
    if is_missing(value):
        return MISSING
    value = float(value)
    if value < 1:
        return f"{value * 1000:.0f} ms" if value >= 0.0005 else "< 1 ms"
    return f"{value:.1f} s" if value < 600 else f"{value / 60:.0f} min"


def _format_clip_ms(value: Any) -> str:
    if is_missing(value):
        return MISSING
    value = float(value)
    return f"{value:.2f} ms" if value >= 0.01 else "< 0.01 ms"


def _format_count(value: Any) -> str:
    if is_missing(value):
        return MISSING
    value = float(value)
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    return f"{value / 1e3:.1f} k" if value >= 1e4 else f"{value:.0f}"


def _half_width(row: Mapping[str, Any], metric: str) -> str:
    """``± half-width`` of a row's 95 % interval of ``metric``; an interval cut at the metric's
    range is no longer symmetric, and shows its ends, ``[low, high]``."""
    low, high = as_float(row.get(f"{metric}_low")), as_float(row.get(f"{metric}_high"))
    mean = as_float(row.get(metric))
    if low is None or high is None or mean is None:
        return f"± {MISSING}"
    if abs((high - mean) - (mean - low)) > 5e-4:
        return f"[{_format_metric(low)}, {_format_metric(high)}]"
    return f"± {(high - low) / 2:.3f}"


def _format_param(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str | int | bool):
        return str(value)
    return json.dumps(value, default=str)


def render_site(urls: Sequence[str], out: Path, *, title: str = "merbench leaderboard") -> Path:
    """Render the site of one or more results stores into ``out``; return the index path.

    Stores merge: a cell found in several keeps its finished, most recent copy, and
    ``provenance.json`` lists every such choice. Rendering into a site folder again removes the
    files merbench wrote there before and not this time (``leaderboard.sitefiles``).
    """
    with staged(out) as staging:
        _render(urls, staging, title)
    return out / "index.html"


def _render(urls: Sequence[str], out: Path, title: str) -> None:
    """Write every file of the site into ``out``."""
    everything = collect(urls)
    collected, matrix = separate(everything)  # transfer cells have a page of their own
    transfer = transfer_page(matrix, everything)
    every = _cells(collected)
    groups = split_groups((d, s["audit"]) for (d, _), s in collected.splits.items())
    summary = summarize(every, predictions_frame(collected.cells, collected.predictions), groups)
    cells, _ = split_by_protocol(every)  # pages rank under each task's primary protocol
    pages = task_pages(summary, cells, collected)
    for page in pages:
        page["split_protocols"] = protocol_table(summary, page)
    datasets = dataset_pages(pages, collected)
    ranks = compare_ranks(summary)
    out.mkdir(parents=True, exist_ok=True)
    env = environment()
    common = {"title": title, "version": __version__, "runs": collected.runs}
    for page in pages:
        _write_task(env, out, page, cells, collected, common)
    for dataset in datasets:
        html = env.get_template("dataset.html").render(dataset=dataset, **common)
        _write(out, dataset["file"], html)
        _write_plot(env, out, dataset["label_plot"])
    rank_figure = rank_plot(ranks, plot_id="ranks") if ranks else None
    _write_plot(env, out, rank_figure)
    index = env.get_template("index.html").render(
        rows=index_rows(pages), datasets=datasets, ranks=ranks, rank_plot=rank_figure,
        side_by_side=None if ranks else tiers_side_by_side(summary), collected=collected,
        transfer=transfer, **common,
    )  # fmt: skip
    _write(out, "index.html", index)
    if transfer is not None:
        _write(
            out, transfer["file"], env.get_template("transfer.html").render(page=transfer, **common)
        )
    by_split = summaries_by_split(summary, every, groups)
    _write_data(out, by_split, every, collected, pages, ranks, matrix)
    write_methods(out, pages, collected, ranks, title=title, version=__version__)
    for asset in STATIC:
        shutil.copyfile(Path(__file__).parent / "static" / asset, out / asset)


def _write_task(
    env: Environment,
    out: Path,
    page: dict[str, Any],
    cells: pd.DataFrame,
    collected: Collected,
    common: dict[str, Any],
) -> None:
    """Write a dataset x task page, its candidates' pages and their plots."""
    _write(out, page["file"], env.get_template("task.html").render(page=page, **common))
    _write_plot(env, out, page["plot"])
    mine = cells[(cells["dataset"] == page["dataset"]) & (cells["task"] == page["task"])]
    for candidate in candidate_pages(page, mine, collected):
        html = env.get_template("candidate.html").render(page=page, c=candidate, **common)
        _write(out, candidate["file"], html)
        study = candidate["study"] or {}
        for plot in [candidate["tuning"], *candidate["scatter"], study.get("importance")]:
            _write_plot(env, out, plot)
        for plot in study.get("params", []):
            _write_plot(env, out, plot)


def _cells(collected: Collected) -> pd.DataFrame:
    """``results.cells_frame`` of the kept cells, with ``run_index`` and ``uid`` beside."""
    frame = cells_frame(collected.cells)
    for column in ("run_index", "uid"):
        frame[column] = collected.cells[column].to_numpy() if len(frame) else []
    return frame


def _write(out: Path, name: str, content: str) -> None:
    path = out / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def _write_plot(env: Environment, out: Path, plot: Plot | None) -> None:
    """Write ``plot`` as a standalone ``plots/<id>.svg``, from the macro the pages inline."""
    if plot is not None:
        svg = env.get_template("_svg.html").module.svg(plot)  # type: ignore[attr-defined]
        _write(out, f"plots/{plot.id}.svg", f'<?xml version="1.0" encoding="UTF-8"?>\n{svg}')


def _write_data(
    out: Path,
    by_split: pd.DataFrame,
    cells: pd.DataFrame,
    collected: Collected,
    pages: Sequence[Mapping[str, Any]],
    ranks: RankComparison | None,
    matrix: pd.DataFrame,
) -> None:
    files = pd.concat([_summary_columns(by_split), _transfer_rows(matrix)], ignore_index=True)
    write_csv(files, out / "results.csv")
    protocols = list(dict.fromkeys(files["split"])) if "split" in files else []
    per_split = {p: records(files[files["split"] == p]) for p in protocols}
    primary = files[files["is_primary_split"].astype(bool)] if len(files) else files
    run_names = {r["index"]: r["name"] for r in collected.runs}
    cell_rows = cells.drop(columns=["uid"]).assign(run=cells["run_index"].map(run_names))
    payload = {
        "schema": RESULTS_SCHEMA,
        "merbench": __version__,
        "pages": [_page_record(p) for p in pages],
        "summary": records(primary),
        "summary_by_split": per_split,
        "cells": records(cell_rows),
        "rank_comparison": _rank_record(ranks),
        "skipped_tracks": records(collected.skipped),
        **({"transfer": records(matrix)} if len(matrix) else {}),  # --split transfer only
    }
    _write(out, "results.json", _dumps(payload))
    provenance = {
        "schema": RESULTS_SCHEMA,
        "merbench": __version__,
        "runs": collected.runs,
        "merge": {
            "stores": len(collected.runs),
            "rule": "per cell: done before other statuses, then latest finished_at, then the "
            "store named last",
            "duplicates": collected.duplicates,
            "split_conflicts": collected.split_conflicts,
        },
    }
    _write(out, "provenance.json", _dumps(provenance))


def _summary_columns(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with the candidate's parts beside its name (``results.csv``)."""
    if summary.empty:
        return summary
    parts = [split_candidate(str(c)) for c in summary["candidate"]]
    keys = [c for c in ("dataset", "task", "split", "candidate") if c in summary]
    front = summary[keys].assign(
        model=[p[0] for p in parts],
        frontends=[p[1] for p in parts],
        augmentation=[p[2] for p in parts],
    )
    rest = summary.drop(columns=keys)
    for column in ("rank", "n_folds"):
        if column in rest:
            rest[column] = rest[column].astype("Int64")  # whole numbers, even beside failures
    return pd.concat([front, rest], axis=1)


def _transfer_rows(matrix: pd.DataFrame) -> pd.DataFrame:
    """The off-diagonal entries of the transfer matrix as ``results.csv`` rows: the pair as
    dataset (``source>target``), ``transfer`` as split (the diagonal is in the grouped rows)."""
    if matrix.empty:
        return matrix
    rows = matrix[~matrix["is_diagonal"].astype(bool)].drop(columns=["is_diagonal"])
    rows = rows.assign(
        dataset=rows["source"] + ">" + rows["target"], split=TRANSFER, is_primary_split=False
    )
    front = ["dataset", "task", "split", "candidate"]
    return _summary_columns(rows[front + [c for c in rows.columns if c not in front]])


def _page_record(page: Mapping[str, Any]) -> dict[str, Any]:
    leader = page["leader"]
    return {
        "dataset": page["dataset"],
        "task": page["task"],
        "file": page["file"],
        "primary": page["primary"],
        "higher_is_better": page["higher_is_better"],
        "leader": leader["candidate"] if leader else None,
        "n_candidates": page["n_candidates"],
        "split_hash": page["split_hash"],
        "audit": page["audit"],
    }


def _rank_record(ranks: RankComparison | None) -> dict[str, Any] | None:
    if ranks is None:
        return None
    return {
        "candidates": [
            {"candidate": c, "mean_rank": r}
            for c, r in zip(ranks.candidates, ranks.mean_ranks, strict=True)
        ],
        "pages": [{"dataset": d, "task": t} for d, t in ranks.blocks],
        "critical_difference": ranks.critical_difference,
        "friedman_p": ranks.friedman_p,
        "groups": [list(ranks.candidates[a : b + 1]) for a, b in ranks.groups],
        "left_out": [{"candidate": c, "pages": n} for c, n in ranks.left_out],
    }


def _dumps(payload: Any) -> str:
    return json.dumps(_plain(payload), indent=1, allow_nan=False) + "\n"


def _plain(value: Any) -> Any:
    """JSON-ready values: numpy scalars as Python ones, NaN and infinities as ``null``."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
