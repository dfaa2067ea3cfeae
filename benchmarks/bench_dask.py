"""What the Dask executor costs on one machine: a local Dask cluster against ``--jobs``.

Run from the repository root: ``python benchmarks/bench_dask.py`` (a few minutes on 2 cores;
``--models``, ``--clips``, ``--jobs`` and ``--repeats`` change the run). The same smoke run on a
small synth set is made in fresh run directories sharing one warm cache (a first, untimed run
fills it), alternating:

- ``--jobs N``: this process and N - 1 ``merbench worker`` processes claim cells from the store,
- ``--executor dask --jobs N``: a local Dask cluster of N one-thread worker processes runs the
  cells as tasks; the run's process submits them and stores their results.

It prints each run's wall time (the whole command, interpreter start-up included), the ratio of
the Dask runs' median to the ``--jobs`` runs', and whether the per-track predictions of every
run are bit-identical to the first ``--jobs`` run's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from runs import predictions, timed_run

ROOT = Path(__file__).resolve().parent.parent
SYNTH = """[datasets.synth]
plugin = "synth"

[datasets.synth.options]
n_clips = {clips}
seconds = 3.0
n_artists = 8
"""


def _run(args: argparse.Namespace, out: Path, cache: Path, *extra: str) -> float:
    """One fresh ``merbench run``; return its wall time in seconds."""
    return timed_run(["-m", args.models, "--budget", "smoke", "--config",
                      str(out.parent / "datasets.toml"), "--jobs", str(args.jobs), "--out",
                      str(out), *extra], cache)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ridge,mean,cnn2d@mel", help="Candidates to run.")
    parser.add_argument("--clips", type=int, default=48, help="Synth clips.")
    parser.add_argument("--jobs", type=int, default=2, help="Processes (Dask workers).")
    parser.add_argument("--repeats", type=int, default=2, help="Timed runs of each.")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"merbench run -m {args.models} --budget smoke on synth ({args.clips} clips), "
          f"--jobs {args.jobs}; {cores} cores")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        root = Path(tmp)
        (root / "datasets.toml").write_text(SYNTH.format(clips=args.clips))
        _run(args, root / "warm-up", root / "cache")
        times: dict[str, list[float]] = {"--jobs": [], "--executor dask": []}
        same = True
        for repeat in range(args.repeats):
            local = root / f"jobs-{repeat}"
            times["--jobs"].append(_run(args, local, root / "cache"))
            dask = root / f"dask-{repeat}"
            times["--executor dask"].append(_run(args, dask, root / "cache", "--executor", "dask"))
            reference = predictions(root / "jobs-0")
            same = same and predictions(local) == reference == predictions(dask)
        for label, seconds in times.items():
            print(f"{label:16} wall s: {', '.join(f'{s:.1f}' for s in seconds)}")
        ratio = statistics.median(times["--executor dask"]) / statistics.median(times["--jobs"])
        print(f"dask / jobs (medians): {ratio:.2f}x; predictions identical: {same}")


if __name__ == "__main__":
    main()
