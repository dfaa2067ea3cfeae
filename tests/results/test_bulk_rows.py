"""A finished cell's rows read back the same from PostgreSQL, which loads them with ``COPY``,
as from SQLite, which inserts them with ``executemany``."""

from __future__ import annotations

import math

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


def _non_finite_stored(url: str) -> tuple[dict, list[tuple]]:
    store = Store(url)
    store.start_run("synth", {"budget": "smoke", "seed": 0}, {"note": np.float32("nan")})
    store.add_cells([KEY])
    trials = [
        {"number": 0, "state": "complete", "value": math.nan, "duration_s": 1.0, "epochs": 1,
         "params": {"lr": math.inf, "name": "NaN", "drop": [np.float64("-inf"), 0.5]}},
    ]  # fmt: skip
    result = CellResult(
        metrics={"r2_mean": math.nan, "f1_macro": 0.25}, best_params={"lr": -math.inf},
        timings={}, info={"per_tag": np.array([0.5, np.nan])}, predictions=[], trials=trials,
    )  # fmt: skip
    assert finish(store, KEY, result)
    [cell] = store.table("cells")
    [trial] = store.table("trials")
    run = store.read_run()
    store.close()
    assert run is not None
    return (
        {k: cell[k] for k in ("metrics", "best_params", "info")} | {"run": run["provenance"]},
        [(repr(trial["value"]), repr(trial["params"]))],
    )


def test_non_finite_values_are_stored_on_postgresql_and_read_back_as_on_sqlite(pg_url, tmp_path):
    on_sqlite, on_postgres = _non_finite_stored(sqlite_url(tmp_path)), _non_finite_stored(pg_url)
    assert repr(on_postgres) == repr(on_sqlite)
    cell = on_postgres[0]
    assert math.isnan(cell["metrics"]["r2_mean"]) and cell["metrics"]["f1_macro"] == 0.25
    assert cell["best_params"] == {"lr": -math.inf}
    assert cell["info"]["per_tag"][0] == 0.5 and math.isnan(cell["info"]["per_tag"][1])
    params = {"lr": math.inf, "name": "NaN", "drop": [-math.inf, 0.5]}
    assert on_postgres[1] == [("None", repr(params))]  # a NaN trial value is NULL, as on SQLite
