"""Runs: one ``merbench run`` (or ``merbench.run()``) from its settings to its stored results.

The runner plans the run (``merbench.pipeline.plan``), records it in its results store, lists its
cells (loading each dataset and storing its folds), then works through them with this process and
any ``--jobs`` local workers (``merbench.pipeline.executors.jobs``), all claiming cells from the
store's queue (``merbench.pipeline.executors.worker``), as ``merbench worker`` processes on other
machines can too. A cell that raises is stored as failed and the run goes on; finished cells are
committed one by one, so an interrupted run resumes where it stopped. Rendering the leaderboard is
left to the caller (the CLI and the Python API).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from merbench.data.config import DatasetConfig
from merbench.errors import DatasetError, RunError, end_sentence
from merbench.evaluation.transfer import TRANSFER, pair_name
from merbench.pipeline.candidates import Unavailable
from merbench.pipeline.costs import prioritise
from merbench.pipeline.estimate import RunEstimate, summary_lines, totals_line
from merbench.pipeline.executors.dask_executor import (
    DaskWork,
    Executor,
    chosen_executor,
    run_on_dask,
)
from merbench.pipeline.executors.dask_tasks import dask_run
from merbench.pipeline.executors.jobs import (
    THREADS_ENV,
    PeerProgress,
    cell_threads,
    failed_workers,
    local_workers,
    reap,
    resolve_jobs,
    resolve_threads,
    visible_gpus,
)
from merbench.pipeline.executors.worker import process_cells
from merbench.pipeline.plan import (
    CellBuilder,
    RunPlan,
    budget_identity,
    cell_keys,
    plan_run,
    stored_plan,
)
from merbench.pipeline.probe import plan_only, run_plan
from merbench.pipeline.progress import Reporter, SilentReporter, log_to, stop_logging_to
from merbench.pipeline.provenance import collect_provenance, portable_text
from merbench.pipeline.settings import RunSettings, check_folder
from merbench.pipeline.tracking import require_mlflow, track
from merbench.plugin.registry import Registry, load_registry
from merbench.results.queue import Queue, retry_failed
from merbench.results.schema import CellKey
from merbench.results.store import Store
from merbench.results.urls import display_url, sqlite_url

if TYPE_CHECKING:
    import subprocess

log = logging.getLogger(__name__)

SQLITE_FILES = ("results.sqlite", "results.sqlite-wal", "results.sqlite-shm", "run.log")


@dataclass(kw_only=True)
class RunOutcome:
    """What a run did."""

    name: str
    run_dir: Path
    store_url: str
    site_dir: Path
    """Where the run's leaderboard belongs (``RunSettings.site_dir``)."""
    counts: dict[str, int] = field(default_factory=dict)
    unavailable: list[Unavailable] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped_datasets: dict[str, str] = field(default_factory=dict)
    """Datasets that could not be loaded, with the reason."""
    estimate: RunEstimate | None = None
    """The run's cost plan (``--plan``, or shown as a real run starts)."""
    costs: dict[CellKey, float] = field(default_factory=dict)
    """Each listed cell's estimated seconds (``merbench.pipeline.costs``)."""

    @property
    def ok(self) -> bool:
        """True when no cell failed and every requested candidate and dataset could run."""
        return not self.counts.get("failed") and not self.unavailable and not self.problems


def run(
    settings: RunSettings, *, registry: Registry | None = None, reporter: Reporter | None = None
) -> RunOutcome:
    """Run (or resume) a comparison; the caller renders its leaderboard.

    Raises:
        RunError: every dataset was skipped (their reasons named): nothing ran.
        MerbenchError: the run cannot start (bad settings, configuration or run directory).
    """
    registry = registry or load_registry()
    reporter = reporter or SilentReporter()
    plan = plan_run(settings, registry)
    if settings.plan:  # nothing is written: no run directory, store or folds
        return RunOutcome(
            name=plan.name,
            run_dir=plan.run_dir,
            store_url="",
            site_dir=settings.site_dir(plan.name),
            unavailable=list(plan.unavailable),
            estimate=plan_only(settings, plan, registry),
        )
    if settings.track is not None:
        require_mlflow()  # before anything is written
    executor = chosen_executor(settings, plan.config)
    store = _open_store(settings, plan)
    outcome = RunOutcome(
        name=plan.name,
        run_dir=plan.run_dir,
        store_url=store.url,
        site_dir=settings.site_dir(plan.name),
        unavailable=list(plan.unavailable),
    )
    for item in plan.unavailable:
        reporter.message(f"Skipped candidate {item.name}: {end_sentence(item.reason)}")
    if plan.baselines:
        reporter.message(
            f"Baselines beside the candidates: {', '.join(plan.baselines)} "
            "(--no-baselines leaves them out)."
        )
    handler = log_to(plan.run_dir / "run.log")
    try:
        provenance = collect_provenance(
            registry, plan.config, settings.seed, plan.budget, uses_torch=plan.uses_torch
        )
        identity = settings.identity() | budget_identity(settings, plan.budget)
        widen_protocols(store, settings, plan.datasets)
        store.start_run(plan.name, identity, provenance)
        builder = CellBuilder(store, registry, settings, plan.config, plan.tasks, plan.budget)
        keys = _list_cells(plan, builder, outcome, reporter)
        if not keys and outcome.skipped_datasets:
            skipped = outcome.skipped_datasets.items()
            reasons = "; ".join(f"{name}: {reason.rstrip('.')}" for name, reason in skipped)
            raise RunError(
                f"Nothing ran: every dataset was skipped ({reasons}). No leaderboard was "
                "rendered; fix the dataset and run again."
            )
        store.save_plan(stored_plan(plan, settings))
        if not settings.enqueue_only and outcome.estimate is not None:
            _show_plan(outcome.estimate, reporter)
        reporter, tracker = track(
            reporter,
            store,
            tracker=None if settings.enqueue_only else settings.track,
            uri=settings.tracking_uri,
            name=plan.name,
            run_dir=plan.run_dir,
            params=identity,
        )
        try:
            _work(plan, builder, keys, outcome, reporter, executor)
        finally:
            if tracker is not None:
                tracker.finish(outcome.ok)
    finally:
        stop_logging_to(handler)
        store.close()
    return outcome


def _show_plan(estimate: RunEstimate, reporter: Reporter) -> None:
    """Report the run's cost plan as its first lines (``merbench.pipeline.estimate``)."""
    # A first run has no timings: one line instead of a table of static guesses.
    lines = summary_lines(estimate) if estimate.unmeasured < estimate.cells else []
    for line in lines or [totals_line(estimate)]:
        reporter.message(line)


def _open_store(settings: RunSettings, plan: RunPlan) -> Store:
    """Check where the run writes, then open (or make) its store and its run directory.

    Nothing is written before the folders are known writable and the store opened.

    Raises:
        MerbenchError: a folder that cannot be written, or a store that cannot be opened.
    """
    check_folder(plan.run_dir, "--out")
    if settings.render and not settings.enqueue_only:
        check_folder(settings.site_dir(plan.name), "--leaderboard")
    if settings.fresh:
        _delete_results(plan.run_dir)
    if settings.storage is None:
        plan.run_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.storage or sqlite_url(plan.run_dir))
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    return store


def _delete_results(run_dir: Path) -> None:
    """Delete a run directory's store and log (``--fresh``).

    Raises:
        RunError: one of them cannot be deleted (a folder in its place, or no permission).
    """
    for name in SQLITE_FILES:
        try:
            (run_dir / name).unlink(missing_ok=True)
        except OSError as exc:
            raise RunError(
                f"{run_dir / name}: cannot delete it for --fresh ({exc.strerror}). "
                "Remove it yourself, or pass --out to start another run."
            ) from None


def _list_cells(
    plan: RunPlan, builder: CellBuilder[Store], outcome: RunOutcome, reporter: Reporter
) -> list[CellKey]:
    """Load every dataset, store its folds, and add its cells to the store as pending.

    Each cell gets its estimated cost from the run's cost plan, so that the queue hands out
    the longest cells first.
    """
    keys: list[CellKey] = []
    for dataset in plan.datasets:
        reporter.message(f"Loading dataset {dataset.name} ...")
        try:
            tracks = builder.tracks(dataset.name)
        except DatasetError as exc:
            outcome.problems.append(str(exc))
            outcome.skipped_datasets[dataset.name] = str(exc)
            reporter.message(f"Skipped dataset {dataset.name}: {exc}")
            continue
        _record_skipped(builder, dataset, tracks.skipped)
        if tracks.skipped:
            reporter.message(
                f"{dataset.name}: left out {len(tracks.skipped)} unusable track(s) "
                f"(listed in {plan.run_dir / 'run.log'})."
            )
        for task in plan.tasks[dataset.name]:
            for protocol in plan.protocols[dataset.name]:
                folds = builder.folds(dataset.name, task, protocol)
                keys += cell_keys(plan, builder.registry, dataset.name, task, folds, protocol)
    keys += _transfer_cells(plan, builder, outcome, reporter)
    builder.store.add_cells(keys)
    jobs = resolve_jobs(builder.settings.jobs, uses_torch=plan.uses_torch)
    outcome.estimate = run_plan(plan, builder, keys, max(1, min(jobs, len(keys))))
    outcome.costs = prioritise(builder.store, outcome.estimate)
    return keys


def _transfer_cells(
    plan: RunPlan, builder: CellBuilder[Store], outcome: RunOutcome, reporter: Reporter
) -> list[CellKey]:
    """The cells of every transfer pair whose datasets loaded (``--split transfer``)."""
    keys: list[CellKey] = []
    for source, target, task in plan.pairs:
        if source in outcome.skipped_datasets or target in outcome.skipped_datasets:
            continue
        name = pair_name(source, target)
        try:
            folds = builder.folds(name, task, TRANSFER)
        except DatasetError as exc:
            outcome.problems.append(str(exc))
            reporter.message(f"Skipped transfer {source} -> {target} ({task}): {exc}")
            continue
        removed = len(builder.pair(source, target).removed)
        if removed:
            reporter.message(
                f"transfer {source} -> {target}: left out {removed} track(s) of {target} that "
                f"are songs of {source}."
            )
        keys += cell_keys(plan, builder.registry, name, task, folds, TRANSFER)
    return keys


def _record_skipped(
    builder: CellBuilder[Store], dataset: DatasetConfig, skipped: Mapping[str, str]
) -> None:
    """Store why tracks were left out, naming files relative to the dataset's folder.

    The store is published with the leaderboard; the run's log keeps the absolute paths.
    """
    root = dataset.path
    builder.store.record_skipped_tracks(
        dataset.name,
        {t: r if root is None else portable_text(r, root) for t, r in skipped.items()},
    )


def _fix_threads(store: Store) -> int:
    """The run's torch threads per cell: those stored when it started, else chosen and stored.

    Raises:
        MerbenchError: ``$MERBENCH_THREADS`` asks a resumed run for another count.
    """
    asked = resolve_threads()
    stored = int(store.fix_setting("threads", asked))
    if os.environ.get(THREADS_ENV) and stored != asked:
        raise RunError(
            f"{display_url(store.url)}: this run was made with {THREADS_ENV}={stored}; this "
            f"command asks for {asked}. Unset {THREADS_ENV} to resume it with {stored}, or pass "
            "--out to start another run."
        )
    return stored


def _work(
    plan: RunPlan,
    builder: CellBuilder[Store],
    keys: list[CellKey],
    outcome: RunOutcome,
    reporter: Reporter,
    executor: Executor,
) -> None:
    """Run this run's pending cells through the queue, beside any workers sharing it."""
    store, settings = builder.store, builder.settings
    threads = _fix_threads(store)
    ids = store.cell_ids()
    among = frozenset(ids[k] for k in keys)
    retry_failed(store, among)  # a resumed run tries its failed cells again
    done = store.counts(among).get("done", 0)
    if settings.enqueue_only:
        outcome.counts = {"done": 0, "failed": 0, "resumed": done}
        reporter.message(f"{len(among) - done} cell(s) queued for 'merbench worker'.")
        return
    jobs = max(1, min(resolve_jobs(settings.jobs, uses_torch=plan.uses_torch), len(among) - done))
    finished = {int(r["id"]) for r in store.table("cells") if r["status"] == "done"}
    left = {k: c for k, c in outcome.costs.items() if ids.get(k) not in finished}
    reporter.cells_planned(left, jobs)
    if executor.kind == "dask":  # this process submits the cells; Dask workers run them
        return _work_on_dask(builder, among, done, outcome, reporter, executor, jobs)
    with (
        local_workers(
            jobs,
            storage=store.url,
            run=plan.name,
            out=plan.run_dir,
            config=plan.config.source,
            heartbeat_timeout=settings.heartbeat_timeout,
            gpus=visible_gpus() if plan.uses_torch else (),
        ) as peers,
        cell_threads(threads),  # after the workers' OMP_NUM_THREADS; they read the store's
    ):
        counts = _work_here(builder, among, done, reporter, peers)
    for problem in failed_workers(peers, plan.run_dir):
        reporter.message(problem)
    if jobs > 1:
        final = store.counts(among)
        counts = {"done": final.get("done", 0) - done, "failed": final.get("failed", 0)}
    outcome.counts = counts | {"resumed": done}


def _work_on_dask(
    builder: CellBuilder[Store],
    among: frozenset[int],
    done: int,
    outcome: RunOutcome,
    reporter: Reporter,
    executor: Executor,
    workers: int,
) -> None:
    """Run the pending cells of ``among`` as Dask tasks; count them in ``outcome``.

    Without a scheduler, a local cluster of ``workers`` processes runs them.
    """
    store = builder.store
    reporter.run_started(len(among), done)
    queue = Queue(among=among, heartbeat_timeout=builder.settings.heartbeat_timeout)
    run = dask_run(store, builder.registry)
    work = DaskWork(store=store, queue=queue, run=run, reporter=reporter)
    counts = run_on_dask(work, scheduler=executor.scheduler, workers=workers)
    outcome.counts = counts | {"resumed": done}


def _work_here(
    builder: CellBuilder[Store],
    among: frozenset[int],
    done: int,
    reporter: Reporter,
    peers: list[subprocess.Popen[bytes]],
) -> dict[str, int]:
    """Run cells in this process beside its local workers ``peers``; return its counts."""
    store = builder.store
    if peers:  # one display for the cells of every local process
        reporter = PeerProgress(reporter, store, among)
    reporter.run_started(len(among), done)
    poll = reporter.poll if isinstance(reporter, PeerProgress) else None
    queue = Queue(
        among=among,
        heartbeat_timeout=builder.settings.heartbeat_timeout,
        on_wait=lambda: reap(peers, then=poll),  # a killed local worker is re-queued at once
    )
    counts = process_cells(store, builder.resolve, builder.features, reporter, queue)
    if poll is not None:
        poll()  # the cells the other processes finished last
    return counts


def widen_protocols(store: Store, settings: RunSettings, datasets: Sequence[DatasetConfig]) -> None:
    """Let an existing run take split protocols beside the ones it was made with.

    A run made without ``--split`` used each dataset's own split; one asking for those
    protocols and more (``--split grouped,random``) keeps its cells and adds the others'.

    Raises:
        RunError: the command leaves out a protocol the run was made with, saying which.
    """
    row = store.read_run()
    if row is None or not settings.split:
        return
    stored = (row.get("settings") or {}).get("split")
    before = list(stored or dict.fromkeys(d.split for d in datasets))
    asked = list(settings.split)
    if set(before) <= set(asked):
        if stored != asked:
            store.fix_setting("split", asked, replace=True)
        return
    was = (
        f"--split {','.join(before)}"
        if stored
        else (f"each dataset's own split ({', '.join(before)}; no --split)")
    )
    wider = ",".join(dict.fromkeys(before + asked))
    raise RunError(
        f"{display_url(store.url)}: this run was made with {was}; this command asks for "
        f"--split {','.join(asked)}. Pass --split {wider} to add protocols beside its own (its "
        "cells are kept), --out to start another run, or --fresh to replace this one."
    )
