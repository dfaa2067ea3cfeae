"""One run-settings record: the CLI, the Python API and the stored run cannot drift apart."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys

import click
import pytest

from merbench import api
from merbench.cli import main
from merbench.errors import ConfigError
from merbench.pipeline.settings import RunSettings

CLI_ONLY = {"no_progress": "reporter", "no_leaderboard": "render"}
"""CLI options with another form in Python: progress display, and the flag that negates render."""


def _cli_options() -> dict[str, click.Parameter]:
    run = main.commands["run"]
    return {p.name: p for p in run.params if p.name and p.name != "help"}


def test_every_run_option_is_a_setting_and_an_api_keyword():
    fields = {f.name for f in dataclasses.fields(RunSettings)}
    keywords = set(inspect.signature(api.run).parameters)
    options = {CLI_ONLY.get(name, name) for name in _cli_options()}
    assert options - {"reporter"} == fields
    assert keywords == fields | {"reporter"}


def test_the_cli_and_the_api_share_their_defaults():
    defaults = {f.name: f.default for f in dataclasses.fields(RunSettings)}
    keywords = inspect.signature(api.run).parameters
    context = click.Context(main.commands["run"])
    for name, option in _cli_options().items():
        if name in CLI_ONLY:
            continue
        default = option.get_default(context)
        if not isinstance(default, str | int | float | tuple | list | type(None)):
            default = None  # click's marker of an option without a default
        if option.multiple:
            default = tuple(default or ())
        assert default == defaults[name], name
        api_default = keywords[name].default
        if name == "models":
            api_default = (api_default,)
        assert api_default == defaults[name] or tuple(api_default) == defaults[name], name


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


def _imported_by(args: list[str], cwd) -> dict[str, bool]:
    code = (
        "import json, sys\n"
        "from merbench.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'optuna')}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_run_help_imports_neither_torch_nor_optuna(tmp_path):
    assert _imported_by(["run", "--help"], tmp_path) == {"torch": False, "optuna": False}


def test_queueing_a_run_of_scikit_learn_models_imports_neither_torch_nor_optuna(
    tiny_config, tmp_path
):
    args = ["run", "--models", "ridge", "--enqueue-only", "--budget", "smoke"]
    args += ["--config", str(tiny_config), "--out", str(tmp_path / "run")]
    assert _imported_by(args, tmp_path) == {"torch": False, "optuna": False}
    assert (tmp_path / "run" / "results.sqlite").exists()
