"""Several processes on one machine working through one run's cells (``merbench run --jobs``).

On a small CPU one training process cannot use every core well: the models' batches are small,
and two single-threaded processes train more samples per second than one process with two
threads (``benchmarks/bench_speed.py``). ``merbench run --jobs N`` therefore starts ``N - 1``
``merbench worker`` processes beside itself on the run's results store; the cores are split
among the ``N`` processes (``OMP_NUM_THREADS``), every process claims cells through the same
queue as workers on other machines, and the run's own progress display also counts the cells
that the other processes finish. Each cell is still seeded from its own identity, and every
torch cell uses the thread count stored with the run (``MERBENCH_THREADS``, chosen when the run
starts), so which process runs it does not change its folds, trials, seed or arithmetic.

With CUDA devices visible (and a torch candidate in the run), ``--jobs auto`` is one process per
device, and each worker process sees one device (``CUDA_VISIBLE_DEVICES``): the run's own process
trains on the first visible device (its default ``cuda:0``), worker ``n`` on device ``n``,
round robin when there are more processes than devices.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from merbench.errors import ConfigError
from merbench.pipeline.progress import Reporter, Step, summarize_metrics
from merbench.results.schema import CellKey, key_of
from merbench.results.store import Store

log = logging.getLogger(__name__)

JOBS_ENV = "MERBENCH_JOBS"
THREADS_ENV = "MERBENCH_THREADS"
"""Torch intra-op threads per cell: chosen when a run starts, stored with it, used by every
process that runs one of its cells (``merbench.train.loop.set_threads`` reads it)."""
DEFAULT_THREADS = 1
"""One thread per cell; ``--jobs`` puts the other cores to work on other cells. On 2 cores a
``cnn2d@mel`` smoke run took 96 s with ``--jobs 2`` and 1 thread, 187 s with ``--jobs 1`` and 1
thread, 319 s with ``--jobs 1`` and 2 threads (``benchmarks/bench_threads.py``, a busy machine),
and only runs with the same thread count per cell gave the same predictions."""
STORAGE_ENV = "MERBENCH_STORAGE"
"""The results store's URL, for ``merbench worker`` (it may hold a password)."""
MAX_AUTO_JOBS = 4
CUDA_ENV = "CUDA_VISIBLE_DEVICES"


def available_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, named as ``CUDA_VISIBLE_DEVICES`` names them.

    Indices (``"0"``, ``"1"``, ...) when ``CUDA_VISIBLE_DEVICES`` is unset, else its entries
    (indices, ``GPU-<uuid>`` or ``MIG-<uuid>``); empty without CUDA. Torch counts the devices
    through NVML, so this process does not initialise CUDA by asking.
    """
    import torch

    count = torch.cuda.device_count()
    if count <= 0:
        return []
    listed = os.environ.get(CUDA_ENV)
    if listed is None:
        return [str(index) for index in range(count)]
    return [name.strip() for name in listed.split(",") if name.strip()][:count]


def resolve_jobs(value: str | int, *, uses_torch: bool = True) -> int:
    """``"auto"`` or a number -> the number of processes to use.

    ``auto`` is one process per core (at most four) on a CPU, and one per visible CUDA device
    when a torch candidate would run on CUDA (each process then trains on its own device).
    Torch is imported to look for CUDA only when a candidate trains a torch model.

    Raises:
        ConfigError: neither ``auto`` nor a positive integer.
    """
    text = str(value).strip().lower()
    if text == "auto":
        gpus = visible_gpus() if uses_torch else []
        if gpus:
            return len(gpus)
        return min(available_cores(), MAX_AUTO_JOBS)
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--jobs '{value}': give a positive number of processes, or 'auto'.")
    return int(text)


def resolve_threads() -> int:
    """The torch threads per cell of a new run: ``$MERBENCH_THREADS``, else ``DEFAULT_THREADS``.

    Raises:
        ConfigError: ``$MERBENCH_THREADS`` is not a positive number.
    """
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return DEFAULT_THREADS
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(
            f"{THREADS_ENV}={text!r}: give a positive number of torch threads per cell, or "
            f"unset it for {DEFAULT_THREADS}."
        )
    return int(text)


@contextlib.contextmanager
def cell_threads(threads: int | None) -> Iterator[None]:
    """Make everything torch computes in this process use ``threads`` threads while open.

    Cells (``merbench.train.loop.set_threads`` reads ``MERBENCH_THREADS``) and the fixed front-end
    features they compute and cache both depend on it: torch is set now when already imported,
    and ``OMP_NUM_THREADS`` sets it when torch is imported later; the BLAS and OpenMP thread
    pools already loaded are limited through threadpoolctl. ``None`` (a run stored before
    thread counts were) changes nothing.
    """
    names = (THREADS_ENV, "OMP_NUM_THREADS")
    previous = {name: os.environ.get(name) for name in names}
    blas: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if threads is not None:
        os.environ.update(dict.fromkeys(names, str(threads)))
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(threads)
        # BLAS and OpenMP pools already loaded in this process (numpy's, scikit-learn's) read
        # OMP_NUM_THREADS only when they start: limit them too, so that a cell's linear algebra
        # sums in the same order in every process.
        from threadpoolctl import threadpool_limits

        blas = threadpool_limits(limits=threads)
    try:
        with blas:
            yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def local_workers(
    jobs: int,
    *,
    storage: str,
    run: str,
    out: Path,
    config: Path | None,
    heartbeat_timeout: float,
    gpus: Sequence[str] = (),
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start ``jobs - 1`` ``merbench worker`` processes on the run; split the cores among all.

    ``OMP_NUM_THREADS`` (OpenMP and BLAS threads) is set for every process while the context is
    open; torch cells use the run's stored thread count (``cell_threads``), whichever process
    runs them. With ``gpus`` (``visible_gpus()``), worker ``n`` sees only ``gpus[n]`` (round
    robin), this process training on ``gpus[0]``. On leaving normally the workers
    are waited for (they stop once no cell is pending or running); on an error or an interrupt
    they are stopped, and the cells they held return to the queue.
    """
    if jobs <= 1:
        yield []
        return
    threads = str(max(1, available_cores() // jobs))
    command, env = worker_command(
        storage=storage, run=run, out=out, config=config, heartbeat_timeout=heartbeat_timeout
    )
    env["OMP_NUM_THREADS"] = threads
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = threads
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for number in range(1, jobs):
            processes.append(_start(command, env, out / f"job-{number}.out", number, gpus))
        log.info("started %d local worker(s) with %s thread(s) each", len(processes), threads)
        if gpus:
            log.info("CUDA devices of the processes, this one first: %s", _placement(jobs, gpus))
        yield processes
        for process in processes:
            process.wait()
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous


def _start(
    command: list[str], env: dict[str, str], output: Path, number: int, gpus: Sequence[str]
) -> subprocess.Popen[bytes]:
    """Start local worker ``number``, on its own CUDA device when there are ``gpus``."""
    own = env | ({CUDA_ENV: gpus[number % len(gpus)]} if gpus else {})
    with output.open("wb") as stream:
        return subprocess.Popen(command, env=own, stdout=stream, stderr=subprocess.STDOUT)


def _placement(jobs: int, gpus: Sequence[str]) -> str:
    return ", ".join(gpus[number % len(gpus)] for number in range(jobs))


def worker_command(
    *, storage: str, run: str, out: Path, config: Path | None, heartbeat_timeout: float
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a local ``merbench worker``.

    The store's URL travels in the environment (``MERBENCH_STORAGE``), never on the command
    line, which every user of the machine can read (``ps``).
    """
    command = [sys.executable, "-m", "merbench", "worker", "--run", run,
               "--out", str(out), "--heartbeat-timeout", str(heartbeat_timeout)]  # fmt: skip
    if config is not None:
        command += ["--config", str(config)]
    return command, dict(os.environ) | {"CI": "1", STORAGE_ENV: storage}


def reap(
    processes: Collection[subprocess.Popen[bytes]], *, then: Callable[[], None] | None = None
) -> None:
    """Collect the exit status of local workers that ended, then call ``then``.

    A killed worker left unreaped stays a zombie, which still answers ``kill(pid, 0)``: the
    queue treats a zombie as dead too, and reaping keeps the process table clean. Their exit
    codes are reported when the run ends (``failed_workers``).
    """
    for process in processes:
        process.poll()
    if then is not None:
        then()


def failed_workers(processes: Collection[subprocess.Popen[bytes]], out: Path) -> list[str]:
    """One line for each local worker that could not work (exit code 2 or a crash)."""
    return [
        f"local worker {n} stopped with exit code {p.returncode}; see {out / f'job-{n}.out'}"
        for n, p in enumerate(processes, start=1)
        if p.returncode not in (0, 1)
    ]


class PeerProgress:
    """A reporter that also reports the cells other processes finish, from the store.

    Wraps the run's own reporter; ``poll()`` (called when this process starts or finishes a
    cell, and while it waits for the last cells) reports every cell of ``among`` that another
    process has finished since the last poll.
    """

    def __init__(self, reporter: Reporter, store: Store, among: Collection[int]) -> None:
        self.reporter = reporter
        self.store = store
        self.among = frozenset(among)
        self.seen = {
            int(row["id"])
            for row in store.table("cells")
            if row["status"] in ("done", "failed") and int(row["id"]) in self.among
        }
        self.mine: set[CellKey] = set()

    def poll(self) -> None:
        """Report the cells finished elsewhere since the last poll."""
        for row in self.store.table("cells"):
            number = int(row["id"])
            if number in self.seen or number not in self.among:
                continue
            if row["status"] not in ("done", "failed"):
                continue
            self.seen.add(number)
            key = key_of(row)
            if key in self.mine:
                continue
            summary = (
                summarize_metrics(row["metrics"] or {}, key.task)
                if row["status"] == "done"
                else str(row["error"] or "")
            )
            self.reporter.cell_finished(key, str(row["status"]), summary)

    def run_started(self, total: int, done: int) -> None:
        self.reporter.run_started(total, done)

    def cell_started(self, key: CellKey) -> None:
        self.poll()
        self.reporter.cell_started(key)

    def cells_planned(self, costs: Mapping[CellKey, float], workers: int) -> None:
        self.reporter.cells_planned(costs, workers)

    def epoch_ended(self, key: CellKey, step: Step) -> None:
        self.reporter.epoch_ended(key, step)

    def cell_finished(self, key: CellKey, status: str, summary: str) -> None:
        self.mine.add(key)
        self.reporter.cell_finished(key, status, summary)
        self.poll()

    def message(self, text: str) -> None:
        self.reporter.message(text)
