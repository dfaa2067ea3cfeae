"""Estimated cell costs: torch cells before scikit-learn ones before baselines, or as measured."""

from __future__ import annotations

from dataclasses import replace

import pytest

from merbench.evaluation.budgets import BUDGETS
from merbench.pipeline.candidates import parse_candidate
from merbench.pipeline.costs import measured_costs, static_cost
from merbench.plugin.registry import load_registry
from merbench.results.queue import claim, finish, this_worker
from merbench.results.schema import CellKey, CellResult
from merbench.results.store import Store
from merbench.results.urls import sqlite_url


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def _cost(registry, name, budget=BUDGETS["smoke"], n_tracks=240):
    return static_cost(parse_candidate(name), registry, budget, n_tracks)


def test_torch_cells_cost_more_than_scikit_learn_cells_than_baselines(registry):
    torch, sklearn, baseline = (
        _cost(registry, n) for n in ("cnn2d@mel", "ridge@handcrafted", "mean")
    )
    assert torch > 10 * sklearn and sklearn > 10 * baseline
    assert _cost(registry, "cnn2d@learnable-mel") > torch  # a trainable front-end
    assert _cost(registry, "cnn2d@mel:specaugment") > torch  # an augmentation
    assert _cost(registry, "cnn1d@raw") > torch  # raw waveforms
    assert _cost(registry, "mlp@handcrafted") < torch / 10  # a probe on vectors


def test_costs_grow_with_the_budget_and_the_tracks(registry):
    smoke = BUDGETS["smoke"]
    base = _cost(registry, "cnn2d@mel")
    assert _cost(registry, "cnn2d@mel", replace(smoke, epochs=4)) == pytest.approx(2 * base)
    assert _cost(registry, "cnn2d@mel", n_tracks=480) == pytest.approx(2 * base)
    assert _cost(registry, "cnn2d@mel", replace(smoke, clip_seconds=6.0)) == pytest.approx(2 * base)
    ridge = _cost(registry, "ridge@handcrafted")
    assert _cost(registry, "ridge@handcrafted", replace(smoke, trials=6)) == pytest.approx(
        2 * ridge
    )


def test_finished_cells_give_their_measured_seconds(tmp_path):
    store = Store(sqlite_url(tmp_path))
    store.start_run("synth", {"budget": "smoke", "seed": 0}, {})
    keys = [
        CellKey(
            dataset="synth", task="av-regression", candidate="ridge@handcrafted", repeat=0, fold=f
        )
        for f in range(3)
    ]
    store.add_cells(keys)
    worker = this_worker()
    for seconds in (2.0, 4.0):
        held = claim(store, worker)
        result = CellResult(
            metrics={}, best_params={}, timings={"total_s": seconds, "default_s": 1.0},
            info={}, predictions=[], trials=[],
        )  # fmt: skip
        finish(store, held.key, result, worker=worker.name)
    assert measured_costs(store) == {("synth", "ridge@handcrafted"): pytest.approx(4.0)}
    store.close()


def test_a_run_lists_its_cells_with_their_costs(evil_run):
    store = Store(sqlite_url(evil_run), create=False)
    costs = {}
    for row in store.table("cells"):
        costs.setdefault(row["candidate"].split("@")[0], set()).add(row["cost"])
    store.close()
    assert None not in set().union(*costs.values())
    assert min(costs["ridge"]) > max(costs["mean"])
