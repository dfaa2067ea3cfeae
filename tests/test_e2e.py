"""End to end on the embedded synth dataset, through the CLI and the Python API."""

from __future__ import annotations

import pandas as pd
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
    results = merbench.load_results(tmp_path / "runs" / "synth").cells
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


def test_python_api_returns_a_run_result(tiny_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = merbench.run(
        ["mean", "ridge"],
        baselines=False,
        datasets="synth",
        split="grouped,random",
        budget="smoke",
        config=tiny_config,
        out=tmp_path / "run",
    )
    assert isinstance(result, merbench.RunResult)
    cells = result.cells
    assert list(cells.columns[:5]) == ["dataset", "task", "candidate", "repeat", "fold"]
    assert len(cells) == 12 and set(cells["status"]) == {"done"}
    assert list(result.summaries) == ["grouped", "random"]
    for protocol, summary in result.summaries.items():
        assert set(summary["candidate"]) == {"mean", "ridge@handcrafted"}, protocol
    assert result.summaries["grouped"]["rank"].min() == 1
    assert result.summaries["random"]["rank"].isna().all()  # ranked under grouped folds only
    pd.testing.assert_frame_equal(result.summary, result.summaries["grouped"])
    assert {"track_id", "target", "y_true", "y_pred", "split"} <= set(result.predictions.columns)
    assert result.run_dir == tmp_path / "run" and result.store_url.startswith("sqlite:///")
    assert result.site == tmp_path / "run" / "leaderboard" / "index.html" and result.site.exists()
    text = repr(result)
    assert text.startswith("RunResult('synth', 12 cells (12 done), protocols: grouped, random")
    assert text.endswith(f"at '{tmp_path / 'run'}')") and "\n" not in text
    again = merbench.load_results(tmp_path / "run")
    assert again.site == result.site and again.name == "synth"
    assert again.cells["r2_mean"].tolist() == cells["r2_mean"].tolist()
    assert again.summary["candidate"].tolist() == result.summary["candidate"].tolist()
    with pytest.warns(DeprecationWarning, match="use RunResult.cells"):
        assert result["r2_mean"].tolist() == cells["r2_mean"].tolist()
    with pytest.warns(DeprecationWarning):
        assert len(result.groupby("candidate")) == 2
