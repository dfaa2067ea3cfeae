"""Tests of the verdict a results table gives: tiers in rank order, "cannot tell" against a
trivial baseline, and intervals inside each metric's range in every file a run writes."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from merbench.evaluation.metrics import compute_metrics
from merbench.evaluation.scoring import metric_bounds
from merbench.evaluation.tasks import get_task
from merbench.evaluation.verdicts import (
    CANNOT_TELL,
    CANNOT_TELL_TEXT,
    detectable_difference,
    ordered_tiers,
)
from merbench.results.queue import finish
from merbench.results.schema import CellKey, CellResult
from merbench.results.store import Store
from merbench.results.summaries import summarize_store
from merbench.results.urls import sqlite_url
from tests.helpers.stores import fake_store

TARGETS = ("arousal", "valence")
N_FOLDS = 5


def _store(folder, predictions, y, groups, folds, *, baselines=()):
    """A 5-fold regression store whose candidates predicted ``predictions[name]`` ``[N, 2]``."""
    folder.mkdir(parents=True, exist_ok=True)
    url = sqlite_url(folder)
    store = Store(url)
    store.start_run("r", {"budget": "smoke", "seed": 0, "top_k": None}, {"plugins": []})
    tracks = [f"t{i}" for i in range(len(y))]
    audit = {"n_folds": N_FOLDS, "repeats": 1, "n_tracks": len(y)}
    audit["groups"] = {t: f"artist{g}" for t, g in zip(tracks, groups, strict=True)}
    store.save_split("d", "av-regression", "hash", {}, audit)
    for candidate, pred in predictions.items():
        keys = [CellKey(dataset="d", task="av-regression", candidate=candidate, repeat=0, fold=f)
                for f in range(N_FOLDS)]  # fmt: skip
        store.add_cells(keys)
        for key in keys:
            test = np.flatnonzero(folds == key.fold)
            rows = [(tracks[i], t, float(y[i, d]), float(pred[i, d]))
                    for i in test for d, t in enumerate(TARGETS)]  # fmt: skip
            metrics = compute_metrics(get_task("av-regression"), y[test], pred[test])
            info = {"is_baseline": candidate in baselines}
            finish(store, key, CellResult(metrics=metrics, best_params={}, timings={},
                                          info=info, predictions=rows, trials=[]))  # fmt: skip
    store.close()
    return url


def _truth(rng, n_groups, per_group):
    groups = np.repeat(np.arange(n_groups), per_group)
    y = 5 + rng.normal(0, 1.5, (n_groups, 2))[groups] + rng.normal(0, 1.0, (len(groups), 2))
    folds = rng.permutation(n_groups)[groups] % N_FOLDS
    return y, groups, folds


def _interleaving(folder):
    """Three candidates: ``steady`` is a little worse than the leader on every artist (a small
    standard error), ``erratic`` much worse on two artists only (a large one)."""
    rng = np.random.default_rng(3)
    y, groups, folds = _truth(rng, 60, 4)
    leader = y + rng.normal(0, 0.5, y.shape)
    steady = leader + rng.normal(0, 0.45, y.shape)
    erratic = leader.copy()
    for artist in (0, 1):
        erratic[groups == artist] += 6.0
    candidates = {"leader": leader, "steady": steady, "erratic": erratic}
    return _store(folder, candidates, y, groups, folds)


def _badges(html):
    """The tier badge of each row of a task page's results table, in row order."""
    body = html.split('<table class="sortable results">')[1].split("</tbody>")[0]
    rows = body.split("<tr")[2:]
    return [re.search(r'class="badge ([a-z-]+)"', row)[1] for row in rows]


def test_tiers_never_interleave_with_ranks(tmp_path):
    from merbench.leaderboard import render

    url = _interleaving(tmp_path / "a")
    summary = summarize_store(url).set_index("candidate")
    assert summary["rank"].to_dict() == {"leader": 1, "steady": 2, "erratic": 3}
    assert summary.loc["steady", "tier"] == "worse"
    # The bootstrap alone keeps 'erratic' beside the leader; the order puts it below 'steady'.
    assert summary.loc["erratic", "p_holm"] > 0.05
    assert summary.loc["erratic", "tier"] == "worse"
    assert bool(summary.loc["erratic", "tier_from_rank"])
    assert summary["rank_by"].eq("pooled").all()

    render.render_site([url], tmp_path / "site")
    assert _badges((tmp_path / "site" / "d-av-regression.html").read_text()) == [
        "leader",
        "worse",
        "worse",
    ]
    table = pd.read_csv(tmp_path / "site" / "results.csv").sort_values("rank")
    worse = (table["tier"] == "worse").to_numpy()
    assert worse.tolist() == sorted(worse.tolist())  # once worse, worse below


def test_the_terminal_shows_the_pooled_score_its_ranks_follow(tmp_path, capsys):
    from merbench.cli.commands import print_leaders

    url = _interleaving(tmp_path / "a")
    summary = summarize_store(url).sort_values("rank")
    print_leaders(url)
    printed = capsys.readouterr().err
    assert "pooled r2_mean" in " ".join(printed.split())
    rows = [line for line in printed.splitlines() if line.startswith("│")]  # the table's rows
    shown = [float(re.findall(r"-?\d+\.\d{3}", line)[0]) for line in rows]
    assert shown == [round(v, 3) for v in summary["rank_value"]]
    assert shown == sorted(shown, reverse=True)  # the numbers beside the ranks read in order


def test_the_leader_is_the_best_pooled_score_the_bootstrap_tests(tmp_path):
    url = _interleaving(tmp_path / "a")
    summary = summarize_store(url).set_index("candidate")
    values = summary["rank_value"].sort_values(ascending=False)
    assert values.index.tolist() == ["leader", "steady", "erratic"]
    expected = summary.loc["steady", "rank_value"] - summary.loc["leader", "rank_value"]
    assert summary.loc["steady", "diff_vs_leader"] == np.float64(expected).round(12) or (
        abs(summary.loc["steady", "diff_vs_leader"] - expected) < 1e-9
    )


def test_order_rule_and_detectable_difference():
    assert ordered_tiers([1, 2, 3, 4], ["best", "worse", "best", "worse"]) == [
        False,
        False,
        True,
        False,
    ]
    assert ordered_tiers([1, 2, 2], ["best", "worse", "best"]) == [False, False, False]
    assert detectable_difference(0.01, n_tests=1) == np.float64(0.01 * 2.8015852).round(7) or (
        abs(detectable_difference(0.01, n_tests=1) - 0.028016) < 1e-5
    )
    assert detectable_difference(0.01, n_tests=3) > detectable_difference(0.01, n_tests=1)
    assert detectable_difference(0.01, n_tests=1, df=4) > detectable_difference(0.01, n_tests=1)
    # The permutation test's critical value scales with its null's spread, power with the se.
    wider_null = detectable_difference(0.01, n_tests=1, se_null=0.02)
    assert wider_null == pytest.approx(1.959964 * 0.02 + 0.841621 * 0.01, abs=1e-6)
    same = detectable_difference(0.01, n_tests=1, se_null=0.01)
    assert same == detectable_difference(0.01, n_tests=1)
    assert np.isnan(detectable_difference(0.01, n_tests=1, se_null=float("nan")))


def test_a_run_too_small_to_separate_the_baseline_says_cannot_tell(tmp_path, capsys):
    from merbench.cli.commands import print_leaders
    from merbench.leaderboard import render

    rng = np.random.default_rng(1)
    y, groups, folds = _truth(rng, 20, 2)  # 40 tracks
    mean = np.broadcast_to(y.mean(axis=0), y.shape).copy()
    model = mean + 0.15 * (y - mean) + rng.normal(0, 0.6, y.shape)
    url = _store(tmp_path / "a", {"mean": mean, "model": model}, y, groups, folds,
                 baselines=("mean",))  # fmt: skip
    summary = summarize_store(url).set_index("candidate")
    assert set(summary["tier"]) == {CANNOT_TELL}
    assert summary["detectable_diff"].notna().all() and (summary["detectable_diff"] > 0).all()

    render.render_site([url], tmp_path / "site")
    html = (tmp_path / "site" / "d-av-regression.html").read_text()
    assert CANNOT_TELL_TEXT in html
    assert set(_badges(html)) == {"cannot-tell"}
    assert "≈ best</span>" not in html.split('<table class="sortable results">')[1]
    print_leaders(url)
    printed = " ".join(capsys.readouterr().err.split())
    assert CANNOT_TELL_TEXT in printed and "smallest detectable difference" in printed
    assert "rank: pooled out-of-fold r2_mean" in printed


def test_a_baseline_told_apart_keeps_the_tiers(tmp_path):
    rng = np.random.default_rng(2)
    y, groups, folds = _truth(rng, 60, 4)
    mean = np.broadcast_to(y.mean(axis=0), y.shape).copy()
    good = y + rng.normal(0, 0.5, y.shape)
    url = _store(tmp_path / "a", {"mean": mean, "good": good}, y, groups, folds,
                 baselines=("mean",))  # fmt: skip
    summary = summarize_store(url).set_index("candidate")
    assert summary.loc["mean", "tier"] == "worse"
    assert summary.loc["good", "is_leader"] and summary.loc["good", "tier"] == "best"


def _intervals(record, primary):
    """``(column, low-or-high value)`` of every interval end of a summary record."""
    for column, value in record.items():
        if isinstance(value, int | float) and str(column).endswith(("_low", "_high")):
            yield str(column), float(value)


def _range_of(column, primary):
    base = re.sub(r"_(low|high)(_uncorrected)?$", "", column).removeprefix("default_")
    low, high = metric_bounds(primary)
    if base.startswith(("diff", "tuning_gain", "leakage_gap")):
        return low - high, high - low
    return metric_bounds(base)


def test_no_interval_leaves_its_metric_s_range_in_any_file(tmp_path):
    from merbench.leaderboard import render
    from merbench.leaderboard.eval_results import write_eval_results

    urls = [
        fake_store(tmp_path / "q", {"a": 0.0, "b": 0.0}, task="quadrant"),
        fake_store(tmp_path / "r", {"close": 0.05, "far": 0.3}, name="reg"),
    ]
    site = tmp_path / "site"
    render.render_site(urls, site)
    rows = json.loads((site / "results.json").read_text())["summary"]
    csv = pd.read_csv(site / "results.csv").to_dict("records")
    ends = 0
    for record in [*rows, *csv]:
        for column, value in _intervals(record, record["primary"]):
            if np.isnan(value):
                continue
            low, high = _range_of(column, record["primary"])
            assert low <= value <= high, (record["candidate"], column, value)
            ends += 1
    assert ends > 20
    assert '"macro_f1_high": 1.0' in (site / "results.json").read_text().replace("\n ", "")

    page = (site / "data-quadrant.html").read_text()
    for low, high in re.findall(r"95 % CI \[([^,\]]+), ([^\]]+)\]", page):
        for text in (low, high):
            value = float(text.replace("\N{MINUS SIGN}", "-"))
            assert -1.0 <= value <= 1.0, text

    for path in write_eval_results(urls, tmp_path / "yaml"):
        index = yaml.safe_load(path.read_text())["model-index"][0]
        for result in index["results"]:
            for metric in result["metrics"]:
                args = metric.get("args") or {}
                if "ci_low" in args:
                    low, high = metric_bounds(args["column"])
                    assert low <= args["ci_low"] <= args["ci_high"] <= high, metric
