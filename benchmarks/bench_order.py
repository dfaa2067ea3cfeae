"""Longest cells first against listing order: a run's makespan with ``--jobs``, side by side.

Run from the repository root: ``python benchmarks/bench_order.py`` (``--models``, ``--jobs``,
``--repeats`` change the run; the default, ``--models all --budget smoke --jobs 2`` on synth,
takes a while on 2 cores). A first, untimed run fills one cache (the synth set, decoded audio,
features); then the same run is made in fresh run directories on that warm cache, alternately:

- **listing order**: cells claimed in the order the run lists them (merbench before cells had
  costs; here the run's process skips ``prioritise``, so every cell's cost is empty),
- **longest first**: cells claimed by their estimated cost (``merbench.pipeline.costs``).

It prints each run's wall time, the ratio of longest-first to listing order (below 1: faster),
how long the processes were busy against the wall time (the idle tail), and whether both orders
stored bit-identical per-track predictions (they must: a cell is seeded from its identity).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LISTING_ORDER = (
    "import sys, merbench.pipeline.runner as runner; "
    "runner.prioritise = lambda builder, keys: {}; "
    "from merbench.cli import main; sys.argv[0] = 'merbench'; main()"
)
ORDERS = {"listing order": ["-c", LISTING_ORDER], "longest first": ["-m", "merbench"]}


def _run(order: str, args: argparse.Namespace, out: Path, cache: Path) -> float:
    """One fresh ``merbench run``; return its wall time in seconds."""
    env = os.environ | {"MERBENCH_CACHE": str(cache), "CI": "1"}
    command = [sys.executable, *ORDERS[order], "run", "-m", args.models, "--budget", "smoke",
               "--jobs", str(args.jobs), "--out", str(out), "--no-leaderboard",
               "--no-progress"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):  # 1: a cell failed; the timing still counts
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.perf_counter() - started


def _predictions(out: Path) -> list[tuple[object, ...]]:
    """Every stored prediction of a run, in a fixed order."""
    with sqlite3.connect(out / "results.sqlite") as conn:
        return conn.execute(
            "SELECT c.candidate, c.fold, p.track_id, p.target, p.y_pred FROM predictions p "
            "JOIN cells c ON c.id = p.cell_id ORDER BY 1, 2, 3, 4"
        ).fetchall()


def _busy(out: Path) -> tuple[float, float]:
    """Seconds the processes spent in cells (summed), and from the first start to the last end."""
    with sqlite3.connect(out / "results.sqlite") as conn:
        rows = conn.execute("SELECT started_at, finished_at FROM cells").fetchall()
    spans = [
        (dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b)) for a, b in rows if a and b
    ]
    busy = sum((b - a).total_seconds() for a, b in spans)
    return busy, (max(b for _, b in spans) - min(a for a, _ in spans)).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="all", help="Candidates to run.")
    parser.add_argument("--jobs", type=int, default=2, help="Processes per run.")
    parser.add_argument("--repeats", type=int, default=1, help="Runs of each order.")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"merbench run -m {args.models} --budget smoke --jobs {args.jobs} on synth; "
          f"{cores} cores, warm cache")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-order-") as tmp:
        root = Path(tmp)
        _run("longest first", args, root / "warm-up", root / "cache")
        times: dict[str, list[float]] = {order: [] for order in ORDERS}
        outputs, usage = {}, {}
        for repeat in range(args.repeats):
            for order in ORDERS:
                out = root / f"{order.replace(' ', '-')}-{repeat}"
                times[order].append(_run(order, args, out, root / "cache"))
                outputs[order], usage[order] = _predictions(out), _busy(out)
        print(f"{'':15} {'wall s':>8} {'cells s':>8} {'span s':>8} {'busy':>6}")
        for order in ORDERS:
            wall = min(times[order])
            busy, span = usage[order]
            share = busy / (args.jobs * span) if span else 0.0
            print(f"{order:15} {wall:8.1f} {busy:8.1f} {span:8.1f} {share:6.0%}")
        ratio = min(times["longest first"]) / min(times["listing order"])
        same = outputs["longest first"] == outputs["listing order"]
        print(f"longest first / listing order: {ratio:.2f}x wall time; predictions equal: {same}")


if __name__ == "__main__":
    main()
