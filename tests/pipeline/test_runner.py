"""The runner end to end on a small tone dataset: cells, failures, resume, leaderboard."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from merbench.errors import ConfigError, RunError
from merbench.leaderboard.render import render_site
from merbench.pipeline.runner import run as run_core
from merbench.pipeline.settings import RunSettings
from merbench.plugin.registry import load_registry
from merbench.results.summaries import load_results
from tests.helpers.plugins import TONES


def run(settings, **kwargs):
    """Run like ``merbench run``: the core's run, then the site the CLI renders."""
    outcome = run_core(settings, **kwargs)
    if settings.render:
        render_site([outcome.store_url], outcome.site_dir, title=outcome.name)
    return outcome


@pytest.fixture
def tones(install_tones):
    return install_tones()


def _settings(config, tmp_path, **changes):
    values = dict(
        models=("mean", "ridge", "broken"),
        baselines=False,  # the tests below count the candidates they ask for
        budget="smoke",
        config=config,
        out=tmp_path / "run",
        leaderboard=tmp_path / "site",
    )
    return RunSettings(**(values | changes))


def test_run_stores_every_cell_isolates_failures_and_renders(tones, tmp_path):
    outcome = run(_settings(tones, tmp_path))
    results = load_results(tmp_path / "run")
    assert set(results["candidate"]) == {"mean", "ridge@handcrafted", "broken@handcrafted"}
    assert len(results) == 9  # 3 candidates x 3 folds
    ok = results[results["status"] == "done"]
    assert set(ok["candidate"]) == {"mean", "ridge@handcrafted"}
    failed = results[results["status"] == "failed"]
    assert len(failed) == 3
    assert failed["error"].str.contains("RuntimeError: this model is broken on purpose").all()
    assert outcome.counts["failed"] == 3 and not outcome.ok
    log = (tmp_path / "run" / "run.log").read_text()
    assert "Traceback" in log and "build_broken" in log
    ridge = ok[ok["candidate"] == "ridge@handcrafted"]["r2_mean"].mean()
    mean = ok[ok["candidate"] == "mean"]["r2_mean"].mean()
    assert ridge > mean + 0.2, (ridge, mean)
    page = (tmp_path / "site" / "tones-av-regression.html").read_text()
    assert "ridge@handcrafted" in page and "this model is broken on purpose" in page
    assert (tmp_path / "site" / "results.csv").exists()
    assert (tmp_path / "site" / "provenance.json").exists()


def test_resume_skips_finished_cells_and_matches_an_uninterrupted_run(tones, tmp_path):
    first = run(_settings(tones, tmp_path, models=("ridge",)))
    assert first.counts == {"done": 3, "failed": 0, "resumed": 0}
    again = run(_settings(tones, tmp_path, models=("ridge",)))
    assert again.counts == {"done": 0, "failed": 0, "resumed": 3}
    fresh = run(_settings(tones, tmp_path, models=("ridge",), out=tmp_path / "other"))
    a = load_results(tmp_path / "run").sort_values("fold")["r2_mean"].to_numpy()
    b = load_results(tmp_path / "other").sort_values("fold")["r2_mean"].to_numpy()
    assert fresh.counts["done"] == 3
    assert a.tolist() == b.tolist()


def test_adding_a_model_to_a_run_reuses_the_same_folds(tones, tmp_path):
    run(_settings(tones, tmp_path, models=("mean",)))
    outcome = run(_settings(tones, tmp_path, models=("mean", "ridge")))
    assert outcome.counts == {"done": 3, "failed": 0, "resumed": 3}


def test_other_budget_on_the_same_run_is_refused(tones, tmp_path):
    run(_settings(tones, tmp_path, models=("mean",)))
    with pytest.raises(RunError, match="budget='smoke'; this command asks for budget='default'"):
        run(_settings(tones, tmp_path, models=("mean",), budget="default"))


def test_classification_task_uses_majority_baseline(tones, tmp_path):
    run(_settings(tones, tmp_path, models=("all",), tasks=("quadrant",)))
    results = load_results(tmp_path / "run")
    assert "majority" in set(results["candidate"]) and "mean" not in set(results["candidate"])
    assert {"macro_f1", "balanced_accuracy", "majority_chance"} <= set(results.columns)


def test_unknown_dataset_and_task_are_config_errors(tones, tmp_path):
    with pytest.raises(ConfigError, match=re.escape("no dataset 'tone'. Did you mean 'tones'?")):
        run(_settings(tones, tmp_path, datasets=("tone",)))
    with pytest.raises(ConfigError, match="supports av-regression, quadrant; none of valence"):
        run(_settings(tones, tmp_path, tasks=("valence",)))


def test_registry_is_passed_through(tones, tmp_path):
    registry = load_registry()
    outcome = run(_settings(tones, tmp_path, models=("mean",)), registry=registry)
    assert outcome.ok


def test_noise_ceiling_is_in_the_audit_when_raters_spread_is_known(tiny_config, tmp_path):
    from merbench.results.store import Store
    from merbench.results.urls import sqlite_url

    run(
        RunSettings(
            models=("mean",), budget="smoke", config=tiny_config, out=tmp_path / "run", render=False
        )
    )
    store = Store(sqlite_url(tmp_path / "run"))
    [split] = store.table("splits")
    store.close()
    assert 0.8 < split["audit"]["noise_ceiling_r2"] < 1.0
    assert split["audit"]["leakage"] == 0.0


def test_top_k_is_reported_on_request_beside_its_chance_level(tones, tmp_path):
    run(
        _settings(
            tones, tmp_path, models=("svr", "ridge", "majority"), tasks=("quadrant",), top_k=2
        )
    )
    results = load_results(tmp_path / "run")
    assert set(results["status"]) == {"done"}
    assert (results["top2_chance"] == 0.5).all()
    assert results["top2_accuracy"].between(0, 1).all()
    assert (results["top2_accuracy"] >= results["accuracy"] - 1e-9).all()


def test_top_k_is_absent_unless_asked(tones, tmp_path):
    run(_settings(tones, tmp_path, models=("ridge",), tasks=("quadrant",)))
    assert not any(c.startswith("top") for c in load_results(tmp_path / "run").columns)


def test_the_torch_threads_per_cell_are_chosen_once_and_kept_by_a_resumed_run(
    tones, tmp_path, monkeypatch
):
    from merbench.results.store import Store
    from merbench.results.urls import sqlite_url

    settings = _settings(tones, tmp_path, models=("mean",), enqueue_only=True, render=False)
    monkeypatch.setenv("MERBENCH_THREADS", "2")
    run(settings)
    monkeypatch.delenv("MERBENCH_THREADS")
    run(settings)  # resumes with the stored count
    store = Store(sqlite_url(tmp_path / "run"))
    assert store.read_run()["settings"]["threads"] == 2
    store.close()
    monkeypatch.setenv("MERBENCH_THREADS", "1")
    with pytest.raises(RunError, match="made with MERBENCH_THREADS=2; this command asks for 1"):
        run(settings)
    monkeypatch.setenv("MERBENCH_THREADS", "none")
    with pytest.raises(ConfigError, match="MERBENCH_THREADS='none': give a positive number"):
        run(_settings(tones, tmp_path, out=tmp_path / "other", enqueue_only=True))


OVERFLOWING = TONES.replace(
    """def build_broken(*, alpha=1.0):
    raise RuntimeError("this model is broken on purpose")""",
    """from sklearn.linear_model import Ridge


class Overflowing(Ridge):
    def predict(self, x):
        return super().predict(x) * 1e200


def build_broken(*, alpha=1.0):
    return Overflowing(alpha=alpha)""",
)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy warns of overflow; users see none
def test_a_model_whose_predictions_overflow_fails_its_cells_not_the_run(install_tones, tmp_path):
    assert OVERFLOWING != TONES
    config = install_tones(OVERFLOWING)
    outcome = run(_settings(config, tmp_path, models=("mean", "broken")))
    results = load_results(tmp_path / "run")
    failed = results[results["status"] == "failed"]
    assert set(failed["candidate"]) == {"broken@handcrafted"} and len(failed) == 3
    assert failed["error"].str.contains("overflow|not finite", case=False).all()
    assert outcome.counts["failed"] == 3 and not outcome.ok
    done = results[results["status"] == "done"]
    assert len(done) == 3 and np.isfinite(done["r2_mean"]).all()
    page = (tmp_path / "site" / "tones-av-regression.html").read_text()
    assert "broken@handcrafted" in page and "mean" in page


def test_the_baselines_of_the_run_stand_beside_the_candidates_asked_for(tones, tmp_path):
    outcome = run(_settings(tones, tmp_path, models=("ridge",), baselines=True, render=False))
    results = load_results(tmp_path / "run")
    assert set(results["candidate"]) == {"ridge@handcrafted", "mean", "artist-prior"}
    assert outcome.ok and outcome.counts["done"] == 9
    run(_settings(tones, tmp_path, models=("ridge",), baselines=False, out=tmp_path / "b"))
    assert set(load_results(tmp_path / "b")["candidate"]) == {"ridge@handcrafted"}


def test_a_candidate_that_serves_none_of_the_tasks_is_named_and_fails_the_run(tones, tmp_path):
    asked = _settings(tones, tmp_path, models=("ridge", "mean"), tasks=("quadrant",))
    outcome = run(replace(asked, baselines=True))
    results = load_results(tmp_path / "run")
    assert set(results["candidate"]) == {"ridge@handcrafted", "majority", "artist-prior"}
    [unfit] = outcome.unavailable
    assert unfit.name == "mean" and not outcome.ok
    assert "serves av-regression, none of this run's tasks (quadrant)" in unfit.reason
    with pytest.raises(ConfigError, match="mean: model 'mean' serves av-regression"):
        run(_settings(tones, tmp_path, models=("mean",), tasks=("quadrant",), baselines=False))
