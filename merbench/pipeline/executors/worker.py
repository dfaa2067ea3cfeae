"""Workers: the claim loop every process runs, and ``merbench worker``.

``process_cells`` claims a cell from the store's queue, builds it (``merbench.pipeline.plan``), runs
it with heartbeats and stores it, until no cell of the run is pending or running anywhere; it is
the loop ``merbench run`` itself uses, so a run and its workers share the work. ``work`` is the
``merbench worker`` command: it reads the run back from the store (budget, seed and settings,
the datasets.toml path, the folds' manifests) and runs cells exactly as a single process would:
the same folds (a dataset whose folds hash differently is refused), the same cell seed, a fresh
study.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from merbench.data.features import FeatureStore
from merbench.pipeline.cell import CellPlan, run_cell
from merbench.pipeline.executors.jobs import cell_threads
from merbench.pipeline.plan import CellBuilder, read_stored_run
from merbench.pipeline.progress import (
    Reporter,
    SilentReporter,
    Step,
    log_to,
    one_line,
    stop_logging_to,
    summarize_metrics,
)
from merbench.pipeline.settings import check_folder
from merbench.plugin.registry import Registry, load_registry
from merbench.results import HEARTBEAT_TIMEOUT_S
from merbench.results.queue import (
    Claim,
    Queue,
    beat,
    claim,
    fail,
    finish,
    release,
    requeue_dead,
)
from merbench.results.schema import CellKey
from merbench.results.store import Store
from merbench.train.tuning import close_study_storage, open_study_storage, study_placement

log = logging.getLogger(__name__)

Resolve = Callable[[CellKey], CellPlan]


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """What ``merbench worker`` was asked to do."""

    storage: str
    run: str | None = None
    config: Path | None = None
    out: Path | None = None
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S


def process_cells(
    store: Store,
    resolve: Resolve,
    features: FeatureStore,
    reporter: Reporter,
    queue: Queue,
) -> dict[str, int]:
    """Claim and run cells until none of ``queue.among`` is pending or running anywhere.

    While other workers still run cells, wait (and take over any whose worker dies).

    Returns:
        How many cells this process finished (``done``) and how many failed.
    """
    counts = {"done": 0, "failed": 0}
    run = store.read_run()
    prefix = str(run["name"]) if run else "run"
    studies = open_study_storage(store)
    try:
        while (held := _next_cell(store, queue)) is not None:
            try:
                plan = resolve(held.key)
            except BaseException:
                release(store, held, queue.worker)
                raise
            with study_placement(studies, f"{prefix}/{held.key.label()}"):
                status = _run_claimed(store, plan, held, features, reporter, queue)
            if status in counts:
                counts[status] += 1
    finally:
        close_study_storage(studies)
    return counts


def _next_cell(store: Store, queue: Queue) -> Claim | None:
    """Claim a cell, waiting while others run the last ones; ``None`` once all are finished."""
    while True:
        requeue_dead(store, queue.worker, queue.heartbeat_timeout)
        held = claim(store, queue.worker, queue.among)
        if held is not None:
            return held
        left = store.counts(queue.among)
        if not left.get("pending") and not left.get("running"):
            return None
        if queue.on_wait is not None:
            queue.on_wait()
        time.sleep(min(2.0, queue.beat_interval))


def _run_claimed(
    store: Store,
    plan: CellPlan,
    held: Claim,
    features: FeatureStore,
    reporter: Reporter,
    queue: Queue,
) -> str:
    """Run one held cell with heartbeats; store it; return ``done``, ``failed`` or ``lost``."""
    key, me = held.key, queue.worker.name
    reporter.cell_started(key)

    def on_epoch(step: Step) -> None:
        reporter.epoch_ended(key, step)

    try:
        with Heartbeat(store, held, queue):
            result = run_cell(plan, features, on_epoch)
    except KeyboardInterrupt:
        release(store, held, queue.worker)
        raise
    except Exception as exc:
        reason = one_line(exc)
        # The traceback goes to the log file (INFO); the console shows the one-line reason.
        log.info("cell %s failed: %s\n%s", key.label(), reason, traceback.format_exc())
        if not fail(store, key, reason, worker=me):
            return _lost(key, reporter)
        reporter.cell_finished(key, "failed", reason)
        return "failed"
    if not finish(store, key, result, worker=me):
        return _lost(key, reporter)
    reporter.cell_finished(key, "done", summarize_metrics(result.metrics, key.task))
    return "done"


def _lost(key: CellKey, reporter: Reporter) -> str:
    reporter.message(
        f"{key.label()}: another worker took this cell over (this one's heartbeat was late); "
        "its result is the one kept."
    )
    return "lost"


class Heartbeat:
    """A background thread that refreshes a held cell's heartbeat until the block ends."""

    def __init__(self, store: Store, held: Claim, queue: Queue) -> None:
        self.store, self.held, self.queue = store, held, queue
        self.is_lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="merbench-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.queue.beat_interval):
            try:
                owned = beat(self.store, self.held, self.queue.worker)
            except Exception as exc:  # a database hiccup: the next beat may get through
                log.warning("heartbeat of %s failed: %s", self.held.key.label(), exc)
                continue
            if not owned:
                self.is_lost = True
                log.warning("%s was re-queued while this worker ran it", self.held.key.label())
                return


def work(
    settings: WorkerSettings, *, registry: Registry | None = None, reporter: Reporter | None = None
) -> dict[str, int]:
    """Run a stored run's pending cells until the run is finished; return this worker's counts.

    Raises:
        MerbenchError: no store at a SQLite URL (a worker never creates one), a store that
            cannot be opened, no run in the store, another run name,
            a dataset that differs from the run's, a candidate whose plugins are not installed
            here, or an ``--out`` folder that cannot be written.
    """
    registry = registry or load_registry()
    reporter = reporter or SilentReporter()
    store = Store(settings.storage, create=False)  # a worker never creates a store
    try:
        stored = read_stored_run(store, registry, run=settings.run, config=settings.config)
        builder = CellBuilder(
            store, registry, stored.settings, stored.config, stored.tasks, stored.budget
        )
        queue = Queue(heartbeat_timeout=settings.heartbeat_timeout)
        out = settings.out or Path("runs") / stored.name
        check_folder(out, "--out")
        out.mkdir(parents=True, exist_ok=True)
        handler = log_to(out / f"worker-{queue.worker.name.replace(':', '-')}.log")
        # Every process runs the run's torch cells with the thread count stored with it.
        threads = dict((store.read_run() or {}).get("settings") or {}).get("threads")
        try:
            counts = store.counts()
            reporter.run_started(sum(counts.values()), counts.get("done", 0))
            with cell_threads(None if threads is None else int(threads)):
                return process_cells(store, builder.resolve, builder.features, reporter, queue)
        finally:
            stop_logging_to(handler)
    finally:
        store.close()
