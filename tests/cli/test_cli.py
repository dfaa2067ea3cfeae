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


COMMANDS = ["run", "worker", "init", "download", "list", "plugins", "new-plugin", "status"]
COMMANDS += ["compare", "verify", "leaderboard", "folds", "score", "export", "predict"]


def test_every_command_is_registered():
    assert sorted(main.commands) == sorted(COMMANDS)
    assert list(main.commands["plugins"].commands) == ["check"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS), ["plugins", "check"]])
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
    assert (tmp_path / "runs" / "tones" / "leaderboard" / "index.html").exists()
    assert (tmp_path / "runs" / "tones" / "results.sqlite").exists()
    status = cli.invoke(main, ["status", "runs/tones"])
    assert status.exit_code == 0 and "done" in status.stdout
    site = cli.invoke(main, ["leaderboard", "runs/tones", "--out", "site", "--title", "Mine"])
    assert site.exit_code == 0
    assert "Mine" in (tmp_path / "site" / "index.html").read_text()


def test_the_plan_is_printed_and_nothing_is_written(cli, tones_config, tmp_path):
    args = ["run", "-m", "mean,ridge", "--budget", "smoke", "--config", str(tones_config)]
    result = cli.invoke(main, [*args, "--plan", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Cost plan: tones / av-regression (smoke budget)" in result.stdout
    for candidate in ("mean", "ridge@"):
        assert candidate in result.stdout
    assert "probe" in result.stdout and "Plan (smoke budget): " in result.stdout
    assert "worker" in result.stdout.splitlines()[-1]
    assert not (tmp_path / "runs").exists()
    ran = cli.invoke(main, [*args, "--no-progress", "--no-leaderboard"])
    assert ran.exit_code == 0 and "Plan (smoke budget): " in ran.output  # its first lines
    assert "no timings yet" in ran.output and "cell-hours  from" not in ran.output  # one line
    rerun = cli.invoke(main, [*args, "--fresh", "--no-progress", "--no-leaderboard"])
    assert "cell-hours  from" not in rerun.output  # --fresh forgets the timings too
    again = cli.invoke(main, [*args, "--plan", "--no-progress"])
    assert "stored" in again.stdout and "probe" not in again.stdout


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


def _tree(folder):
    """Every path under ``folder`` with its size: what a refused command must leave as it was."""
    return {str(p): (p.stat().st_size if p.is_file() else -1) for p in folder.rglob("*")}


def _one_line_exit_2(result):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize("option", ["--out", "--leaderboard"])
def test_a_folder_under_a_file_is_refused_in_one_line_before_anything_is_written(
    cli, tones_config, tmp_path, option
):
    (tmp_path / "somefile").write_text("not a folder")
    before = _tree(tmp_path)
    result = cli.invoke(main, ["run", "-m", "mean", "--budget", "smoke",
                               option, "somefile/sub"])  # fmt: skip
    line = _one_line_exit_2(result)
    assert f"{option} somefile/sub" in line and "is a file" in line
    assert f"Pass {option} a folder you can write to." in line
    assert _tree(tmp_path) == before


def test_leaderboard_and_worker_refuse_a_folder_under_a_file(cli, tones_config, tmp_path):
    queued = cli.invoke(main, ["run", "-m", "mean", "--budget", "smoke", "--out", "run",
                               "--enqueue-only"])  # fmt: skip
    assert queued.exit_code == 0, queued.output
    (tmp_path / "somefile").write_text("not a folder")
    before = _tree(tmp_path)
    site = cli.invoke(main, ["leaderboard", "run", "--out", "somefile/site"])
    assert "--out somefile/site" in _one_line_exit_2(site)
    url = f"sqlite:///{tmp_path / 'run' / 'results.sqlite'}"
    worker = cli.invoke(main, ["worker", "--storage", url, "--out", "somefile/log"])
    assert "--out somefile/log" in _one_line_exit_2(worker)
    assert _tree(tmp_path) == before


def _truncated(path):
    from merbench.results.schema import CellKey
    from merbench.results.store import Store
    from merbench.results.urls import sqlite_url

    store = Store(sqlite_url(path.parent))
    keys = [CellKey(dataset="d", task="av-regression", candidate=f"c{i}", repeat=0, fold=0)
            for i in range(2000)]  # fmt: skip
    store.add_cells(keys)
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BAD_STORES = {
    "garbage": lambda path: path.write_bytes(b"this is no database " * 100),
    "truncated": _truncated,
    "folder": lambda path: path.mkdir(),
}


@pytest.mark.parametrize("kind", sorted(BAD_STORES))
def test_an_unreadable_store_is_one_line_for_run_and_status(cli, tones_config, tmp_path, kind):
    (tmp_path / "run").mkdir()
    BAD_STORES[kind](tmp_path / "run" / "results.sqlite")
    before = _tree(tmp_path)
    ran = cli.invoke(main, ["run", "-m", "mean", "--budget", "smoke", "--out", "run"])
    line = _one_line_exit_2(ran)
    assert line.startswith(f"Error: {tmp_path / 'run' / 'results.sqlite'}: not a readable")
    assert "--fresh" in line
    status = cli.invoke(main, ["status", "run"])
    assert "results.sqlite: not a readable merbench results store" in _one_line_exit_2(status)
    assert _tree(tmp_path) == before


@pytest.mark.postgres
def test_a_wrong_postgres_password_is_one_line_without_the_password(
    cli, tones_config, tmp_path, request
):
    server = request.getfixturevalue("password_server")
    url = f"postgresql://merbench:wrong-secret@127.0.0.1:{server.port}/postgres"
    before = _tree(tmp_path)
    for command in (["run", "-m", "mean", "--budget", "smoke", "--storage", url, "--out", "r"],
                    ["worker", "--storage", url], ["status", "r", "--storage", url]):  # fmt: skip
        line = _one_line_exit_2(cli.invoke(main, command))
        assert f"postgresql://merbench:***@127.0.0.1:{server.port}/postgres" in line
        assert "password authentication failed" in line and "Check the host" in line
        assert "wrong-secret" not in line
    assert _tree(tmp_path) == before


def test_an_unreachable_database_server_is_one_line(cli, tones_config, tmp_path):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://merbench:secret@127.0.0.1:{port}/mer"
    before = _tree(tmp_path)
    result = cli.invoke(main, ["run", "-m", "mean", "--budget", "smoke", "--storage", url,
                               "--out", "r"])  # fmt: skip
    line = _one_line_exit_2(result)
    assert f"postgresql://merbench:***@127.0.0.1:{port}/mer: cannot connect" in line
    assert "secret" not in line.replace("***", "")
    assert _tree(tmp_path) == before


def test_a_negative_seed_exits_2_and_stores_nothing(cli, tones_config, tmp_path):
    before = _tree(tmp_path)
    result = cli.invoke(main, ["run", "-m", "mean", "--budget", "smoke", "--seed", "-1"])
    assert "--seed -1: give a whole number from 0 to 4294967295." in _one_line_exit_2(result)
    assert _tree(tmp_path) == before


def test_a_worker_never_creates_a_store(cli, tmp_path):
    missing = tmp_path / "mistyped" / "path.sqlite"
    (tmp_path / "mistyped").mkdir()
    result = cli.invoke(main, ["worker", "--storage", f"sqlite:///{missing}"])
    line = _one_line_exit_2(result)
    assert f"{missing}: no results store here." in line
    assert "Pass the --storage URL that 'merbench run' printed" in line
    assert list((tmp_path / "mistyped").iterdir()) == []


def test_a_candidate_for_none_of_the_tasks_gives_exit_1_with_its_reason(cli, tones_config):
    args = ["run", "-m", "mean", "-t", "quadrant", "--budget", "smoke", "--no-leaderboard"]
    result = cli.invoke(main, [*args, "--config", str(tones_config), "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "Skipped candidate mean: model 'mean' serves av-regression" in result.output
    assert "Baselines beside the candidates: artist-prior, majority" in result.output
    assert "6 cells run" in result.output


def test_a_run_whose_every_dataset_is_skipped_renders_nothing_and_fails(
    cli, install_tones, tmp_path
):
    from tests.helpers.plugins import TONES

    config = install_tones(
        TONES.replace(
            "def load(root, *, n_tracks=24):\n",
            "def load(root, *, n_tracks=24):\n"
            '    raise merbench.DatasetError(f"{root}: no tracks.csv here.")\n',
        )
    )
    args = ["run", "--models", "mean", "--budget", "smoke", "--config", str(config)]
    result = cli.invoke(main, [*args, "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "Leaderboard:" not in result.output
    assert not (tmp_path / "run" / "leaderboard").exists()
    assert not (tmp_path / "leaderboards").exists()
    last = result.output.strip().splitlines()[-1]
    assert last == (
        f"Error: Nothing ran: every dataset was skipped (tones: {tmp_path / 'data'}: no "
        "tracks.csv here). No leaderboard was rendered; fix the dataset and run again."
    ), result.output
