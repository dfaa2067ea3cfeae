"""How close a smoke run's timings plan a longer run: the estimate against the run, side by side.

Run from the repository root: ``python benchmarks/bench_estimate.py`` (a few minutes on 2
cores with the defaults). In a fresh cache folder it runs, each in its own process as a person
would, one after the other:

1. ``merbench run --budget smoke --models M --out A`` (the timings),
2. ``merbench run --budget B --set S --models M --out A --plan`` (the estimate from them),
3. ``merbench run --budget B --set S --models M --out C`` (the run it estimates),

all with ``--jobs 1`` and ``MERBENCH_THREADS=1``, and prints, per candidate and in all, the
estimated seconds of the cells against the measured ones (``total_s`` + ``default_s`` of every
cell) and their ratio. ``--cpu-clock`` times the cells' phases by the process's CPU time
instead of the wall clock: on a machine shared with other work the wall time of a cell grows
with the others' load, minute by minute, which says nothing of the estimate; one thread's CPU
time does not (on an idle machine the two agree).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from merbench.pipeline import cell
from merbench.train import timing


def _step(args: argparse.Namespace) -> None:
    """One merbench command in this process (the clock patched with ``--cpu-clock``)."""
    from merbench.cli import main

    if args.cpu_clock:
        cell.measuring = functools.partial(timing.measuring, now=time.process_time)  # type: ignore[assignment]
    sys.argv = ["merbench", *args.step]
    main()


def _merbench(args: argparse.Namespace, *command: str) -> float:
    clock = ["--cpu-clock"] if args.cpu_clock else []
    started = time.monotonic()
    subprocess.run(
        [sys.executable, __file__, *clock, "--step", *command, "--jobs", "1", "--no-progress"],
        check=True,
        stdout=subprocess.DEVNULL if "--plan" not in command else None,
    )
    return time.monotonic() - started


def _measured(run_dir: Path) -> dict[str, float]:
    seconds: dict[str, float] = {}
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        for candidate, timings in db.execute("SELECT candidate, timings FROM cells"):
            t = json.loads(timings)
            seconds[candidate] = seconds.get(candidate, 0.0) + t["total_s"] + t.get("default_s", 0)
    return seconds


def _estimated(plan_json: Path) -> dict[str, float]:
    return {row["candidate"]: row["cell_hours"] * 3600 for row in json.loads(plan_json.read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ridge,cnn2d@mel,mean")
    parser.add_argument("--budget", default="default", help="The budget the estimate is for.")
    parser.add_argument("--set", default="", help="Its overrides, e.g. outer_folds=3.")
    parser.add_argument("--cpu-clock", action="store_true", help="Time cells by CPU time.")
    parser.add_argument("--step", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        return _step(args)
    os.environ["MERBENCH_THREADS"] = "1"
    root = Path(tempfile.mkdtemp(prefix="bench-estimate-"))
    os.environ["MERBENCH_CACHE"] = str(root / "cache")
    common = ["--models", args.models, "--no-leaderboard"]
    target = ["--budget", args.budget, *(["--set", args.set] if args.set else [])]
    smoke_s = _merbench(args, "run", *common, "--budget", "smoke", "--out", str(root / "smoke"))
    plan_json = root / "plan.json"
    code = (
        "import json, merbench, sys; t = merbench.run(sys.argv[1], budget=sys.argv[2], "
        "budget_overrides=sys.argv[3], out=sys.argv[4], plan=True, jobs=1, baselines=True).plan; "
        "open(sys.argv[5], 'w').write(t.to_json(orient='records'))"
    )
    subprocess.run([sys.executable, "-c", code, args.models, args.budget, args.set,
                    str(root / "smoke"), str(plan_json)], check=True)  # fmt: skip
    run_s = _merbench(args, "run", *common, *target, "--out", str(root / "run"))
    estimated, measured = _estimated(plan_json), _measured(root / "run")
    clock = "CPU" if args.cpu_clock else "wall"
    print(f"smoke run {smoke_s:.0f} s, {args.budget} run {run_s:.0f} s wall; cells by {clock} "
          f"clock; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("candidate | estimated s | measured s | estimate / measured")
    for name in sorted(measured, key=measured.__getitem__, reverse=True):
        print(f"{name} | {estimated.get(name, 0):.1f} | {measured[name]:.1f} | "
              f"{estimated.get(name, 0) / measured[name]:.2f}")  # fmt: skip
    total_e, total_m = sum(estimated.values()), sum(measured.values())
    print(f"all | {total_e:.1f} | {total_m:.1f} | {total_e / total_m:.2f}")


if __name__ == "__main__":
    main()
