"""Tests of merbench.evaluation.stats: hand-computed values and behaviour on constructed folds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.model_selection import GroupKFold, KFold

from merbench.evaluation.stats import (
    TIER_COLUMNS,
    corrected_resampled_ttest,
    holm,
    leakage_share,
    mean_ci,
    noise_ceiling_r2,
    significance_tiers,
)

A = [0.80, 0.82, 0.78, 0.85, 0.81]
B = [0.75, 0.80, 0.77, 0.79, 0.76]


def test_mean_ci_by_hand():
    # mean 3, s^2 = 2.5, se = sqrt(2.5 / 5), t(0.975, 4) = 2.776445.
    mean, low, high = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    half = 2.7764451051977934 * math.sqrt(0.5)
    assert (mean, low, high) == pytest.approx((3.0, 3.0 - half, 3.0 + half))


def test_mean_ci_corrected_is_wider():
    # With ratio 1/4 the variance factor is 1/5 + 1/4 = 0.45 instead of 0.2.
    _, low, high = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0], test_train_ratio=0.25)
    assert high - 3.0 == pytest.approx(2.7764451051977934 * math.sqrt(0.45 * 2.5))
    assert low == pytest.approx(6.0 - high)


def test_mean_ci_degenerate_cases():
    mean, low, high = mean_ci([0.7])
    assert mean == 0.7
    assert math.isnan(low) and math.isnan(high)
    assert mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError):
        mean_ci([])
    with pytest.raises(ValueError):
        mean_ci([1.0, 2.0], confidence=1.5)


def test_corrected_ttest_by_hand():
    # d = [.05, .02, .01, .06, .05]: mean .038, s^2 .00047; 5-fold -> ratio 1/4.
    # t = .038 / sqrt((1/5 + 1/4) * .00047) = 2.6129338; two-sided p with 4 df = 0.0592371.
    t, p = corrected_resampled_ttest(A, B, 0.25)
    assert t == pytest.approx(2.6129338238556)
    assert p == pytest.approx(0.0592371332070, rel=1e-9)
    assert p == pytest.approx(2 * sps.t.sf(t, 4))


def test_uncorrected_ttest_equals_paired_ttest():
    t, p = corrected_resampled_ttest(A, B, 0.0)
    reference = sps.ttest_rel(A, B)
    assert t == pytest.approx(reference.statistic)
    assert p == pytest.approx(reference.pvalue)
    # The correction makes the same difference less significant.
    assert p < 0.05 < corrected_resampled_ttest(A, B, 0.25)[1]


def test_ttest_is_symmetric():
    t_ab, p_ab = corrected_resampled_ttest(A, B, 0.25)
    t_ba, p_ba = corrected_resampled_ttest(B, A, 0.25)
    assert t_ba == pytest.approx(-t_ab)
    assert p_ba == pytest.approx(p_ab)


def test_ttest_zero_variance():
    assert corrected_resampled_ttest(A, A, 0.25) == (0.0, 1.0)
    t, p = corrected_resampled_ttest([2.0, 3.0, 4.0], [1.0, 2.0, 3.0], 0.5)
    assert (t, p) == (math.inf, 0.0)
    t, p = corrected_resampled_ttest([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], 0.5)
    assert (t, p) == (-math.inf, 0.0)


def test_ttest_rejects_unpaired_input():
    with pytest.raises(ValueError, match="same length"):
        corrected_resampled_ttest([1.0, 2.0], [1.0, 2.0, 3.0], 0.25)
    with pytest.raises(ValueError, match="at least 2"):
        corrected_resampled_ttest([1.0], [2.0], 0.25)


def test_holm_classic_example():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    assert list(adjusted) == ["a", "b", "c", "d"]
    assert list(adjusted.values()) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_keeps_nan():
    adjusted = holm({"a": 0.4, "b": 0.6, "c": math.nan})
    assert adjusted["a"] == pytest.approx(0.8)
    assert adjusted["b"] == pytest.approx(0.8)  # monotone: max(0.8, 0.6)
    assert math.isnan(adjusted["c"])
    assert holm({"a": 0.7, "b": 0.9}) == {"a": 1.0, "b": 1.0}
    assert holm({}) == {}
    with pytest.raises(ValueError):
        holm({"a": 1.2})


def _scores(means: dict[str, float], noise: dict[str, float], seed: int = 0) -> pd.DataFrame:
    """Fold scores of candidates over 2 repeats x 5 folds, sharing a fold effect."""
    rng = np.random.default_rng(seed)
    folds = [f"{r}-{f}" for r in range(2) for f in range(5)]
    fold_effect = rng.normal(0.0, 0.05, len(folds))
    rows = []
    for candidate, mean in means.items():
        values = mean + fold_effect + rng.normal(0.0, noise[candidate], len(folds))
        rows += [(candidate, fold, v) for fold, v in zip(folds, values, strict=True)]
    return pd.DataFrame(rows, columns=["candidate", "fold", "value"])


def test_tiers_separate_clearly_worse_from_noise():
    means = {"cnn2d@mel": 0.60, "crnn@mel": 0.599, "mean": 0.30}
    scores = _scores(means, {"cnn2d@mel": 0.005, "crnn@mel": 0.005, "mean": 0.005})
    table = significance_tiers(scores, metric_direction="maximize", test_train_ratio=0.25)
    assert list(table.columns) == list(TIER_COLUMNS)
    rows = table.set_index("candidate")
    leader = table["candidate"].iloc[0]
    assert leader in {"cnn2d@mel", "crnn@mel"}  # which of the two leads is down to noise
    assert rows.loc[leader, "is_leader"]
    assert math.isnan(rows.loc[leader, "p_vs_leader"])
    assert rows.loc["cnn2d@mel", "tier"] == rows.loc["crnn@mel", "tier"] == "best"
    assert rows.loc["mean", "tier"] == "worse"
    assert rows.loc["mean", "p_holm"] < 0.05
    assert rows["rank"].tolist() == [1, 2, 3]
    assert rows["n_folds"].tolist() == [10, 10, 10]
    assert (rows["ci_low"] < rows["mean"]).all() and (rows["mean"] < rows["ci_high"]).all()


def test_tiers_minimize_and_holm():
    means = {"good": 0.5, "bad": 0.9, "worst": 1.2}
    scores = _scores(means, dict.fromkeys(means, 0.01))
    table = significance_tiers(scores, metric_direction="minimize", test_train_ratio=0.25)
    assert table["candidate"].tolist() == ["good", "bad", "worst"]
    assert table["tier"].tolist() == ["best", "worse", "worse"]
    raw = dict(zip(table["candidate"][1:], table["p_vs_leader"][1:], strict=True))
    expected = holm(raw)
    assert table["p_holm"].iloc[1:].tolist() == pytest.approx(list(expected.values()))


def test_tiers_pair_on_common_folds_and_single_candidate():
    scores = _scores({"a": 0.6, "b": 0.3}, {"a": 0.01, "b": 0.01})
    scores = scores[~((scores["candidate"] == "b") & (scores["fold"] != "0-0"))]  # b: one fold
    table = significance_tiers(scores, metric_direction="maximize", test_train_ratio=0.25)
    row = table.set_index("candidate").loc["b"]
    assert row["n_folds"] == 1 and math.isnan(row["ci_low"])
    assert math.isnan(row["p_holm"]) and row["tier"] == "best"
    alone = significance_tiers(
        scores[scores["candidate"] == "a"], metric_direction="maximize", test_train_ratio=0.25
    )
    assert alone["tier"].tolist() == ["best"] and alone["is_leader"].tolist() == [True]


def test_tiers_reject_bad_tables():
    with pytest.raises(ValueError, match="columns"):
        significance_tiers(
            pd.DataFrame({"candidate": ["a"], "value": [1.0]}),
            metric_direction="maximize",
            test_train_ratio=0.25,
        )
    duplicated = pd.DataFrame({"candidate": ["a", "a"], "fold": ["0", "0"], "value": [1.0, 2.0]})
    with pytest.raises(ValueError, match="more than one"):
        significance_tiers(duplicated, metric_direction="maximize", test_train_ratio=0.25)


def test_leakage_of_grouped_and_plain_folds():
    groups = np.repeat([f"artist{i}" for i in range(10)], 6)
    x = np.zeros((len(groups), 1))
    for train, test in GroupKFold(5).split(x, groups=groups):
        assert leakage_share(groups[train], groups[test]) == 0.0
    shares = [
        leakage_share(groups[train], groups[test])
        for train, test in KFold(5, shuffle=True, random_state=0).split(x)
    ]
    assert min(shares) > 0.0


def test_leakage_by_hand():
    assert leakage_share(["a", "b"], ["a", "c", "c", "b"]) == 0.5
    with pytest.raises(ValueError):
        leakage_share(["a"], [])


def test_noise_ceiling_by_hand():
    # var(labels) = 2; se^2 = 1 / 4 -> 1 - 0.25 / 2.
    labels = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert noise_ceiling_r2(np.ones(5), labels, 4) == pytest.approx(0.875)
    assert noise_ceiling_r2(np.full(5, 0.5), labels, None) == pytest.approx(0.875)
    two = np.column_stack([labels, labels * 2])  # variances 2 and 8
    ceiling = noise_ceiling_r2(np.ones((5, 2)), two, 1)
    assert ceiling == pytest.approx(((1 - 1 / 2) + (1 - 1 / 8)) / 2)


def test_noise_ceiling_matches_simulation():
    rng = np.random.default_rng(0)
    consensus = rng.normal(0.0, 1.0, 20000)
    ratings = consensus[:, None] + rng.normal(0.0, 1.5, (consensus.size, 5))
    labels, spread = ratings.mean(axis=1), ratings.std(axis=1, ddof=1)
    achieved = 1 - np.mean((labels - consensus) ** 2) / labels.var()
    assert noise_ceiling_r2(spread, labels, 5) == pytest.approx(achieved, abs=0.01)


def test_noise_ceiling_rejects_bad_input():
    with pytest.raises(ValueError, match="vary"):
        noise_ceiling_r2(np.ones(3), np.ones(3), 2)
    with pytest.raises(ValueError, match="n_raters"):
        noise_ceiling_r2(np.ones(3), np.arange(3.0), 0)
    with pytest.raises(ValueError, match="match"):
        noise_ceiling_r2(np.ones(2), np.arange(3.0), 2)


def _calibration():
    """The simulation behind docs/protocol.md's calibration figures."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "calibrate_tests.py"
    spec = importlib.util.spec_from_file_location("calibrate_tests", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


def test_the_tier_test_keeps_its_level_and_outpowers_the_corrected_ttest():
    # docs/protocol.md: the same simulation at 2000 datasets and 1000 draws.
    calibration = _calibration()
    null = calibration.rejection_rates(calibration.Scenario("null"), n_sims=1000, n_boot=500)
    low, high = calibration.clopper_pearson(*null["permutation"])
    assert low <= 0.05 <= high, null
    effect = calibration.Scenario("effect", effect=1.25)
    power = calibration.rejection_rates(effect, n_sims=300, n_boot=500, seed=1)
    assert power["permutation"][0] > 2 * power["corrected t-test"][0], power
    assert power["permutation"][0] / 300 > 0.6, power
