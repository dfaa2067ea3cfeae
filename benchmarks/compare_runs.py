"""Do two runs give the same per-track predictions? Per candidate: equal values, largest change.

Run from the repository root: ``python benchmarks/compare_runs.py RUN_A RUN_B`` with two run
directories (each holding ``results.sqlite``) made with the same command and seed, for example
before and after a change to the core:

    git worktree add ../before <commit>
    (cd ../before && MERBENCH_CACHE=$(mktemp -d) PYTHONPATH=.:plugins \\
        merbench run --models all --budget smoke --jobs 2 --out /tmp/a --no-leaderboard)
    MERBENCH_CACHE=$(mktemp -d) merbench run --models all --budget smoke --jobs 2 \\
        --out /tmp/b --no-leaderboard
    python benchmarks/compare_runs.py /tmp/a /tmp/b

``--jobs 2`` on two cores gives each cell one thread, so cells are bit-identical whichever
process runs them. Cells are matched by dataset, task, candidate, repeat, fold and split; a cell
or a prediction present in one run only is reported. A third-party candidate whose estimator
sums in threads of its own (an explicit ``n_jobs=-1``) may differ in the last bit between two
runs of the same code: compare such a pair of runs of one commit to see the floor.

Whether a change moved the scores by more than the folds' noise is ``merbench compare RUN_A
RUN_B`` (docs/compare.md): paired differences with 95 % intervals. This script asks only
whether the predictions are bit-identical.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

QUERY = """
SELECT c.dataset, c.task, c.candidate, c.repeat, c.fold, c.split, p.track_id, p.target, p.y_pred
FROM predictions p JOIN cells c ON c.id = p.cell_id
"""


def _predictions(run: Path) -> dict[tuple[object, ...], float]:
    path = run / "results.sqlite" if run.is_dir() else run
    if not path.exists():
        sys.exit(f"{path}: no results store. Pass a run directory made by 'merbench run'.")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {tuple(row[:-1]): float(row[-1]) for row in conn.execute(QUERY)}


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    args = parser.parse_args()
    a, b = _predictions(args.run_a), _predictions(args.run_b)
    per_candidate: dict[str, list[float]] = defaultdict(list)
    for key in a.keys() & b.keys():
        per_candidate[str(key[2])].append(_relative(a[key], b[key]))
    print(f"{'candidate':<36} {'values':>7} {'equal':>7} {'largest relative change':>24}")
    for candidate, changes in sorted(per_candidate.items()):
        equal = sum(change == 0.0 for change in changes)
        print(f"{candidate:<36} {len(changes):>7} {equal:>7} {max(changes):>24.3g}")
    only = len(a.keys() ^ b.keys())
    print(f"{only} predictions in one run only" if only else "every prediction is in both runs")
    changed = sum(change > 0.0 for changes in per_candidate.values() for change in changes)
    print(f"{changed} of {len(a.keys() & b.keys())} shared predictions differ")


if __name__ == "__main__":
    main()
