"""The queue hands out the most expensive pending cell first; older stores gain the cost column."""

from __future__ import annotations

import sqlalchemy as sa

from merbench.results.queue import claim, set_costs, this_worker
from merbench.results.schema import CellKey, cells
from merbench.results.store import Store
from merbench.results.urls import sqlite_url


def _key(fold, candidate="ridge@handcrafted"):
    return CellKey(dataset="synth", task="av-regression", candidate=candidate, repeat=0, fold=fold)


def _claim_all(store):
    worker, order = this_worker(), []
    while (held := claim(store, worker)) is not None:
        order.append(held.key.fold)
    return order


def _store(tmp_path, n=5):
    store = Store(sqlite_url(tmp_path))
    store.start_run("synth", {"budget": "smoke", "seed": 0}, {})
    store.add_cells([_key(fold) for fold in range(n)])
    return store


def test_the_most_expensive_pending_cell_is_claimed_first(tmp_path):
    store = _store(tmp_path)
    ids = store.cell_ids()
    set_costs(store, {ids[_key(0)]: 1.0, ids[_key(1)]: 50.0, ids[_key(3)]: 50.0, ids[_key(4)]: 9})
    # Equal costs go in listing order; a cell without a cost comes last.
    assert _claim_all(store) == [1, 3, 4, 0, 2]
    store.close()


def test_without_costs_cells_are_claimed_in_listing_order(tmp_path):
    store = _store(tmp_path)
    assert _claim_all(store) == [0, 1, 2, 3, 4]
    store.close()


def test_a_store_without_the_cost_column_is_migrated_and_its_cells_come_last(tmp_path):
    store = _store(tmp_path, n=3)
    with store.engine.begin() as conn:  # as written before cells had a cost
        conn.execute(sa.text("DROP INDEX ix_cells_queue"))
        conn.execute(sa.text("ALTER TABLE cells DROP COLUMN cost"))
    store.close()

    store = Store(sqlite_url(tmp_path), create=False)
    with store.reader.connect() as conn:
        inspector = sa.inspect(conn)
        assert "cost" in {c["name"] for c in inspector.get_columns("cells")}
        assert "ix_cells_queue" in {i["name"] for i in inspector.get_indexes("cells")}
        assert conn.execute(sa.select(cells.c.cost)).scalars().all() == [None] * 3
    store.add_cells([_key(3)])
    set_costs(store, {store.cell_ids()[_key(3)]: 2.0})
    assert _claim_all(store) == [3, 0, 1, 2]
    store.close()


def test_the_claim_query_uses_the_queue_index(tmp_path):
    store = _store(tmp_path)
    query = (
        sa.select(cells.c.id)
        .where(cells.c.status == "pending")
        .order_by(cells.c.cost.desc().nulls_last(), cells.c.id)
        .limit(1)
    )
    compiled = query.compile(store.engine, compile_kwargs={"literal_binds": True})
    with store.reader.connect() as conn:
        plan = " ".join(
            str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )
    assert "ix_cells_queue" in plan
    store.close()
