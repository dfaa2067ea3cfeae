"""A run's results as one record: what ``merbench.run()`` and ``merbench.load_results()`` return.

``read_run`` reads a store once: its per-cell rows (``cells_frame``), its per-track test
predictions (``predictions_frame``) and, per split protocol, the ranked summary table the
leaderboard shows (``summarize``, each protocol ranked on its own).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from merbench.evaluation.transfer import TRANSFER
from merbench.results.protocols import PRECEDENCE, with_protocols
from merbench.results.schema import DEFAULT_SPLIT
from merbench.results.summaries import (
    cells_frame,
    predictions_frame,
    read_tables,
    split_groups,
    summarize,
)
from merbench.results.transfer import transfer_matrix
from merbench.results.urls import display_url, sqlite_path


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
    candidate, ranked (``rank``, ``tier``), metrics with their 95 % confidence intervals. Under
    ``transfer``: the transfer matrix (``merbench.results.transfer.transfer_matrix``)."""
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
        """The ranked table of the protocol that ranks (grouped, else official, else random)."""
        for protocol in (*PRECEDENCE, *self.summaries):
            if protocol in self.summaries:
                return self.summaries[protocol]
        return pd.DataFrame()

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
        for protocol in sorted(set(cells["split"]), key=_protocol_order):
            mine = predictions[predictions["split"] == protocol] if len(predictions) else None
            if protocol == TRANSFER:  # the matrix, diagonal from the grouped cells
                summaries[protocol] = transfer_matrix(cells, predictions, _audits(splits))
                continue
            summaries[protocol] = summarize(cells[cells["split"] == protocol], mine, groups)
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


def _audits(splits: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    """The transfer pairs' split audits and the grouped ones of the datasets (the diagonal)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in splits.to_dict("records"):
        if (row.get("protocol") or DEFAULT_SPLIT) in (TRANSFER, DEFAULT_SPLIT):
            out[(str(row["dataset"]), str(row["task"]))] = dict(row.get("audit") or {})
    return out


def _protocol_order(protocol: str) -> tuple[int, str]:
    return (PRECEDENCE.index(protocol) if protocol in PRECEDENCE else len(PRECEDENCE), protocol)
