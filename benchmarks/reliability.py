"""The reliability matrix: a run killed (SIGKILL) at random moments, resumed until it finishes.

Run from the repository root: ``python benchmarks/reliability.py --kills 20`` (a few minutes on
2 cores). It makes one uninterrupted smoke run of a few fast candidates, then the same run
again, killing ``merbench run`` and its ``--jobs`` workers (the whole process group) with
SIGKILL at a random moment and re-running the same command after each kill, until it finishes;
a run that finishes before all ``--kills`` have struck ends a round, and the next round kills a
new run, until every kill asked for has struck. Both runs use 1 torch thread per cell. It prints:

- cells lost: cells of the uninterrupted run that the killed run did not finish;
- cells recomputed: cells already finished when a kill struck that were claimed again later
  (from the store's ``claims`` log); a finished cell must never run twice;
- cells interrupted: claims cut short by a kill (that work is redone, by design);
- whether every per-track prediction equals the uninterrupted run's, bit for bit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = "ridge,mean,svr,cnn2d@mel"


def _command(models: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "merbench", "run", "-m", models, "--budget", "smoke",
            "--out", str(out), "--no-leaderboard", "--no-progress"]  # fmt: skip


def _env(cache: Path) -> dict[str, str]:
    return os.environ | {"MERBENCH_CACHE": str(cache), "MERBENCH_THREADS": "1", "CI": "1"}


def _query(out: Path, sql: str) -> list[tuple[object, ...]]:
    path = out / "results.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=60) as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # killed before the tables were made
            return []


def _predictions(out: Path) -> dict[tuple[object, ...], object]:
    """Every stored prediction of a run: (candidate, fold, track, target) -> value."""
    rows = _query(
        out,
        "SELECT c.candidate, c.fold, p.track_id, p.target, p.y_pred FROM predictions p "
        "JOIN cells c ON c.id = p.cell_id",
    )
    return {tuple(r[:4]): r[4] for r in rows}


def _differing(reference: Path, killed: Path) -> list[str]:
    """The cells whose predictions differ between two runs, with the largest difference."""
    ours, theirs = _predictions(reference), _predictions(killed)
    worst: dict[str, float] = {}
    for key in ours.keys() | theirs.keys():
        a, b = ours.get(key), theirs.get(key)
        if a != b:
            cell = f"{key[0]} fold {key[1]}"
            gap = abs(float(a) - float(b)) if a is not None and b is not None else float("inf")
            worst[cell] = max(worst.get(cell, 0.0), gap)
    return [f"{cell} (max |diff| {gap:.3g})" for cell, gap in sorted(worst.items())]


def _snapshot(out: Path) -> tuple[set[int], int]:
    """The finished cells and the last claim's id, as a kill left them."""
    done = {int(r[0]) for r in _query(out, "SELECT id FROM cells WHERE status = 'done'")}
    last = _query(out, "SELECT COALESCE(MAX(id), 0) FROM claims")
    return done, int(last[0][0]) if last else 0


def _killed_run(
    args: argparse.Namespace, out: Path, cache: Path, limit: float, wanted: int, rng: random.Random
) -> dict[str, int]:
    """Kill the run up to ``wanted`` times at random moments up to ``limit`` s after each start,
    re-running it after each kill until it finishes (sooner, if it finishes before a kill)."""
    snapshots, kills, attempts = [], 0, 0
    while True:
        attempts += 1
        process = subprocess.Popen(_command(args.models, out), env=_env(cache), cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)  # fmt: skip
        if kills < wanted:
            try:
                process.wait(timeout=rng.uniform(0.5, limit))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):  # it may have just ended
                    os.killpg(process.pid, signal.SIGKILL)  # the run and its --jobs workers
                process.wait()
                kills += 1
                snapshots.append(_snapshot(out))
                continue
        if process.wait() not in (0, 1):
            raise SystemExit(f"the resumed run failed with exit code {process.returncode}")
        break
    claims = _query(out, "SELECT id, cell_id FROM claims")
    recomputed = {c for done, last in snapshots for i, c in claims if i > last and c in done}
    again = len(claims) - len({cell for _, cell in claims})  # claims beyond each cell's first
    return {"kills": kills, "runs": attempts, "recomputed": len(recomputed),
            "interrupted": again - len(recomputed)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="How many times to kill the run.")
    parser.add_argument("--models", default=MODELS, help="Candidates of the smoke run.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the kill moments.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        subprocess.run(_command("mean", root / "start-up"), env=_env(root / "cache"), cwd=ROOT,
                       check=True, capture_output=True)  # fmt: skip
        startup_s = time.perf_counter() - started
        # Both compared runs read the front-end features this run caches, as resumed runs do
        # (a run that computes them itself can differ slightly: docs/protocol.md).
        subprocess.run(_command(args.models, root / "warm-up"), env=_env(root / "cache"),
                       cwd=ROOT, check=True, capture_output=True)  # fmt: skip
        started = time.perf_counter()
        subprocess.run(_command(args.models, root / "reference"), env=_env(root / "cache"),
                       cwd=ROOT, check=True, capture_output=True)  # fmt: skip
        reference_s = time.perf_counter() - started
        # Kill moments from 0.5 s to the start-up time plus twice a run's share of the work per
        # kill: start-up, loading, listing cells, mid-cell and commits all get hit, and the run
        # usually has cells left to kill.
        limit = startup_s + 2 * reference_s / max(args.kills, 1)
        expected = {r[:2] for r in _query(root / "reference", "SELECT candidate, fold, status "
                                          "FROM cells") if r[2] == "done"}  # fmt: skip
        # A run that finishes before the kills asked for are spent ends its round; the next
        # round kills a new run from the start, until every kill asked for has struck.
        rng, started = random.Random(args.seed), time.perf_counter()
        result = {"kills": 0, "runs": 0, "recomputed": 0, "interrupted": 0}
        lost, differing, rounds = 0, [], 0
        while result["kills"] < args.kills:
            rounds += 1
            out = root / f"killed-{rounds}"
            wanted = args.kills - result["kills"]
            for key, value in _killed_run(args, out, root / "cache", limit, wanted, rng).items():
                result[key] += value
            finished = {r[:2] for r in _query(out, "SELECT candidate, fold, status FROM cells")
                        if r[2] == "done"}  # fmt: skip
            lost += len(expected - finished)
            differing += [f"round {rounds}: {d}" for d in _differing(root / "reference", out)]
        killed_s = time.perf_counter() - started
    print(f"merbench run -m {args.models} --budget smoke (1 torch thread per cell)")
    print(f"uninterrupted: {len(expected)} cells in {reference_s:.1f} s")
    print(f"killed {result['kills']} times (SIGKILL at random moments up to {limit:.1f} s), "
          f"{result['runs']} runs in {rounds} round(s), {killed_s:.1f} s")  # fmt: skip
    print(f"cells lost: {lost}")
    print(f"cells recomputed (finished, then run again): {result['recomputed']}")
    print(f"cells interrupted by a kill and redone: {result['interrupted']}")
    print(f"per-track predictions equal to the uninterrupted run's: {not differing}")
    for cell in differing:
        print(f"  differs: {cell}")


if __name__ == "__main__":
    main()
