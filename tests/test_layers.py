"""Layer contracts: the real tree keeps them, and a planted violation or cycle breaks CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


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


def test_the_core_importing_the_command_line_breaks_a_contract(copy_of_tree):
    cv = copy_of_tree / "merbench" / "evaluation" / "cv.py"
    cv.write_text(cv.read_text() + "\n\nfrom merbench.cli import commands  # planted\n")
    result = _lint(copy_of_tree)
    assert result.returncode == 1
    assert "merbench.evaluation is not allowed to import merbench.cli" in result.stdout
    assert "merbench.evaluation.cv -> merbench.cli.commands" in result.stdout


def test_a_deferred_import_cycle_breaks_a_contract(copy_of_tree):
    # metrics is imported by the runner's modules; a function-level import back is a cycle.
    metrics = copy_of_tree / "merbench" / "evaluation" / "metrics.py"
    metrics.write_text(
        metrics.read_text()
        + "\n\ndef _planted() -> None:\n    from merbench.pipeline import runner\n"
    )
    result = _lint(copy_of_tree)
    assert result.returncode == 1
    assert "No import cycles among merbench's modules BROKEN" in result.stdout


def test_a_plugin_importing_the_command_line_breaks_a_contract(copy_of_tree):
    plugin = copy_of_tree / "plugins" / "merbench_plugins" / "models" / "baseline.py"
    plugin.write_text(plugin.read_text() + "\n\nimport merbench.cli  # planted\n")
    result = _lint(copy_of_tree)
    assert result.returncode == 1
    assert "merbench_plugins is not allowed to import merbench.cli" in result.stdout
