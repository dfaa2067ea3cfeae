"""A finished cell's rows read back the same from PostgreSQL, which loads them with ``COPY``,
as from SQLite, which inserts them with ``executemany``."""

from __future__ import annotations

import numpy as np

from merbench.results.queue import finish
from merbench.results.schema import CellKey, CellResult
from merbench.results.store import Store
from merbench.results.urls import sqlite_url

KEY = CellKey(
    dataset="synth", task="av-regression", candidate="ridge@handcrafted", repeat=0, fold=0
)
AWKWARD = ["tab\there", "new\nline", "back\\slash", 'quote"s', "ünï cødé", r"\N", "comma,semi;"]


def _result(n: int) -> CellResult:
    predictions = [
        (AWKWARD[i % len(AWKWARD)] + f"-{i}", ("arousal", "valence")[i % 2],
         np.float64(i / 7), np.float64(-i / 3))
        for i in range(n)
    ]  # fmt: skip
    trials = [
        {"number": 0, "state": "complete", "value": 0.5, "duration_s": 1.5, "epochs": 3,
         "params": {"kernel": "3x3", "lr": 1e-3, "text": AWKWARD, "none": None}},
        {"number": 1, "state": "pruned", "value": None, "duration_s": 0.1, "epochs": 2,
         "params": {"alpha": 1e-300, "depth": 4}},
    ]  # fmt: skip
    return CellResult(
        metrics={"r2_mean": 0.5}, best_params={}, timings={}, info={},
        predictions=predictions, trials=trials,
    )  # fmt: skip


def _stored(url: str, n: int) -> tuple[list[tuple], list[tuple]]:
    store = Store(url)
    store.start_run("synth", {"budget": "smoke", "seed": 0}, {})
    store.add_cells([KEY])
    assert finish(store, KEY, _result(n))
    predictions = sorted(
        (r["track_id"], r["target"], r["y_true"], r["y_pred"]) for r in store.table("predictions")
    )
    trials = sorted(
        (r["number"], r["state"], r["value"], r["duration_s"], r["epochs"], repr(r["params"]))
        for r in store.table("trials")
    )
    store.close()
    return predictions, trials


def test_postgresql_stores_a_cells_rows_as_sqlite_does(pg_url, tmp_path):
    n = 2501
    on_sqlite, on_postgres = _stored(sqlite_url(tmp_path), n), _stored(pg_url, n)
    assert len(on_postgres[0]) == n and len(on_postgres[1]) == 2
    assert on_postgres[0] == on_sqlite[0]
    assert {t[0]: t[1:5] for t in on_postgres[1]} == {t[0]: t[1:5] for t in on_sqlite[1]}
    params = {t[0]: t[5] for t in on_postgres[1]}
    assert params == {t[0]: t[5] for t in on_sqlite[1]}
    assert "'ünï cødé'" in params[0] and "'none': None" in params[0]
    assert params[1] == repr({"alpha": 1e-300, "depth": 4})


def test_a_result_written_twice_leaves_one_set_of_rows(pg_url):
    store = Store(pg_url)
    store.start_run("synth", {"budget": "smoke", "seed": 0}, {})
    store.add_cells([KEY])
    assert finish(store, KEY, _result(10)) and finish(store, KEY, _result(4))
    assert len(store.table("predictions")) == 4 and len(store.table("trials")) == 2
    store.close()
