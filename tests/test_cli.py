"""The command line: help, listings, one-line errors, exit codes, a smoke run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from merbench.cli import main


@pytest.fixture
def cli():
    return CliRunner()


@pytest.fixture
def tones_config(install_tones):
    return install_tones()


@pytest.mark.parametrize(
    "command", [[], ["run"], ["list"], ["plugins"], ["status"], ["leaderboard"], ["verify"]]
)
def test_help_of_every_command(cli, command):
    result = cli.invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: main" in result.output or "Usage: merbench" in result.output


def test_help_does_not_import_torch():
    code = "import sys; from merbench.cli import main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_list_candidates_json(cli):
    result = cli.invoke(main, ["list", "candidates", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["candidate"]: r for r in json.loads(result.stdout)}
    assert rows["ridge@handcrafted"]["status"] == "ok"
    assert rows["mean"]["tasks"] == ["av-regression"]


def test_list_models_table(cli):
    result = cli.invoke(main, ["list", "models"])
    assert result.exit_code == 0
    assert "ridge" in result.stdout and "handcrafted" in result.stdout


def test_list_budgets(cli):
    result = cli.invoke(main, ["list", "budgets", "--json"])
    budgets = {b["name"]: b for b in json.loads(result.stdout)}
    assert budgets["smoke"]["outer_folds"] == 3


def test_unknown_model_is_one_line_and_exit_2(cli, tones_config):
    result = cli.invoke(main, ["run", "--models", "rigde", "--config", str(tones_config)])
    assert result.exit_code == 2
    assert "Unknown model 'rigde'. Did you mean 'ridge'?" in result.output
    assert "Traceback" not in result.output


def test_bad_config_is_one_line_and_exit_2(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[datasets.synth]\nenabeld = true\n")
    result = cli.invoke(main, ["run", "--config", str(bad)])
    assert result.exit_code == 2
    assert "unknown key 'enabeld'. Did you mean 'enabled'?" in result.output


def test_bad_budget_is_a_usage_error(cli):
    result = cli.invoke(main, ["run", "--budget", "huge"])
    assert result.exit_code == 2
    assert "Unknown budget 'huge'. Choose one of: smoke, default, full" in result.output


def test_run_status_and_leaderboard(cli, tones_config, tmp_path):
    result = cli.invoke(
        main,
        [
            "run",
            "--models",
            "mean,ridge",
            "--budget",
            "smoke",
            "--config",
            str(tones_config),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Leaderboard:" in result.output
    assert (tmp_path / "leaderboards" / "tones" / "index.html").exists()
    assert (tmp_path / "runs" / "tones" / "results.sqlite").exists()
    status = cli.invoke(main, ["status", "runs/tones"])
    assert status.exit_code == 0 and "done" in status.stdout
    site = cli.invoke(main, ["leaderboard", "runs/tones", "--out", "site", "--title", "Mine"])
    assert site.exit_code == 0
    assert "Mine" in (tmp_path / "site" / "index.html").read_text()


def test_failed_cells_give_exit_1(cli, tones_config):
    result = cli.invoke(
        main,
        [
            "run",
            "-m",
            "broken",
            "--budget",
            "smoke",
            "--config",
            str(tones_config),
            "--no-progress",
        ],
    )
    assert result.exit_code == 1
    assert "3 failed" in result.output


def test_status_of_a_missing_run(cli, tmp_path):
    result = cli.invoke(main, ["status", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "no results.sqlite here" in result.output


def test_verify_reports_bad_tracks(cli, tones_config, tmp_path):
    ok = cli.invoke(main, ["verify", "tones", "--config", str(tones_config)])
    assert ok.exit_code == 0, ok.output
    assert "24 usable track(s), 0 problem(s)" in ok.output
