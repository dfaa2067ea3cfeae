"""The plugin guide's example package installs, passes the contract kit and runs on synth."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "plugins" / "merbench-tinycnn"


@pytest.mark.slow
def test_documented_example_plugin_runs(tiny_config, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(EXAMPLE)],
        check=True, capture_output=True,
    )  # fmt: skip
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(site), *sys.path]), "CI": "1"}
    own = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(EXAMPLE / "tests")], env=env, cwd=tmp_path,
                         capture_output=True, text=True)  # fmt: skip
    assert own.returncode == 0, own.stdout
    run = subprocess.run(
        [sys.executable, "-m", "merbench", "run", "-m", "tinycnn,mean", "--budget", "smoke",
         "--config", str(tiny_config)],
        env=env, cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    page = (tmp_path / "runs" / "synth" / "leaderboard" / "synth-av-regression.html").read_text()
    assert "tinycnn@mel" in page and "merbench-tinycnn 0.1.0" in page
