"""Connections a process keeps open on PostgreSQL: its study's one and its store's one."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from merbench.results.queue import beat, claim, this_worker
from merbench.results.schema import CellKey
from merbench.results.store import Store
from merbench.train.tuning import close_study_storage, open_study_storage

pytestmark = pytest.mark.postgres


def _others(url: str) -> int:
    """Connections to the database of ``url`` besides the one asking."""
    import psycopg

    with psycopg.connect(url) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0])


def _settles_at(url: str, expected: int) -> bool:
    """Whether the count reaches ``expected`` (a closed connection's backend exits shortly)."""
    for _ in range(50):
        if _others(url) == expected:
            return True
        time.sleep(0.1)
    return False


def test_a_worker_keeps_its_study_connection_and_one_store_connection_open(pg_url):
    import optuna

    store = Store(pg_url)
    store.start_run("d", {"budget": "smoke", "seed": 0}, {})
    store.add_cells(
        [
            CellKey(dataset="d", task="av-regression", candidate="ridge", repeat=0, fold=f)
            for f in (0, 1)
        ]
    )
    assert _settles_at(pg_url, 1)  # the store keeps one connection between its transactions

    studies = open_study_storage(store)
    worker = this_worker()
    held = claim(store, worker)
    study = optuna.create_study(storage=studies, study_name="d/ridge r0f0")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    assert held is not None and beat(store, held, worker)
    assert _settles_at(pg_url, 2)  # and the study's one, kept between trials

    close_study_storage(studies)
    store.close()
    assert _settles_at(pg_url, 0)


def test_a_store_opens_a_second_connection_only_while_two_threads_use_it(pg_url):
    store = Store(pg_url)
    store.start_run("d", {"budget": "smoke", "seed": 0}, {})
    with store.engine.connect() as held:  # a heartbeat's transaction, say
        held.execute(sa.text("SELECT 1"))
        assert store.read_run() is not None  # a claim's, at the same time: the overflow one
        assert _others(pg_url) == 2
    assert _settles_at(pg_url, 1)  # the overflow connection is closed when it comes back
    store.close()
    assert _settles_at(pg_url, 0)


def test_a_store_engine_pools_two_connections_on_postgresql_and_sqlite_keeps_its_own(
    pg_url, tmp_path
):
    from merbench.results.urls import make_engine, sqlite_url

    engine = make_engine(pg_url)
    assert isinstance(engine.pool, sa.pool.QueuePool)
    assert engine.pool.size() == 1 and engine.pool._max_overflow == 1
    assert engine.pool._pre_ping and 0 < engine.pool._recycle <= 3600
    engine.dispose()
    engine = make_engine(sqlite_url(tmp_path))
    assert not isinstance(engine.pool, sa.pool.NullPool) and engine.pool.size() > 1
    engine.dispose()
