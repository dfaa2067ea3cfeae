"""One run-settings record: each option declared once; the CLI, the Python API and the stored run
cannot drift apart."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from merbench import api
from merbench.cli import main
from merbench.errors import ConfigError
from merbench.pipeline.settings import RunSettings, run_options

CLI_ONLY = {"no_progress", "help"}
"""``merbench run`` options that are not settings: progress display (``reporter`` in Python)."""


def _cli_options(command: str = "run") -> dict[str, click.Parameter]:
    return {str(p.name): p for p in main.commands[command].params}


def test_every_setting_declares_its_run_option():
    declared = [option.name for option in run_options()]
    assert declared == [f.name for f in dataclasses.fields(RunSettings)]
    for option in run_options():
        assert option.help.endswith("."), option.name
        assert option.default == getattr(RunSettings(), option.name), option.name


def test_the_run_command_takes_every_declared_option_as_declared(monkeypatch):
    for option in run_options():
        if option.envvar:
            monkeypatch.delenv(option.envvar, raising=False)
    cli = _cli_options()
    assert set(cli) - CLI_ONLY == {option.name for option in run_options()}
    assert list(cli)[: len(run_options())] == [option.name for option in run_options()]
    given = main.commands["run"].make_context("run", []).params  # the command line is empty
    for option in run_options():
        param = cli[option.name]
        assert isinstance(param, click.Option)
        assert param.opts == list(option.flags), option.name
        assert param.help == option.help, option.name
        assert param.envvar == option.envvar, option.name
        assert param.multiple == option.multiple, option.name
        assert param.is_flag == option.is_flag, option.name
        assert option.normalise(given[option.name]) == option.default, option.name


def _given(monkeypatch, args: list[str]) -> RunSettings:
    """The settings ``merbench run ARGS`` would run with (nothing is run)."""
    given = {}

    def run_command(registry, options, *, progress):
        given["settings"] = RunSettings.from_options(**options)
        return 0

    monkeypatch.setattr("merbench.cli.commands.run_command", run_command)
    monkeypatch.setattr("merbench.cli.app.plugin_registry", lambda ctx: None)
    result = CliRunner().invoke(main, ["run", *args])
    assert result.exit_code == 0, result.output
    return given["settings"]


def test_the_run_command_without_options_gives_the_default_settings(monkeypatch):
    for option in run_options():
        if option.envvar:
            monkeypatch.delenv(option.envvar, raising=False)
    assert _given(monkeypatch, []) == RunSettings()


def test_the_run_command_turns_its_options_into_settings(monkeypatch):
    args = ["-d", "synth, deam", "-d", "pmemo", "--set", "trials=2", "--out", "runs/x"]
    args += ["--no-leaderboard", "--enqueue-only", "--top-k", "2", "--augment", "specaugment"]
    settings = _given(monkeypatch, args)
    assert settings.datasets == ("synth", "deam", "pmemo")
    assert settings.budget_overrides == "trials=2"
    assert settings.out == Path("runs/x")
    assert settings.render is False and settings.enqueue_only is True
    assert settings.top_k == 2 and settings.augment == ("specaugment",)
    assert settings.models == ("all",) and settings.fresh is False


def test_the_worker_shares_the_run_options_it_has_in_common():
    run, worker = _cli_options("run"), _cli_options("worker")
    shared = run["heartbeat_timeout"].to_info_dict()
    assert worker["heartbeat_timeout"].to_info_dict() == shared
    assert shared["envvar"] == "MERBENCH_HEARTBEAT_TIMEOUT"


def test_the_api_has_one_keyword_per_run_option_with_its_default():
    keywords = dict(inspect.signature(api.run).parameters)
    assert keywords.pop("reporter").default is None
    declared = {option.name: option for option in run_options()}
    missing = sorted(declared.keys() - keywords.keys())
    assert not missing, f"merbench.run() has no keyword for the run option(s) {missing}"
    extra = sorted(keywords.keys() - declared.keys())
    assert not extra, f"merbench.run() keyword(s) {extra} are not RunSettings fields"
    for name, keyword in keywords.items():
        assert keyword.kind is not inspect.Parameter.VAR_KEYWORD, name
        default = declared[name].normalise(keyword.default)
        assert default == declared[name].default, f"merbench.run({name}=...): another default"


def test_a_list_option_takes_a_str_or_any_sequence():
    settings = RunSettings.from_options(
        datasets="synth", models="ridge, mean", tasks=["quadrant"], augment=("gain+mixup,mixup",)
    )
    assert settings.datasets == ("synth",)
    assert settings.models == ("ridge", "mean")
    assert settings.tasks == ("quadrant",)
    assert settings.augment == ("gain+mixup", "mixup")
    assert RunSettings.from_options(config="my.toml", out=None).config == Path("my.toml")


def test_the_api_runs_a_list_option_given_as_a_str(monkeypatch):
    class Stop(Exception):
        pass

    def run_comparison(settings, reporter=None):
        raise Stop(settings)

    monkeypatch.setattr(api, "run_comparison", run_comparison)
    with pytest.raises(Stop) as stopped:
        api.run("ridge", datasets="synth", split="grouped,random", out="runs/x", render=False)
    settings = stopped.value.args[0]
    assert settings == RunSettings(
        models=("ridge",),
        datasets=("synth",),
        split=("grouped", "random"),
        out=Path("runs/x"),
        render=False,
    )


def test_an_unknown_option_is_refused():
    with pytest.raises(TypeError, match="not run options: colour"):
        RunSettings.from_options(colour="red", seed=1)


def test_reading_the_run_options_imports_no_sqlalchemy():
    code = "import sys, merbench.pipeline.settings; print('sqlalchemy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_a_stored_run_rebuilds_its_settings():
    settings = RunSettings(models=("ridge",), budget="smoke", seed=3, precision="bf16", top_k=2)
    stored = json.loads(json.dumps(settings.identity()))
    rebuilt = RunSettings.from_stored(stored | {"from_a_newer_version": 1})
    assert rebuilt.identity() == settings.identity()
    assert "augment_mode" not in stored  # runs made before the option existed still resume


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_out_of_range_is_refused(seed):
    with pytest.raises(ConfigError, match=f"--seed {seed}: give a whole number"):
        RunSettings(seed=seed)


def _imported_by(args: list[str], cwd, modules=("torch", "optuna")) -> dict[str, bool]:
    code = (
        "import json, sys\n"
        "from merbench.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(json.dumps({{m: m in sys.modules for m in {tuple(modules)!r}}}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("command", [["--help"], ["run", "--help"], ["worker", "--help"]])
def test_help_imports_neither_torch_optuna_rich_nor_sqlalchemy(tmp_path, command):
    heavy = ("torch", "optuna", "rich", "sqlalchemy")
    assert _imported_by(command, tmp_path, heavy) == dict.fromkeys(heavy, False)


def test_queueing_a_run_of_scikit_learn_models_imports_neither_torch_nor_optuna(
    tiny_config, tmp_path
):
    args = ["run", "--models", "ridge", "--enqueue-only", "--budget", "smoke"]
    args += ["--config", str(tiny_config), "--out", str(tmp_path / "run")]
    assert _imported_by(args, tmp_path) == {"torch": False, "optuna": False}
    assert (tmp_path / "run" / "results.sqlite").exists()


@pytest.mark.parametrize(
    ("name", "shown", "hint"),
    [
        ("../../escape", "'../../escape'", " Did you mean 'escape'?"),
        ("My Run", "'My Run'", " Did you mean 'my-run'?"),
        ("a" * 300, f"'{'a' * 40}'... (300 characters)", f" Did you mean '{'a' * 32}'?"),
        ("x\ny", "'x\\ny'", " Did you mean 'x-y'?"),
    ],
    ids=["parent-folders", "spaces", "long", "line-break"],
)
def test_a_run_name_that_is_not_names_joined_by_plus_is_one_line(tmp_path, name, shown, hint):
    from click.testing import CliRunner

    from merbench.cli import main

    with pytest.raises(ConfigError, match="not a valid run name"):
        RunSettings(name=name)
    result = CliRunner().invoke(main, ["run", "--name", name, "--plan"])
    assert result.exit_code == 2, result.output
    [line] = result.output.strip().splitlines()
    assert "Traceback" not in result.output
    assert f"--name {shown}: not a valid run name.{hint} A run name is one" in line
    assert not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize("name", ["synth", "pmemo+deam", "run-2"])
def test_a_run_name_of_names_joined_by_plus_is_taken(name):
    assert RunSettings(name=name).run_name(("synth",)) == name


def test_the_site_goes_into_the_run_directory_unless_asked_elsewhere():
    assert RunSettings().site_dir("synth") == Path("runs/synth/leaderboard")
    assert RunSettings(out=Path("x")).site_dir("synth") == Path("x/leaderboard")
    assert RunSettings(leaderboard=Path("docs/b")).site_dir("synth") == Path("docs/b")
