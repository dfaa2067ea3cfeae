"""Results-store URLs: the default SQLite file of a run directory, parsing, engines, display.

A store is any SQLAlchemy URL. Anything shown to a person (pages, logs, messages) goes through
``display_url``, which hides its credentials (``redact``).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from merbench.errors import ConfigError, RunError
from merbench.results.jsontext import dump_json, load_json


def sqlite_url(run_dir: Path) -> str:
    """The SQLAlchemy URL of the default store of ``run_dir``."""
    return f"sqlite:///{(run_dir / 'results.sqlite').resolve()}"


def store_url(run: str | Path) -> str:
    """Return the store URL of a run directory (or pass a URL through).

    Raises:
        RunError: a directory without results.
    """
    text = str(run)
    if "://" in text:
        return text
    path = Path(run)
    if not (path / "results.sqlite").exists():
        raise RunError(
            f"{path}: no results.sqlite here. Pass the run directory that 'merbench run' "
            "printed (by default runs/<name>)."
        )
    return sqlite_url(path)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite store URL; ``None`` for another database or an in-memory one."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"
_HIDDEN = "***"
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|sslkey|sslcert|credential", re.IGNORECASE)
"""Query or connection keys whose value is a secret or the path of one (``password``,
``passfile``, ``sslpassword``, ``sslkey``, ``sslcert``, an access ``token``, ...)."""
_SECRET_PAIR = re.compile(
    r"\b([a-z_]*password|passwd|pwd|passfile|sslkey|sslcert|secret|access_token)\s*=\s*"
    r"('[^']*'|\"[^\"]*\"|[^\s&;,]+)",
    re.IGNORECASE,
)
_USERINFO_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")


def _hide_url(url: str) -> str:
    """One URL with every credential-bearing part hidden: the password of its user part and the
    value of every secret query key. Parsed by SQLAlchemy; a URL it cannot parse is masked by
    pattern instead."""
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return _SECRET_PAIR.sub(rf"\1={_HIDDEN}", _USERINFO_PASSWORD.sub(rf"\1{_HIDDEN}\3", url))
    secret = [key for key in parsed.query if _SECRET_KEY.search(key)]
    if parsed.password is None and not secret:
        return url
    query = {key: (_HIDDEN if key in secret else value) for key, value in parsed.query.items()}
    text = parsed.set(query=query).render_as_string(hide_password=True)
    return text.replace("%2A%2A%2A", _HIDDEN)


def redact(text: str) -> str:
    """``text`` with the credentials of every URL in it hidden, and any ``password=...``-style
    pair outside a URL (a libpq connection string) too.

    The one place merbench hides secrets: for what is stored, published, printed or logged (a
    command line, an error message, a store URL on a page).
    """

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        core = token.rstrip(_TRAILING)
        return _hide_url(core) + token[len(core) :]

    return _SECRET_PAIR.sub(rf"\1={_HIDDEN}", _URL.sub(one, text))


def display_url(url: str) -> str:
    """A store URL fit to print: its password and secret query values as ``***``."""
    return redact(url)


def engine_url(url: str) -> sa.URL:
    """Parse a store URL; plain ``postgresql://`` uses psycopg 3 (``postgresql+psycopg``).

    Raises:
        ConfigError: a URL SQLAlchemy cannot parse, or PostgreSQL without psycopg installed.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"--storage {redact(url)!r}: not a database URL. Write e.g. "
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


POOL_SIZE = 1
"""Connections a store keeps open on a server database between its transactions."""
POOL_OVERFLOW = 1
"""Connections it opens beyond them while its threads write at once (closed after)."""
POOL_RECYCLE_S = 1800
"""Seconds after which a kept connection is replaced (idle-connection timeouts of proxies
and firewalls are often an hour)."""


def make_engine(url: str, *, read_only: bool = False) -> sa.Engine:
    """The engine of a store: SQLite tuned for parallel writers; a server database's small pool.

    On a server database (PostgreSQL) the store keeps one connection open between its
    transactions and opens a second only while two of its threads (a cell's heartbeat beside
    a claim or a result) write at once (``POOL_SIZE``, ``POOL_OVERFLOW``): opening a
    connection per transaction cost more than the transaction. With the one its Optuna study
    keeps (``merbench.train.tuning``), a worker holds two connections between its
    transactions, three at most (docs/scale-out.md, Connections). A pooled connection is
    checked before use (``pre_ping``: a server restart or a dropped idle connection costs a
    reconnect, not a failed transaction) and replaced after ``POOL_RECYCLE_S``.

    Args:
        url: the store's URL.
        read_only: open a SQLite file read-only (``mode=ro``), so that reading commands work
            on read-only storage; a write through the engine fails.

    Raises:
        ConfigError: a URL SQLAlchemy cannot parse, or a database whose driver is missing.
    """
    parsed = engine_url(url)
    try:
        if parsed.get_backend_name() != "sqlite":
            return sa.create_engine(
                parsed,
                poolclass=sa.pool.QueuePool,
                pool_size=POOL_SIZE,
                max_overflow=POOL_OVERFLOW,
                pool_pre_ping=True,
                pool_recycle=POOL_RECYCLE_S,
                json_serializer=dump_json,
                json_deserializer=load_json,
            )
        options: dict[str, Any] = {
            "json_serializer": dump_json,
            "json_deserializer": _json_reader(url),
        }
        if read_only and sqlite_path(url) is not None:
            options["creator"] = _read_only_connection(Path(str(parsed.database)))
        engine = sa.create_engine(parsed, connect_args={"timeout": 60}, **options)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        shown = parsed.render_as_string(hide_password=True)
        raise ConfigError(
            f"{shown}: no database driver for '{parsed.drivername}' here "
            f"({' '.join(str(exc).split())}). Use a sqlite:/// or postgresql:// URL, or install "
            "the driver SQLAlchemy names for this database."
        ) from None

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        # merbench begins transactions itself (below), not the sqlite3 module.
        connection.isolation_level = None
        # WAL lets readers (merbench status) run beside the writer; synchronous=NORMAL is safe
        # with WAL and much faster per commit.
        cursor = connection.cursor()
        if not read_only:
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


SQLITE_READONLY = 8
SQLITE_CANTOPEN = 14
"""SQLite's result codes of a file opened read-only that must be written (its WAL index), and
of a file that cannot be opened as asked."""


def _read_only_connection(path: Path) -> Any:
    """A ``creator`` of read-only connections to the SQLite file at ``path``.

    Where the file can be written, a connection that refuses writes (``query_only``) reads
    beside a running writer and, closing last, tidies the WAL files away as any connection does.
    Else ``mode=ro``; on read-only storage a file in WAL mode cannot be opened even so (SQLite
    cannot make its ``-shm`` file beside it), and since nothing can write it there either, it
    is opened ``immutable``.
    """
    uri = path.resolve().as_uri()

    def open_file(query: str) -> sqlite3.Connection:
        return sqlite3.connect(f"{uri}?{query}", uri=True, timeout=60, check_same_thread=False)

    def connect() -> sqlite3.Connection:
        for query in ("mode=rw", "mode=ro"):
            connection = open_file(query)
            try:
                connection.execute("PRAGMA query_only=ON")
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.Error as exc:
                connection.close()
                if getattr(exc, "sqlite_errorcode", None) in (SQLITE_CANTOPEN, SQLITE_READONLY):
                    continue  # not writable here: read-only storage, or the file is
                raise
            return connection
        return open_file("mode=ro&immutable=1")

    return connect


def _json_reader(url: str) -> Any:
    """The store's JSON reader (``load_json``); a value that is not JSON is a damaged store."""
    where = sqlite_path(url) or display_url(url)

    def read(text: str) -> Any:
        try:
            return load_json(text)
        except ValueError as exc:
            raise RunError(
                f"{where}: a stored value is not valid JSON ({exc}), so this results store is "
                "damaged. Restore it from a copy, or run with --fresh to start the run again."
            ) from None

    return read
