"""Read one or more results stores and merge them into the tables a leaderboard site needs.

A cell is identified by ``(dataset, task, candidate, repeat, fold)``. When several stores hold
the same cell, the site keeps one copy: a finished (``done``) cell before a failed or unfinished
one, then the one finished last, then the one from the store named last. Every such choice is
recorded (``Collected.duplicates``) and written to ``provenance.json``, so a merged leaderboard
says which run each number came from. Store URLs are never copied into the site: they can hold
local paths or passwords.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from merbench.results.protocols import primary_protocol, split_by_protocol, with_protocols
from merbench.results.store import Store
from merbench.results.summaries import CELL_KEY, screen_scores

TABLES = ("runs", "splits", "cells", "trials", "predictions", "skipped_tracks")
"""The store tables the site reads."""


@dataclass(frozen=True, kw_only=True)
class Collected:
    """The merged contents of one or more stores.

    Attributes:
        runs: one dict per store (``index``, ``name``, ``created_at``, ``settings``,
            ``provenance``), in the order the stores were given.
        cells: the kept cells, the store's columns plus ``run_index`` and ``uid``
            (``"<run_index>:<cell id>"``, the key of ``trials`` and ``predictions``).
        trials: Optuna trials of the kept cells, with ``uid``.
        predictions: test-fold predictions of the kept cells, with ``uid``.
        splits: ``(dataset, task)`` -> ``{"hash", "audit", "run_index"}``, from the store most
            kept cells of that dataset and task came from.
        skipped: tracks left out of each dataset: ``dataset, track_id, reason``.
        duplicates: one record per cell found in more than one store: the key, ``kept`` and
            ``dropped`` (``run_index``, ``run``, ``status``, ``finished_at``).
        split_conflicts: ``{dataset, task, run_index}`` of every store with kept cells whose
            folds for that dataset and task differ from the chosen split's.
        protocols: every stored split, of every protocol and store: ``dataset``, ``task``,
            ``protocol``, ``hash``, ``audit`` (without the tracks' groups) and ``run_index``.
    """

    runs: list[dict[str, Any]]
    cells: pd.DataFrame
    trials: pd.DataFrame
    predictions: pd.DataFrame
    splits: dict[tuple[str, str], dict[str, Any]]
    skipped: pd.DataFrame
    duplicates: list[dict[str, Any]]
    split_conflicts: list[dict[str, Any]]
    protocols: list[dict[str, Any]] = field(default_factory=list)


def collect(urls: Sequence[str]) -> Collected:
    """Read every store in ``urls`` (repeats ignored) and merge them."""
    raw: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    runs: list[dict[str, Any]] = []
    for index, url in enumerate(dict.fromkeys(urls)):
        tables = _read_store(url)
        runs.append(_run_record(index, tables["runs"]))
        for name, frame in tables.items():
            if frame.empty:
                continue
            frame = frame.assign(run_index=index)
            if name in ("cells", "trials", "predictions"):
                ids = frame["id" if name == "cells" else "cell_id"]
                frame["uid"] = [f"{index}:{i}" for i in ids]
            raw[name].append(frame)
    merged = {name: _concat(frames) for name, frames in raw.items()}
    cells, duplicates = _dedupe(merged["cells"], runs)
    kept = set(cells["uid"]) if "uid" in cells else set()
    splits, conflicts = _merge_splits(merged["splits"], cells)
    return Collected(
        runs=runs,
        cells=cells,
        trials=_keep(merged["trials"], kept),
        predictions=_keep(merged["predictions"], kept),
        splits=splits,
        skipped=_skipped(merged["skipped_tracks"]),
        duplicates=duplicates,
        split_conflicts=conflicts,
        protocols=_protocols(merged["splits"]),
    )


def _read_store(url: str) -> dict[str, pd.DataFrame]:
    store = Store(url, read_only=True)
    try:
        tables = {name: pd.DataFrame(store.table(name)) for name in TABLES}
    finally:
        store.close()
    tables["cells"] = screen_scores(tables["cells"])
    return tables


def _run_record(index: int, runs: pd.DataFrame) -> dict[str, Any]:
    first = runs.to_dict("records")[0] if len(runs) else {}
    return {
        "index": index,
        "name": str(first.get("name", f"run {index + 1}")),
        "created_at": first.get("created_at"),
        "settings": first.get("settings") or {},
        "provenance": first.get("provenance") or {},
    }


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _keep(frame: pd.DataFrame, uids: set[str]) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=["uid"])
    return frame[frame["uid"].isin(uids)].reset_index(drop=True)


def _dedupe(
    cells: pd.DataFrame, runs: list[dict[str, Any]]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Keep one row per cell key: done first, then latest ``finished_at``, then last store."""
    if cells.empty:
        return pd.DataFrame(columns=[*CELL_KEY, "status", "uid", "run_index"]), []
    order = cells.assign(
        _done=(cells["status"] == "done").astype(int),
        _finished=cells["finished_at"].fillna("").astype(str),
    ).sort_values(["_done", "_finished", "run_index"], kind="stable")
    duplicates = []
    for key, group in order.groupby(CELL_KEY, sort=True):
        if len(group) > 1:
            entries = [_origin(row, runs) for row in group.to_dict("records")]
            record = dict(zip(CELL_KEY, key, strict=True))
            duplicates.append(record | {"kept": entries[-1], "dropped": entries[-2::-1]})
    kept = order.drop_duplicates(CELL_KEY, keep="last").drop(columns=["_done", "_finished"])
    return kept.sort_values([*CELL_KEY]).reset_index(drop=True), duplicates


def _origin(row: Mapping[Any, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    index = int(row["run_index"])
    return {
        "run_index": index,
        "run": runs[index]["name"],
        "status": row["status"],
        "finished_at": row.get("finished_at"),
    }


def _merge_splits(
    splits: pd.DataFrame, cells: pd.DataFrame
) -> tuple[dict[tuple[str, str], dict[str, Any]], list[dict[str, Any]]]:
    """One split per (dataset, task): of its primary protocol, from the store most of the kept
    cells came from.

    A store whose folds differ from it and whose cells are on the page is a conflict: those
    cells were not scored on the same folds, so paired comparisons with them are not valid.
    """
    if splits.empty:
        return {}, []
    splits = splits.assign(
        protocol=with_protocols(splits.rename(columns={"protocol": "split"}))["split"]
    )
    primary = splits.groupby(["dataset", "task"])["protocol"].transform(
        lambda s: primary_protocol(s.tolist())
    )
    splits = splits[splits["protocol"] == primary]
    cells, _ = split_by_protocol(cells) if len(cells) else (cells, cells)
    counts = cells.groupby(["dataset", "task", "run_index"]).size() if len(cells) else None
    out: dict[tuple[str, str], dict[str, Any]] = {}
    conflicts = []
    for (dataset, task), group in splits.groupby(["dataset", "task"], sort=True):
        rows = group.to_dict("records")
        votes = [
            int(counts.get((dataset, task, r["run_index"]), 0)) if counts is not None else 0
            for r in rows
        ]
        chosen = rows[max(range(len(rows)), key=lambda i: (votes[i], rows[i]["run_index"]))]
        key = (str(dataset), str(task))
        out[key] = {k: chosen[k] for k in ("hash", "audit", "run_index")}
        out[key]["audit"] = chosen["audit"] or {}
        conflicts += [
            {"dataset": key[0], "task": key[1], "run_index": int(r["run_index"])}
            for r, n in zip(rows, votes, strict=True)
            if r["hash"] != chosen["hash"] and n > 0  # its cells are on the page
        ]
    return out, conflicts


def _protocols(splits: pd.DataFrame) -> list[dict[str, Any]]:
    """Every stored split's identity, hash and audit figures (``Collected.protocols``)."""
    if splits.empty:
        return []
    rows = with_protocols(splits.rename(columns={"protocol": "split"})).to_dict("records")
    return [
        {
            "dataset": str(r["dataset"]),
            "task": str(r["task"]),
            "protocol": str(r["split"]),
            "hash": r["hash"],
            "audit": {k: v for k, v in (r["audit"] or {}).items() if k != "groups"},
            "run_index": int(r["run_index"]),
        }
        for r in rows
    ]


def _skipped(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["dataset", "track_id", "reason"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    return frame[columns].drop_duplicates(["dataset", "track_id"]).reset_index(drop=True)
