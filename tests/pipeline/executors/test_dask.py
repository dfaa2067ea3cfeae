"""merbench run --executor dask: cells as tasks on a Dask cluster, results stored by the run.

The cluster tests start a real ``LocalCluster`` of worker processes: a smoke run gives the same
predictions as ``--jobs 1``; a worker SIGKILLed mid-cell loses no cell and stores none twice;
a run process SIGKILLed mid-run resumes from the store.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import types

import pytest

from merbench.data.config import parse_config
from merbench.errors import ConfigError, RunError
from merbench.pipeline.executors.dask_executor import (
    chosen_executor,
    outcome_of,
    refuse_other_versions,
)
from merbench.pipeline.executors.dask_tasks import dask_run, run_one_cell, version_problem
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from merbench.plugin.registry import load_registry
from merbench.results.schema import key_of
from merbench.results.store import Store
from merbench.results.urls import sqlite_url
from merbench.version import __version__
from tests.helpers.plugins import SLEEPY_TONES
from tests.helpers.reporting import Recorder

MODELS = ("sleepy", "mean", "ridge")


@pytest.fixture
def tones(install_tones, tmp_path, monkeypatch):
    """The tones dataset with a ridge that sleeps in every fit ($TONES_FIT_SLEEP seconds)."""
    config = install_tones(SLEEPY_TONES)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "site"), *sys.path]))
    load_registry().dataset("tones").load(config.parent / "data")  # write the audio once
    return config


@contextlib.contextmanager
def _cluster():
    """Two one-thread worker processes; they inherit this process's sys.path and environment."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                     dashboard_address="127.0.0.1:0") as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        yield cluster, client


def _settings(config, out, **given):
    return RunSettings(**{"models": MODELS, "baselines": False, "budget": "smoke",
                          "config": config, "out": out, "render": False, **given})  # fmt: skip


def _table(out, name):
    store = Store(sqlite_url(out))
    try:
        return store.table(name)
    finally:
        store.close()


def _predictions(out):
    cells = {c["id"]: (c["candidate"], c["fold"]) for c in _table(out, "cells")}
    return sorted((*cells[p["cell_id"]], p["track_id"], p["target"], p["y_pred"])
                  for p in _table(out, "predictions"))  # fmt: skip


def test_without_distributed_the_dask_executor_names_the_extra(tones, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(ConfigError) as error:
        run(_settings(tones, tmp_path / "run", executor="dask"))
    assert str(error.value) == (
        "--executor dask: Dask's 'distributed' is not installed. "
        'Run: pip install "merbench[dask]"'
    )
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_the_command_line_wins_over_the_executor_table(tones):
    specs = load_registry().datasets
    text = tones.read_text() + '[executor]\nkind = "dask"\nscheduler = "tcp://sched:8786"\n'
    config = parse_config(text, specs, source=tones)
    chosen = chosen_executor(RunSettings(), config)
    assert (chosen.kind, chosen.scheduler) == ("dask", "tcp://sched:8786")
    chosen = chosen_executor(RunSettings(scheduler="tcp://other:1"), config)
    assert (chosen.kind, chosen.scheduler) == ("dask", "tcp://other:1")
    assert chosen_executor(RunSettings(executor="local"), config).kind == "local"
    plain = parse_config(tones.read_text(), specs, source=tones)
    assert chosen_executor(RunSettings(), plain).kind == "local"
    with pytest.raises(ConfigError, match=r"^--scheduler tcp://h:1: a scheduler is for --exec"):
        chosen_executor(RunSettings(scheduler="tcp://h:1"), plain)
    with pytest.raises(ConfigError, match=r"\[executor\]: 'kind' must be one of \"local\", \"da"):
        parse_config(tones.read_text() + '[executor]\nkind = "slurm"\n', specs, source=tones)
    with pytest.raises(ConfigError, match=r"\[executor\]: unknown key 'schedular'\. Did you"):
        parse_config(tones.read_text() + "[executor]\nschedular = 1\n", specs, source=tones)


class _Cluster:
    """A client whose one worker answers ``run`` in this process."""

    def run(self, function, *args):
        return {"tcp://10.0.0.7:4000": function(*args)}


def test_workers_with_other_versions_are_refused():
    assert version_problem({"merbench": __version__}) == ""
    with pytest.raises(RunError) as error:
        refuse_other_versions(_Cluster(), {"merbench": "9.9", "merbench-absent": "1.0"})
    assert str(error.value) == (
        f"Dask worker tcp://10.0.0.7:4000: has merbench {__version__} (the run has 9.9), "
        "merbench-absent not installed (the run has 1.0). Install the run's merbench and plugin "
        "versions on every worker (docs/scale-out.md), then run again."
    )


class _Gone:
    """A future whose task Dask gave up on: its workers kept dying."""

    def result(self):
        from distributed import KilledWorker

        last = types.SimpleNamespace(address="tcp://10.0.0.7:4000")
        raise KilledWorker("merbench-cell-3-ab12cd34", last, allowed_failures=3)


def test_a_task_dask_gave_up_on_is_a_failed_cell():
    outcome = outcome_of(_Gone())
    assert outcome.status == "failed" and outcome.result is None
    assert outcome.reason.startswith("Dask task failed: KilledWorker: ")


def test_a_task_builds_its_cell_from_the_stored_run_alone(tones, tmp_path):
    """The task needs no store: the run's record carries the settings and the split hashes."""
    out = tmp_path / "run"
    assert run(_settings(tones, out, models=("ridge",), jobs=1)).ok
    store = Store(sqlite_url(out))
    record = dask_run(store, load_registry())
    cell = store.table("cells")[-1]
    store.close()
    key = key_of(cell)
    outcome = run_one_cell(key, record)
    assert outcome.status == "done", outcome.reason
    assert outcome.result.metrics["r2_mean"] == cell["metrics"]["r2_mean"]
    other = dataclasses.replace(record, token="other", splits=dict.fromkeys(record.splits, "x"))
    refused = run_one_cell(key, other)
    assert refused.status == "failed" and "changed since this run started" in refused.reason
    mismatch = run_one_cell(key, dataclasses.replace(record, versions={"merbench": "9.9"}))
    assert mismatch.reason == f"this Dask worker has merbench {__version__} (the run has 9.9)"


@pytest.mark.slow
def test_a_smoke_run_on_a_local_cluster_predicts_as_one_process(tiny_config, tmp_path):
    models = ("ridge", "mean", "cnn2d@mel")
    given = dict(models=models, baselines=False, budget="smoke", config=tiny_config, render=False)
    recorder = Recorder()
    outcome = run(RunSettings(out=tmp_path / "dask", executor="dask", jobs=2, **given),
                  reporter=recorder)  # fmt: skip
    assert outcome.ok and outcome.counts == {"done": 9, "failed": 0, "resumed": 0}
    assert sorted(s for _, s in recorder.finished) == ["done"] * 9 and recorder.total == 9
    claims = _table(tmp_path / "dask", "claims")
    assert len(claims) == 9 and len({c["cell_id"] for c in claims}) == 9
    assert run(RunSettings(out=tmp_path / "one", jobs=1, **given)).ok
    one, dask = _predictions(tmp_path / "one"), _predictions(tmp_path / "dask")
    assert len(one) > 0 and dask == one


@pytest.mark.slow
def test_a_failing_cell_is_stored_as_failed_and_the_run_goes_on(install_tones, tmp_path):
    config = install_tones()  # its model 'broken' raises in every fit
    out = tmp_path / "run"
    recorder = Recorder()
    outcome = run(_settings(config, out, models=("mean", "broken"), executor="dask", jobs=1),
                  reporter=recorder)  # fmt: skip
    assert not outcome.ok and outcome.counts == {"done": 3, "failed": 3, "resumed": 0}
    failed = [c for c in _table(out, "cells") if c["status"] == "failed"]
    assert {c["candidate"] for c in failed} == {"broken@handcrafted"}
    assert {c["error"] for c in failed} == {"RuntimeError: this model is broken on purpose"}
    assert sorted(s for _, s in recorder.finished) == ["done"] * 3 + ["failed"] * 3
    log = (out / "run.log").read_text()
    assert log.count("Traceback (most recent call last)") == 3  # the workers' tracebacks


def _kill_a_busy_worker(client, killed, deadline):
    """SIGKILL a worker process once it has held a task for a second."""
    while time.monotonic() < deadline:
        busy = [w for w, keys in client.processing().items() if keys]
        if busy:
            time.sleep(1.0)  # mid-cell: a sleepy fit takes a second
            pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.05)


@pytest.mark.slow
def test_a_worker_killed_mid_cell_loses_no_cell_and_stores_none_twice(tones, tmp_path, monkeypatch):
    monkeypatch.setenv("TONES_FIT_SLEEP", "1")
    out, killed = tmp_path / "run", []
    with _cluster() as (cluster, client):
        killer = threading.Thread(
            target=_kill_a_busy_worker, args=(client, killed, time.monotonic() + 60)
        )
        killer.start()
        outcome = run(_settings(tones, out, executor="dask", scheduler=cluster.scheduler_address))
        killer.join()
    assert killed, "no worker ever ran a cell"
    assert outcome.ok and outcome.counts == {"done": 9, "failed": 0, "resumed": 0}
    cells = _table(out, "cells")
    assert {c["status"] for c in cells} == {"done"} and len(cells) == 9  # no cell lost
    claims = _table(out, "claims")
    assert sorted(c["cell_id"] for c in claims) == sorted(c["id"] for c in cells)  # each once
    rows = [(p["cell_id"], p["track_id"], p["target"]) for p in _table(out, "predictions")]
    assert len(rows) == len(set(rows))  # no prediction stored twice


def _wait_for(out, process, ready, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "results.sqlite").exists():
            cells = _table(out, "cells")
            if ready(cells):
                return cells
        time.sleep(0.1)
    raise AssertionError(f"the run never got there:\n{(out / 'stdout.txt').read_text()}")


@pytest.mark.slow
def test_a_killed_run_resumes_from_the_store(tones, tmp_path, monkeypatch):
    monkeypatch.setenv("TONES_FIT_SLEEP", "1")
    out = tmp_path / "run"
    out.mkdir()
    with _cluster() as (cluster, _client):
        address = cluster.scheduler_address
        command = [sys.executable, "-m", "merbench", "run", "-m", ",".join(MODELS),
                   "--budget", "smoke", "--config", str(tones), "--out", str(out),
                   "--no-baselines", "--no-leaderboard", "--executor", "dask",
                   "--scheduler", address]  # fmt: skip
        with (out / "stdout.txt").open("w") as output:
            first = subprocess.Popen(command, env=os.environ | {"CI": "1"}, stdout=output,
                                     stderr=subprocess.STDOUT)  # fmt: skip

        def some_done_some_running(cells):
            statuses = [c["status"] for c in cells]
            return "done" in statuses and "running" in statuses

        _wait_for(out, first, some_done_some_running)
        first.send_signal(signal.SIGKILL)
        first.wait()
        before = _table(out, "cells")  # as the killed run left the store
        outcome = run(_settings(tones, out, executor="dask", scheduler=address))
    kept = {c["id"]: c for c in before if c["status"] == "done"}
    assert outcome.ok and outcome.counts["failed"] == 0
    assert outcome.counts["resumed"] >= len(kept) > 0
    cells = {c["id"]: c for c in _table(out, "cells")}
    assert {c["status"] for c in cells.values()} == {"done"} and len(cells) == 9
    for cell_id, cell in kept.items():  # finished cells are kept, not run again
        assert cells[cell_id]["finished_at"] == cell["finished_at"]
    claims = [c["cell_id"] for c in _table(out, "claims")]
    assert all(claims.count(cell_id) == 1 for cell_id in kept)
    running = [c["id"] for c in before if c["status"] == "running"]
    assert all(claims.count(cell_id) == 2 for cell_id in running)  # requeued and run again
    again = run(_settings(tones, out, executor="dask", scheduler=address))  # cluster gone
    assert again.counts == {"done": 0, "failed": 0, "resumed": 9}  # nothing left to submit
