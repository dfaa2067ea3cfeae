"""A run's results as one record: what ``merbench.run()`` and ``merbench.load_results()`` return.

``read_run`` reads a store once: its per-cell rows (``cells_frame``), its per-track test
predictions (``predictions_frame``) and, per split protocol, the summary rows of
``summaries_by_split``: the rows ``results.csv`` and ``results.json`` hold, so every output
ranks the same candidates under the same protocol. Candidates are ranked under each dataset and
task's primary protocol only (``merbench.results.protocols``); another protocol's rows give its
metrics and leave the ranking columns empty.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from merbench.evaluation.transfer import TRANSFER
from merbench.results.protocols import PRECEDENCE, split_by_protocol, with_protocols
from merbench.results.schema import DEFAULT_SPLIT
from merbench.results.summaries import (
    TIER_FIELDS,
    TrackGroups,
    cells_frame,
    predictions_frame,
    read_tables,
    split_groups,
    summarize,
)
from merbench.results.transfer import transfer_matrix
from merbench.results.urls import display_url, sqlite_path

RANKING = ("rank", "tier", "is_leader", "p_holm", "boot_groups", *TIER_FIELDS)
"""Columns that rank candidates: filled under the primary protocol only."""


@dataclass(frozen=True, kw_only=True, repr=False)
class RunResult:
    """The results of one run (or of every run in one store).

    Item and attribute access other than the fields below reach ``cells`` (or ``plan``, for a
    ``plan=True`` run) with a ``DeprecationWarning``: ``merbench.run()`` returned that table
    before it returned this record.
    """

    name: str
    """The run's name (names joined by ``+`` when a store holds several runs)."""
    store_url: str
    """The results store's SQLAlchemy URL."""
    run_dir: Path | None = None
    """The run directory (its store, its log); ``None`` for a store given by URL only."""
    site: Path | None = None
    """The leaderboard's index page; ``None`` when no site was rendered."""
    summaries: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    """Per split protocol (``grouped``, ``random``, ``official``): one row per dataset, task and
    candidate, metrics with their 95 % confidence intervals; ranked (``rank``, ``tier``) where
    the protocol is its dataset and task's primary one (``is_primary_split``), else with the
    ranking columns empty, as in ``results.csv`` (``summaries_by_split``). Under ``transfer``:
    the transfer matrix (``merbench.results.transfer.transfer_matrix``)."""
    cells: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per cell (dataset, task, candidate, repeat, fold, split): status and metrics."""
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per test track, target and cell: the cell's key, ``track_id``, ``target``,
    ``y_true``, ``y_pred``."""
    plan: pd.DataFrame | None = None
    """With ``merbench.run(plan=True)``: one row per candidate with its estimated cost, and
    ``attrs["wall_s"]``; nothing ran, and the other tables are empty."""

    @property
    def summary(self) -> pd.DataFrame:
        """The ranked rows: every dataset and task under its primary protocol (grouped, else
        official, else random), as ``results.json``'s ``summary``."""
        ranked = [
            t[t["is_primary_split"].astype(bool)]
            for protocol, t in self.summaries.items()
            if protocol != TRANSFER  # a matrix, not ranked rows
        ]
        if not ranked:
            return pd.DataFrame()
        return pd.concat(ranked, ignore_index=True)

    def __repr__(self) -> str:
        if self.plan is not None:
            return f"RunResult({self.name!r}, plan of {len(self.plan)} candidate(s))"
        statuses: dict[str, int] = {}
        if "status" in self.cells:
            statuses = {str(k): int(v) for k, v in self.cells["status"].value_counts().items()}
        counts = ", ".join(f"{n} {status}" for status, n in statuses.items())
        protocols = ", ".join(self.summaries) or "none"
        where = self.run_dir if self.run_dir is not None else display_url(self.store_url)
        return (
            f"RunResult({self.name!r}, {len(self.cells)} cells ({counts or 'none'}), "
            f"protocols: {protocols}, at {str(where)!r})"
        )

    def _table(self, what: str) -> pd.DataFrame:
        warnings.warn(
            f"RunResult{what}: use RunResult.cells (the per-cell table merbench.run() used to "
            "return), .summaries or .predictions.",
            DeprecationWarning,
            stacklevel=3,
        )
        return self.plan if self.plan is not None else self.cells

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy, pickle and dataclass machinery look these up
            raise AttributeError(name)
        return getattr(self._table(f".{name}"), name)

    def __getitem__(self, key: Any) -> Any:
        return self._table(f"[{key!r}]")[key]


def read_run(url: str, *, run_dir: Path | None = None, site: Path | None = None) -> RunResult:
    """Read a store's results into a ``RunResult``.

    Args:
        url: the store's SQLAlchemy URL.
        run_dir: the run directory, when known (else the SQLite store's folder).
        site: the leaderboard's index page, when one was rendered.
    """
    tables = read_tables([url], names=("cells", "splits", "predictions", "runs"))
    stored, splits = tables["cells"], tables["splits"]
    cells = cells_frame(stored)
    predictions = predictions_frame(stored, tables["predictions"])
    pairs = zip(splits.get("dataset", []), splits.get("audit", []), strict=True)
    groups = split_groups(pairs)
    summaries: dict[str, pd.DataFrame] = {}
    if not cells.empty:
        cells = with_protocols(cells)
        summary = summarize(cells, predictions if len(predictions) else None, groups)
        by_split = summaries_by_split(summary, cells, groups)
        for protocol in sorted(set(by_split["split"]), key=_protocol_order):
            rows = by_split[by_split["split"] == protocol]
            summaries[protocol] = rows.reset_index(drop=True)
        if (cells["split"] == TRANSFER).any():  # the matrix, diagonal from the grouped cells
            summaries[TRANSFER] = transfer_matrix(cells, predictions, _audits(splits))
    names = list(dict.fromkeys(str(n) for n in tables["runs"].get("name", [])))
    database = sqlite_path(url)
    return RunResult(
        name="+".join(names),
        store_url=url,
        run_dir=run_dir or (database.parent if database is not None else None),
        site=site,
        summaries=summaries,
        cells=cells,
        predictions=predictions,
    )


def read_transfer(url: str) -> pd.DataFrame:
    """The transfer matrix of a store (``transfer_matrix``); empty, with only its cells read,
    when the store has no transfer cells."""
    stored = read_tables([url], names=("cells",))["cells"]
    cells = cells_frame(stored)
    if cells.empty or not (with_protocols(cells)["split"] == TRANSFER).any():
        return pd.DataFrame()
    tables = read_tables([url], names=("splits", "predictions"))
    predictions = predictions_frame(stored, tables["predictions"])
    return transfer_matrix(cells, predictions, _audits(tables["splits"]))


def _audits(splits: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    """The transfer pairs' split audits and the grouped ones of the datasets (the diagonal)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in splits.to_dict("records"):
        if (row.get("protocol") or DEFAULT_SPLIT) in (TRANSFER, DEFAULT_SPLIT):
            out[(str(row["dataset"]), str(row["task"]))] = dict(row.get("audit") or {})
    return out


def _protocol_order(protocol: str) -> tuple[int, str]:
    return (PRECEDENCE.index(protocol) if protocol in PRECEDENCE else len(PRECEDENCE), protocol)


def summaries_by_split(
    summary: pd.DataFrame,
    cells: pd.DataFrame,
    groups: TrackGroups | None = None,
) -> pd.DataFrame:
    """One summary row per dataset, task, split protocol and candidate.

    What ``RunResult.summaries``, ``results.csv`` and ``results.json`` hold. The primary
    protocol's rows (``is_primary_split``) are ``summary``: ranked, with the other protocols'
    scores and the leakage gaps. Every other protocol's rows summarise its own cells alone, with
    the same metrics and intervals, and leave the ranking columns (``RANKING``) empty:
    candidates are ranked under the primary protocol only (so those rows' tiers, which are
    dropped, are not tested).

    Args:
        summary: ``summarize`` of ``cells``.
        cells: ``cells_frame`` rows of every protocol.
        groups: each dataset's track groups, as given to ``summarize``.
    """
    if summary.empty:
        return summary.assign(split=pd.Series(dtype=str))
    primary, other = split_by_protocol(cells)
    protocol = primary.groupby(["dataset", "task"])["split"].first()
    keys = list(zip(summary["dataset"], summary["task"], strict=True))
    splits = [protocol.get(k, DEFAULT_SPLIT) for k in keys]
    parts = [summary.assign(split=splits, is_primary_split=True)]
    for name, mine in other.groupby("split", sort=True):
        rows = summarize(mine.reset_index(drop=True), None, groups)
        if not rows.empty:
            blank = {c: None for c in RANKING}
            parts.append(rows.assign(split=str(name), is_primary_split=False, **blank))
    out = pd.concat(parts, ignore_index=True)
    front = ["dataset", "task", "split", "candidate"]
    return out[front + [c for c in out.columns if c not in front]]
