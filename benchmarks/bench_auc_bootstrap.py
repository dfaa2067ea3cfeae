"""The paired artist bootstrap of macro ROC-AUC: all resamples at once against one call a resample.

Run from the repository root: ``python benchmarks/bench_auc_bootstrap.py`` (``--tracks``,
``--tags``, ``--artists``, ``--folds``, ``--resamples`` change the data; the default is the size
of MTG-Jamendo's mood/theme subset: 17,982 tracks, 56 tags of 0.7 to 9 % prevalence, 1,508
artists in 5 folds). Two candidates' scores are generated, and both scorers of
``merbench.evaluation.bootstrap`` score the same resamples:

- **per resample**: ``compute_metrics`` on each resample's rows, fold by fold (what the
  bootstrap does for a metric without a faster form),
- **all at once**: each tag's rows sorted once, every resample's weighted AUC from cumulative
  sums (``_roc_auc_scorer``).

It prints the seconds per resample of each, their ratio, the extrapolated time of the 2,000
resamples a leaderboard tier uses, and the largest difference between the two scorers' values
(they must agree to rounding).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from merbench.evaluation import bootstrap
from merbench.evaluation.tasks import get_task


def _data(args: argparse.Namespace) -> tuple[bootstrap.Paired, np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(0)
    prevalence = np.geomspace(0.007, 0.09, args.tags)
    y = (rng.random((args.tracks, args.tags)) < prevalence).astype(float)
    a = y * 0.3 + rng.random(y.shape)
    b = y * 0.2 + rng.random(y.shape)
    artists = rng.integers(0, args.artists, args.tracks)
    folds = artists % args.folds  # grouped folds: an artist in one fold
    task = get_task("mood-tags").with_tags([f"tag{i:02d}" for i in range(args.tags)])
    paired = bootstrap.Paired(task=task, y_true=y, pred_a=a, pred_b=b, groups=artists,
                              repeats=folds)  # fmt: skip
    _, group_index = np.unique(artists, return_inverse=True)
    _, fold_index = np.unique(folds, return_inverse=True)
    return paired, group_index, fold_index, int(group_index.max()) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=17982)
    parser.add_argument("--tags", type=int, default=56)
    parser.add_argument("--artists", type=int, default=1508)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=100, help="resamples timed, all at once")
    parser.add_argument("--slow-resamples", type=int, default=2, help="resamples timed one by one")
    args = parser.parse_args()
    paired, group_index, fold_index, n_groups = _data(args)
    weights = bootstrap._draws(n_groups, args.resamples, seed=0)
    timings, values = {}, {}
    scorers = {
        "per resample": bootstrap._slow_scorer(paired, "roc_auc_mean", group_index, fold_index),
        "all at once": bootstrap._roc_auc_scorer(paired, group_index, fold_index),
    }
    for name, score in scorers.items():
        count = args.slow_resamples if name == "per resample" else args.resamples
        start = time.perf_counter()
        values[name] = score.weighted(weights[:count])
        timings[name] = (time.perf_counter() - start) / count
    swaps = bootstrap._swaps(n_groups, args.resamples, seed=0)
    start = time.perf_counter()
    scorers["all at once"].swapped(swaps)
    swapped = (time.perf_counter() - start) / args.resamples
    slow, fast = timings["per resample"], timings["all at once"]
    print(f"{args.tracks} tracks, {args.tags} tags, {n_groups} artists, {args.folds} folds")
    for name, seconds in timings.items():
        print(f"{name:>13}: {seconds:8.3f} s a resample, {2000 * seconds / 60:7.1f} min for 2,000")
    print(f"ratio all-at-once / per-resample: {fast / slow:.3f}")
    print(
        f"permutations (all at once): {swapped:8.3f} s each, "
        f"{2000 * swapped / 60:7.1f} min for 2,000"
    )
    shared = args.slow_resamples
    gap = max(float(np.max(np.abs(values["per resample"][i] - values["all at once"][i][:shared])))
              for i in range(2))  # fmt: skip
    print(f"largest difference between the scorers: {gap:.2e}")


if __name__ == "__main__":
    main()
