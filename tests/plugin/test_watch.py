"""A third-party plugin that hangs or ends the process at import is named, not silent."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from merbench.plugin import watch
from merbench.plugin.registry import load_registry

SLOW = """
import time
time.sleep(0.6)
MERBENCH_PLUGIN_API = 1
"""
EXITS = """
import os
os._exit(3)
"""


def test_a_plugin_slow_to_import_is_named_with_how_to_disable_it(
    distributions, monkeypatch, tmp_path, caplog
):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(watch, "IMPORT_WARN_S", 0.1)
    distributions.install(
        "merbench-slow", "1.0", {"slow": "merbench_slow"}, {"merbench_slow": SLOW}
    )
    with caplog.at_level(logging.WARNING, logger="merbench.plugin.watch"):
        registry = load_registry()
    assert "slow" in [p.name for p in registry.plugins]  # it did import, late
    [message] = [r.getMessage() for r in caplog.records if "still importing" in r.getMessage()]
    assert "Plugin 'slow' (merbench-slow)" in message
    assert "MERBENCH_DISABLE_PLUGINS=slow" in message
    assert not list((tmp_path / "cache" / "plugins").glob("importing-*"))  # marker removed


def test_a_plugin_that_ends_the_process_at_import_is_named_by_the_next_command(
    distributions, tmp_path
):
    distributions.install("merbench-exits", "1.0", {"exits": "merbench_exits"},
                          {"merbench_exits": EXITS})  # fmt: skip
    env = os.environ | {
        "MERBENCH_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(distributions.root), *sys.path]),
    }
    command = [sys.executable, "-m", "merbench", "plugins"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 3 and "exits" not in first.stderr  # gone without a word
    second = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    said = " ".join(second.stderr.split())  # the log wraps long lines
    assert "ended while importing plugin 'exits' (merbench-exits)" in said
    assert "MERBENCH_DISABLE_PLUGINS=exits" in said
    fine = subprocess.run(command, env=env | {"MERBENCH_DISABLE_PLUGINS": "exits"},
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert fine.returncode == 0, fine.stderr
