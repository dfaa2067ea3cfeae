"""End to end on the embedded synth dataset, through the CLI and the Python API."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import merbench
from merbench.cli import main


@pytest.mark.slow
def test_run_all_models_smoke_on_synth(tiny_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["run", "--models", "all", "--budget", "smoke", "--config", str(tiny_config)]
    )
    assert result.exit_code == 0, result.output
    index = tmp_path / "runs" / "synth" / "leaderboard" / "index.html"
    assert index.exists()
    results = merbench.load_results(tmp_path / "runs" / "synth")
    assert (results["status"] == "done").all()
    by_candidate = results.groupby("candidate")["r2_mean"].mean()
    assert {"mean", "ridge@handcrafted"} <= set(by_candidate.index)
    deep = {
        "cnn1d@raw", "cnn1d@raw:gain+mixup", "cnn2d@mel", "cnn2d@mel:specaugment", "crnn@mel",
        "lstm@frames", "gru@frames", "hybrid@raw+handcrafted", "hybrid2d@mel+handcrafted",
    }  # fmt: skip
    assert deep <= set(by_candidate.index)
    assert by_candidate["ridge@handcrafted"] > by_candidate["mean"]
    page = (tmp_path / "runs" / "synth" / "leaderboard" / "synth-av-regression.html").read_text()
    assert "ridge@handcrafted" in page and "merbench 0.1.0" in page


def test_python_api_returns_a_dataframe(tiny_config, tmp_path):
    results = merbench.run(
        ["mean", "ridge"],
        baselines=False,
        budget="smoke",
        config=tiny_config,
        out=tmp_path / "run",
        render=False,
    )
    assert list(results.columns[:5]) == ["dataset", "task", "candidate", "repeat", "fold"]
    assert len(results) == 6
    assert set(results["status"]) == {"done"}
    again = merbench.load_results(tmp_path / "run")
    assert again["r2_mean"].tolist() == results["r2_mean"].tolist()
