"""The results store: one database per run, the single source of truth of its results.

SQLite (``<run dir>/results.sqlite``) by default; any SQLAlchemy URL (PostgreSQL) works, which is
how many workers share one run (``merbench.results.queue`` hands its cells out and owns their
status). Every finished cell is committed atomically with its predictions and trials, so killing a
run loses at most the cells in flight. Writes are short transactions, retried when the database is
briefly busy; on SQLite they take the write lock up front (``BEGIN IMMEDIATE``, WAL journal), so
parallel processes on one machine queue for it instead of failing with "database is locked".
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa

from merbench.errors import RunError
from merbench.results.jsontext import dump_json, load_json
from merbench.results.schema import (
    DEFAULT_SPLIT,
    KEY_COLUMNS,
    SCHEMA_VERSION,
    CellKey,
    CellResult,
    cells,
    create_schema,
    has_runs,
    key_of,
    key_values,
    metadata,
    needs_schema,
    now,
    predictions,
    protocol_of,
    runs,
    skipped_tracks,
    splits,
    trials,
    where_key,
)
from merbench.results.urls import display_url, make_engine, redact, sqlite_path
from merbench.version import __version__

log = logging.getLogger(__name__)

T = TypeVar("T")
WRITE_ATTEMPTS = 6
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_NOTADB = 26
"""SQLite's result codes of a damaged file, a full disk and a file that is not a database."""


class Store:
    """Read and write one run's results through SQLAlchemy."""

    def __init__(self, url: str, *, create: bool = True, read_only: bool = False) -> None:
        """Open the store at ``url``, creating its tables when missing.

        Args:
            url: the SQLAlchemy URL.
            create: whether a missing SQLite file or an empty database may become a new store
                (a run's own store); a worker or a reader passes ``False``.
            read_only: open a SQLite file read-only, for commands that only read (``merbench
                status``, ``leaderboard``): they work on read-only storage. Implies
                ``create=False``.

        Raises:
            RunError: the file is missing (with ``create=False``), not a SQLite results store
                (garbage, truncated, corrupt, a folder), a database of other tables, a store of
                a newer merbench, or the database server refuses the connection.
        """
        self.url = url
        create = create and not read_only
        if not create:
            _check_exists(url)
        self.engine = make_engine(url, read_only=read_only)
        sa.event.listen(self.engine, "handle_error", self._refuse_damage)
        # Reads never take SQLite's write lock (see _make_engine), so they run beside writers.
        self.reader = self.engine.execution_options(merbench_read=True)
        try:
            _check_database(self.reader, url)
            missing = needs_schema(self.reader)
            if missing and not create and not has_runs(self.reader):
                raise RunError(
                    f"{display_url(url)}: no run in this store yet. Start one with 'merbench "
                    "run --storage URL --enqueue-only ...', then start the workers."
                )
        except sa.exc.DBAPIError as exc:
            self.engine.dispose()
            raise unusable_store(url, exc) from None
        except RunError:
            self.engine.dispose()
            raise
        if missing and read_only:
            _upgrade(url)
        elif missing:
            self.transact(create_schema)

    def _refuse_damage(self, context: sa.engine.ExceptionContext) -> None:
        """Turn SQLite's "malformed" and "disk is full" into one line naming the file."""
        code = getattr(context.original_exception, "sqlite_errorcode", None)
        path = sqlite_path(self.url)
        if code == SQLITE_FULL:
            raise RunError(
                f"{path}: the disk is full (database or disk is full). Free some space and run "
                "the same command again: finished cells are kept."
            )
        if code in (SQLITE_CORRUPT, SQLITE_NOTADB) and context.sqlalchemy_exception is not None:
            exc = context.sqlalchemy_exception
            if isinstance(exc, sa.exc.DBAPIError):
                raise unusable_store(self.url, exc)

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
        self.transact(lambda conn: conn.execute(runs.update().values(plan=jsonable(plan))))

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
                f"{display_url(self.url)}: this run was made with {was}; this command asks for "
                f"{asked}. "
                "Pass --out to start another run, or --fresh to replace this one."
            )

    def fix_setting(self, name: str, value: Any, *, replace: bool = False) -> Any:
        """Store a run setting chosen when the run starts, unless stored; return the stored one.

        For settings that later commands and workers must repeat but not choose again, such
        as the torch threads per cell. ``replace=True`` stores ``value`` even over a stored
        one (a run that widens a setting, such as its split protocols).
        """

        def fix(conn: sa.Connection) -> Any:
            row = conn.execute(sa.select(runs.c.id, runs.c.settings).order_by(runs.c.id)).first()
            if row is None:
                return value
            settings = dict(row.settings or {})
            if name not in settings or replace:
                settings[name] = jsonable(value)
                conn.execute(runs.update().where(runs.c.id == row.id).values(settings=settings))
            return settings[name]

        return self.transact(fix)

    def save_split(
        self,
        dataset: str,
        task: str,
        digest: str,
        manifest: Any,
        audit: Mapping[str, Any],
        protocol: str = DEFAULT_SPLIT,
    ) -> str:
        """Store a split manifest once; return the stored hash (the first one wins)."""
        where = [splits.c.dataset == dataset, splits.c.task == task]
        where.append(protocol_of(splits.c.protocol) == protocol)

        def save(conn: sa.Connection) -> str:
            row = conn.execute(sa.select(splits.c.hash).where(*where)).first()
            if row is not None:
                return str(row[0])
            conn.execute(
                splits.insert().values(
                    dataset=dataset,
                    task=task,
                    protocol=protocol,
                    hash=digest,
                    manifest=manifest,
                    audit=dict(audit),
                )
            )
            return digest

        return self.transact(save)

    def add_cells(self, keys: Iterable[CellKey]) -> None:
        """Insert cells that are not in the store yet, as pending."""
        wanted = list(keys)

        def add(conn: sa.Connection) -> None:
            known = {key_of(r) for r in conn.execute(sa.select(*KEY_COLUMNS)).mappings()}
            new = [k for k in dict.fromkeys(wanted) if k not in known]
            if new:
                conn.execute(cells.insert(), [key_values(k) | {"status": "pending"} for k in new])

        self.transact(add)

    def cell_ids(self) -> dict[CellKey, int]:
        """Every cell's key and database id."""
        with self.reader.connect() as conn:
            rows = conn.execute(sa.select(cells.c.id, *KEY_COLUMNS)).mappings().all()
        return {key_of(r): int(r["id"]) for r in rows}

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
            row = conn.execute(sa.select(cells.c.status).where(*where_key(key))).first()
        return None if row is None else str(row[0])

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

    def table(self, name: str) -> list[dict[str, Any]]:
        """Return every row of one table as dicts (for aggregation and export)."""
        table = metadata.tables[name]
        with self.reader.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


def _check_database(engine: sa.Engine, url: str) -> None:
    """Refuse a database of other tables, and a store written by a newer merbench.

    Raises:
        RunError: naming the file or URL, with what to do.
    """
    where = sqlite_path(url) or display_url(url)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        if tables and not tables & set(metadata.tables):
            others = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise RunError(
                f"{where}: a database of other tables ({others}), not a merbench results store; "
                "merbench leaves it alone. Give the run a place of its own (--out or --storage)."
            )
        if runs.name not in tables:
            return
        newest = conn.execute(sa.select(sa.func.max(runs.c.schema_version))).scalar()
    if newest is not None and int(newest) > SCHEMA_VERSION:
        raise RunError(
            f"{where}: written by a newer merbench (store schema {newest}; this merbench "
            f"{__version__} reads up to {SCHEMA_VERSION}). Upgrade merbench: pip install -U "
            "merbench."
        )


def _upgrade(url: str) -> None:
    """Add what a store of an older merbench lacks, for a command that reads it read-only.

    Raises:
        RunError: the store cannot be written here (read-only storage).
    """
    try:
        Store(url, create=False).close()
    except RunError:
        raise
    except sa.exc.DBAPIError as exc:
        reason = " ".join(str(exc.orig or exc).split())
        raise RunError(
            f"{sqlite_path(url) or display_url(url)}: a store of an older merbench, whose tables "
            f"need new columns, and it cannot be written here ({reason}). Open it once where it "
            "is writable (e.g. 'merbench status' on a copy), then read it here."
        ) from None


def _check_exists(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist (opening it would create an empty store).

    Raises:
        RunError: no such file.
    """
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise RunError(
            f"{path}: no results store here. Pass the --storage URL that 'merbench run' printed "
            "(sqlite:/// followed by the absolute path of the run's results.sqlite)."
        )


def unusable_store(url: str, exc: sa.exc.DBAPIError) -> RunError:
    """The one-line error of a store that cannot be opened: a bad file, or no connection."""
    reason = redact(" ".join(str(exc.orig or exc).split()))
    path = sqlite_path(url)
    if path is None:
        return RunError(
            f"{display_url(url)}: cannot connect ({reason}). Check the host, port, database "
            "name, user and password (PGPASSWORD or ~/.pgpass also give it), and that the "
            "server is running."
        )
    if path.is_dir():
        reason = "a folder, not a file"
    return RunError(
        f"{path}: not a readable merbench results store ({reason}). Pass the run directory or "
        "--storage URL that 'merbench run' printed, or run with --fresh to replace it."
    )


def write_result(conn: sa.Connection, cell_id: int, result: CellResult) -> None:
    """Write a finished cell's metrics, predictions and trials (inside the caller's transaction).

    The seconds this write takes before the cell's row (the row itself and the commit aside) are
    stored as the cell's ``phase_store_s`` timing.
    """
    started = time.perf_counter()
    conn.execute(predictions.delete().where(predictions.c.cell_id == cell_id))
    conn.execute(trials.delete().where(trials.c.cell_id == cell_id))
    rows = [
        {"cell_id": cell_id, "track_id": t, "target": g, "y_true": a, "y_pred": b}
        for t, g, a, b in result.predictions
    ]
    insert_rows(conn, predictions, rows)
    insert_rows(conn, trials, [{"cell_id": cell_id, **t} for t in result.trials])
    timings = {**result.timings, "phase_store_s": time.perf_counter() - started}
    conn.execute(
        cells.update()
        .where(cells.c.id == cell_id)
        .values(
            status="done",
            metrics=jsonable(result.metrics),
            best_params=jsonable(result.best_params),
            timings=jsonable(timings),
            info=jsonable(result.info),
            error=None,
            finished_at=now(),
            heartbeat_at=None,
        )
    )


def insert_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``: on PostgreSQL (psycopg) with ``COPY``, else ``executemany``.

    A cell's result is hundreds to hundreds of thousands of prediction rows. ``executemany``
    sends PostgreSQL one statement per row (psycopg pipelines them, but each is still parsed,
    bound and executed); ``COPY`` streams them as one, which is what PostgreSQL's manual
    recommends for loading many rows ("Populating a Database"). SQLite's ``executemany`` runs
    in the driver's C loop and is fast as it is.
    """
    if not rows:
        return
    if (conn.dialect.name, conn.dialect.driver) != ("postgresql", "psycopg"):
        conn.execute(table.insert(), rows)  # SQLite, or another PostgreSQL driver
        return
    columns = [c for c in table.columns if c.name in rows[0]]
    quote = conn.dialect.identifier_preparer
    names = ", ".join(quote.quote(c.name) for c in columns)
    command = f"COPY {quote.format_table(table)} ({names}) FROM STDIN"
    driver: Any = conn.connection.driver_connection  # psycopg's Connection
    with driver.cursor() as cursor, cursor.copy(command) as copy:
        for row in rows:
            copy.write_row([_copy_value(row.get(c.name), c.type) for c in columns])


def _copy_value(value: Any, kind: sa.types.TypeEngine[Any]) -> Any:
    """A value as ``COPY`` takes it: JSON as its text, numbers (numpy's too) as Python's, a
    NaN float as NULL (which is how SQLite stores it)."""
    if value is None:
        return None
    if isinstance(kind, sa.JSON):
        return dump_json(value)
    if isinstance(kind, sa.Float):
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(kind, sa.Integer):
        return int(value)
    return str(value)


def jsonable(value: Any) -> Any:
    """Round-trip through the store's JSON, so a value is kept as the store reads it back:
    numpy scalars and tuples as plain values, other objects as their text."""
    return load_json(dump_json(value))
