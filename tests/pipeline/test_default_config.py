"""Default against tuned: each tuned candidate's plugin-default configuration is refitted and
scored on the same outer folds, and the summary, results.csv and pages show what tuning gained."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest

from merbench.leaderboard.pages import candidate_file, task_file
from merbench.leaderboard.render import render_site
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from merbench.results.summaries import read_tables, summarize_store
from merbench.results.urls import sqlite_url
from tests.helpers.plugins import SYNTH_TOML

TASK = "av-regression"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A smoke run with one torch and two scikit-learn candidates and a baseline."""
    root = tmp_path_factory.mktemp("default-config")
    config = root / "datasets.toml"
    config.write_text(SYNTH_TOML.format(n_clips=48, seconds=3.0))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MERBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        patch.setenv("MERBENCH_JOBS", "1")
        settings = RunSettings(
            models=("mean", "ridge", "svr", "lstm"),
            tasks=(TASK,),
            budget="smoke",
            budget_overrides="trials=3",
            config=config,
            out=root / "run",
            render=False,
        )
        assert run(settings).ok
    return root / "run"


def _cells(run_dir) -> pd.DataFrame:
    return read_tables([sqlite_url(run_dir)], names=("cells",))["cells"]


def test_every_tuned_cell_scores_its_first_trial_the_plugins_defaults(run_dir):
    cells = _cells(run_dir)
    for cell in cells.to_dict("records"):
        info = cell["info"]
        if info["is_baseline"]:
            assert "default" not in info  # nothing to tune, nothing to compare
            continue
        default = info["default"]
        first = next(t for t in cell_trials(run_dir, cell["id"]) if t["number"] == 0)
        assert default["params"] == first["params"]
        assert set(default["metrics"]) >= {"r2_mean", "ccc_mean"}
        assert np.isfinite(default["metrics"]["r2_mean"])
        if default["same_as_tuned"]:
            assert default["metrics"]["r2_mean"] == pytest.approx(cell["metrics"]["r2_mean"])
            assert cell["best_params"] == default["params"]


def cell_trials(run_dir, cell_id):
    trials = read_tables([sqlite_url(run_dir)], names=("trials",))["trials"]
    mine = trials[trials["cell_id"] == cell_id]
    return mine.to_dict("records")


def test_torch_defaults_are_the_plugins_and_the_cores_optimiser_settings(run_dir):
    cells = _cells(run_dir)
    lstm = cells[cells["candidate"] == "lstm@frames"]
    assert len(lstm) == 3
    for info in lstm["info"]:
        params = info["default"]["params"]
        assert params["lr"] == pytest.approx(1e-3) and params["weight_decay"] == pytest.approx(1e-4)
        assert "lr" not in info["default"]["drawn"]
        assert info["default"]["refit_epochs"] >= 1


def test_a_default_that_differs_from_the_tuned_one_is_refitted(run_dir):
    cells = _cells(run_dir)
    refitted = [i["default"] for i in cells["info"] if not i["is_baseline"]]
    assert any(not d["same_as_tuned"] for d in refitted)
    for cell in cells.to_dict("records"):
        default = cell["info"].get("default")
        if default and not default["same_as_tuned"] and cell["best_params"] != default["params"]:
            # Another configuration on the same fold: its own scores, not the tuned ones.
            assert default["metrics"]["r2_mean"] != cell["metrics"]["r2_mean"]


def test_summary_gain_is_the_mean_paired_difference_over_folds(run_dir):
    summary = summarize_store(sqlite_url(run_dir)).set_index("candidate")
    cells = _cells(run_dir)
    for candidate in ("ridge@handcrafted", "svr@handcrafted", "lstm@frames"):
        mine = cells[(cells["candidate"] == candidate) & (cells["status"] == "done")]
        tuned = np.array([m["r2_mean"] for m in mine["metrics"]])
        default = np.array([i["default"]["metrics"]["r2_mean"] for i in mine["info"]])
        row = summary.loc[candidate]
        assert row["default_r2_mean"] == pytest.approx(default.mean())
        assert row["tuning_gain"] == pytest.approx((tuned - default).mean())
        assert row["tuning_gain_low"] <= row["tuning_gain"] <= row["tuning_gain_high"]
        assert row["default_folds"] == len(mine)
    assert pd.isna(summary.loc["mean", "tuning_gain"])  # baselines are not tuned


def test_pages_and_results_csv_show_default_tuned_and_gain(run_dir, tmp_path):
    site = tmp_path / "site"
    render_site([sqlite_url(run_dir)], site, title="synth")
    table = pd.read_csv(site / "results.csv").set_index("candidate")
    assert {"default_r2_mean", "tuning_gain", "tuning_gain_low"} <= set(table.columns)
    task_page = (site / task_file("synth", TASK)).read_text()
    section = task_page.split('id="tuning-gain"')[1].split("</table>")[0]
    for candidate in ("ridge@handcrafted", "svr@handcrafted", "lstm@frames"):
        assert html.escape(candidate) in section
        gain = table.loc[candidate, "tuning_gain"]
        assert f"{gain:.3f}".replace("-", "\u2212") in section or f"{gain:.3f}" in section
    assert ">mean<" not in section  # baselines have no row
    page = (site / candidate_file("synth", TASK, "lstm@frames")).read_text()
    assert "Default R²" in page
