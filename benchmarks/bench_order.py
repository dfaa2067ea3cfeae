"""Longest cells first against listing order: a run's makespan with ``--jobs``, side by side.

Run from the repository root: ``python benchmarks/bench_order.py`` (``--models``, ``--jobs``,
``--repeats`` change the run; the default, ``--models all --budget smoke --jobs 2`` on synth,
takes a while on 2 cores). A first, untimed run fills one cache (the synth set, decoded audio,
features); then the same run is made in fresh run directories on that warm cache, alternately:

- **listing order**: cells claimed in the order the run lists them (merbench before cells had
  costs; here the run's process skips ``prioritise``, so every cell's cost is empty),
- **longest first**: cells claimed by their estimated cost (``merbench.pipeline.costs``).

It prints each order's best wall time, the ratio of longest-first to listing order (below 1:
faster), and the processes' busy share: the seconds spent in cells over ``jobs`` times the span
from the first cell's start to the last one's end (below 100 %: an idle tail). The busy share
does not depend on how fast the machine is, so it also reads true on a machine shared with
other work, where wall times drift from run to run. Last, it compares the per-track predictions
of both orders cell by cell: they must be bit-identical, a cell being seeded from its identity.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import tempfile
from pathlib import Path

from runs import predictions, timed_run

ROOT = Path(__file__).resolve().parent.parent
LISTING_ORDER = (
    "import sys, merbench.pipeline.runner as runner; "
    "runner.prioritise = lambda builder, keys: {}; "
    "from merbench.cli import main; sys.argv[0] = 'merbench'; main()"
)
ORDERS = {"listing order": ["-c", LISTING_ORDER], "longest first": ["-m", "merbench"]}


def _run(order: str, args: argparse.Namespace, out: Path, cache: Path) -> float:
    """One fresh ``merbench run``; return its wall time in seconds (a failed cell still counts)."""
    arguments = [
        "-m",
        args.models,
        "--budget",
        "smoke",
        "--jobs",
        str(args.jobs),
        "--out",
        str(out),
    ]
    return timed_run(arguments, cache, launcher=ORDERS[order], ok=(0, 1))


def _predictions(out: Path) -> dict[tuple[str, int], list[tuple[str, str, float]]]:
    """Every stored prediction of a run, by cell (candidate and fold), in a fixed order."""
    rows = predictions(out)
    cells: dict[tuple[str, int], list[tuple[str, str, float]]] = {}
    for candidate, fold, track, target, value in rows:
        cells.setdefault((candidate, fold), []).append((track, target, value))
    return cells


def _compare(first: dict, second: dict) -> str:
    """How many cells stored identical predictions; the candidates and largest gap of others."""
    differ = sorted(cell for cell in first if first[cell] != second.get(cell))
    gaps = [
        abs(a[2] - b[2])
        for cell in differ
        for a, b in zip(first[cell], second.get(cell, []), strict=False)
    ]
    text = f"{len(first) - len(differ)} of {len(first)} cells bit-identical"
    if differ:
        names = sorted({candidate for candidate, _ in differ})
        text += f"; the others ({', '.join(names)}) differ by {max(gaps, default=0):.1e} at most"
    return text


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
        shares: dict[str, list[float]] = {order: [] for order in ORDERS}
        outputs = {}
        for repeat in range(args.repeats):
            for order in ORDERS:
                out = root / f"{order.replace(' ', '-')}-{repeat}"
                times[order].append(_run(order, args, out, root / "cache"))
                busy, span = _busy(out)
                shares[order].append(busy / (args.jobs * span) if span else 0.0)
                outputs[order] = _predictions(out)
        print(f"{'':15} {'best wall s':>11} {'busy share of each run':>24}")
        for order in ORDERS:
            each = " ".join(f"{share:.0%}" for share in shares[order])
            print(f"{order:15} {min(times[order]):11.1f} {each:>24}")
        ratio = min(times["longest first"]) / min(times["listing order"])
        print(f"longest first / listing order: {ratio:.2f}x wall time")
        print(f"predictions: {_compare(outputs['listing order'], outputs['longest first'])}")


if __name__ == "__main__":
    main()
