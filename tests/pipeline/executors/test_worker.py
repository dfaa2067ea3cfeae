"""Workers share one run through the store's queue: claims, heartbeats, re-queueing, results.

The queue tests run against SQLite and a real PostgreSQL server (``tests/helpers/pg.py``); the
end-to-end test starts real ``merbench worker`` processes, kills one mid-cell with SIGKILL, and
checks that every cell is done exactly once and that the results equal a single-process run's.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from merbench.cli import main
from merbench.errors import RunError
from merbench.pipeline.executors.worker import Heartbeat, WorkerSettings, work
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from merbench.results.queue import (
    Queue,
    WorkerId,
    beat,
    claim,
    finish,
    release,
    requeue_dead,
    this_worker,
)
from merbench.results.schema import CellKey, CellResult, cells
from merbench.results.store import Store
from merbench.results.urls import sqlite_url
from tests.helpers.plugins import SLEEPY_TONES

MODELS = ("sleepy", "mean", "ridge", "svr")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return request.getfixturevalue("pg_url")


@pytest.fixture
def tones(install_tones):
    config = install_tones(SLEEPY_TONES)
    from merbench.plugin.registry import load_registry

    load_registry().dataset("tones").load(config.parent / "data")  # write the audio once
    return config


def _keys(n):
    return [
        CellKey(dataset="d", task="av-regression", candidate="ridge", repeat=0, fold=i)
        for i in range(n)
    ]


def _worker(name, host="elsewhere", pid=999_999):
    return WorkerId(name=name, host=host, pid=pid)


def _result():
    return CellResult(
        metrics={"r2_mean": 0.5}, best_params={}, timings={}, info={}, predictions=[], trials=[]
    )


def test_concurrent_claimers_take_each_cell_exactly_once(store_url):
    setup = Store(store_url)
    setup.add_cells(_keys(40))
    taken: dict[str, list[int]] = {}

    def drain(name):
        store, me = Store(store_url), _worker(name)
        mine = taken.setdefault(name, [])
        while (held := claim(store, me)) is not None:
            mine.append(held.cell_id)
        store.close()

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [cell for ids in taken.values() for cell in ids]
    assert sorted(every) == sorted(setup.cell_ids().values())
    assert len(setup.table("claims")) == 40
    assert setup.counts() == {"running": 40}
    by_worker = {c["id"]: c["worker"] for c in setup.table("cells")}
    assert all(by_worker[cell] == name for name, ids in taken.items() for cell in ids)
    setup.close()


def test_a_cell_whose_heartbeat_is_stale_is_requeued_and_its_old_worker_cannot_finish(store_url):
    store = Store(store_url)
    store.add_cells(_keys(1))
    gone, alive = _worker("gone"), _worker("alive", host="here")
    held = claim(store, gone)
    assert requeue_dead(store, alive, timeout_s=60) == 0  # a fresh heartbeat: still running
    with store.engine.begin() as conn:  # two minutes without a heartbeat
        conn.execute(cells.update().values(heartbeat_at=cells.c.heartbeat_at - 120))
    assert requeue_dead(store, alive, timeout_s=60) == 1
    again = claim(store, alive)
    assert again is not None and again.key == held.key
    assert not beat(store, held, gone)
    assert not finish(store, held.key, _result(), worker=gone.name)
    assert finish(store, again.key, _result(), worker=alive.name)
    assert [c["worker"] for c in store.table("claims")] == ["gone", "alive"]
    assert store.counts() == {"done": 1}
    store.close()


def test_a_cell_of_an_exited_process_on_this_machine_is_requeued_at_once(store_url):
    store = Store(store_url)
    store.add_cells(_keys(2))
    me = this_worker()
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    dead = WorkerId(name="dead", host=me.host, pid=exited.pid)
    claim(store, dead)
    claim(store, me)
    assert requeue_dead(store, me, timeout_s=3600) == 1
    assert store.counts() == {"pending": 1, "running": 1}
    store.close()


def test_a_cell_of_a_killed_unreaped_process_on_this_machine_is_requeued_at_once(tmp_path):
    store = Store(sqlite_url(tmp_path))
    store.add_cells(_keys(1))
    me = this_worker()
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claim(store, WorkerId(name="killed", host=me.host, pid=zombie.pid))
        os.kill(zombie.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        stat = Path(f"/proc/{zombie.pid}/stat")
        while "Z" not in stat.read_text().rsplit(")", 1)[1][:3]:
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        assert requeue_dead(store, me, timeout_s=3600) == 1  # not reaped, yet dead
        assert store.counts() == {"pending": 1}
    finally:
        zombie.wait()
        store.close()


def test_the_heartbeat_thread_keeps_a_held_cell_fresh(store_url):
    store = Store(store_url)
    store.add_cells(_keys(1))
    queue = Queue(worker=_worker("w"), heartbeat_timeout=0.4)
    held = claim(store, queue.worker)

    def heartbeat():
        return store.table("cells")[0]["heartbeat_at"]

    first = heartbeat()
    with Heartbeat(store, held, queue) as running:
        deadline = time.monotonic() + 30
        while heartbeat() == first and time.monotonic() < deadline:
            time.sleep(0.05)
    assert heartbeat() > first and not running.is_lost
    release(store, held, queue.worker)
    assert store.counts() == {"pending": 1}
    store.close()


def test_a_store_of_the_first_schema_gains_the_queue_columns(tmp_path):
    url = sqlite_url(tmp_path)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE cells (id INTEGER PRIMARY KEY, dataset VARCHAR(64) NOT NULL, "
            "task VARCHAR(32) NOT NULL, candidate VARCHAR(200) NOT NULL, repeat INTEGER NOT NULL, "
            "fold INTEGER NOT NULL, status VARCHAR(16) NOT NULL, metrics JSON, best_params JSON, "
            "timings JSON, info JSON, error TEXT, started_at VARCHAR(40), finished_at VARCHAR(40))"
        )
        conn.exec_driver_sql(
            "INSERT INTO cells (dataset, task, candidate, repeat, fold, status) "
            "VALUES ('d', 'av-regression', 'ridge', 0, 0, 'running')"
        )
    engine.dispose()
    store = Store(url)
    me = this_worker()
    assert requeue_dead(store, me, timeout_s=60) == 1  # no heartbeat at all: an old, dead run
    assert claim(store, me).key == _keys(1)[0]
    store.close()


def test_a_worker_refuses_a_dataset_that_changed_since_the_run_started(tones, tmp_path):
    url = sqlite_url(tmp_path / "run")
    settings = RunSettings(
        models=("ridge",), baselines=False, budget="smoke", config=tones, out=tmp_path / "run"
    )
    run(dataclasses.replace(settings, enqueue_only=True))
    changed = tmp_path / "changed.toml"
    changed.write_text(tones.read_text() + "[datasets.tones.options]\nn_tracks = 20\n")
    with pytest.raises(RunError, match="changed since this run started"):
        work(WorkerSettings(storage=url, config=changed, out=tmp_path / "w"))
    store = Store(url)
    assert store.counts() == {"pending": 3}  # the claimed cell went back to the queue
    store.close()


def test_a_worker_names_the_run_it_finds(tones, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="no results store here"):  # never creates one
        work(WorkerSettings(storage=sqlite_url(tmp_path / "empty"), out=tmp_path / "w"))
    assert not (tmp_path / "empty" / "results.sqlite").exists()
    Store(sqlite_url(tmp_path / "empty")).close()  # a store, no run in it
    with pytest.raises(RunError, match="no run in this store yet"):
        work(WorkerSettings(storage=sqlite_url(tmp_path / "empty"), out=tmp_path / "w"))
    run(RunSettings(models=("mean",), budget="smoke", config=tones, out=tmp_path / "run",
                    enqueue_only=True))  # fmt: skip
    with pytest.raises(RunError, match=r"holds run 'tones', not 'other'\. Pass --run tones"):
        work(WorkerSettings(storage=sqlite_url(tmp_path / "run"), run="other"))


def _start_worker(url, tmp_path, **env):
    environ = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), *sys.path]),
        "MERBENCH_HEARTBEAT_TIMEOUT": "2",
        "OMP_NUM_THREADS": "1",
        **env,
    }
    command = [sys.executable, "-m", "merbench", "worker", "--storage", url, "--run", "tones"]
    return subprocess.Popen(command, cwd=tmp_path, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def _wait_running(store, host, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        running = [c for c in store.table("cells") if c["status"] == "running"]
        if any(c["worker_host"] == host for c in running):
            return
        time.sleep(0.05)
    raise AssertionError(f"the worker never ran a cell:\n{process.communicate()[0]}")


@pytest.mark.slow
def test_workers_share_a_run_survive_a_killed_one_and_match_one_process(tones, tmp_path, store_url):
    reference = RunSettings(models=MODELS, baselines=False, budget="smoke", config=tones,
                            render=False, out=tmp_path / "reference")  # fmt: skip
    run(reference)
    enqueue = ["run", "-m", ",".join(MODELS), "--no-baselines", "--budget", "smoke",
               "--config", str(tones), "--out", str(tmp_path / "shared"), "--storage", store_url,
               "--enqueue-only"]  # fmt: skip
    queued = CliRunner().invoke(main, enqueue)
    assert queued.exit_code == 0, queued.output
    assert "Queued. Start workers: merbench worker --storage" in queued.output
    store = Store(store_url)
    victim = _start_worker(store_url, tmp_path, TONES_FIT_SLEEP="30", MERBENCH_WORKER_HOST="victim")
    _wait_running(store, "victim", victim)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    workers = [_start_worker(store_url, tmp_path) for _ in range(3)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], "\n".join(outputs)

    shared = {_cell_key(c): c for c in store.table("cells")}
    assert {c["status"] for c in shared.values()} == {"done"} and len(shared) == 12
    claims = store.table("claims")
    killed = [c for c in claims if f":{victim.pid}-" in c["worker"]]
    assert len(killed) == 1, claims  # the killed worker's only claim
    others = [c["cell_id"] for c in claims if c not in killed]
    assert sorted(others) == sorted(c["id"] for c in shared.values())  # every cell once
    assert killed[0]["cell_id"] in others  # ... its cell too, after the heartbeat timeout
    assert shared[_cell_key_of(killed[0]["cell_id"], shared)]["worker"] != killed[0]["worker"]
    assert not any("took this cell over" in out for out in outputs)

    if store.dialect == "postgresql":  # every cell's study went to the same database
        with store.engine.connect() as conn:
            names = conn.execute(sa.text("SELECT study_name FROM optuna.studies")).scalars()
            assert sorted(names) == sorted(f"tones/tones/av-regression/{c} r{r}f{f}"
                                           for c, r, f in shared)  # fmt: skip
    single = Store(sqlite_url(tmp_path / "reference"))
    expected = {_cell_key(c): c for c in single.table("cells")}
    single.close()
    assert expected.keys() == shared.keys()
    for key, cell in expected.items():
        assert shared[key]["metrics"] == cell["metrics"], key
        assert shared[key]["best_params"] == cell["best_params"], key
    store.close()


def _cell_key(cell):
    return (cell["candidate"], cell["repeat"], cell["fold"])


def _cell_key_of(cell_id, cells_by_key):
    return next(k for k, c in cells_by_key.items() if c["id"] == cell_id)


def test_status_names_the_worker_of_each_running_cell(tmp_path):
    store = Store(sqlite_url(tmp_path))
    store.add_cells(_keys(2))
    claim(store, _worker("w1"))
    store.close()
    result = CliRunner().invoke(main, ["status", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "running d/av-regression/ridge r0f0 on w1 since" in result.output
