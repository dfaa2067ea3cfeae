"""The results store: runs, cells, atomic finishes, resume bookkeeping."""

from __future__ import annotations

import pytest

from merbench.errors import RunError
from merbench.results.queue import claim, fail, finish, requeue_dead, this_worker
from merbench.results.schema import CellKey, CellResult, runs
from merbench.results.store import Store
from merbench.results.urls import sqlite_url


def _key(fold=0, candidate="ridge@handcrafted"):
    return CellKey(dataset="synth", task="av-regression", candidate=candidate, repeat=0, fold=fold)


def _result():
    return CellResult(
        metrics={"r2_mean": 0.5},
        best_params={"alpha": 1.0},
        timings={"total_s": 1.0},
        info={"n_params": 3},
        predictions=[("t1", "arousal", 5.0, 4.5), ("t1", "valence", 3.0, 3.5)],
        trials=[
            {
                "number": 0,
                "state": "complete",
                "value": 0.4,
                "params": {"alpha": 1.0},
                "duration_s": 0.1,
                "epochs": 0,
            }
        ],
    )


def test_cells_flow_from_pending_to_done(tmp_path):
    store = Store(sqlite_url(tmp_path))
    store.start_run("synth", {"budget": "smoke", "seed": 0}, {"merbench": "0.1.0"})
    store.add_cells([_key(0), _key(1)])
    store.add_cells([_key(0), _key(2)])  # idempotent for known cells
    assert [store.status(_key(f)) for f in range(3)] == ["pending"] * 3
    held = claim(store, this_worker())
    assert held is not None and held.key == _key(0)
    finish(store, _key(0), _result())
    assert store.status(_key(0)) == "done"
    [cell] = [c for c in store.table("cells") if c["fold"] == 0]
    assert cell["metrics"] == {"r2_mean": 0.5} and cell["best_params"] == {"alpha": 1.0}
    assert len(store.table("predictions")) == 2 and len(store.table("trials")) == 1
    store.close()


def test_interrupted_cells_become_pending_again(tmp_path):
    store = Store(sqlite_url(tmp_path))
    store.add_cells([_key(0)])
    claim(store, this_worker())
    assert store.status(_key(0)) == "running"
    assert requeue_dead(store, this_worker(), timeout_s=-1) == 1  # every heartbeat is stale
    assert store.status(_key(0)) == "pending"


def test_a_run_with_other_settings_is_refused(tmp_path):
    store = Store(sqlite_url(tmp_path))
    store.start_run("synth", {"budget": "smoke", "seed": 0}, {})
    store.start_run("synth", {"budget": "smoke", "seed": 0}, {})  # same settings resume
    with pytest.raises(
        RunError, match="made with budget='smoke'; this command asks for budget='default'"
    ):
        store.start_run("synth", {"budget": "default", "seed": 0}, {})


def test_split_manifest_first_hash_wins(tmp_path):
    store = Store(sqlite_url(tmp_path))
    assert (
        store.save_split("synth", "av-regression", "abc", {"0": [["t1"]]}, {"leakage": 0}) == "abc"
    )
    assert (
        store.save_split("synth", "av-regression", "def", {"0": [["t2"]]}, {"leakage": 0}) == "abc"
    )


def test_failed_cell_keeps_its_reason(tmp_path):
    store = Store(sqlite_url(tmp_path))
    store.add_cells([_key(0)])
    fail(store, _key(0), "ValueError: boom")
    [cell] = store.table("cells")
    assert (cell["status"], cell["error"]) == ("failed", "ValueError: boom")


def test_a_database_of_other_tables_is_refused_and_left_alone(tmp_path):
    import sqlite3

    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE foo (x)")
    with pytest.raises(RunError, match=r"results\.sqlite: a database of other tables \(foo\)"):
        Store(sqlite_url(tmp_path))
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["foo"]


def test_a_store_of_a_newer_merbench_is_refused(tmp_path):
    store = Store(sqlite_url(tmp_path))
    store.start_run("synth", {"budget": "smoke", "seed": 0}, {})
    store.transact(lambda conn: conn.execute(runs.update().values(schema_version=999)))
    store.close()
    for read_only in (False, True):
        with pytest.raises(RunError, match=r"newer merbench \(store schema 999.*Upgrade merbench"):
            Store(sqlite_url(tmp_path), read_only=read_only)


def test_a_read_only_store_reads_and_cannot_write(tmp_path):
    import sqlalchemy as sa

    store = Store(sqlite_url(tmp_path))
    store.add_cells([_key(0)])
    store.close()
    reader = Store(sqlite_url(tmp_path), read_only=True)
    assert reader.status(_key(0)) == "pending"
    with pytest.raises(sa.exc.OperationalError, match="readonly database"):
        with reader.engine.connect() as conn:
            conn.exec_driver_sql("DELETE FROM cells")
    reader.close()
    assert Store(sqlite_url(tmp_path)).status(_key(0)) == "pending"
