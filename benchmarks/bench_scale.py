"""What scaling out costs per cell: fixed-cost cells on Dask and on PostgreSQL workers.

Run from the repository root: ``python benchmarks/bench_scale.py`` (5 to 10 minutes on 2 cores;
``--quick`` runs 200 cells in one or two minutes; ``--cells``, ``--cell-seconds``,
``--dask-workers``, ``--store-workers`` and ``--postgres`` change it). Every cell of a fake
candidate costs the same fixed time, slept (a cell burns no CPU, so 64 of them fit on 2 cores),
and stores a result of a real cell's size (``--predictions`` rows, ``--trials`` trials); all the
rest is merbench's own code:

- **Dask** (``merbench run --executor dask``): the run's process keeps a SQLite store, claims the
  pending cells, submits each as a task, beats for them and stores each result once
  (``dask_executor.run_on_dask``); each task is ``dask_tasks.run_one_cell``, whose cell builder
  and cell runner are replaced by the sleep. The cluster is a ``LocalCluster(processes=False)``
  of N one-thread workers in this process, started beforehand and reached by its address, as
  with ``--scheduler``: N worker processes (with their nannies, twice as many interpreters)
  would spend the 2 cores starting up and beating, whereas sleeping threads hold no GIL, so N
  threads run N cells at once as N processes would. The scheduler, the workers' event loop and
  the run's claims and writes share one interpreter here, so the figures are on the high side.
- **PostgreSQL workers** (``merbench worker``): N processes, each running ``worker.process_cells``
  (re-queue the dead, claim with ``FOR UPDATE SKIP LOCKED``, a heartbeat thread per cell, the
  result written in one transaction) on one PostgreSQL store, with the cell runner replaced by
  the sleep. They start, open the store, then wait for one signal, so their start-up is not
  timed; the makespan ends with the last result stored (not with the workers' last poll of an
  empty queue). ``--postgres`` names the server (default ``postgresql:///postgres``: the local
  server's socket, as this user); each measurement gets a temporary database there (this user
  needs ``CREATEDB``), dropped afterwards. A server that cannot be reached skips this part in
  one line.

Per configuration it prints the makespan (from the first claim to the last stored result), the
ideal one (cells x cost / workers), their ratio, the overhead per cell ((makespan - ideal) x
workers / cells) in ms and as a share of a 60-s cell, and claims per second: the same
configuration with zero-cost cells, cells / makespan, so that it is what the scheduler and the
store sustain, not what sleeping allows. Then whether each meets the goals: an overhead of at
most 2 % of a 60-s cell (1.2 s) and at least 100 claims/s. Where workers do not divide the cells,
the last round is part-empty and counts as overhead (2,000 cells of 0.5 s on 64 workers: 12 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import sqlalchemy as sa

from merbench.pipeline.executors import dask_tasks, worker
from merbench.pipeline.executors.dask_executor import DaskWork, run_on_dask
from merbench.pipeline.executors.dask_tasks import DaskRun, software_versions
from merbench.pipeline.progress import SilentReporter
from merbench.results.queue import Queue, finish, set_costs
from merbench.results.schema import CellKey, CellResult
from merbench.results.store import Store
from merbench.results.urls import display_url, engine_url
from merbench.train.tuning import close_study_storage, open_study_storage

LONG_CELL_S = 60.0
MAX_OVERHEAD = 0.02  # of a 60-s cell
MIN_CLAIMS_PER_S = 100.0


@dataclass(frozen=True, kw_only=True)
class FixedCell:
    """The fake candidate: every cell sleeps ``seconds`` and returns the same result.

    It stands in for a cell builder (``resolve``, ``features``) and for ``run_cell``.
    """

    seconds: float
    result: CellResult
    features: Any = None

    def resolve(self, key: CellKey) -> Any:
        return key

    def run(self, plan: object, features: object, on_epoch: object = None) -> CellResult:
        if self.seconds:
            time.sleep(self.seconds)
        return self.result


def fixed_cell(seconds: float, n_predictions: int, n_trials: int) -> FixedCell:
    """A fixed-cost cell whose result has ``n_predictions`` rows and ``n_trials`` trials."""
    trial = {"state": "COMPLETE", "value": 0.5, "params": {"lr": 0.001, "width": 32},
             "duration_s": 1.0, "epochs": 10}  # fmt: skip
    result = CellResult(
        metrics={"r2_mean": 0.5, "rmse_mean": 0.2, "ccc_mean": 0.6},
        best_params={"lr": 0.001, "width": 32, "dropout": 0.1},
        timings={"phase_tune_s": seconds, "total_s": seconds},
        info={"device": "cpu", "epochs": 10},
        predictions=[
            (f"track-{i // 2:05d}", ("arousal", "valence")[i % 2], 0.1, 0.2)
            for i in range(n_predictions)
        ],
        trials=[{"number": n, **trial} for n in range(n_trials)],
    )
    return FixedCell(seconds=seconds, result=result)


@dataclass(frozen=True, kw_only=True)
class Measure:
    """One configuration: its makespan with fixed-cost cells and with zero-cost ones."""

    label: str
    cells: int
    workers: int
    seconds: float
    makespan: float
    zero_makespan: float
    ideal: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ideal", self.cells * self.seconds / self.workers)

    @property
    def overhead(self) -> float:
        """Seconds of overhead per cell."""
        return (self.makespan - self.ideal) * self.workers / self.cells

    @property
    def claims_per_s(self) -> float:
        return self.cells / self.zero_makespan


def fill_store(store: Store, cells: int) -> frozenset[int]:
    """Record a run with ``cells`` pending cells of equal cost in ``store``; return their ids."""
    store.start_run("bench-scale", {"seed": 0}, {"budget": {"name": "fixed"}})
    store.add_cells(
        CellKey(dataset="bench", task="av-regression", candidate=f"fixed-{i // 5:05d}",
                repeat=0, fold=i % 5)
        for i in range(cells)
    )  # fmt: skip
    ids = frozenset(store.cell_ids().values())
    set_costs(store, dict.fromkeys(ids, 1.0))  # a real run costs its cells before claiming
    return ids


@contextlib.contextmanager
def on_dask_workers(cell: FixedCell) -> Iterator[None]:
    """Make Dask tasks in this process build and run ``cell`` instead of a real one."""
    with (
        mock.patch.object(dask_tasks, "_builder", lambda run: cell),
        mock.patch.object(dask_tasks, "run_cell", cell.run),
    ):
        yield


def dask_makespan(workers: int, cell: FixedCell, cells: int) -> float:
    """Seconds ``run_on_dask`` takes for ``cells`` cells on a local cluster of ``workers``."""
    from distributed import LocalCluster

    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp,
        # Workers in one process would each see its whole memory as their own and pause.
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=False,
            protocol="tcp://",
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            memory_limit=0,
        ) as cluster,
        on_dask_workers(cell),
    ):
        store = Store(f"sqlite:///{tmp}/results.sqlite")
        queue = Queue(among=fill_store(store, cells))
        run = DaskRun(token=secrets.token_hex(8), name="bench-scale", settings={}, config=None,
                      tasks={}, budget={}, splits={}, threads=None,
                      versions=software_versions(()))  # fmt: skip
        work = DaskWork(store=store, queue=queue, run=run, reporter=SilentReporter())
        started = time.perf_counter()
        counts = run_on_dask(work, scheduler=cluster.scheduler_address, workers=workers)
        makespan = time.perf_counter() - started
        store.close()
    if counts["done"] != cells:
        raise SystemExit(f"Dask, {workers} workers: {counts['done']} of {cells} cells stored.")
    return makespan


def _store_worker(url: str, cell: FixedCell, ready: Any, finished: Any) -> None:
    """One ``merbench worker`` on the store at ``url``: wait for the signal, then run its cells."""
    store = Store(url, create=False)
    studies = open_study_storage(store)  # start-up, as the import of merbench: not timed
    last = [time.monotonic()]

    def store_result(*args: Any, **kwargs: Any) -> bool:
        stored = finish(*args, **kwargs)
        last[0] = time.monotonic()
        return stored

    ready.wait()
    try:
        with (
            mock.patch.object(worker, "run_cell", cell.run),
            mock.patch.object(worker, "open_study_storage", lambda store: studies),
            mock.patch.object(worker, "finish", store_result),
        ):
            counts = worker.process_cells(
                store, cell.resolve, cell.features, SilentReporter(), Queue()
            )
        finished.put((counts["done"], last[0], ""))
    except Exception as exc:
        finished.put((0, last[0], f"{type(exc).__name__}: {exc}"))
    finally:
        close_study_storage(studies)
        store.close()


def store_makespan(url: str, workers: int, cell: FixedCell, cells: int) -> float:
    """Seconds ``workers`` worker processes take for ``cells`` cells on a PostgreSQL store."""
    with temporary_database(url) as database:
        store = Store(database)
        fill_store(store, cells)
        close_study_storage(open_study_storage(store))  # Optuna's tables, as after a first run
        store.close()
        context = multiprocessing.get_context("spawn")  # fresh interpreters, as real workers
        ready, finished = context.Barrier(workers + 1), context.Queue()
        processes = [
            context.Process(target=_store_worker, args=(database, cell, ready, finished))
            for _ in range(workers)
        ]
        for process in processes:
            process.start()
        ready.wait()
        started = time.monotonic()
        results = [finished.get(timeout=3600) for _ in processes]
        for process in processes:
            process.join()
    problems = [problem for _, _, problem in results if problem]
    done = sum(n for n, _, _ in results)
    if problems or done != cells:
        raise SystemExit(f"PostgreSQL workers: {done} of {cells} cells stored. {problems[:1]}")
    return float(max(end for _, end, _ in results)) - started


@contextlib.contextmanager
def temporary_database(url: str) -> Iterator[str]:
    """A new empty database on the server at ``url``, dropped on leaving; yield its URL."""
    server = engine_url(url)
    name = f"merbench_bench_{secrets.token_hex(4)}"
    engine = sa.create_engine(server, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


def unreachable(url: str) -> str:
    """Why a temporary database cannot be made on the server at ``url`` ('' if it can)."""
    try:
        with temporary_database(url):
            return ""
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return reason[0] if reason else type(exc).__name__


def measure(args: argparse.Namespace, label: str, workers: int, run: Any) -> Measure:
    """Run one configuration with fixed-cost cells, then with zero-cost ones."""
    cells = args.cells
    makespan = run(workers, fixed_cell(args.cell_seconds, args.predictions, args.trials), cells)
    zero = run(workers, fixed_cell(0.0, args.predictions, args.trials), cells)
    result = Measure(label=label, cells=cells, workers=workers, seconds=args.cell_seconds,
                     makespan=makespan, zero_makespan=zero)  # fmt: skip
    print(f"  {label}, {workers} workers: {makespan:.1f} s; zero-cost cells {zero:.1f} s",
          flush=True)  # fmt: skip
    return result


def report(measures: list[Measure]) -> None:
    """Print the table of every configuration, then which meets the goals."""
    head = ("configuration", "cells", "workers", "cell s", "makespan s", "ideal s", "ratio",
            "overhead ms/cell", "% of 60-s cell", "claims/s")  # fmt: skip
    print(" | ".join(head))
    for m in measures:
        share = m.overhead / LONG_CELL_S
        print(f"{m.label} | {m.cells} | {m.workers} | {m.seconds:g} | {m.makespan:.1f} | "
              f"{m.ideal:.1f} | {m.makespan / m.ideal:.3f} | {m.overhead * 1000:.0f} | "
              f"{share:.2%} | {m.claims_per_s:.0f}")  # fmt: skip
    for m in measures:
        overhead_met = m.overhead <= MAX_OVERHEAD * LONG_CELL_S
        claims_met = m.claims_per_s >= MIN_CLAIMS_PER_S
        print(f"{m.label}, {m.workers} workers: overhead <= {MAX_OVERHEAD:.0%} of a 60-s cell "
              f"{'met' if overhead_met else 'NOT met'}; >= {MIN_CLAIMS_PER_S:.0f} claims/s "
              f"{'met' if claims_met else 'NOT met'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=2000, help="Cells per configuration.")
    parser.add_argument("--cell-seconds", type=float, default=0.5, help="What a cell costs.")
    parser.add_argument(
        "--dask-workers", default="16,32,64", help="Dask cluster sizes ('none': no Dask rows)."
    )
    parser.add_argument("--store-workers", type=int, default=16, help="PostgreSQL workers.")
    parser.add_argument("--postgres", default="postgresql:///postgres", help="Server URL.")
    parser.add_argument("--predictions", type=int, default=300, help="Prediction rows a cell.")
    parser.add_argument("--trials", type=int, default=20, help="Trials a cell stores.")
    parser.add_argument("--quick", action="store_true", help="200 cells: a smoke check.")
    args = parser.parse_args()
    if args.quick:
        args.cells = 200
    import distributed  # noqa: F401  (its import sets its loggers' levels: set them after)

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.cells} cells of {args.cell_seconds:g} s, {args.predictions} predictions and "
          f"{args.trials} trials each; {cores} cores")  # fmt: skip
    measures = [
        measure(args, "Dask (threads)", int(workers), dask_makespan)
        for workers in args.dask_workers.split(",")
        if args.dask_workers != "none"
    ]
    problem = unreachable(args.postgres)
    if problem:
        print(f"PostgreSQL workers: skipped ({display_url(args.postgres)}: {problem})")
    else:
        run = lambda workers, cell, cells: store_makespan(args.postgres, workers, cell, cells)  # noqa: E731
        measures.append(measure(args, "PostgreSQL workers", args.store_workers, run))
    report(measures)


if __name__ == "__main__":
    main()
