"""Tests of merbench.results.summaries: tiers from the paired group bootstrap of stored
predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from merbench.evaluation.metrics import compute_metrics
from merbench.evaluation.tasks import get_task
from merbench.results.queue import finish
from merbench.results.schema import CellKey, CellResult
from merbench.results.store import Store
from merbench.results.summaries import (
    cells_frame,
    predictions_frame,
    read_tables,
    split_groups,
    summarize,
    summarize_store,
)
from merbench.results.urls import sqlite_url

N_GROUPS, PER_GROUP, N_FOLDS = 40, 4, 5
TARGETS = ("arousal", "valence")


def _truth(rng):
    groups = np.repeat(np.arange(N_GROUPS), PER_GROUP)
    y = 5 + rng.normal(0, 1.5, (N_GROUPS, 2))[groups] + rng.normal(0, 1.0, (len(groups), 2))
    folds = rng.permutation(N_GROUPS)[groups] % N_FOLDS
    return y, groups, folds


def _store(folder, errors, *, with_groups=True):
    """A store of one 5-fold regression split; ``errors``: candidate -> spread of its errors."""
    folder.mkdir(parents=True, exist_ok=True)
    url = sqlite_url(folder)
    store = Store(url)
    store.start_run("r", {"budget": "smoke", "seed": 0, "top_k": None}, {"plugins": []})
    rng = np.random.default_rng(0)
    y, groups, folds = _truth(rng)
    tracks = [f"t{i}" for i in range(len(y))]
    audit = {"n_folds": N_FOLDS, "repeats": 1}
    if with_groups:
        audit["groups"] = {t: f"artist{g}" for t, g in zip(tracks, groups, strict=True)}
    store.save_split("d", "av-regression", "hash", {}, audit)
    shared = rng.normal(0, 0.5, y.shape)
    for candidate, spread in errors.items():
        pred = y + shared + rng.normal(0, spread, y.shape)
        keys = [CellKey(dataset="d", task="av-regression", candidate=candidate, repeat=0, fold=f)
                for f in range(N_FOLDS)]  # fmt: skip
        store.add_cells(keys)
        for key in keys:
            test = np.flatnonzero(folds == key.fold)
            finish(store, key, _result(y[test], pred[test], [tracks[i] for i in test]))
    store.close()
    return url


def _result(y, pred, tracks):
    rows = [(t, target, float(y[i, d]), float(pred[i, d]))
            for i, t in enumerate(tracks) for d, target in enumerate(TARGETS)]  # fmt: skip
    return CellResult(
        metrics=compute_metrics(get_task("av-regression"), y, pred), best_params={}, timings={},
        info={}, predictions=rows, trials=[],
    )  # fmt: skip


def test_predictions_make_the_tiers_and_the_ttest_stays_beside(tmp_path):
    url = _store(tmp_path / "a", {"good": 0.6, "twin": 0.6, "bad": 0.75})
    summary = summarize_store(url).set_index("candidate")
    leader = summary.index[summary["is_leader"].astype(bool)][0]
    assert leader in ("good", "twin")
    assert summary.loc["bad", "tier"] == "worse"
    assert summary.loc["bad", "tier_test"] == "permutation"
    assert summary.loc["bad", "p_ttest_holm"] > 0.05  # five folds alone do not show it
    assert (
        summary.loc["bad", "diff_high_uncorrected"] < 0
        and summary.loc["bad", "boot_groups"] == N_GROUPS
    )
    other = ({"good", "twin"} - {leader}).pop()
    assert summary.loc[other, "tier"] == "best"
    assert (
        summary.loc[other, "diff_low_uncorrected"] < 0 < summary.loc[other, "diff_high_uncorrected"]
    )
    assert pd.isna(summary.loc[leader, "tier_test"]) and pd.isna(summary.loc[leader, "p_holm"])

    ttest_only = summarize(cells_frame(read_tables([url])["cells"])).set_index("candidate")
    assert (ttest_only.loc["bad", "tier"], ttest_only.loc["bad", "tier_test"]) == ("best", "t-test")
    assert ttest_only.loc["bad", "p_holm"] == pytest.approx(summary.loc["bad", "p_ttest_holm"])
    assert pd.isna(ttest_only.loc["bad", "diff_vs_leader"])


def test_the_difference_is_the_pooled_primary_metric(tmp_path):
    url = _store(tmp_path / "a", {"good": 0.5, "bad": 1.0})
    tables = read_tables([url], names=("cells", "predictions"))
    predictions = predictions_frame(tables["cells"], tables["predictions"])
    assert len(predictions) == 2 * N_GROUPS * PER_GROUP * len(TARGETS)
    pooled = {}
    for candidate, rows in predictions.groupby("candidate"):
        wide = rows.pivot(index="track_id", columns="target", values=["y_true", "y_pred"])
        y, pred = wide["y_true"][list(TARGETS)], wide["y_pred"][list(TARGETS)]
        pooled[candidate] = compute_metrics(
            get_task("av-regression"), y.to_numpy(), pred.to_numpy()
        )
    summary = summarize_store(url).set_index("candidate")
    expected = pooled["bad"]["r2_mean"] - pooled["good"]["r2_mean"]
    assert summary.loc["bad", "diff_vs_leader"] == pytest.approx(expected)


def test_without_stored_groups_each_track_is_a_group(tmp_path):
    url = _store(tmp_path / "a", {"good": 0.6, "bad": 0.9}, with_groups=False)
    summary = summarize_store(url).set_index("candidate")
    assert summary.loc["bad", "boot_groups"] == N_GROUPS * PER_GROUP
    assert summary.loc["bad", "tier_test"] == "permutation"


def test_merged_stores_join_predictions_on_uid():
    cells = pd.DataFrame({"dataset": ["d"], "task": ["t"], "candidate": ["c"], "repeat": [0],
                          "fold": [1], "uid": ["1:7"], "id": [7]})  # fmt: skip
    predictions = pd.DataFrame({"uid": ["1:7", "0:7"], "cell_id": [7, 7], "track_id": ["a", "b"],
                                "target": ["class"] * 2, "y_true": [1.0, 2.0],
                                "y_pred": [1.0, 1.0]})  # fmt: skip
    joined = predictions_frame(cells, predictions)
    assert joined["track_id"].tolist() == ["a"] and joined["fold"].tolist() == [1]
    assert predictions_frame(cells.drop(columns="uid"), predictions)["track_id"].tolist() == [
        "a",
        "b",
    ]


def test_split_groups_read_the_audits():
    audits = [("d", {"groups": {"t1": "x", "t2": 3}}), ("d", {"n_folds": 5}), ("e", None)]
    assert split_groups(audits) == {"d": {"t1": "x", "t2": "3"}}


def test_pages_name_the_tier_test_and_keep_the_groups_out(tmp_path):
    import json

    from merbench.leaderboard import render

    url = _store(tmp_path / "a", {"good": 0.6, "bad": 0.9})
    render.render_site([url], tmp_path / "site")
    page = (tmp_path / "site" / "d-av-regression.html").read_text()
    assert "rank by the R² (mean) of all out-of-fold test predictions pooled" in page
    assert "tier by a paired permutation test of that score" in page
    assert "artist0" not in page
    data = json.loads((tmp_path / "site" / "results.json").read_text())
    assert "groups" not in data["pages"][0]["audit"]
    bad = next(row for row in data["summary"] if row["candidate"] == "bad")
    assert bad["tier_test"] == "permutation" and bad["diff_vs_leader"] < 0
    header = list(pd.read_csv(tmp_path / "site" / "results.csv").columns)
    assert {
        "tier_test",
        "p_ttest_holm",
        "diff_vs_leader",
        "diff_low_uncorrected",
        "diff_high_uncorrected",
    } <= set(header)
