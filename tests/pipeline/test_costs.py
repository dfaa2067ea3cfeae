"""Estimated cell costs: the plan's per-cell seconds, torch before scikit-learn before baselines."""

from __future__ import annotations

from dataclasses import replace

import pytest

from merbench.evaluation.budgets import BUDGETS
from merbench.pipeline.candidates import parse_candidate
from merbench.pipeline.costs import prioritise, static_rates
from merbench.pipeline.estimate import CellSize, Line, cell_seconds, estimate, work_of
from merbench.pipeline.probe import rate_finder
from merbench.plugin.registry import load_registry
from merbench.results.queue import claim, this_worker
from merbench.results.schema import CellKey
from merbench.results.store import Store
from merbench.results.urls import sqlite_url


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def _cost(registry, name, budget=BUDGETS["smoke"], n_tracks=240):
    rates = static_rates(parse_candidate(name), registry)
    size = CellSize(n_train=n_tracks * 2 // 3, n_test=n_tracks // 3, windows_per_track=6.0)
    return cell_seconds(rates, work_of(rates, budget, size))


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
    ridge = [_cost(registry, "ridge@handcrafted", replace(smoke, trials=n)) for n in (2, 4, 6)]
    assert ridge[2] - ridge[1] == pytest.approx(ridge[1] - ridge[0]) and ridge[1] > ridge[0]
    mean = [_cost(registry, "mean", replace(smoke, trials=n)) for n in (2, 6)]
    assert mean[0] == mean[1]  # nothing to tune: one fit whatever the trials


def _key(candidate, fold):
    return CellKey(dataset="d", task="av-regression", candidate=candidate, repeat=0, fold=fold)


def test_the_queue_claims_in_the_order_of_the_plans_per_cell_seconds(tmp_path):
    lines = [
        Line(dataset="d", task="av-regression", split="grouped", candidate=candidate,
             cells=2, cell_seconds=seconds, source="stored",
             keys=(_key(candidate, 0), _key(candidate, 1)))
        for candidate, seconds in (("mean", (1.0, 2.0)), ("cnn", (50.0, 40.0)))
    ]  # fmt: skip
    store = Store(sqlite_url(tmp_path))
    store.start_run("d", {"budget": "smoke", "seed": 0}, {})
    store.add_cells([key for line in lines for key in line.keys])
    costs = prioritise(store, estimate(lines, budget="smoke", jobs=1))
    assert costs[_key("cnn", 0)] == 50.0 and costs[_key("mean", 0)] == 1.0
    worker = this_worker()
    claimed = [claim(store, worker) for _ in range(4)]
    assert [c.key for c in claimed if c] == [
        _key("cnn", 0),
        _key("cnn", 1),
        _key("mean", 1),
        _key("mean", 0),
    ]
    store.close()


def test_a_candidate_without_timings_or_probe_gets_the_static_rates(registry):
    find = rate_finder({}, None, BUDGETS["default"], lambda c: static_rates(c, registry))
    found = find(None, None, parse_candidate("cnn2d@mel"))  # type: ignore[arg-type]
    assert not isinstance(found, str) and found.source == "static" and found.network


def test_a_run_lists_its_cells_with_their_costs(evil_run):
    store = Store(sqlite_url(evil_run), create=False)
    costs = {}
    for row in store.table("cells"):
        costs.setdefault(row["candidate"].split("@")[0], set()).add(row["cost"])
    store.close()
    assert None not in set().union(*costs.values())
    assert min(costs["ridge"]) > max(costs["mean"])
