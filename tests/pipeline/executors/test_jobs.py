"""merbench run --jobs: local worker processes share a run's cells; one display counts them all."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest

from merbench.errors import ConfigError
from merbench.pipeline.executors.jobs import cell_threads, resolve_jobs
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from merbench.results.store import Store
from merbench.results.summaries import load_results
from merbench.results.urls import sqlite_url
from tests.helpers.plugins import SLEEPY_TONES
from tests.helpers.reporting import Recorder

pytestmark = pytest.mark.slow


def _run(config, out, jobs, reporter=None):
    settings = RunSettings(
        models=("sleepy", "mean", "ridge"), baselines=False, budget="smoke", config=config, out=out,
        render=False, jobs=jobs,
    )  # fmt: skip
    return run(settings, reporter=reporter)


@pytest.fixture
def tones(install_tones, tmp_path, monkeypatch):
    """The tones dataset with a ridge that sleeps in every fit, importable by worker processes."""
    config = install_tones(SLEEPY_TONES)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "site"), *sys.path]))
    monkeypatch.setenv("TONES_FIT_SLEEP", "2")  # the worker joins while cells remain
    from merbench.plugin.registry import load_registry

    load_registry().dataset("tones").load(config.parent / "data")  # write the audio once
    return config


def test_local_jobs_share_the_cells_and_give_the_same_results(tones, tmp_path):
    recorder = Recorder()
    outcome = _run(tones, tmp_path / "two", 2, recorder)
    assert outcome.ok and outcome.counts["done"] == 9
    store = Store(sqlite_url(tmp_path / "two"))
    claims = store.table("claims")
    workers = {row["worker"] for row in store.table("cells")}
    store.close()
    assert len(claims) == 9 and len({c["cell_id"] for c in claims}) == 9  # each cell once
    assert len(workers) == 2  # both processes ran cells
    assert len(recorder.finished) == 9  # the other process's cells are reported too
    assert {status for _, status in recorder.finished} == {"done"}
    assert len({label for label, _ in recorder.finished}) == 9
    assert (tmp_path / "two" / "job-1.out").exists()

    _run(tones, tmp_path / "one", 1)
    columns = ["candidate", "fold", "r2_mean"]
    two = load_results(tmp_path / "two").sort_values(["candidate", "fold"])[columns]
    one = load_results(tmp_path / "one").sort_values(["candidate", "fold"])[columns]
    assert one["candidate"].tolist() == two["candidate"].tolist()
    assert one["r2_mean"].tolist() == two["r2_mean"].tolist()


def test_jobs_are_a_positive_number_or_auto():
    assert resolve_jobs("3") == 3
    assert 1 <= resolve_jobs("auto") <= 4
    for bad in ("0", "-2", "many"):
        with pytest.raises(ConfigError, match="positive number of processes"):
            resolve_jobs(bad)


def test_a_killed_local_worker_s_cell_is_requeued_at_once(tones, tmp_path, monkeypatch):
    """A SIGKILLed --jobs process is a zombie until reaped: its cell must not wait for the
    heartbeat timeout (five minutes here) to be taken over."""
    monkeypatch.setenv("TONES_FIT_SLEEP", "1")
    out, killed = tmp_path / "run", []

    def kill_the_other_process():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if (out / "results.sqlite").exists():
                store = Store(sqlite_url(out))
                running = [c for c in store.table("cells") if c["status"] == "running"]
                store.close()
                for cell in running:
                    if cell["worker_pid"] != os.getpid():
                        os.kill(cell["worker_pid"], signal.SIGKILL)
                        killed.append((cell["id"], time.monotonic()))
                        return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_other_process)
    killer.start()
    settings = RunSettings(models=("sleepy", "mean", "ridge"), baselines=False, budget="smoke",
                           config=tones, out=out, render=False, jobs=2,
                           heartbeat_timeout=300)  # fmt: skip
    outcome = run(settings)
    ended = time.monotonic()
    killer.join()
    assert killed, "the other process never ran a cell"
    cell_id, at = killed[0]
    assert ended - at < 120, "the killed process's cell waited for the heartbeat timeout"
    assert outcome.counts["failed"] == 0 and "done" in outcome.counts
    store = Store(sqlite_url(out))
    cells = {c["id"]: c for c in store.table("cells")}
    claims = [c for c in store.table("claims") if c["cell_id"] == cell_id]
    store.close()
    assert {c["status"] for c in cells.values()} == {"done"}
    assert len(claims) == 2 and cells[cell_id]["worker_pid"] == os.getpid()


def _predictions(out):
    store = Store(sqlite_url(out))
    cells = {c["id"]: (c["candidate"], c["fold"]) for c in store.table("cells")}
    rows = sorted((*cells[p["cell_id"]], p["track_id"], p["target"], p["y_pred"])
                  for p in store.table("predictions"))  # fmt: skip
    workers = {c["worker"] for c in store.table("cells")}
    threads = store.read_run()["settings"].get("threads")
    store.close()
    return rows, workers, threads


def test_a_torch_cell_gives_the_same_numbers_whichever_process_runs_it(
    tones, tmp_path, monkeypatch, request
):
    """Every process uses the run's stored torch threads per cell, so --jobs changes no number
    (CPU convolutions sum in another order with another thread count)."""
    for name in ("MERBENCH_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))  # each process computes features
    import torch

    before = torch.get_num_threads()
    request.addfinalizer(lambda: torch.set_num_threads(before))
    torch.set_num_threads(2)  # this process's torch began with other threads than the run's
    for jobs in (2, 1):
        # Cells long enough that the worker process, still starting, gets some of them.
        settings = RunSettings(models=("cnn2d@mel", "cnn1d@raw"), budget="smoke", config=tones,
                               budget_overrides="epochs=6", out=tmp_path / f"jobs{jobs}",
                               render=False, jobs=jobs)  # fmt: skip
        assert run(settings).ok
    two, two_workers, two_threads = _predictions(tmp_path / "jobs2")
    one, one_workers, one_threads = _predictions(tmp_path / "jobs1")
    assert len(two_workers) == 2 and len(one_workers) == 1  # both processes ran torch cells
    assert len(one) > 0 and one == two
    assert two_threads == one_threads == 1  # the default, stored with each run


def test_the_run_s_thread_count_covers_features_computed_before_any_cell_trains(monkeypatch):
    """Front-end features are computed (and cached for every process) before set_threads runs
    in a cell: torch must already use the run's count then, imported before or after."""
    import torch

    for name in ("MERBENCH_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # torch was imported, and set, before the run began
        with cell_threads(1):
            assert torch.get_num_threads() == 1
            # a process that imports torch only now starts it with the run's count
            assert os.environ["OMP_NUM_THREADS"] == os.environ["MERBENCH_THREADS"] == "1"
        assert "MERBENCH_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ
    finally:
        torch.set_num_threads(before)
