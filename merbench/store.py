"""The results store: one database per run, the single source of truth of its results.

SQLite (``<run dir>/results.sqlite``) by default; any SQLAlchemy URL (PostgreSQL) works, which is
how many workers share one run (``merbench.queue`` hands its cells out). Every finished cell is
committed atomically with its predictions and trials, so killing a run loses at most the cells in
flight. Writes are short transactions, retried when the database is briefly busy; on SQLite they
take the write lock up front (``BEGIN IMMEDIATE``, WAL journal), so parallel processes on one
machine queue for it instead of failing with "database is locked".
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from merbench.errors import ConfigError, RunError

log = logging.getLogger(__name__)

T = TypeVar("T")
SCHEMA_VERSION = 2
"""2: cells carry their worker and heartbeat, claims are logged, runs keep their plan."""
WRITE_ATTEMPTS = 6
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
    sa.Column("worker", sa.String(200)),
    sa.Column("worker_host", sa.String(64)),
    sa.Column("worker_pid", sa.Integer),
    sa.Column("heartbeat_at", sa.Float),
    sa.UniqueConstraint("dataset", "task", "candidate", "repeat", "fold", name="uq_cell"),
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
        # Reads never take SQLite's write lock (see _make_engine), so they run beside writers.
        self.reader = self.engine.execution_options(merbench_read=True)
        if _needs_schema(self.reader):
            self.transact(_create_schema)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    @property
    def dialect(self) -> str:
        """The database's SQLAlchemy dialect name: ``sqlite``, ``postgresql``, ..."""
        return str(self.engine.dialect.name)

    def transact(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in one write transaction, retried while the database is busy.

        SQLite's "database is locked", PostgreSQL's serialization failures, deadlocks and dropped
        connections are all ``OperationalError``: the transaction is rolled back, so ``work``
        runs again from the start after a short, jittered wait.
        """
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except sa.exc.OperationalError as exc:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                wait = 0.05 * 2**attempt * (1 + random.random())
                log.info("%s busy (%s); retrying in %.2f s", display_url(self.url), exc.orig, wait)
                time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def read_run(self) -> dict[str, Any] | None:
        """Return the run's settings, provenance and plan, or ``None`` for a new store."""
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(runs).order_by(runs.c.id)).mappings().first()
        return dict(row) if row else None

    def save_plan(self, plan: Mapping[str, Any]) -> None:
        """Record what the latest ``merbench run`` asked for, so workers can rebuild its cells."""
        self.transact(lambda conn: conn.execute(runs.update().values(plan=_jsonable(plan))))

    def start_run(
        self, name: str, settings: Mapping[str, Any], provenance: Mapping[str, Any]
    ) -> None:
        """Record a new run, or check that ``settings`` match the existing one.

        Raises:
            RunError: the store holds a run made with other settings.
        """

        def insert(conn: sa.Connection) -> dict[str, Any] | None:
            row = conn.execute(sa.select(runs).order_by(runs.c.id)).mappings().first()
            if row is not None:
                return dict(row)
            conn.execute(
                runs.insert().values(
                    name=name,
                    schema_version=SCHEMA_VERSION,
                    created_at=now(),
                    settings=dict(settings),
                    provenance=dict(provenance),
                )
            )
            return None

        existing = self.transact(insert)
        if existing is None:
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

        def save(conn: sa.Connection) -> str:
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

        return self.transact(save)

    def add_cells(self, keys: Iterable[CellKey]) -> None:
        """Insert cells that are not in the store yet, as pending."""
        wanted = list(keys)

        def add(conn: sa.Connection) -> None:
            known = {_key(r) for r in conn.execute(sa.select(*_KEY_COLUMNS)).mappings()}
            new = [k for k in dict.fromkeys(wanted) if k not in known]
            if new:
                conn.execute(cells.insert(), [_key_values(k) | {"status": "pending"} for k in new])

        self.transact(add)

    def cell_ids(self) -> dict[CellKey, int]:
        """Every cell's key and database id."""
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(cells.c.id, *_KEY_COLUMNS)).mappings().all()
        return {_key(r): int(r["id"]) for r in rows}

    def retry_failed(self, ids: Iterable[int]) -> int:
        """Make failed cells among ``ids`` pending again (a resumed run retries them)."""
        chosen = list(ids)
        if not chosen:
            return 0
        result = self.transact(
            lambda conn: conn.execute(
                cells.update()
                .where(cells.c.id.in_(chosen), cells.c.status == "failed")
                .values(status="pending")
            )
        )
        return int(result.rowcount or 0)

    def counts(self, ids: Iterable[int] | None = None) -> dict[str, int]:
        """How many cells (of ``ids``, else all) have each status."""
        query = sa.select(cells.c.status, sa.func.count()).group_by(cells.c.status)
        if ids is not None:
            query = query.where(cells.c.id.in_(list(ids)))
        with self.reader.connect() as conn:
            return {str(status): int(n) for status, n in conn.execute(query)}

    def status(self, key: CellKey) -> str | None:
        """Return the status of one cell, or ``None`` if it is not in the store."""
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(cells.c.status).where(*_where(key))).first()
        return None if row is None else str(row[0])

    def mark(self, key: CellKey, status: str, error: str | None = None) -> None:
        """Set a cell's status (``running``, ``failed``, ``skipped``) with an optional reason."""
        values: dict[str, Any] = {"status": status, "error": error}
        values["started_at" if status == "running" else "finished_at"] = now()
        self.transact(
            lambda conn: conn.execute(cells.update().where(*_where(key)).values(**values))
        )

    def finish(self, key: CellKey, result: CellResult, *, worker: str | None = None) -> bool:
        """Commit a finished cell with its predictions and trials in one transaction.

        With ``worker``, only while that worker still holds the cell: a cell re-queued after its
        worker's heartbeat went stale belongs to whoever claimed it next.

        Returns:
            Whether the result was stored.
        """
        return self.transact(lambda conn: _finish(conn, key, result, worker))

    def fail(self, key: CellKey, reason: str, *, worker: str) -> bool:
        """Store a cell as failed with a one-line reason, while ``worker`` holds it."""
        result = self.transact(
            lambda conn: conn.execute(
                cells.update()
                .where(*_where(key), *_held_by(worker))
                .values(status="failed", error=reason, finished_at=now(), heartbeat_at=None)
            )
        )
        return bool(result.rowcount)

    def record_skipped_tracks(self, dataset: str, skipped: Mapping[str, str]) -> None:
        """Record the tracks of ``dataset`` that were left out, and why."""

        def record(conn: sa.Connection) -> None:
            conn.execute(skipped_tracks.delete().where(skipped_tracks.c.dataset == dataset))
            if skipped:
                rows = [
                    {"dataset": dataset, "track_id": t, "reason": r} for t, r in skipped.items()
                ]
                conn.execute(skipped_tracks.insert(), rows)

        self.transact(record)

    def reset_interrupted(self) -> int:
        """Mark every cell left ``running`` as pending; return how many.

        Only for a store no worker uses; ``merbench.queue.requeue_dead`` is the safe form.
        """
        result = self.transact(
            lambda conn: conn.execute(
                cells.update().where(cells.c.status == "running").values(status="pending")
            )
        )
        return int(result.rowcount or 0)

    def table(self, name: str) -> list[dict[str, Any]]:
        """Return every row of one table as dicts (for aggregation and export)."""
        table = metadata.tables[name]
        with self.reader.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


def _finish(conn: sa.Connection, key: CellKey, result: CellResult, worker: str | None) -> bool:
    owned = [] if worker is None else _held_by(worker)
    cell_id = conn.execute(sa.select(cells.c.id).where(*_where(key), *owned)).scalar()
    if cell_id is None:
        return False
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
            heartbeat_at=None,
        )
    )
    return True


def _held_by(worker: str) -> list[sa.ColumnElement[bool]]:
    return [cells.c.status == "running", cells.c.worker == worker]


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


def display_url(url: str) -> str:
    """A store URL fit to print: its password, if any, as ``***``."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def engine_url(url: str) -> sa.URL:
    """Parse a store URL; plain ``postgresql://`` uses psycopg 3 (``postgresql+psycopg``).

    Raises:
        ConfigError: a URL SQLAlchemy cannot parse, or PostgreSQL without psycopg installed.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"--storage {url!r}: not a database URL. Write e.g. "
            "'postgresql://user:password@host/dbname' or 'sqlite:////path/results.sqlite'."
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "postgresql+psycopg":
        import importlib.util

        if importlib.util.find_spec("psycopg") is None:
            raise ConfigError(
                f"--storage {parsed.render_as_string(hide_password=True)}: the PostgreSQL driver "
                "psycopg is not installed. Install it with: pip install 'merbench[postgres]'."
            )
    return parsed


def _make_engine(url: str) -> sa.Engine:
    parsed = engine_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": 60})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        # merbench begins transactions itself (below), not the sqlite3 module.
        connection.isolation_level = None
        # WAL lets readers (merbench status) run beside the writer; synchronous=NORMAL is safe
        # with WAL and much faster per commit.
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # A write transaction takes the write lock when it starts: one that read first and
        # wrote later could not wait for the lock (SQLITE_BUSY_SNAPSHOT) and would fail.
        read_only = conn.get_execution_options().get("merbench_read", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _needs_schema(engine: sa.Engine) -> bool:
    """Whether a table or column of this merbench is missing (a new or older store)."""
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        existing = set(inspector.get_table_names())
        if not set(metadata.tables) <= existing:
            return True
        return any(
            not {c.name for c in table.columns}
            <= {c["name"] for c in inspector.get_columns(table.name)}
            for table in metadata.tables.values()
        )


def _create_schema(conn: sa.Connection) -> None:
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
                log.info("%s: added column %s.%s", conn.engine.url, table.name, column.name)


SCHEMA_LOCK = 0x6D65_7262  # "merb": the advisory lock that serialises schema changes
