"""Dask: a run's cells as tasks on a Dask cluster (``merbench run --executor dask``).

The run's own process keeps the results store; Dask workers never open it. The run claims its
pending cells from the store's queue, submits each one as a task, keeps their heartbeats while
they run, and stores each result once, as its future completes. A Dask worker builds the cell
from its key and the run's stored settings (``DaskRun``) through the same ``plan.CellBuilder``
as ``merbench worker``, runs it with the run's threads per cell, and returns its ``CellResult``
or a one-line reason: a failing cell never stops the run. Dask reschedules the task of a worker
that dies; a run process that dies leaves its cells ``running`` under its own name, and the next
run on the store takes them back (``requeue_dead``). Importing this module does not import
``distributed``: only connecting to a cluster does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from merbench.data.config import Config
from merbench.errors import ConfigError, RunError
from merbench.pipeline.executors.dask_tasks import (
    CellOutcome,
    DaskRun,
    run_one_cell,
    version_problem,
)
from merbench.pipeline.progress import Reporter, one_line, summarize_metrics
from merbench.pipeline.settings import RunSettings
from merbench.results.queue import (
    Claim,
    Queue,
    beat_many,
    claim_many,
    fail,
    finish,
    release,
    requeue_dead,
)
from merbench.results.schema import CellKey
from merbench.results.store import Store

if TYPE_CHECKING:
    from distributed import Client, Future

LOOPBACK = "127.0.0.1"
"""Where a local cluster listens: nothing outside this machine can reach it."""
log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "merbench[dask]"'
CLAIM_BATCH = 100
"""Cells claimed in one transaction: the first tasks start at once, and claiming thousands of
cells costs tens of transactions, not thousands."""


@dataclass(frozen=True, kw_only=True)
class Executor:
    """Where a run's cells run: ``local`` or ``dask``, and the Dask scheduler's address."""

    kind: str = "local"
    scheduler: str | None = None
    """``None`` with ``dask``: a local cluster of ``--jobs`` processes."""


def chosen_executor(settings: RunSettings, config: Config) -> Executor:
    """The run's executor: ``--executor``/``--scheduler``, else ``datasets.toml``'s ``[executor]``.

    Checked before any work: ``dask`` needs ``distributed`` installed.

    Raises:
        ConfigError: ``--scheduler`` without the dask executor, or ``distributed`` missing.
    """
    kind = settings.executor or config.executor.kind or "local"
    if kind != "dask":
        if settings.scheduler is not None:
            raise ConfigError(
                f"--scheduler {settings.scheduler}: a scheduler is for --executor dask only. "
                "Add --executor dask, or leave --scheduler out."
            )
        return Executor(kind=kind)
    if importlib.util.find_spec("distributed") is None:
        raise ConfigError(
            f"--executor dask: Dask's 'distributed' is not installed. Run: {INSTALL_HINT}"
        )
    return Executor(kind=kind, scheduler=settings.scheduler or config.executor.scheduler)


@contextlib.contextmanager
def connect(scheduler: str | None, workers: int) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, else of a new local cluster of processes.

    The local cluster has ``workers`` processes of one thread each and no dashboard.

    Raises:
        ConfigError: ``distributed`` is not installed.
        RunError: the scheduler cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            f"--executor dask: Dask's 'distributed' is not installed. Run: {INSTALL_HINT}"
        ) from None
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            # This machine only: the scheduler, its workers and its status page (on a free
            # port; Dask's default 8787 may be taken) listen on loopback.
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host=LOOPBACK,
                    dashboard_address=f"{LOOPBACK}:0",
                )
            )
            log.info("started a local Dask cluster of %d worker process(es)", workers)
            address: Any = cluster
        else:
            address = scheduler
        try:
            client = stack.enter_context(Client(address, timeout="30s"))
        except (OSError, TimeoutError) as exc:
            raise RunError(
                f"--scheduler {scheduler}: cannot reach the Dask scheduler ({one_line(exc)}). "
                "Start it (dask scheduler) and pass its address, e.g. tcp://host:8786."
            ) from None
        yield client


def refuse_other_versions(client: Client, versions: Mapping[str, str]) -> None:
    """Refuse a cluster with a worker whose merbench or plugin versions differ from the run's.

    Raises:
        RunError: naming the worker and the versions that differ.
    """
    answers = client.run(version_problem, dict(versions))
    for address, problem in sorted(answers.items()):
        if problem:
            raise RunError(
                f"Dask worker {address}: has {problem}. Install the run's merbench and plugin "
                "versions on every worker (docs/scale-out.md), then run again."
            )


class HeldCells:
    """The cells this run process holds while Dask runs them, with one heartbeat thread.

    On leaving (finished, interrupted or failed) the cells still held go back to the queue.
    """

    def __init__(self, store: Store, queue: Queue) -> None:
        self.store, self.queue = store, queue
        self.claims: dict[str, Claim] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="merbench-dask-beat", daemon=True)

    def __enter__(self) -> HeldCells:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for held in self.take_all():
            release(self.store, held, self.queue.worker)

    def add(self, task: str, held: Claim) -> None:
        with self._lock:
            self.claims[task] = held

    def pop(self, task: str) -> Claim:
        with self._lock:
            return self.claims.pop(task)

    def take_all(self) -> list[Claim]:
        with self._lock:
            taken, self.claims = list(self.claims.values()), {}
        return taken

    def _beat(self) -> None:
        while not self._stop.wait(self.queue.beat_interval):
            with self._lock:
                held = list(self.claims.values())
            try:
                beat_many(self.store, held, self.queue.worker)
            except Exception as exc:  # a database hiccup: the next beat may get through
                log.warning("heartbeat of %d cell(s) failed: %s", len(held), exc)


@dataclass(frozen=True, kw_only=True)
class DaskWork:
    """Where a run's cells go: its store and queue, the cluster, what tasks carry, who hears."""

    store: Store
    queue: Queue
    run: DaskRun
    reporter: Reporter


def run_on_dask(work: DaskWork, *, scheduler: str | None, workers: int) -> dict[str, int]:
    """Run the pending cells of ``work.queue.among`` on Dask until none is pending or running.

    Cells that others hold (``merbench worker`` processes, or a dead run process until its
    cells are re-queued) are waited for, as ``merbench worker`` waits.

    Returns:
        How many cells this process stored as ``done`` and as ``failed``.
    """
    counts = {"done": 0, "failed": 0}
    if not _unfinished(work):
        return counts  # a finished run resumed: no cluster to start
    with connect(scheduler, workers) as client, HeldCells(work.store, work.queue) as held:
        refuse_other_versions(client, work.run.versions)
        while True:
            requeue_dead(work.store, work.queue.worker, work.queue.heartbeat_timeout)
            futures = _submit_pending(client, work, held)
            if futures:
                _collect(futures, work, held, counts)
                continue
            if not _unfinished(work):
                return counts
            time.sleep(min(2.0, work.queue.beat_interval))


def _unfinished(work: DaskWork) -> bool:
    """Whether a cell of the run is still pending or running anywhere."""
    left = work.store.counts(work.queue.among)
    return bool(left.get("pending") or left.get("running"))


def _submit_pending(client: Client, work: DaskWork, held: HeldCells) -> list[Future[CellOutcome]]:
    """Claim the run's pending cells in batches, submit each as a task; return their futures."""
    futures = []
    nonce = secrets.token_hex(4)  # a resumed run's tasks never share a key with a dead one's
    queue = work.queue
    while batch := claim_many(work.store, queue.worker, queue.among, limit=CLAIM_BATCH):
        for cell in batch:
            name = f"merbench-cell-{cell.cell_id}-{nonce}"
            held.add(name, cell)
            futures.append(client.submit(run_one_cell, cell.key, work.run, pure=False, key=name))
    if futures:
        log.info("submitted %d cell(s) to Dask", len(futures))
    return futures


def _collect(
    futures: list[Future[CellOutcome]], work: DaskWork, held: HeldCells, counts: dict[str, int]
) -> None:
    """Store each cell's outcome once, as its future completes, and report it."""
    from distributed import as_completed

    for future in as_completed(futures):
        cell = held.pop(str(future.key))
        status = _store(work, cell, outcome_of(future))
        future.release()
        if status in counts:
            counts[status] += 1


def outcome_of(future: Future[CellOutcome]) -> CellOutcome:
    """A finished task's outcome; a task Dask gave up on (its workers kept dying) failed."""
    try:
        return future.result()
    except Exception as exc:
        return CellOutcome(status="failed", reason=f"Dask task failed: {one_line(exc)}")


def _store(work: DaskWork, cell: Claim, outcome: CellOutcome) -> str:
    """Store a held cell's outcome; return ``done``, ``failed`` or ``lost``."""
    key, me, reporter = cell.key, work.queue.worker.name, work.reporter
    if outcome.status == "done" and outcome.result is not None:
        if not finish(work.store, key, outcome.result, worker=me):
            return _lost(key, reporter)
        reporter.cell_finished(key, "done", summarize_metrics(outcome.result.metrics, key.task))
        return "done"
    # The traceback goes to the run's log file (INFO); the console shows the one-line reason.
    log.info("cell %s failed: %s\n%s", key.label(), outcome.reason, outcome.trace)
    if not fail(work.store, key, outcome.reason, worker=me):
        return _lost(key, reporter)
    reporter.cell_finished(key, "failed", outcome.reason)
    return "failed"


def _lost(key: CellKey, reporter: Reporter) -> str:
    reporter.message(
        f"{key.label()}: another worker took this cell over (this run's heartbeat was late); "
        "its result is the one kept."
    )
    return "lost"
