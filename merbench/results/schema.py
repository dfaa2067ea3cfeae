"""The results store's schema: its tables, the identity and result of a cell, and migrations.

One database holds one run: the run's settings and provenance (``runs``), the folds' manifests
(``splits``), one row per cell with its status and results (``cells``), every claim of a cell by
a worker (``claims``), per-track predictions, every Optuna trial, and the tracks left out.
Newer versions only add tables, nullable columns and indexes, so an older store is migrated in
place (``create_schema``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5
"""2: cells carry their worker and heartbeat, claims are logged, runs keep their plan.
3: cells and splits carry their split protocol (``grouped``, ``random``, ``official``); a store
of version 2 reads as ``grouped`` and holds one protocol per dataset and task.
4: cells carry an estimated cost (indexed with their status), and the queue hands out the most
expensive pending cell first; cells of older stores have none and come after the others, in
the order they were listed.
5: the queue's index follows the claim order (``ix_cells_claim``), so a claim reads one index
entry instead of sorting every pending cell; a store of version 4 keeps its ``ix_cells_queue``,
unused."""
DEFAULT_SPLIT = "grouped"
STATUSES = ("pending", "running", "done", "failed", "skipped")

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("provenance", sa.JSON, nullable=False),
    sa.Column("plan", sa.JSON),
)

splits = sa.Table(
    "splits",
    metadata,
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("task", sa.String(32), primary_key=True),
    sa.Column("protocol", sa.String(16), primary_key=True, default=DEFAULT_SPLIT),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("manifest", sa.JSON, nullable=False),
    sa.Column("audit", sa.JSON, nullable=False),
)

cells = sa.Table(
    "cells",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(64), nullable=False),
    sa.Column("task", sa.String(32), nullable=False),
    sa.Column("candidate", sa.String(200), nullable=False),
    sa.Column("repeat", sa.Integer, nullable=False),
    sa.Column("fold", sa.Integer, nullable=False),
    sa.Column("split", sa.String(16), default=DEFAULT_SPLIT),
    sa.Column("status", sa.String(16), nullable=False, default="pending"),
    sa.Column("metrics", sa.JSON),
    sa.Column("best_params", sa.JSON),
    sa.Column("timings", sa.JSON),
    sa.Column("info", sa.JSON),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.String(40)),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("worker", sa.String(200)),
    sa.Column("worker_host", sa.String(64)),
    sa.Column("worker_pid", sa.Integer),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("cost", sa.Float),
    sa.UniqueConstraint("dataset", "task", "candidate", "repeat", "fold", "split", name="uq_cell"),
)

# The claim query's order (``queue.CLAIM_ORDER``: the most expensive pending cell, cells without
# a cost last, then the first listed), so that a claim reads the first entry of this index
# instead of sorting every pending cell. A descending index sorts NULLs first on PostgreSQL
# unless told otherwise, and last on SQLite, which cannot be told: one index, two spellings.
sa.Index("ix_cells_claim", cells.c.status, cells.c.cost.desc().nulls_last(), cells.c.id).ddl_if(
    dialect="postgresql"
)


def _not_postgresql(*_args: Any, dialect: sa.Dialect, **_kw: Any) -> bool:
    return dialect.name != "postgresql"


sa.Index("ix_cells_claim", cells.c.status, cells.c.cost.desc(), cells.c.id).ddl_if(
    callable_=_not_postgresql
)

claims = sa.Table(
    "claims",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cell_id", sa.Integer, sa.ForeignKey("cells.id"), nullable=False),
    sa.Column("worker", sa.String(200), nullable=False),
    sa.Column("claimed_at", sa.String(40), nullable=False),
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("cell_id", sa.Integer, sa.ForeignKey("cells.id"), primary_key=True),
    sa.Column("track_id", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(32), primary_key=True),
    sa.Column("y_true", sa.Float, nullable=False),
    sa.Column("y_pred", sa.Float, nullable=False),
)

trials = sa.Table(
    "trials",
    metadata,
    sa.Column("cell_id", sa.Integer, sa.ForeignKey("cells.id"), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("duration_s", sa.Float),
    sa.Column("epochs", sa.Integer),
)

skipped_tracks = sa.Table(
    "skipped_tracks",
    metadata,
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("track_id", sa.String(200), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class CellKey:
    """The identity of one cell: dataset x task x candidate x (repeat, outer fold) x protocol."""

    dataset: str
    task: str
    candidate: str
    repeat: int
    fold: int
    split: str = DEFAULT_SPLIT
    """The split protocol of the fold: ``grouped``, ``random`` or ``official``."""

    def label(self) -> str:
        """A short human-readable name, e.g. ``synth/av-regression/ridge@handcrafted r0f3``.

        Folds of another protocol than ``grouped`` carry it: ``... r0f3 random``.
        """
        text = f"{self.dataset}/{self.task}/{self.candidate} r{self.repeat}f{self.fold}"
        return text if self.split == DEFAULT_SPLIT else f"{text} {self.split}"


@dataclass(frozen=True, kw_only=True, slots=True)
class CellResult:
    """What a finished cell stores."""

    metrics: Mapping[str, Any]
    best_params: Mapping[str, Any]
    timings: Mapping[str, float]
    info: Mapping[str, Any]
    predictions: Sequence[tuple[str, str, float, float]]
    """``(track_id, target, y_true, y_pred)`` for every test track and target."""
    trials: Sequence[Mapping[str, Any]]
    """``number, state, value, params, duration_s, epochs`` of every Optuna trial."""


def now() -> str:
    """The current UTC time as an ISO 8601 string."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


KEY_COLUMNS = (
    cells.c.dataset,
    cells.c.task,
    cells.c.candidate,
    cells.c.repeat,
    cells.c.fold,
    cells.c.split,
)


def key_of(row: Mapping[Any, Any]) -> CellKey:
    """The key of a ``cells`` row (a row of a version-2 store has no protocol: ``grouped``)."""
    values = {c.name: row[c.name] for c in KEY_COLUMNS if c.name in row}
    return CellKey(**(values | {"split": values.get("split") or DEFAULT_SPLIT}))


def key_values(key: CellKey) -> dict[str, Any]:
    return {c.name: getattr(key, c.name) for c in KEY_COLUMNS}


def protocol_of(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A protocol column as SQL, ``grouped`` where a version-2 store left it empty."""
    return sa.func.coalesce(column, DEFAULT_SPLIT)


def where_key(key: CellKey) -> list[sa.ColumnElement[bool]]:
    return [
        (protocol_of(c) if c.name == "split" else c) == getattr(key, c.name) for c in KEY_COLUMNS
    ]


def needs_schema(engine: sa.Engine) -> bool:
    """Whether a table or column of this merbench is missing (a new or older store)."""
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        existing = set(inspector.get_table_names())
        if not set(metadata.tables) <= existing:
            return True
        return any(
            not {c.name for c in table.columns}
            <= {c["name"] for c in inspector.get_columns(table.name)}
            or not {i.name for i in table.indexes}
            <= {i["name"] for i in inspector.get_indexes(table.name)}
            for table in metadata.tables.values()
        )


def has_runs(engine: sa.Engine) -> bool:
    """Whether the database has merbench's ``runs`` table (a store some run has written)."""
    with engine.connect() as conn:
        return "runs" in sa.inspect(conn).get_table_names()


def create_schema(conn: sa.Connection) -> None:
    """Create missing tables and add columns that newer versions use (all nullable)."""
    if conn.dialect.name == "postgresql":
        # Workers starting together would otherwise race to create the same tables.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
    metadata.create_all(conn)
    inspector = sa.inspect(conn)
    for table in metadata.tables.values():
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in have:
                kind = column.type.compile(dialect=conn.dialect)
                conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
                log.info(
                    "%s: added column %s.%s",
                    conn.engine.url.render_as_string(),
                    table.name,
                    column.name,
                )
        indexed = {i["name"] for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexed:  # an index of a column added above
                index.create(conn)
                log.info("%s: added index %s", conn.engine.url.render_as_string(), index.name)


SCHEMA_LOCK = 0x6D65_7262  # "merb": the advisory lock that serialises schema changes
