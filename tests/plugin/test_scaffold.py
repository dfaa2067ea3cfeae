"""`merbench new-plugin` writes packages that pass the contract kit; the whole author path works."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from merbench.cli import main
from merbench.errors import ConfigError
from merbench.plugin.scaffold import KINDS, write_plugin
from merbench.testing import check_plugin


def _import(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_skeleton_passes_the_contract(kind, tmp_path):
    folder = write_plugin(f"my-{kind}", kind, tmp_path)
    module_name = f"merbench_my_{kind}"
    assert (folder / "pyproject.toml").read_text().count(f'my-{kind} = "{module_name}"') == 1
    checks = check_plugin(_import(folder / f"{module_name}.py", module_name))
    assert all(c.passed for c in checks)


def test_bad_names_and_existing_folders_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="Plugin name 'My_Model' is invalid"):
        write_plugin("My_Model", "model", tmp_path)
    write_plugin("twice", "model", tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        write_plugin("twice", "model", tmp_path)


def _merbench(args, env, cwd):
    return subprocess.run([sys.executable, "-m", "merbench", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, check=False)  # fmt: skip


@pytest.mark.slow
def test_author_path_scaffold_install_list_check_run_publish(tiny_config, tmp_path):
    result = CliRunner().invoke(main, ["new-plugin", "tinymlp", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    package = tmp_path / "merbench-tinymlp"
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(package)],
        check=True, capture_output=True,
    )  # fmt: skip
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(site), *sys.path]), "CI": "1"}

    listed = _merbench(["plugins", "--json"], env, tmp_path)
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert (plugins["tinymlp"]["distribution"], plugins["tinymlp"]["version"]) == (
        "merbench-tinymlp",
        "0.1.0",
    )
    checked = _merbench(["plugins", "check", "merbench-tinymlp"], env, tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "All checks passed." in checked.stderr

    arguments = ["run", "-m", "tinymlp,mean", "--budget", "smoke", "--config", str(tiny_config)]
    run = _merbench(arguments, env, tmp_path)
    assert run.returncode == 0, run.stderr
    page = (tmp_path / "runs" / "synth" / "leaderboard" / "synth-av-regression.html").read_text()
    assert "tinymlp@handcrafted" in page and "merbench-tinymlp 0.1.0" in page

    own_tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                str(package / "tests")], env=env, cwd=package,
                               capture_output=True, text=True)  # fmt: skip
    assert own_tests.returncode == 0, own_tests.stdout


def test_next_step_installs_with_this_python(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["new-plugin", "tiny"])
    assert result.exit_code == 0, result.output
    install = result.output.split("Next: ", 1)[1]
    assert " -m pip install -e merbench-tiny" in install
    assert not install.startswith("pip ")
    python = install.split(" -m pip", 1)[0]
    assert os.path.samefile(shutil.which(python) or python, sys.executable)
