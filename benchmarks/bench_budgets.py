"""Wall time of `merbench run --models all` on synth per budget, cold and warm cache.

Run from the repository root:

    python benchmarks/bench_budgets.py                 # smoke and default
    python benchmarks/bench_budgets.py --budgets smoke # only smoke

Each budget runs twice in fresh run directories: first with an empty cache (synth generation,
decoding and feature extraction included), then with the cache the first run filled. The
ratio cold/warm shows what the caches save.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(budget: str, workdir: Path, cache: Path, models: str) -> float:
    env = os.environ | {"MERBENCH_CACHE": str(cache), "CI": "1"}
    command = [sys.executable, "-m", "merbench", "run", "--models", models, "--budget", budget,
               "--no-progress", "--out", str(workdir / "run"), "--leaderboard",
               str(workdir / "site")]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(result.stderr[-2000:])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", nargs="+", default=["smoke", "default"])
    parser.add_argument("--models", default="all")
    args = parser.parse_args()
    print(f"{'budget':<10}{'cold s':>10}{'warm s':>10}{'cold/warm':>12}")
    for budget in args.budgets:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            cold = timed_run(budget, root / "cold", root / "cache", args.models)
            warm = timed_run(budget, root / "warm", root / "cache", args.models)
        print(f"{budget:<10}{cold:>10.1f}{warm:>10.1f}{cold / warm:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
