"""What the benchmark scripts share: a timed ``merbench run`` in a subprocess, its predictions.

Imported by the scripts beside it (``python benchmarks/bench_*.py`` puts this folder on the path).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREDICTIONS = (
    "SELECT c.candidate, c.fold, p.track_id, p.target, p.y_pred FROM predictions p "
    "JOIN cells c ON c.id = p.cell_id ORDER BY 1, 2, 3, 4"
)


def timed_run(
    arguments: Sequence[str],
    cache: Path,
    *,
    env: Mapping[str, str] | None = None,
    launcher: Sequence[str] = ("-m", "merbench"),
    ok: Sequence[int] = (0,),
    unset: Sequence[str] = (),
) -> float:
    """Run ``merbench run ARGUMENTS`` with its own cache; return its wall time in seconds.

    ``launcher`` replaces ``-m merbench`` (a ``-c`` script that patches the run first); an exit
    code outside ``ok`` stops the benchmark with the run's output; ``unset`` names variables the
    run must not inherit.
    """
    environment = os.environ | {"MERBENCH_CACHE": str(cache), "CI": "1"} | dict(env or {})
    for name in unset:
        environment.pop(name, None)
    command = [sys.executable, *launcher, "run", *arguments, "--no-leaderboard", "--no-progress"]
    started = time.perf_counter()
    done = subprocess.run(command, env=environment, cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - started


def predictions(out: Path) -> list[tuple[object, ...]]:
    """Every stored prediction of a run: candidate, fold, track, target, value, in that order."""
    with sqlite3.connect(out / "results.sqlite") as conn:
        return conn.execute(PREDICTIONS).fetchall()
