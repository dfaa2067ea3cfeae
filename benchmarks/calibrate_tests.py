"""Calibration of the tier tests: false-positive rate under no difference, and power.

Run from the repository root (the figures in docs/protocol.md come from the defaults):

    python benchmarks/calibrate_tests.py                  # 2000 datasets per scenario
    python benchmarks/calibrate_tests.py --sims 500 --boot 1000
    python benchmarks/calibrate_tests.py --only quadrant  # the scenarios named quadrant ...
    python benchmarks/calibrate_tests.py --timing         # seconds of a comparison, of the tiers
    python benchmarks/calibrate_tests.py --quick --boot 1000  # 900 tracks / 600 artists only

The ``600 artists`` scenarios have 600 groups of 1 or 2 tracks (about 900 tracks) and score
quadrants by macro-F1: two identical candidates (the rate of ``worse`` verdicts between them),
and one whose own errors are 1.36 times wider, which costs it 0.05 macro-F1 on average (0.63
against 0.58; the script prints the mean gap it drew).

Each simulated dataset has 60 groups (artists; 20 in the ``20 groups`` scenarios) of 1 to 8
tracks and two regression targets; a
track's label is a group effect plus a track effect. Two candidates predict every track: the
label plus an error shared by both (group and track parts: both models miss the same songs) plus
an error of their own (group and track parts). Under the null both candidates' own errors have
the same spread; under the alternative the second candidate's are ``--effect`` times wider.
Groups are dealt to 5 outer folds. Each dataset is tested by every test of ``TESTS`` on the
pooled score (mean R², or macro-F1 of quadrants), all from the same draws:

- ``permutation``, the tier test: the paired permutation test over groups, each group's
  predictions swapped between the candidates at random
  (``merbench.evaluation.bootstrap.paired_group_test``), ``p = (1 + k) / (1 + B)``;
- ``permutation z``: the same permuted differences as a normal null, ``2 Φ(-|d| / se_null)``;
- ``bootstrap z``: the paired group bootstrap's ``z = d / se`` (what made the tiers before);
- ``percentiles``: the bootstrap's percentile interval inverted,
  ``p = 2 min(share of d* <= 0, share >= 0)``;
- ``null-centred``: the bootstrap distribution shifted by ``d`` as the null,
  ``p = (1 + #{|d* - d| >= |d|}) / (1 + B)``;
- ``BCa``: the level at which the bias-corrected and accelerated interval (acceleration from
  the jackknife over groups) has 0 as an end;
- ``corrected t-test``: the corrected resampled t-test on the 5 per-fold scores
  (``merbench.evaluation.stats``).

The ``fold-noise`` scenarios add to every prediction of a candidate in a fold an offset drawn
once per fold and candidate, what a model fitted on that fold's training part shares across its
test tracks; the pooled tests condition on the fitted models, so this is where they are
optimistic. The ``quadrant`` scenarios check the tests on macro-F1 of 4 classes.

Prints one line per scenario and test: the rejection rate at alpha = 0.05 with its exact 95 %
binomial (Clopper-Pearson) interval. ``--timing`` prints the cost of one comparison, the
bootstrap alone against the tier test, and of a page of tiers.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import stats as sps

from merbench.evaluation import bootstrap
from merbench.evaluation.bootstrap import (
    Paired,
    draw,
    paired_group_test,
    permutation_p,
    summarize_draws,
    weighted_scores,
)
from merbench.evaluation.stats import corrected_resampled_ttest
from merbench.evaluation.tasks import get_task

N_FOLDS = 5
ALPHA = 0.05


@dataclass(frozen=True)
class Scenario:
    """How the two candidates' errors are drawn."""

    name: str
    effect: float = 1.0  # spread of the second candidate's own errors / the first's
    fold_noise: float = 0.0  # sd of a per-fold, per-candidate offset of every prediction
    task: str = "av-regression"
    n_groups: int = 60
    sizes: tuple[int, int] = (1, 8)  # tracks per group, drawn uniformly between the two


@dataclass(frozen=True)
class Dataset:
    """One simulated dataset: labels, both candidates' predictions, groups and folds."""

    y: np.ndarray
    a: np.ndarray
    b: np.ndarray
    groups: np.ndarray
    folds: np.ndarray


def simulate(rng: np.random.Generator, scenario: Scenario) -> Dataset:
    """Draw one dataset of groups of 1 to 8 tracks (see the module docstring)."""
    n_groups = scenario.n_groups
    low, high = scenario.sizes
    groups = np.repeat(np.arange(n_groups), rng.integers(low, high + 1, n_groups))
    folds = rng.permutation(n_groups)[groups] % N_FOLDS
    n = len(groups)

    def effect(group_sd: float, track_sd: float) -> np.ndarray:
        return rng.normal(0, group_sd, (n_groups, 2))[groups] + rng.normal(0, track_sd, (n, 2))

    y = effect(0.6, 0.8)
    shared = effect(0.3, 0.4)
    a = y + shared + effect(0.3, 0.5) + rng.normal(0, scenario.fold_noise, (N_FOLDS, 2))[folds]
    spread = scenario.effect
    b = y + shared + effect(0.3 * spread, 0.5 * spread)
    b = b + rng.normal(0, scenario.fold_noise, (N_FOLDS, 2))[folds]
    if scenario.task == "quadrant":
        return Dataset(y=_quadrant(y), a=_quadrant(a), b=_quadrant(b), groups=groups, folds=folds)
    return Dataset(y=y, a=a, b=b, groups=groups, folds=folds)


def _quadrant(values: np.ndarray) -> np.ndarray:
    """Quadrants 1-4 from the signs of (arousal, valence) columns."""
    high_a, high_v = values[:, 0] >= 0, values[:, 1] >= 0
    return np.select([high_v & high_a, ~high_v & high_a, ~high_v & ~high_a], [1, 2, 3], 4)


def _score(y: np.ndarray, p: np.ndarray, task: str) -> float:
    """Mean R² over the two targets, or macro-F1 of quadrants."""
    if task == "quadrant":
        f1 = [
            2 * np.sum((y == c) & (p == c)) / max(np.sum(y == c) + np.sum(p == c), 1)
            for c in (1, 2, 3, 4)
        ]
        return float(np.mean(f1))
    sse = ((y - p) ** 2).sum(axis=0)
    sst = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1.0 - sse / sst))


TESTS = (
    "permutation",
    "permutation z",
    "bootstrap z",
    "percentiles",
    "null-centred",
    "BCa",
    "corrected t-test",
)
"""The tests compared; ``permutation`` makes the tiers (``paired_group_test``)."""


def p_values(data: Dataset, task: str, n_boot: int, seed: int) -> dict[str, float]:
    """Each test's two-sided p-value for one dataset (``TESTS``)."""
    metric = "macro_f1" if task == "quadrant" else "r2_mean"
    paired = Paired(
        task=get_task(task), y_true=data.y, pred_a=data.a, pred_b=data.b, groups=data.groups
    )
    draws = draw(paired, metric, n_boot=n_boot, n_perm=n_boot, seed=seed)
    tested = summarize_draws(metric, draws)
    d, resampled = tested.diff, draws.resampled[0] - draws.resampled[1]
    jackknife = np.subtract(*weighted_scores(paired, metric, 1.0 - np.eye(draws.n_groups)))
    per_fold = [
        (_score(data.y[m], data.a[m], task), _score(data.y[m], data.b[m], task))
        for m in (data.folds == f for f in range(N_FOLDS))
    ]
    first, second = zip(*per_fold, strict=True)
    return {
        "permutation": tested.p_value,
        "permutation z": _normal_p(d, tested.se_null),
        "bootstrap z": _normal_p(d, tested.se),
        "percentiles": _percentile_p(resampled),
        "null-centred": permutation_p(d, resampled - d),
        "BCa": _bca_p(d, resampled, jackknife),
        "corrected t-test": corrected_resampled_ttest(first, second, 1 / (N_FOLDS - 1))[1],
    }


def _normal_p(diff: float, se: float) -> float:
    """``2 Φ(-|diff| / se)``; 1 for no difference with no spread."""
    if se > 0.0:
        return min(1.0, 2.0 * float(sps.norm.sf(abs(diff) / se)))
    return 1.0 if diff == 0.0 else 0.0


def _percentile_p(resampled: np.ndarray) -> float:
    """``2 min(share of d* <= 0, share of d* >= 0)``: the percentile interval, inverted."""
    tail = min(np.sum(resampled <= 0), np.sum(resampled >= 0))
    return min(1.0, 2 * (1 + tail) / (len(resampled) + 1))


def _bca_p(diff: float, resampled: np.ndarray, jackknife: np.ndarray) -> float:
    """The level at which the BCa interval (Efron 1987) has 0 as an end, two-sided.

    Bias correction ``z0`` from the share of ``d*`` below ``d``, acceleration from the
    jackknife (leave one group out); the BCa end at level ``q`` is the percentile
    ``Φ(z0 + (z0 + z_q) / (1 - a (z0 + z_q)))`` of ``d*``, solved for the ``q`` that puts it at 0.
    """
    n = len(resampled)
    if np.ptp(resampled) == 0.0:
        return 1.0 if diff == 0.0 else 0.0
    below = (np.sum(resampled < diff) + 0.5 * np.sum(resampled == diff)) / n
    z0 = float(sps.norm.ppf(np.clip(below, 1 / (n + 1), n / (n + 1))))
    spread = jackknife.mean() - jackknife
    acceleration = float(np.sum(spread**3) / (6.0 * np.sum(spread**2) ** 1.5))
    share = (np.sum(resampled < 0) + 0.5 * np.sum(resampled == 0)) / n
    w = float(sps.norm.ppf(np.clip(share, 1 / (n + 1), n / (n + 1)))) - z0
    z_alpha = w / (1.0 + acceleration * w) - z0
    return min(1.0, 2.0 * float(sps.norm.cdf(-abs(z_alpha))))


def rejection_rates(
    scenario: Scenario, n_sims: int, n_boot: int, seed: int = 0
) -> dict[str, tuple[int, int]]:
    """How many of ``n_sims`` datasets each test rejects at ``ALPHA``: ``test -> (k, n)``."""
    rng = np.random.default_rng(seed)
    rejected = dict.fromkeys(TESTS, 0)
    for i in range(n_sims):
        for test, p in p_values(simulate(rng, scenario), scenario.task, n_boot, seed=i).items():
            rejected[test] += p < ALPHA
    return {test: (int(k), n_sims) for test, k in rejected.items()}


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact binomial confidence interval of a rate ``k / n``."""
    tail = (1 - confidence) / 2
    low = float(sps.beta.ppf(tail, k, n - k + 1)) if k > 0 else 0.0
    high = float(sps.beta.ppf(1 - tail, k + 1, n - k)) if k < n else 1.0
    return low, high


SCENARIOS = (
    Scenario("null"),
    Scenario("effect", effect=1.25),
    Scenario("null, 20 groups", n_groups=20),
    Scenario("effect, 20 groups", effect=1.25, n_groups=20),
    Scenario("fold-noise 0.2 null", fold_noise=0.2),
    Scenario("fold-noise 0.3 null", fold_noise=0.3),
    Scenario("quadrant null", task="quadrant"),
    Scenario("quadrant effect", effect=1.5, task="quadrant"),
    Scenario("600 artists null", task="quadrant", n_groups=600, sizes=(1, 2)),
    Scenario("600 artists F1 gap 0.05", effect=1.36, task="quadrant", n_groups=600, sizes=(1, 2)),
)
QUICK = ("600 artists null", "600 artists F1 gap 0.05")
"""The scenarios ``--quick`` runs: identical models and a 0.05 macro-F1 gap, 900 tracks."""


def mean_gap(scenario: Scenario, n_sims: int, seed: int = 0) -> tuple[float, float]:
    """The mean pooled score of the two candidates over ``n_sims`` datasets, and mean tracks."""
    rng = np.random.default_rng(seed)
    gaps, tracks = [], []
    for _ in range(n_sims):
        data = simulate(rng, scenario)
        a, b = (_score(data.y, p, scenario.task) for p in (data.a, data.b))
        gaps.append(a - b)
        tracks.append(len(data.groups))
    return float(np.mean(gaps)), float(np.mean(tracks))


def _tables(n_tracks: int, n_groups: int, n_candidates: int, repeats: int) -> tuple:
    """Cells, predictions and groups of one regression page, as ``results.summarize`` takes."""
    import pandas as pd

    rng = np.random.default_rng(0)
    tracks = np.array([f"t{i}" for i in range(n_tracks)])
    groups = rng.integers(0, n_groups, n_tracks)
    y = rng.normal(5, 2, (n_tracks, 2))
    cells, predictions = [], []
    for c in range(n_candidates):
        pred = y + rng.normal(0, 1 + 0.02 * c, y.shape)
        for r in range(repeats):
            folds = rng.permutation(n_groups)[groups] % N_FOLDS
            for f in range(N_FOLDS):
                key = {"dataset": "d", "task": "av-regression", "candidate": f"c{c:02d}",
                       "repeat": r, "fold": f}  # fmt: skip
                test = folds == f
                r2 = _score(y[test], pred[test], "av-regression")
                cells.append(key | {"status": "done", "error": None, "r2_mean": r2})
                for d, target in enumerate(("arousal", "valence")):
                    rows = {"track_id": tracks[test], "target": target, "y_true": y[test, d]}
                    rows["y_pred"] = pred[test, d]
                    predictions.append(pd.DataFrame(key | rows))
    mapping = {"d": dict(zip(tracks, map(str, groups), strict=True))}
    return pd.DataFrame(cells), pd.concat(predictions, ignore_index=True), mapping


def time_tiers() -> None:
    """Print the seconds ``results.summarize`` takes for one page of 15 candidates."""
    from merbench.results.summaries import summarize

    print(
        f"{'tracks':>7}{'groups':>8}{'candidates':>12}{'repeats':>9}{'t-test s':>10}{'tiers s':>9}"
    )
    for n_groups, repeats in ((300, 1), (900, 1), (300, 3)):
        cells, predictions, groups = _tables(900, n_groups, 15, repeats)
        started = time.perf_counter()
        summarize(cells)
        plain = time.perf_counter() - started
        started = time.perf_counter()
        summarize(cells, predictions, groups)
        tiers = time.perf_counter() - started
        print(f"{900:>7}{n_groups:>8}{15:>12}{repeats:>9}{plain:>10.2f}{tiers:>9.2f}", flush=True)


def _bootstrap_alone(paired: Paired, metric: str, n_boot: int) -> float:
    """The bootstrap's ``z`` p-value alone: its draws, scores and standard error."""
    draws = bootstrap._draws(len(np.unique(paired.groups)), n_boot, 0)
    a, b = weighted_scores(paired, metric, draws)
    observed_a, observed_b = weighted_scores(paired, metric, np.ones((1, draws.shape[1])))
    se = float(np.std(a - b, ddof=1)) * np.sqrt(draws.shape[1] / (draws.shape[1] - 1))
    return _normal_p(float(observed_a[0] - observed_b[0]), se)


def time_comparison(n_draws: int = 2000, rounds: int = 20) -> None:
    """Print the seconds of one comparison of two candidates on 900 tracks and 600 artists: the
    bootstrap alone (what made the tiers before) and the tier test (bootstrap and permutations).
    """
    print(f"{'task':<16}{'bootstrap ms':>14}{'tier test ms':>14}{'ratio':>8}")
    for task in ("quadrant", "av-regression"):
        scenario = Scenario(task, task=task, n_groups=600, sizes=(1, 2))
        data = simulate(np.random.default_rng(0), scenario)
        paired = Paired(
            task=get_task(task), y_true=data.y, pred_a=data.a, pred_b=data.b, groups=data.groups
        )
        metric = get_task(task).primary
        seconds = []
        for compare in (
            partial(_bootstrap_alone, paired, metric, n_draws),
            partial(paired_group_test, paired, metric, n_boot=n_draws, n_perm=n_draws),
        ):
            started = time.perf_counter()
            for _ in range(rounds):
                compare()
            seconds.append((time.perf_counter() - started) / rounds)
        ratio = seconds[1] / seconds[0]
        print(f"{task:<16}{1e3 * seconds[0]:>14.1f}{1e3 * seconds[1]:>14.1f}{ratio:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sims", type=int, default=None, help="datasets per scenario (2000; --quick: 1000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated datasets")
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--timing", action="store_true", help="time the tiers instead")
    parser.add_argument("--only", default="", help="only the scenarios whose name starts so")
    parser.add_argument(
        "--quick", action="store_true", help="only the 900-track scenarios (QUICK), 1000 sims"
    )
    args = parser.parse_args()
    if args.timing:
        time_comparison()
        time_tiers()
        return
    chosen = [s for s in SCENARIOS if s.name.startswith(args.only)]
    if args.quick:
        chosen = [s for s in chosen if s.name in QUICK]
    sims = args.sims or (1000 if args.quick else 2000)
    print(f"{'scenario':<24}{'test':<18}{'rejected':>10}{'rate':>8}   95 % interval")
    for scenario in chosen:
        started = time.perf_counter()
        gap, tracks = mean_gap(scenario, 200)
        print(f"{scenario.name:<24}(mean score gap {gap:.3f}, {tracks:.0f} tracks)", flush=True)
        for test, (k, n) in rejection_rates(scenario, sims, args.boot, args.seed).items():
            low, high = clopper_pearson(k, n)
            rate = f"{k:>6}/{n:<4}{k / n:>7.3f}   [{low:.3f}, {high:.3f}]"
            print(f"{scenario.name:<24}{test:<18}{rate}", flush=True)
        print(f"{'':<24}({time.perf_counter() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
