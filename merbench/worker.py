"""Workers: processes, on any number of machines, that share the cells of one run.

``merbench worker --storage URL`` opens a run's results store, rebuilds each cell it claims from
what ``merbench run`` stored (budget, seed and settings, the datasets.toml path, the folds'
manifests) and runs it exactly as a single process would: the same folds (a dataset whose folds
hash differently is refused), the same cell seed, a fresh study. The claim loop here is also the
one ``merbench run`` itself uses, so a run and its workers can share the work.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from merbench.errors import ConfigError, PluginError, RunError
from merbench.queue import Claim, WorkerId, beat, claim, release, requeue_dead, this_worker
from merbench.store import CellKey, Store

if TYPE_CHECKING:
    from merbench.budgets import Budget
    from merbench.cell import CellPlan
    from merbench.config import Config
    from merbench.cv import Fold
    from merbench.data import Tracks
    from merbench.features import FeatureStore
    from merbench.registry import Registry
    from merbench.runner import Reporter, RunSettings

log = logging.getLogger(__name__)

HEARTBEAT_TIMEOUT_S = 60.0
Resolve = Callable[[CellKey], "CellPlan"]


@dataclass(frozen=True, kw_only=True)
class WorkerSettings:
    """What ``merbench worker`` was asked to do."""

    storage: str
    run: str | None = None
    config: Path | None = None
    out: Path | None = None
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S


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
    from merbench.tuning import close_study_storage, open_study_storage, study_placement

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
    from merbench.cell import run_cell
    from merbench.runner import one_line, summarize_metrics

    if plan.model.family == "torch":
        from merbench.torch_train import set_threads

        set_threads()
    key, me = held.key, queue.worker.name
    reporter.cell_started(key)

    def on_epoch(epoch: int, value: float) -> None:
        reporter.epoch_ended(key, epoch, value)

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
        if not store.fail(key, reason, worker=me):
            return _lost(key, reporter)
        reporter.cell_finished(key, "failed", reason)
        return "failed"
    if not store.finish(key, result, worker=me):
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
        MerbenchError: no run in the store, another run name, a dataset that differs from the
            run's, or a candidate whose plugins are not installed here.
    """
    from merbench.features import FeatureStore
    from merbench.registry import load_registry
    from merbench.runner import SilentReporter, log_to

    registry = registry or load_registry()
    reporter = reporter or SilentReporter()
    store = Store(settings.storage)
    try:
        builder = CellBuilder(store, registry, settings)
        queue = Queue(heartbeat_timeout=settings.heartbeat_timeout)
        out = settings.out or Path("runs") / builder.run.name
        out.mkdir(parents=True, exist_ok=True)
        handler = log_to(out / f"worker-{queue.worker.name.replace(':', '-')}.log")
        try:
            counts = store.counts()
            reporter.run_started(sum(counts.values()), counts.get("done", 0))
            features = FeatureStore(builder.audio)
            return process_cells(store, builder.resolve, features, reporter, queue)
        finally:
            logging.getLogger("merbench").removeHandler(handler)
            handler.close()
    finally:
        store.close()


@dataclass(frozen=True, kw_only=True)
class StoredRun:
    """What a worker reads back from the store about the run it serves."""

    name: str
    settings: RunSettings
    config: Path
    tasks: dict[str, tuple[str, ...]]

    @property
    def budget(self) -> Budget:
        """The run's budget."""
        from merbench.budgets import get_budget

        return get_budget(self.settings.budget)


def read_stored_run(store: Store, settings: WorkerSettings) -> StoredRun:
    """Read the run a worker serves: name, settings, datasets.toml, tasks per dataset.

    Raises:
        RunError: no run in the store, or a run of another name than ``--run``.
    """
    from merbench.config import default_config_path
    from merbench.runner import RunSettings

    row = store.read_run()
    where = store.engine.url.render_as_string(hide_password=True)
    if row is None:
        raise RunError(
            f"{where}: no run in this store yet. Start one with 'merbench run --storage URL "
            "--enqueue-only ...', then start the workers."
        )
    if settings.run is not None and settings.run != row["name"]:
        raise RunError(
            f"{where}: this store holds run '{row['name']}', not '{settings.run}'. "
            f"Pass --run {row['name']} (or the --storage URL of run '{settings.run}')."
        )
    known = {f.name for f in fields(RunSettings)}
    stored = {k: v for k, v in dict(row["settings"]).items() if k in known}
    plan = dict(row.get("plan") or {})
    config = settings.config
    if config is None:
        recorded = Path(plan["config"]) if plan.get("config") else None
        config = recorded if recorded is not None and recorded.exists() else default_config_path()
    tasks: dict[str, list[str]] = {}
    for split in store.table("splits"):
        tasks.setdefault(split["dataset"], []).append(split["task"])
    return StoredRun(
        name=str(row["name"]),
        settings=RunSettings(**stored),
        config=config,
        tasks={d: tuple(t) for d, t in tasks.items()},
    )


class CellBuilder:
    """Rebuilds the plan of any cell of a stored run, loading each dataset and its folds once."""

    def __init__(self, store: Store, registry: Registry, settings: WorkerSettings) -> None:
        from merbench.audio import AudioSettings, AudioStore
        from merbench.config import load_config
        from merbench.runner import SAMPLE_RATE

        self.store, self.registry = store, registry
        self.run = read_stored_run(store, settings)
        self.config: Config = load_config(self.run.config, registry.datasets)
        seconds = self.run.budget.clip_seconds
        self.audio = AudioStore(AudioSettings(sample_rate=SAMPLE_RATE, seconds=seconds))
        self._tracks: dict[str, Tracks] = {}
        self._folds: dict[tuple[str, str], dict[tuple[int, int], Fold]] = {}

    def resolve(self, key: CellKey) -> CellPlan:
        """The plan of the cell ``key``, as ``merbench run`` would have made it.

        Raises:
            MerbenchError: the dataset is not configured here or differs from the run's, or
                the candidate cannot run with the plugins installed here.
        """
        from merbench.candidates import check_candidate, parse_candidate
        from merbench.runner import make_cell, make_problem

        candidate = parse_candidate(key.candidate)
        reason = check_candidate(candidate, self.registry)
        if reason:
            raise PluginError(
                f"Candidate {key.candidate} of run '{self.run.name}' cannot run here: {reason}. "
                "Install the plugins of the machine that started the run."
            )
        tracks = self._dataset(key.dataset)
        folds = self._folds_of(key.dataset, key.task, tracks)
        return make_cell(
            key,
            registry=self.registry,
            tracks=tracks,
            candidate=candidate,
            fold=folds[(key.repeat, key.fold)],
            problem=make_problem(key.task, tracks, self.run.budget, self.run.settings),
            settings=self.run.settings,
        )

    def _dataset(self, name: str) -> Tracks:
        from merbench.data import load_tracks

        if name not in self._tracks:
            known = [d.name for d in self.config.datasets]
            if name not in known:
                raise ConfigError(
                    f"{self.config.source or 'datasets.toml'}: no dataset '{name}', which run "
                    f"'{self.run.name}' uses. Pass --config with a datasets.toml that declares it "
                    "(its files may sit at other paths on this machine)."
                )
            dataset = self.config.get(name)
            spec = self.registry.dataset(dataset.plugin)
            tasks = self.run.tasks.get(name) or spec.tasks[:1]
            self._tracks[name] = load_tracks(dataset, spec, tasks, check_audio=self.audio.load)
        return self._tracks[name]

    def _folds_of(self, dataset: str, task: str, tracks: Tracks) -> dict[tuple[int, int], Fold]:
        from merbench.runner import store_folds

        if (dataset, task) not in self._folds:
            folds = store_folds(
                tracks,
                task,
                self.config.get(dataset),
                self.run.budget,
                self.run.settings.seed,
                self.store,
            )
            self._folds[(dataset, task)] = {(f.repeat, f.fold): f for f in folds}
        return self._folds[(dataset, task)]
