"""The results store: one database per run, the single source of truth of its results.

SQLite (``<run dir>/results.sqlite``) by default; any SQLAlchemy URL (PostgreSQL) works, which is
how many workers share one run. Every finished cell is committed atomically with its predictions
and trials, so killing a run loses at most the cells in flight.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from merbench.errors import RunError

SCHEMA_VERSION = 1
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
)

splits = sa.Table(
    "splits",
    metadata,
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("task", sa.String(32), primary_key=True),
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
    sa.Column("status", sa.String(16), nullable=False, default="pending"),
    sa.Column("metrics", sa.JSON),
    sa.Column("best_params", sa.JSON),
    sa.Column("timings", sa.JSON),
    sa.Column("info", sa.JSON),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.String(40)),
    sa.Column("finished_at", sa.String(40)),
    sa.UniqueConstraint("dataset", "task", "candidate", "repeat", "fold", name="uq_cell"),
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
    """The identity of one cell: dataset x task x candidate x (repeat, outer fold)."""

    dataset: str
    task: str
    candidate: str
    repeat: int
    fold: int

    def label(self) -> str:
        """A short human-readable name, e.g. ``synth/av-regression/ridge@handcrafted r0f3``."""
        return f"{self.dataset}/{self.task}/{self.candidate} r{self.repeat}f{self.fold}"


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


def sqlite_url(run_dir: Path) -> str:
    """The SQLAlchemy URL of the default store of ``run_dir``."""
    return f"sqlite:///{(run_dir / 'results.sqlite').resolve()}"


class Store:
    """Read and write one run's results through SQLAlchemy."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        metadata.create_all(self.engine)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def read_run(self) -> dict[str, Any] | None:
        """Return the run's settings and provenance, or ``None`` for a new store."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).order_by(runs.c.id)).mappings().first()
        return dict(row) if row else None

    def start_run(
        self, name: str, settings: Mapping[str, Any], provenance: Mapping[str, Any]
    ) -> None:
        """Record a new run, or check that ``settings`` match the existing one.

        Raises:
            RunError: the store holds a run made with other settings.
        """
        existing = self.read_run()
        if existing is None:
            with self.engine.begin() as conn:
                conn.execute(
                    runs.insert().values(
                        name=name,
                        schema_version=SCHEMA_VERSION,
                        created_at=now(),
                        settings=dict(settings),
                        provenance=dict(provenance),
                    )
                )
            return
        differing = [k for k in settings if existing["settings"].get(k) != settings[k]]
        if differing:
            was = ", ".join(f"{k}={existing['settings'].get(k)!r}" for k in differing)
            asked = ", ".join(f"{k}={settings[k]!r}" for k in differing)
            raise RunError(
                f"{self.url}: this run was made with {was}; this command asks for {asked}. "
                "Pass --out to start another run, or --fresh to replace this one."
            )

    def save_split(
        self, dataset: str, task: str, digest: str, manifest: Any, audit: Mapping[str, Any]
    ) -> str:
        """Store a split manifest once; return the stored hash (the first one wins)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(splits.c.hash).where(splits.c.dataset == dataset, splits.c.task == task)
            ).first()
            if row is not None:
                return str(row[0])
            conn.execute(
                splits.insert().values(
                    dataset=dataset, task=task, hash=digest, manifest=manifest, audit=dict(audit)
                )
            )
        return digest

    def add_cells(self, keys: Iterable[CellKey]) -> None:
        """Insert cells that are not in the store yet, as pending."""
        with self.engine.begin() as conn:
            known = {_key(r) for r in conn.execute(sa.select(*_KEY_COLUMNS)).mappings()}
            new = [k for k in keys if k not in known]
            if new:
                conn.execute(cells.insert(), [_key_values(k) | {"status": "pending"} for k in new])

    def status(self, key: CellKey) -> str | None:
        """Return the status of one cell, or ``None`` if it is not in the store."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(cells.c.status).where(*_where(key))).first()
        return None if row is None else str(row[0])

    def mark(self, key: CellKey, status: str, error: str | None = None) -> None:
        """Set a cell's status (``running``, ``failed``, ``skipped``) with an optional reason."""
        values: dict[str, Any] = {"status": status, "error": error}
        values["started_at" if status == "running" else "finished_at"] = now()
        with self.engine.begin() as conn:
            conn.execute(cells.update().where(*_where(key)).values(**values))

    def finish(self, key: CellKey, result: CellResult) -> None:
        """Commit a finished cell with its predictions and trials in one transaction."""
        with self.engine.begin() as conn:
            cell_id = conn.execute(sa.select(cells.c.id).where(*_where(key))).scalar_one()
            conn.execute(predictions.delete().where(predictions.c.cell_id == cell_id))
            conn.execute(trials.delete().where(trials.c.cell_id == cell_id))
            if result.predictions:
                conn.execute(
                    predictions.insert(),
                    [
                        {"cell_id": cell_id, "track_id": t, "target": g, "y_true": a, "y_pred": b}
                        for t, g, a, b in result.predictions
                    ],
                )
            if result.trials:
                conn.execute(trials.insert(), [{"cell_id": cell_id, **t} for t in result.trials])
            conn.execute(
                cells.update()
                .where(cells.c.id == cell_id)
                .values(
                    status="done",
                    metrics=_jsonable(result.metrics),
                    best_params=_jsonable(result.best_params),
                    timings=_jsonable(result.timings),
                    info=_jsonable(result.info),
                    error=None,
                    finished_at=now(),
                )
            )

    def record_skipped_tracks(self, dataset: str, skipped: Mapping[str, str]) -> None:
        """Record the tracks of ``dataset`` that were left out, and why."""
        with self.engine.begin() as conn:
            conn.execute(skipped_tracks.delete().where(skipped_tracks.c.dataset == dataset))
            if skipped:
                rows = [
                    {"dataset": dataset, "track_id": t, "reason": r} for t, r in skipped.items()
                ]
                conn.execute(skipped_tracks.insert(), rows)

    def reset_interrupted(self) -> int:
        """Mark cells left ``running`` by a killed process as pending; return how many."""
        with self.engine.begin() as conn:
            result = conn.execute(
                cells.update().where(cells.c.status == "running").values(status="pending")
            )
        return int(result.rowcount or 0)

    def table(self, name: str) -> list[dict[str, Any]]:
        """Return every row of one table as dicts (for aggregation and export)."""
        table = metadata.tables[name]
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


_KEY_COLUMNS = (cells.c.dataset, cells.c.task, cells.c.candidate, cells.c.repeat, cells.c.fold)


def _key(row: Mapping[Any, Any]) -> CellKey:
    return CellKey(**{c.name: row[c.name] for c in _KEY_COLUMNS})


def _key_values(key: CellKey) -> dict[str, Any]:
    return {c.name: getattr(key, c.name) for c in _KEY_COLUMNS}


def _where(key: CellKey) -> list[sa.ColumnElement[bool]]:
    return [c == getattr(key, c.name) for c in _KEY_COLUMNS]


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so numpy scalars and tuples are stored as plain values."""
    return json.loads(json.dumps(value, default=_json_default, allow_nan=True))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            # WAL lets readers (merbench status) run beside the writer without "database is
            # locked"; synchronous=NORMAL is safe with WAL and much faster per commit.
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)
