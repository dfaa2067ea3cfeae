"""Allocator settings: applied on glibc, switchable, recorded."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = "from merbench.train.allocator import configure_allocator as c; print(c())"


def _setting(**env):
    result = subprocess.run([sys.executable, "-c", CODE], env=os.environ | env,
                            capture_output=True, text=True, check=True)  # fmt: skip
    return result.stdout.strip()


def test_allocator_is_tuned_by_default_on_linux():
    expected = "retain" if sys.platform.startswith("linux") else "system"
    assert _setting() == expected


def test_allocator_can_be_left_alone():
    assert _setting(MERBENCH_ALLOCATOR="system") == "system"
