"""The cell queue: who holds a cell. Workers claim pending cells atomically, beat while they run
them, finish or fail them, and take over the cells of workers that died.

This module owns a cell's status (``pending`` -> ``running`` -> ``done`` or ``failed``); the
store (``merbench.results.store``) inserts cells and writes their results.

A claim turns one ``pending`` cell into ``running`` under the claimer's name in one short
transaction: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (concurrent claimers skip the
row one of them holds), ``BEGIN IMMEDIATE`` on SQLite (claimers take turns), and in both the
update re-checks ``status = 'pending'``. Every claim is logged in the ``claims`` table. While a
cell runs its worker refreshes ``heartbeat_at``; times are the database server's clock, so
workers on machines with skewed clocks agree on what is stale. A ``running`` cell whose
heartbeat is older than the timeout, or whose worker ran on this machine and has exited (an
unreaped zombie included), is made ``pending`` again and claimed by the next worker.

Claims take the most expensive pending cell first (``cost``, estimated when the run lists its
cells: ``set_costs``), so the longest cells start early and a run does not end on one long cell
while every other process idles; cells of equal cost, or of none (a store older than costs), go
in the order they were listed. Which process runs a cell, and when, never changes its results.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from merbench.results import HEARTBEAT_TIMEOUT_S
from merbench.results.schema import CellKey, CellResult, cells, claims, key_of, now, where_key
from merbench.results.store import Store, write_result

HOST_ENV = "MERBENCH_WORKER_HOST"


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerId:
    """Who holds a cell: a display name, the machine (process namespace) and the process id."""

    name: str
    host: str
    pid: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Claim:
    """A cell this worker holds."""

    cell_id: int
    key: CellKey


def this_worker() -> WorkerId:
    """A new identity for this process: ``hostname:pid-xxxx`` on this machine's key.

    The machine key tells workers whose process ids can be checked here: the hostname, boot id
    and process namespace (so containers sharing a hostname differ), or ``$MERBENCH_WORKER_HOST``.
    """
    hostname = socket.gethostname()
    host = os.environ.get(HOST_ENV) or _machine_key(hostname)
    pid = os.getpid()
    return WorkerId(name=f"{hostname}:{pid}-{secrets.token_hex(2)}", host=host[:64], pid=pid)


@dataclass(frozen=True, kw_only=True)
class Queue:
    """How a process takes cells: who it is, which cells, and when a silent worker is dead."""

    worker: WorkerId = field(default_factory=this_worker)
    among: Collection[int] | None = None
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S
    on_wait: Callable[[], None] | None = None
    """Called while waiting for other workers' last cells (e.g. to report their progress)."""

    @property
    def beat_interval(self) -> float:
        """Seconds between heartbeats: a quarter of the timeout, at most 10 s."""
        return max(0.05, min(10.0, self.heartbeat_timeout / 4))


def _machine_key(hostname: str) -> str:
    parts = [hostname]
    for source in (Path("/proc/sys/kernel/random/boot_id"), Path("/proc/self/ns/pid")):
        try:
            parts.append(os.readlink(source) if source.is_symlink() else source.read_text())
        except OSError:
            parts.append("")
    return hashlib.sha256("\0".join(p.strip() for p in parts).encode()).hexdigest()[:32]


def db_clock(dialect: str) -> sa.ColumnElement[Any]:
    """The database server's current time in seconds since the epoch, as SQL."""
    if dialect == "postgresql":
        return sa.cast(sa.extract("epoch", sa.func.clock_timestamp()), sa.Float)
    if dialect == "sqlite":
        return (sa.func.julianday("now") - 2440587.5) * 86400.0
    if dialect in ("mysql", "mariadb"):
        return sa.cast(sa.func.unix_timestamp(sa.func.now(6)), sa.Float)
    import time

    return sa.literal(time.time(), sa.Float)  # other databases: this machine's clock


CLAIM_ORDER = (cells.c.cost.desc().nulls_last(), cells.c.id)
"""The most expensive pending cell first; among equal costs, the first listed."""


def claim(store: Store, worker: WorkerId, among: Collection[int] | None = None) -> Claim | None:
    """Take the most expensive pending cell (of ``among``, else any); ``None`` when none is."""
    taken = claim_many(store, worker, among, limit=1)
    return taken[0] if taken else None


def claim_many(
    store: Store, worker: WorkerId, among: Collection[int] | None = None, *, limit: int
) -> list[Claim]:
    """Take up to ``limit`` pending cells in one transaction, the most expensive first.

    For a process that hands its cells on (``--executor dask``): one query and one commit per
    batch, instead of one per cell, and ``among`` sent once per batch.
    """
    clock = db_clock(store.dialect)

    def take(conn: sa.Connection) -> list[Claim]:
        query = sa.select(cells).where(cells.c.status == "pending")
        if among is not None:
            query = query.where(cells.c.id.in_(list(among)))
        query = query.order_by(*CLAIM_ORDER).limit(limit).with_for_update(skip_locked=True)
        rows = conn.execute(query).mappings().all()
        ids = [int(row["id"]) for row in rows]
        if not ids:
            return []
        taken = conn.execute(
            cells.update()
            .where(cells.c.id.in_(ids), cells.c.status == "pending")
            .values(
                status="running",
                worker=worker.name,
                worker_host=worker.host,
                worker_pid=worker.pid,
                heartbeat_at=clock,
                started_at=now(),
                error=None,
            )
        )
        if taken.rowcount != len(ids):  # cannot happen under the locks above; never claim twice
            raise sa.exc.OperationalError("claim", {}, RuntimeError("cell taken concurrently"))
        stamp = now()
        conn.execute(
            claims.insert(),
            [{"cell_id": i, "worker": worker.name, "claimed_at": stamp} for i in ids],
        )
        return [Claim(cell_id=i, key=key_of(row)) for i, row in zip(ids, rows, strict=True)]

    return store.transact(take)


def set_costs(store: Store, costs: Mapping[int, float]) -> None:
    """Record the estimated cost of cells by id (any unit: only their order matters)."""
    rows = [{"cell": cell_id, "value": float(cost)} for cell_id, cost in costs.items()]
    if not rows:
        return
    update = (
        cells.update().where(cells.c.id == sa.bindparam("cell")).values(cost=sa.bindparam("value"))
    )
    store.transact(lambda conn: conn.execute(update, rows))


def beat(store: Store, held: Claim, worker: WorkerId) -> bool:
    """Refresh the heartbeat of a held cell; ``False`` when the cell is no longer this worker's."""
    return beat_many(store, [held], worker) == 1


BEAT_CHUNK = 500
"""Cells refreshed per statement: well under SQLite's limit on bound parameters."""


def beat_many(store: Store, held: Sequence[Claim], worker: WorkerId) -> int:
    """Refresh the heartbeats of every held cell in one transaction; return how many were still
    this worker's.

    A process holding many cells (a Dask run's, thousands on a large cluster) beats them all with
    a statement per ``BEAT_CHUNK`` cells instead of a transaction per cell.
    """
    ids = [one.cell_id for one in held]
    if not ids:
        return 0

    def refresh(conn: sa.Connection) -> int:
        count = 0
        for start in range(0, len(ids), BEAT_CHUNK):
            chunk = ids[start : start + BEAT_CHUNK]
            mine = [cells.c.id.in_(chunk), *_held_by(worker.name)]
            update = cells.update().where(*mine).values(heartbeat_at=db_clock(store.dialect))
            count += conn.execute(update).rowcount
        return count

    return int(store.transact(refresh))


def release(store: Store, held: Claim, worker: WorkerId) -> None:
    """Give a held cell back to the queue (interrupted, or this worker cannot run it)."""
    store.transact(
        lambda conn: conn.execute(
            cells.update().where(*_held(held, worker)).values(status="pending", heartbeat_at=None)
        )
    )


def requeue_dead(store: Store, worker: WorkerId, timeout_s: float) -> int:
    """Make ``pending`` again every running cell whose worker is gone; return how many.

    Gone: its heartbeat is older than ``timeout_s`` (or missing, as in stores written before
    heartbeats), or it ran on this machine under a process id that no longer exists.
    """
    stale = sa.or_(
        cells.c.heartbeat_at.is_(None), cells.c.heartbeat_at < db_clock(store.dialect) - timeout_s
    )
    with store.reader.connect() as conn:
        rows = conn.execute(
            sa.select(
                cells.c.id, cells.c.worker_pid, cells.c.worker_host, stale.label("stale")
            ).where(cells.c.status == "running", sa.or_(cells.c.worker_host == worker.host, stale))
        ).all()
    dead = [
        (i, pid)
        for i, pid, host, _ in rows
        if host == worker.host and pid is not None and not _is_alive(int(pid))
    ]
    if not dead and not any(overdue for *_, overdue in rows):
        return 0  # the usual case: no write transaction at all

    def requeue(conn: sa.Connection) -> int:
        running = cells.c.status == "running"
        count = conn.execute(
            cells.update().where(running, stale).values(status="pending", heartbeat_at=None)
        ).rowcount
        for cell_id, pid in dead:
            count += conn.execute(
                cells.update()
                .where(running, cells.c.id == cell_id, cells.c.worker_host == worker.host)
                .where(cells.c.worker_pid == pid)
                .values(status="pending", heartbeat_at=None)
            ).rowcount
        return int(count or 0)

    return store.transact(requeue)


def _held(held: Claim, worker: WorkerId) -> list[sa.ColumnElement[bool]]:
    return [cells.c.id == held.cell_id, cells.c.status == "running", cells.c.worker == worker.name]


def _is_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs (an exited, unreaped one does not)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a process of another user holds the id
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """Whether ``pid`` has exited and waits for its parent to reap it (Linux ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may hold any character.
    return stat[stat.rfind(")") + 1 :].split()[:1] == ["Z"]


def finish(store: Store, key: CellKey, result: CellResult, *, worker: str | None = None) -> bool:
    """Commit a finished cell with its predictions and trials in one transaction.

    With ``worker``, only while that worker still holds the cell: a cell re-queued after its
    worker's heartbeat went stale belongs to whoever claimed it next.

    Returns:
        Whether the result was stored.
    """

    def commit(conn: sa.Connection) -> bool:
        owned = [] if worker is None else _held_by(worker)
        cell_id = conn.execute(sa.select(cells.c.id).where(*where_key(key), *owned)).scalar()
        if cell_id is None:
            return False
        write_result(conn, int(cell_id), result)
        return True

    return store.transact(commit)


def fail(store: Store, key: CellKey, reason: str, *, worker: str | None = None) -> bool:
    """Store a cell as failed with a one-line reason (while ``worker`` holds it, if given)."""
    owned = [] if worker is None else _held_by(worker)
    result = store.transact(
        lambda conn: conn.execute(
            cells.update()
            .where(*where_key(key), *owned)
            .values(status="failed", error=reason, finished_at=now(), heartbeat_at=None)
        )
    )
    return bool(result.rowcount)


def retry_failed(store: Store, ids: Iterable[int]) -> int:
    """Make failed cells among ``ids`` pending again (a resumed run retries them)."""
    chosen = list(ids)
    if not chosen:
        return 0
    result = store.transact(
        lambda conn: conn.execute(
            cells.update()
            .where(cells.c.id.in_(chosen), cells.c.status == "failed")
            .values(status="pending")
        )
    )
    return int(result.rowcount or 0)


def _held_by(worker: str) -> list[sa.ColumnElement[bool]]:
    return [cells.c.status == "running", cells.c.worker == worker]
