"""Runs: build every cell of a comparison, run each in isolation, keep every finished result.

The runner loads plugins and datasets, makes the shared folds, and walks the cells. A cell that
raises is stored as failed with a one-line reason (the traceback goes to the run's log) and the
run goes on; finished cells are committed one by one, so an interrupted run resumes where it
stopped. Cells are taken from the store's queue (``merbench.worker``), so ``merbench worker``
processes on this or other machines can share a run's cells. It reports progress through a
``Reporter``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from merbench.audio import AudioSettings, AudioStore
from merbench.augment import add_policies, check_run_mode
from merbench.budgets import Budget, get_budget
from merbench.candidates import Candidate, Unavailable, expand_candidates
from merbench.cell import CellPlan, cell_seed
from merbench.config import Config, DatasetConfig, default_config_path, load_config
from merbench.cv import Fold, make_outer_folds, manifest, manifest_hash, official_folds
from merbench.data import Tracks, load_tracks
from merbench.errors import ConfigError, DatasetError, MerbenchError, RunError, did_you_mean
from merbench.features import FeatureStore
from merbench.jobs import PeerProgress, failed_workers, local_workers
from merbench.provenance import collect_provenance
from merbench.registry import Registry, load_registry
from merbench.stats import leakage_share, noise_ceiling_r2
from merbench.store import CellKey, Store, sqlite_url
from merbench.train import Problem

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


class Reporter(Protocol):
    """What a run tells its user while it works (the CLI draws it with rich)."""

    def run_started(self, total: int, done: int) -> None: ...

    def cell_started(self, key: CellKey) -> None: ...

    def epoch_ended(self, key: CellKey, epoch: int, value: float) -> None: ...

    def cell_finished(self, key: CellKey, status: str, summary: str) -> None: ...

    def message(self, text: str) -> None: ...


class SilentReporter:
    """A reporter that reports nothing (the Python API's default)."""

    def run_started(self, total: int, done: int) -> None:
        pass

    def cell_started(self, key: CellKey) -> None:
        pass

    def epoch_ended(self, key: CellKey, epoch: int, value: float) -> None:
        pass

    def cell_finished(self, key: CellKey, status: str, summary: str) -> None:
        pass

    def message(self, text: str) -> None:
        log.info("%s", text)


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What ``merbench run`` was asked to do."""

    models: tuple[str, ...] = ("all",)
    datasets: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    budget: str = "default"
    seed: int = 0
    config: Path | None = None
    name: str | None = None
    out: Path | None = None
    leaderboard: Path | None = None
    storage: str | None = None
    render: bool = True
    top_k: int | None = None
    precision: str = "fp32"
    enqueue_only: bool = False
    """Store the folds and pending cells, run none (``merbench worker`` processes run them)."""
    heartbeat_timeout: float = 60.0
    """Seconds without a heartbeat after which another worker's running cell is re-queued."""
    jobs: int = 1
    """Processes on this machine working through the cells at once (``merbench.jobs``)."""
    augment: tuple[str, ...] = ()
    """Augmentation policies (``specaugment``, ``gain+mixup``) added beside plain candidates."""
    augment_mode: str = "auto"
    """``auto`` (each augmentation's own mode), ``on-the-fly`` or ``pre-rendered``."""


@dataclass(kw_only=True)
class RunOutcome:
    """What a run did."""

    name: str
    run_dir: Path
    store_url: str
    leaderboard_dir: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)
    unavailable: list[Unavailable] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no cell failed and every requested candidate and dataset could run."""
        return not self.counts.get("failed") and not self.unavailable and not self.problems


@dataclass(frozen=True, kw_only=True)
class _Plan:
    """A checked run: datasets, candidates and where results go."""

    name: str
    run_dir: Path
    budget: Budget
    config: Config
    datasets: tuple[DatasetConfig, ...]
    candidates: tuple[Candidate, ...]
    unavailable: tuple[Unavailable, ...]


def plan_run(settings: RunSettings, registry: Registry) -> _Plan:
    """Check the settings against the plugins and the configuration, before any work.

    Raises:
        MerbenchError: an unknown budget, model, dataset or task, or a bad ``datasets.toml``.
    """
    budget = get_budget(settings.budget)
    config = load_config(settings.config or default_config_path(), registry.datasets)
    datasets = _select_datasets(config, settings.datasets)
    candidates, unavailable = expand_candidates(settings.models, registry)
    if not candidates:
        reasons = "; ".join(f"{u.name}: {u.reason}" for u in unavailable) or "none registered"
        raise ConfigError(f"No runnable candidate ({reasons}). Run 'merbench list candidates'.")
    check_run_mode(settings.augment_mode)
    if settings.augment:
        candidates = add_policies(candidates, settings.augment, registry)
    name = settings.name or "+".join(d.name for d in datasets)
    run_dir = settings.out or Path("runs") / name
    return _Plan(
        name=name,
        run_dir=run_dir,
        budget=budget,
        config=config,
        datasets=datasets,
        candidates=tuple(candidates),
        unavailable=tuple(unavailable),
    )


def _select_datasets(config: Config, names: Sequence[str]) -> tuple[DatasetConfig, ...]:
    where = str(config.source or "datasets.toml")
    if not names:
        enabled = config.enabled()
        if not enabled:
            raise ConfigError(f"{where}: no dataset is enabled. Set enabled = true on one.")
        return enabled
    chosen = []
    for name in names:
        known = [d.name for d in config.datasets]
        if name not in known:
            raise ConfigError(
                f"{where}: no dataset '{name}'.{did_you_mean(name, known)} "
                f"Declared: {', '.join(known)}. Add a [datasets.{name}] table to use it."
            )
        dataset = config.get(name)
        if not dataset.enabled:
            raise ConfigError(
                f"{where} [datasets.{name}]: the dataset is disabled. "
                "Set enabled = true in that table to run it."
            )
        chosen.append(dataset)
    return tuple(chosen)


def run(
    settings: RunSettings, *, registry: Registry | None = None, reporter: Reporter | None = None
) -> RunOutcome:
    """Run (or resume) a comparison and render its leaderboard.

    Raises:
        MerbenchError: the run cannot start (bad settings, configuration or run directory).
    """
    registry = registry or load_registry()
    reporter = reporter or SilentReporter()
    plan = plan_run(settings, registry)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    url = settings.storage or sqlite_url(plan.run_dir)
    outcome = RunOutcome(
        name=plan.name, run_dir=plan.run_dir, store_url=url, unavailable=list(plan.unavailable)
    )
    for item in plan.unavailable:
        reporter.message(f"Skipped candidate {item.name}: {item.reason}.")
    handler = log_to(plan.run_dir / "run.log")
    store = Store(url)
    audio = AudioStore(AudioSettings(sample_rate=SAMPLE_RATE, seconds=plan.budget.clip_seconds))
    try:
        store.start_run(
            plan.name,
            {
                "budget": plan.budget.name,
                "seed": settings.seed,
                "top_k": settings.top_k,
                "precision": settings.precision,
                # only when set, so runs made before the option existed still resume
                **({"augment_mode": m} if (m := settings.augment_mode) != "auto" else {}),
            },
            collect_provenance(registry, plan.config, settings.seed, plan.budget),
        )
        cells = _prepare_cells(plan, settings, registry, store, audio, outcome, reporter)
        store.save_plan(_stored_plan(plan, settings))
        ids = store.cell_ids()
        left = len(cells) - store.counts(ids[c.key] for c in cells).get("done", 0)
        jobs = 1 if settings.enqueue_only else max(1, min(settings.jobs, left))
        with local_workers(
            jobs,
            storage=url,
            run=plan.name,
            out=plan.run_dir,
            config=plan.config.source,
            heartbeat_timeout=settings.heartbeat_timeout,
        ) as peers:
            work = dataclasses.replace(settings, jobs=jobs)
            _run_cells(cells, store, FeatureStore(audio), outcome, reporter, work)
        for problem in failed_workers(peers, plan.run_dir):
            reporter.message(problem)
    finally:
        logging.getLogger("merbench").removeHandler(handler)
        handler.close()
        store.close()
    if settings.render and not settings.enqueue_only:
        from merbench.leaderboard.render import render_site

        outcome.leaderboard_dir = settings.leaderboard or Path("leaderboards") / plan.name
        render_site([url], outcome.leaderboard_dir, title=plan.name)
    return outcome


def _stored_plan(plan: _Plan, settings: RunSettings) -> dict[str, object]:
    """What workers read back to rebuild this run's cells (and what people read in the store)."""
    source = plan.config.source
    return {
        "config": str(Path(source).resolve()) if source else None,
        "models": list(settings.models),
        "datasets": [d.name for d in plan.datasets],
        "tasks": list(settings.tasks),
        "candidates": [c.name for c in plan.candidates],
    }


def log_to(path: Path) -> logging.Handler:
    """Send merbench's INFO logs (tracebacks of failed cells) to ``path``; return the handler."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("merbench")
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def _prepare_cells(
    plan: _Plan,
    settings: RunSettings,
    registry: Registry,
    store: Store,
    audio: AudioStore,
    outcome: RunOutcome,
    reporter: Reporter,
) -> list[CellPlan]:
    """Load every dataset, make and store its folds, and list the cells to run."""
    cells: list[CellPlan] = []
    for dataset in plan.datasets:
        spec = registry.dataset(dataset.plugin)
        tasks = _tasks_for(spec.tasks, settings.tasks, dataset.name)
        reporter.message(f"Loading dataset {dataset.name} ...")
        try:
            tracks = load_tracks(dataset, spec, tasks, check_audio=audio.load)
        except DatasetError as exc:
            outcome.problems.append(str(exc))
            reporter.message(f"Skipped dataset {dataset.name}: {exc}")
            continue
        store.record_skipped_tracks(dataset.name, tracks.skipped)
        if tracks.skipped:
            reporter.message(
                f"{dataset.name}: left out {len(tracks.skipped)} unusable track(s) "
                f"(listed in {plan.run_dir / 'run.log'})."
            )
        for task in tasks:
            folds = store_folds(tracks, task, dataset, plan.budget, settings.seed, store)
            cells += _cells_for(plan, registry, tracks, task, folds, settings)
    store.add_cells(c.key for c in cells)
    return cells


def _tasks_for(supported: Sequence[str], asked: Sequence[str], dataset: str) -> list[str]:
    if not asked:
        return [supported[0]]
    if "all" in asked:
        return list(supported)
    tasks = [t for t in asked if t in supported]
    if not tasks:
        raise ConfigError(
            f"Dataset '{dataset}' supports {', '.join(supported)}; none of {', '.join(asked)}."
        )
    return tasks


def store_folds(
    tracks: Tracks, task: str, dataset: DatasetConfig, budget: Budget, seed: int, store: Store
) -> list[Fold]:
    """Make a dataset's outer folds for a task and store their manifest (or check it).

    Raises:
        ConfigError: an official split the dataset plugin does not provide.
        RunError: the folds differ from the ones stored for this run (the dataset changed).
    """
    table = tracks.table
    if dataset.split == "official":
        if "split" not in table:
            raise ConfigError(
                f"[datasets.{dataset.name}]: split = 'official', but dataset plugin "
                f"'{dataset.plugin}' has no official split. Use split = 'grouped'."
            )
        folds = official_folds(table["split"].astype(str).tolist())
    else:
        classes = None if task == "av-regression" else tracks.targets(task)
        folds = make_outer_folds(
            table["group"].tolist(),
            n_folds=budget.outer_folds,
            repeats=budget.repeats,
            seed=seed,
            classes=classes,
        )
    content = manifest(table["track_id"].tolist(), folds)
    digest = manifest_hash(content)
    groups = table["group"].to_numpy()
    audit = {
        "protocol": dataset.split,
        "n_folds": len({f.fold for f in folds}),
        "repeats": len({f.repeat for f in folds}),
        "leakage": max(leakage_share(groups[f.train], groups[f.test]) for f in folds),
        "n_tracks": len(table),
        "n_groups": int(table["group"].nunique()),
        "n_skipped": len(tracks.skipped),
    }
    if task == "av-regression":
        ceiling = _noise_ceiling(table)
        if ceiling is not None:
            audit["noise_ceiling_r2"] = ceiling
    stored = store.save_split(dataset.name, task, digest, content, audit)
    if stored != digest:
        raise RunError(
            f"Dataset '{dataset.name}' changed since this run started (its folds differ). "
            "Start another run with --out, or --fresh to replace this one."
        )
    return folds


def _noise_ceiling(table: pd.DataFrame) -> float | None:
    """The best mean R² the labels allow, when the dataset publishes the raters' spread."""
    columns = ["arousal_std", "valence_std"]
    if not set(columns) <= set(table.columns):
        return None
    n_raters = int(table["n_raters"].median()) if "n_raters" in table else None
    try:
        return noise_ceiling_r2(
            table[columns].to_numpy(dtype=float),
            table[["arousal", "valence"]].to_numpy(dtype=float),
            n_raters,
        )
    except ValueError as exc:
        log.info("no noise ceiling: %s", exc)
        return None


def _cells_for(
    plan: _Plan,
    registry: Registry,
    tracks: Tracks,
    task: str,
    folds: Sequence[Fold],
    settings: RunSettings,
) -> list[CellPlan]:
    problem = make_problem(task, tracks, plan.budget, settings)
    cells = []
    for candidate in plan.candidates:
        if task not in registry.model(candidate.model).tasks:
            continue
        for fold in folds:
            key = CellKey(
                dataset=tracks.name,
                task=task,
                candidate=candidate.name,
                repeat=fold.repeat,
                fold=fold.fold,
            )
            cells.append(
                make_cell(
                    key,
                    registry=registry,
                    tracks=tracks,
                    candidate=candidate,
                    fold=fold,
                    problem=problem,
                    settings=settings,
                )
            )
    return cells


def make_problem(task: str, tracks: Tracks, budget: Budget, settings: RunSettings) -> Problem:
    """What every cell of one dataset and task shares: labels, budget, sample rate, options."""
    return Problem(
        task=task,
        labels=() if task == "av-regression" else tracks.labels(task),
        budget=budget,
        sample_rate=SAMPLE_RATE,
        top_k=settings.top_k,
        precision="bf16" if settings.precision == "bf16" else "fp32",
    )


def make_cell(
    key: CellKey,
    *,
    registry: Registry,
    tracks: Tracks,
    candidate: Candidate,
    fold: Fold,
    problem: Problem,
    settings: RunSettings,
) -> CellPlan:
    """The plan of one cell (``merbench worker`` rebuilds cells through this too)."""
    return CellPlan(
        key=key,
        tracks=tracks,
        candidate=candidate,
        model=registry.model(candidate.model),
        frontends=tuple(registry.frontend(f) for f in candidate.frontends),
        fold=fold,
        problem=problem,
        seed=cell_seed(settings.seed, key),
        augmentations=tuple(registry.augmentation(a) for a in candidate.augmentations),
        augment_mode=settings.augment_mode,
        render_seed=settings.seed,
    )


def _run_cells(
    cells: Sequence[CellPlan],
    store: Store,
    features: FeatureStore,
    outcome: RunOutcome,
    reporter: Reporter,
    settings: RunSettings,
) -> None:
    """Run this run's pending cells through the queue, beside any workers sharing it."""
    from merbench.worker import Queue, process_cells

    ids = store.cell_ids()
    planned = {c.key: c for c in cells}
    among = frozenset(ids[k] for k in planned)
    store.retry_failed(among)  # a resumed run tries its failed cells again
    done = store.counts(among).get("done", 0)
    if settings.enqueue_only:
        outcome.counts = {"done": 0, "failed": 0, "resumed": done}
        reporter.message(f"{len(among) - done} cell(s) queued for 'merbench worker'.")
        return
    if settings.jobs > 1:  # one display for the cells of every local process
        reporter = PeerProgress(reporter, store, among)
    reporter.run_started(len(cells), done)
    poll = reporter.poll if isinstance(reporter, PeerProgress) else None
    queue = Queue(among=among, heartbeat_timeout=settings.heartbeat_timeout, on_wait=poll)
    counts = process_cells(store, planned.__getitem__, features, reporter, queue)
    if poll is not None:
        poll()  # the cells the other processes finished last
    if settings.jobs > 1:
        final = store.counts(among)
        counts = {"done": final.get("done", 0) - done, "failed": final.get("failed", 0)}
    outcome.counts = counts | {"resumed": done}


def one_line(exc: BaseException) -> str:
    """A failed cell's reason: the exception's first line, with its type unless merbench's."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = "" if isinstance(exc, MerbenchError) else f"{type(exc).__name__}: "
    return f"{kind}{text}"[:300]


def summarize_metrics(metrics: Mapping[str, object] | object, task: str) -> str:
    """A finished cell's one-line summary: its primary metric, e.g. ``r2_mean=0.412``."""
    from merbench.metrics import primary_metric

    name = primary_metric(task)
    value = metrics.get(name) if isinstance(metrics, Mapping) else None
    return f"{name}={value:.3f}" if isinstance(value, float) else ""
