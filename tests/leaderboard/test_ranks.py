"""Friedman's test across pages: scipy's, checked against the closed form it replaced."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from merbench.leaderboard.ranks import friedman_p


def _demsar_p(scores: np.ndarray) -> float:
    """Demšar's (2006) statistic from mean ranks, no tie correction: merbench's former code."""
    k, n_blocks = scores.shape
    mean_ranks = np.apply_along_axis(sps.rankdata, 0, scores).mean(axis=1)
    chi2 = 12.0 * n_blocks / (k * (k + 1)) * (np.sum(mean_ranks**2) - k * (k + 1) ** 2 / 4.0)
    return float(sps.chi2.sf(max(chi2, 0.0), k - 1))


@pytest.mark.parametrize("k", [3, 4, 7])
def test_friedman_p_without_ties_equals_the_former_closed_form(k):
    scores = np.random.default_rng(k).normal(size=(k, 12))
    assert friedman_p(scores) == pytest.approx(_demsar_p(scores), rel=1e-12)


def test_friedman_p_corrects_for_ties():
    scores = np.array([[1.0, 1.0, 2.0, 1.0], [1.0, 2.0, 2.0, 3.0], [3.0, 3.0, 1.0, 2.0]])
    k, n = scores.shape
    ties = 2**3 - 2 + 2**3 - 2  # two blocks each with a pair of tied candidates
    correction = 1.0 - ties / (k * (k**2 - 1) * n)
    old = _demsar_p(scores)
    chi2 = sps.chi2.isf(old, k - 1) / correction
    assert friedman_p(scores) == pytest.approx(float(sps.chi2.sf(chi2, k - 1)), rel=1e-12)
    assert friedman_p(scores) < old


def test_friedman_p_needs_three_candidates_and_is_one_when_all_tie():
    assert friedman_p(np.zeros((2, 5))) is None
    assert friedman_p(np.ones((4, 5))) == 1.0
