"""``merbench run --track mlflow``: a run logged to a real local MLflow store, read back with
``MlflowClient.search_runs``; a tracker that fails and a missing MLflow never fail the run."""

from __future__ import annotations

import io
import logging
import os
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from merbench.cli import main
from merbench.errors import ConfigError
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from merbench.results.summaries import read_tables
from merbench.results.urls import sqlite_url

try:
    import mlflow
except ImportError:  # the mlflow extra: the test extra installs it, so CI must have it
    MISSING = "mlflow is not installed: pip install -e '.[test]' (or '.[mlflow]')"
    if os.environ.get("CI"):
        pytest.fail(MISSING, pytrace=False)
    pytest.skip(MISSING, allow_module_level=True)


def _settings(config, out, **extra) -> RunSettings:
    return RunSettings(
        models=("ridge@handcrafted",),
        tasks=("av-regression",),
        budget="smoke",
        config=config,
        out=out,
        render=False,
        jobs=1,
        **extra,
    )


@pytest.mark.slow
def test_a_tracked_run_has_a_parent_and_one_nested_run_per_cell(tiny_config, tmp_path):
    out = tmp_path / "run"
    assert run(_settings(tiny_config, out, track="mlflow")).ok
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("synth")
    assert experiment.artifact_location == (out / "mlruns").as_uri()
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.status == "FINISHED" and parent.data.params["budget"] == "smoke"
    children = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    cells = read_tables([sqlite_url(out)], names=("cells",))["cells"]
    done = cells[cells["status"] == "done"]
    assert len(children) == len(done) > 0
    by_cell = {(r.data.params["candidate"], int(r.data.params["fold"])): r for r in children}
    for row in done.to_dict("records"):
        child = by_cell[(row["candidate"], row["fold"])]
        assert child.info.status == "FINISHED"
        assert child.data.params["dataset"] == "synth"
        assert child.data.params["task"] == "av-regression"
        assert child.data.metrics["r2_mean"] == pytest.approx(row["metrics"]["r2_mean"])
        assert child.data.metrics["time_total_s"] == pytest.approx(row["timings"]["total_s"])
        for name, value in (row["best_params"] or {}).items():
            assert child.data.params[name] == str(value)
    ridge = by_cell[("ridge@handcrafted", 0)]
    text = mlflow.artifacts.load_text(f"{ridge.info.artifact_uri}/predictions.csv")
    table = pd.read_csv(io.StringIO(text))
    assert list(table.columns) == ["track_id", "target", "y_true", "y_pred"]
    assert set(table["target"]) == {"arousal", "valence"} and len(table) > 0


@pytest.mark.slow
def test_a_failing_tracker_is_one_log_line_and_the_run_goes_on(tiny_config, tmp_path, caplog):
    settings = _settings(tiny_config, tmp_path / "run", track="mlflow", tracking_uri="nope://x")
    with caplog.at_level(logging.WARNING, logger="merbench"):
        assert run(settings).ok
    lines = [r.getMessage() for r in caplog.records if "MLflow tracking" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("MLflow tracking stopped (nope://x):")


def test_a_missing_mlflow_is_refused_in_one_line_naming_the_extra(tiny_config, tmp_path):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
        with pytest.raises(ConfigError, match=r"pip install 'merbench\[mlflow\]'"):
            run(_settings(tiny_config, tmp_path / "run", track="mlflow"))
        args = ["run", "--config", str(tiny_config), "--out", str(tmp_path / "cli")]
        result = CliRunner().invoke(main, [*args, "--track", "mlflow", "-m", "ridge"])
    assert result.exit_code == 2
    assert (
        result.output.strip()
        .splitlines()[-1]
        .endswith("MLflow is not installed. pip install 'merbench[mlflow]'.")
    )
    assert not (tmp_path / "run").exists()


def test_tracking_options_are_checked_when_the_settings_are_made(tmp_path):
    with pytest.raises(ConfigError, match="--track wandb: choose mlflow"):
        RunSettings(track="wandb")
    with pytest.raises(ConfigError, match=r"nothing is tracked\. Add --track mlflow"):
        RunSettings(tracking_uri="sqlite:///x.db")
