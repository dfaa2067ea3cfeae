"""Layer contracts: the real tree keeps them, and a planted import against the stack breaks CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
LAYERS = "merbench's layers, top to bottom"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": f"{root}:{root / 'plugins'}", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _plant(module: Path, code: str) -> None:
    module.write_text(module.read_text() + "\n\n" + code + "\n")


@pytest.fixture
def copy_of_tree(tmp_path):
    """merbench, its first-party plugins and the contract file, copied into a folder."""
    shutil.copytree(ROOT / "merbench", tmp_path / "merbench")
    shutil.copytree(ROOT / "plugins", tmp_path / "plugins")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_every_folder_of_the_core_is_a_layer():
    # The layers contract is exhaustive: each folder and top-level module has its place.
    folders = {p.name for p in (ROOT / "merbench").iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in (ROOT / "merbench").glob("*.py")} - {"__init__", "__main__"}
    layers = (ROOT / "pyproject.toml").read_text().split('name = "' + LAYERS)[1]
    listed = layers.split("layers = [")[1].split("]")[0]
    for name in folders | modules:
        assert f'"{name}' in listed or f"| {name}" in listed, name


def test_a_lower_layer_importing_a_higher_one_breaks_a_contract(copy_of_tree):
    _plant(copy_of_tree / "merbench" / "evaluation" / "cv.py", "from merbench.pipeline import plan")
    result = _lint(copy_of_tree)
    assert result.returncode == 1
    assert f"{LAYERS} BROKEN" in result.stdout
    assert "merbench.evaluation is not allowed to import merbench.pipeline" in result.stdout


def test_a_deferred_import_up_the_stack_breaks_a_contract(copy_of_tree):
    _plant(
        copy_of_tree / "merbench" / "data" / "audio.py",
        "def _planted() -> None:\n    from merbench.train import fit",
    )
    result = _lint(copy_of_tree)
    assert result.returncode == 1
    assert "merbench.data is not allowed to import merbench.train" in result.stdout


def test_independent_layers_importing_each_other_break_a_contract(copy_of_tree):
    _plant(copy_of_tree / "merbench" / "data" / "windows.py", "from merbench.results import urls")
    result = _lint(copy_of_tree)
    assert result.returncode == 1
    assert "merbench.data is not allowed to import merbench.results" in result.stdout


def test_a_new_top_level_module_must_be_given_a_layer(copy_of_tree):
    (copy_of_tree / "merbench" / "helpers.py").write_text('"""Planted."""\n')
    result = _lint(copy_of_tree)
    assert result.returncode == 1
    assert "merbench.helpers" in result.stdout


def test_a_deferred_import_cycle_inside_a_folder_breaks_a_contract(copy_of_tree):
    # bootstrap imports metrics; a function-level import back is a cycle.
    _plant(
        copy_of_tree / "merbench" / "evaluation" / "metrics.py",
        "def _planted() -> None:\n    from merbench.evaluation import bootstrap",
    )
    result = _lint(copy_of_tree)
    assert result.returncode == 1
    assert "No import cycles among merbench's modules BROKEN" in result.stdout


def test_a_plugin_importing_the_core_behind_its_face_breaks_a_contract(copy_of_tree):
    plugin = copy_of_tree / "plugins" / "merbench_plugins" / "models" / "baseline.py"
    _plant(plugin, "import merbench.cli\nfrom merbench.train import fit")
    result = _lint(copy_of_tree)
    assert result.returncode == 1
    assert "merbench_plugins is not allowed to import merbench.cli" in result.stdout
    assert "merbench_plugins is not allowed to import merbench.train" in result.stdout


def test_the_core_importing_a_plugin_breaks_a_contract(copy_of_tree):
    _plant(copy_of_tree / "merbench" / "pipeline" / "plan.py", "import merbench_plugins")
    result = _lint(copy_of_tree)
    assert result.returncode == 1
    assert "merbench is not allowed to import merbench_plugins" in result.stdout
