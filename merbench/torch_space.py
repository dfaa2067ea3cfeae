"""The optimiser's search space shared by every torch model (no torch import needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

TORCH_SEARCH_SPACE_KEYS = ("lr", "weight_decay")


def torch_search_space() -> dict[str, BaseDistribution]:
    """Learning rate and weight decay of AdamW, log-uniform."""
    from optuna.distributions import FloatDistribution

    return {
        "lr": FloatDistribution(1e-4, 3e-3, log=True),
        "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
    }
