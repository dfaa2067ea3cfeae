"""One cell: how long a torch refit trains."""

from __future__ import annotations

from merbench.evaluation.budgets import get_budget
from merbench.pipeline.cell import refit_epochs


def test_the_refit_trains_the_median_best_epoch_within_patience_and_the_cap():
    budget = get_budget("default")  # 6 epochs, patience 2
    assert refit_epochs([5, 4, 6, 1], budget) == 4  # median 4.5 rounds to 4
    assert refit_epochs([1, 1, 2], budget) == budget.patience + 1  # never collapses to 1
    assert refit_epochs([6, 6], budget) == budget.epochs
