"""What the torch threads per cell cost, and what they change: 1 against 2, side by side.

Run from the repository root: ``python benchmarks/bench_threads.py`` (a few minutes on 2 cores;
``--models`` picks other candidates). The same smoke run of ``cnn2d@mel`` on synth is made
four times in fresh run directories sharing one warm cache (a first, untimed run fills it):

- ``--jobs 1`` with 2 threads per cell (one process using both cores: merbench before runs
  stored their thread count),
- ``--jobs 1`` with 1 thread per cell (one core idle),
- ``--jobs 2`` with 1 thread per cell (both cores, one process each: the default on 2 cores),
- ``--jobs 2`` with 2 threads per cell (oversubscribed).

It prints each run's wall time, its ratio to the first, and whether its per-track predictions
are bit-identical to those of the ``--jobs 2``, 1-thread run: runs with the same thread count
per cell should be, whatever ``--jobs`` is; runs with another count are not expected to be.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from runs import predictions, timed_run

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = (("--jobs 1, 2 threads", 1, 2), ("--jobs 1, 1 thread", 1, 1),
           ("--jobs 2, 1 thread", 2, 1), ("--jobs 2, 2 threads", 2, 2))  # fmt: skip
REFERENCE = "--jobs 2, 1 thread"


def _run(models: str, out: Path, jobs: int, threads: int, cache: Path) -> float:
    """One fresh ``merbench run`` with ``threads`` torch threads per cell; its wall time."""
    arguments = ["-m", models, "--budget", "smoke", "--jobs", str(jobs), "--out", str(out)]
    # OMP_NUM_THREADS would override the run's own thread count per cell.
    threads_env = {"MERBENCH_THREADS": str(threads)}
    return timed_run(arguments, cache, env=threads_env, unset=["OMP_NUM_THREADS"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="cnn2d@mel", help="Candidates to run.")
    args = parser.parse_args()
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"merbench run -m {args.models} --budget smoke on synth; {cores} cores, "
          f"torch {torch.__version__}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        root = Path(tmp)
        _run(args.models, root / "warm-up", 1, 1, root / "cache")
        times, outputs = {}, {}
        for label, jobs, threads in CONFIGS:
            out = root / label.replace(" ", "").replace(",", "-")
            times[label] = _run(args.models, out, jobs, threads, root / "cache")
            outputs[label] = predictions(out)
        first = times[CONFIGS[0][0]]
        print(f"{'':22} {'wall s':>8} {'vs first':>9}  predictions equal to '{REFERENCE}'")
        for label, _, _ in CONFIGS:
            same = outputs[label] == outputs[REFERENCE]
            print(f"{label:22} {times[label]:8.1f} {times[label] / first:8.2f}x  {same}")


if __name__ == "__main__":
    main()
