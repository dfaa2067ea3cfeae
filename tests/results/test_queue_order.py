"""The queue hands out the most expensive pending cell first, from an index in that order; older
stores gain the cost column and the index."""

from __future__ import annotations

import sqlalchemy as sa

from merbench.results.queue import CLAIM_ORDER, claim, claim_many, set_costs, this_worker
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


def test_a_batch_claim_takes_the_most_expensive_cells_first_and_logs_each_claim(tmp_path):
    store = _store(tmp_path)
    ids = store.cell_ids()
    set_costs(store, {ids[_key(0)]: 1.0, ids[_key(1)]: 50.0, ids[_key(3)]: 50.0, ids[_key(4)]: 9})
    worker = this_worker()
    batches = [[held.key.fold for held in claim_many(store, worker, limit=2)] for _ in range(4)]
    assert batches == [[1, 3], [4, 0], [2], []]
    assert [row["cell_id"] for row in store.table("claims")] == [
        ids[_key(f)] for f in (1, 3, 4, 0, 2)
    ]
    assert store.counts() == {"running": 5}
    among = [ids[_key(0)]]
    assert claim_many(store, worker, among, limit=2) == []
    store.close()


def test_without_costs_cells_are_claimed_in_listing_order(tmp_path):
    store = _store(tmp_path)
    assert _claim_all(store) == [0, 1, 2, 3, 4]
    store.close()


def test_a_store_without_the_cost_column_is_migrated_and_its_cells_come_last(tmp_path):
    store = _store(tmp_path, n=3)
    with store.engine.begin() as conn:  # as written before cells had a cost
        conn.execute(sa.text("DROP INDEX ix_cells_claim"))
        conn.execute(sa.text("ALTER TABLE cells DROP COLUMN cost"))
    store.close()

    store = Store(sqlite_url(tmp_path), create=False)
    with store.reader.connect() as conn:
        inspector = sa.inspect(conn)
        assert "cost" in {c["name"] for c in inspector.get_columns("cells")}
        assert "ix_cells_claim" in {i["name"] for i in inspector.get_indexes("cells")}
        assert conn.execute(sa.select(cells.c.cost)).scalars().all() == [None] * 3
    store.add_cells([_key(3)])
    set_costs(store, {store.cell_ids()[_key(3)]: 2.0})
    assert _claim_all(store) == [3, 0, 1, 2]
    store.close()


def _claim_plan(store):
    """The database's plan of the claim query, with sorting made as costly as it can be."""
    query = sa.select(cells.c.id).where(cells.c.status == "pending").order_by(*CLAIM_ORDER).limit(1)
    compiled = query.compile(store.engine, compile_kwargs={"literal_binds": True})
    with store.reader.connect() as conn:
        if store.dialect == "postgresql":
            conn.exec_driver_sql("SET enable_sort = off")  # a sort only where no index serves
            return " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))
        return " ".join(
            str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )


def test_a_claim_reads_the_claim_index_in_order_instead_of_sorting_the_pending_cells(tmp_path):
    store = _store(tmp_path)
    plan = _claim_plan(store)
    assert "ix_cells_claim" in plan
    assert "TEMP B-TREE" not in plan
    store.close()


def test_on_postgresql_a_claim_reads_the_claim_index_in_order(pg_url):
    store = Store(pg_url)
    store.start_run("synth", {"budget": "smoke", "seed": 0}, {})
    store.add_cells([_key(fold) for fold in range(5)])
    plan = _claim_plan(store)
    assert "using ix_cells_claim" in plan
    assert "Sort" not in plan
    store.close()


def test_a_version_4_store_gains_the_claim_index(tmp_path):
    store = _store(tmp_path, n=3)
    with store.engine.begin() as conn:  # as written by schema version 4
        conn.execute(sa.text("DROP INDEX ix_cells_claim"))
        conn.execute(sa.text("CREATE INDEX ix_cells_queue ON cells (status, cost)"))
    store.close()

    store = Store(sqlite_url(tmp_path), create=False)
    assert "ix_cells_claim" in _claim_plan(store)
    assert _claim_all(store) == [0, 1, 2]
    store.close()


def test_a_process_holding_many_cells_beats_them_in_one_transaction(tmp_path, monkeypatch):
    from merbench.results import queue

    monkeypatch.setattr(queue, "BEAT_CHUNK", 2)  # several statements, one transaction
    store = _store(tmp_path, n=5)
    worker, other = this_worker(), this_worker()
    mine = claim_many(store, worker, limit=4)
    theirs = claim_many(store, other, limit=1)
    with store.engine.begin() as conn:
        conn.execute(cells.update().values(heartbeat_at=0.0))
    transactions = []
    transact = store.transact
    monkeypatch.setattr(store, "transact", lambda work: transactions.append(1) or transact(work))
    assert queue.beat_many(store, [*mine, *theirs], worker) == 4  # not the other worker's cell
    assert len(transactions) == 1
    beats = {row["id"]: row["heartbeat_at"] for row in store.table("cells")}
    assert all(beats[held.cell_id] > 0.0 for held in mine)
    assert beats[theirs[0].cell_id] == 0.0
    assert queue.beat(store, mine[0], worker) and not queue.beat(store, theirs[0], worker)
    assert queue.beat_many(store, [], worker) == 0
    store.close()
