"""The page of one dataset: its labels, counts, skipped tracks, and the folds of each task.

Citation, licence, homepage, version, summary, label scale and the published results the plugin
lists (``literature``) are read from the runs' ``provenance["datasets"][<name>]`` when a run
recorded them; a homepage is kept only when it is an ``http(s)`` address, so a plugin cannot plant
a ``javascript:`` link, and a published result's protocol outside the known ones reads ``unknown``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from merbench.leaderboard.collect import Collected
from merbench.leaderboard.figures.plots import label_plot
from merbench.leaderboard.figures.svg import Plot
from merbench.leaderboard.pages import dataset_file, task_file
from merbench.leaderboard.values import audit_items, records

TEXT_FIELDS = ("version", "summary", "citation", "license")
RESULT_TEXT_FIELDS = ("task", "metric", "model", "source", "note")
PROTOCOLS = ("grouped", "random", "official", "unknown")


def dataset_pages(pages: Sequence[dict[str, Any]], collected: Collected) -> list[dict[str, Any]]:
    """One page per dataset that has folds or results."""
    names = sorted({p["dataset"] for p in pages} | {d for d, _ in collected.splits})
    known = dataset_metadata(collected.runs)
    return [_dataset_page(n, pages, collected, known.get(n, {})) for n in names]


def _dataset_page(
    name: str, pages: Sequence[dict[str, Any]], collected: Collected, meta: dict[str, Any]
) -> dict[str, Any]:
    tasks = [p for p in pages if p["dataset"] == name]
    splits = [(t, s) for (d, t), s in sorted(collected.splits.items()) if d == name]
    first = splits[0][1]["audit"] if splits else {}
    skipped = collected.skipped[collected.skipped["dataset"] == name]
    labels = _labels(collected, name)
    return {
        "name": name,
        "file": dataset_file(name),
        "tasks": tasks,
        "splits": [_split_row(name, task, split, tasks) for task, split in splits],
        "n_tracks": first.get("n_tracks"),
        "n_groups": first.get("n_groups"),
        "skipped": records(skipped[["track_id", "reason"]]),
        "reasons": _reason_counts(skipped),
        "meta": meta,
        "label_range": _label_range(labels),
        "label_plot": _label_plot(labels, name, meta.get("label_scale")),
    }


def _split_row(
    dataset: str, task: str, split: Mapping[str, Any], pages: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    page = next((p for p in pages if p["task"] == task), None)
    audit = split.get("audit") or {}
    return {
        "task": task,
        "file": task_file(dataset, task) if page else None,
        "leader": page["leader"] if page else None,
        "primary": page["primary"] if page else None,
        "n_candidates": page["n_candidates"] if page else 0,
        "audit": audit,
        "items": dict(audit_items(audit)),
        "hash": str(split.get("hash") or ""),
    }


def _reason_counts(skipped: pd.DataFrame) -> list[tuple[str, int]]:
    counts = skipped["reason"].astype(str).value_counts()
    return [(str(reason), int(n)) for reason, n in counts.items()]


def dataset_metadata(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Dataset descriptions recorded in runs' ``provenance["datasets"]``, by dataset name."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        datasets = (run.get("provenance") or {}).get("datasets") or {}
        if not isinstance(datasets, Mapping):
            continue
        for name, meta in datasets.items():
            if isinstance(meta, Mapping):
                out.setdefault(str(name), {}).update(_clean_metadata(meta))
    return out


def _clean_metadata(meta: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in TEXT_FIELDS:
        value = meta.get(key)
        if isinstance(value, str | int | float) and str(value).strip():
            out[key] = str(value).strip()
    homepage = str(meta.get("homepage") or "").strip()
    if re.match(r"^https?://[^\s]+$", homepage, flags=re.IGNORECASE):
        out["homepage"] = homepage
    literature = _literature(meta.get("literature"))
    if literature:
        out["literature"] = literature
    scale = meta.get("label_scale")
    try:
        if isinstance(scale, Mapping):
            out["label_scale"] = (float(scale["low"]), float(scale["high"]))
        elif isinstance(scale, list | tuple) and len(scale) == 2:
            out["label_scale"] = (float(scale[0]), float(scale[1]))
    except (KeyError, TypeError, ValueError):
        pass  # an unreadable scale is left out, not guessed
    return out


def _literature(entries: object) -> list[dict[str, Any]]:
    """Published results as recorded, each field as text (the score a float or ``None``)."""
    if not isinstance(entries, list | tuple):
        return []
    out = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        row: dict[str, Any] = {k: str(entry.get(k) or "").strip() for k in RESULT_TEXT_FIELDS}
        protocol = str(entry.get("protocol") or "")
        row["protocol"] = protocol if protocol in PROTOCOLS else "unknown"
        score = entry.get("score")
        if isinstance(score, bool) or not isinstance(score, int | float):
            score = None
        row["score"] = None if score is None else float(score)
        out.append(row)
    return out


def _labels(collected: Collected, dataset: str) -> pd.DataFrame:
    """One row per track with its true ``arousal`` and ``valence`` (from stored predictions)."""
    predictions, cells = collected.predictions, collected.cells
    if predictions.empty or cells.empty:
        return pd.DataFrame(columns=["arousal", "valence"])
    uids = set(cells.loc[cells["dataset"] == dataset, "uid"])
    mine = predictions[
        predictions["uid"].isin(uids) & predictions["target"].isin(["arousal", "valence"])
    ]
    if mine.empty:
        return pd.DataFrame(columns=["arousal", "valence"])
    wide = mine.drop_duplicates(["track_id", "target"]).pivot(
        index="track_id", columns="target", values="y_true"
    )
    return wide.dropna()


def _label_range(labels: pd.DataFrame) -> list[dict[str, Any]]:
    if labels.empty:
        return []
    stats = labels.agg(["min", "mean", "max", "count"]).T.reset_index(names="target")
    return records(stats)


def _label_plot(
    labels: pd.DataFrame, dataset: str, scale: tuple[float, float] | None
) -> Plot | None:
    if labels.empty or not {"arousal", "valence"} <= set(labels.columns):
        return None
    points = tuple(
        zip(labels["valence"].astype(float), labels["arousal"].astype(float), strict=True)
    )
    return label_plot(
        points, plot_id=f"labels-{dataset_file(dataset).removesuffix('.html')}", scale=scale
    )
