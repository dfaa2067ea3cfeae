"""Budgets: how much work a run spends, defined here and only here.

A budget fixes the protocol's sizes (outer folds, repeats, Optuna trials) and the training caps of
torch models (epochs, patience, batch size, clip length). Every candidate in a run gets the same
budget, so comparisons stay fair. ``docs/protocol.md`` documents the figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from merbench.errors import ConfigError, did_you_mean


@dataclass(frozen=True, kw_only=True, slots=True)
class Budget:
    """The sizes of one run.

    Attributes:
        name: ``smoke``, ``default`` or ``full``.
        outer_folds: K of the outer grouped K-fold.
        repeats: how many times the outer K-fold is repeated with another shuffle.
        trials: Optuna trials per cell (the same for every candidate).
        epochs: maximum epochs of a torch model per trial and for the refit.
        patience: epochs without validation improvement before early stopping.
        batch_size: torch mini-batch size.
        clip_seconds: audio crop length fed to front-ends.
        valid_fraction: share of the outer training part (by group) held out for validation.
    """

    name: str
    outer_folds: int
    repeats: int
    trials: int
    epochs: int
    patience: int
    batch_size: int
    clip_seconds: float
    valid_fraction: float = 0.2


BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        name="smoke",
        outer_folds=3,
        repeats=1,
        trials=2,
        epochs=2,
        patience=2,
        batch_size=16,
        clip_seconds=3.0,
    ),
    "default": Budget(
        name="default",
        outer_folds=5,
        repeats=1,
        trials=4,
        epochs=6,
        patience=2,
        batch_size=16,
        clip_seconds=3.0,
    ),
    "full": Budget(
        name="full",
        outer_folds=5,
        repeats=3,
        trials=30,
        epochs=60,
        patience=8,
        batch_size=16,
        clip_seconds=30.0,
    ),
}


def get_budget(name: str) -> Budget:
    """Return the budget called ``name``.

    Raises:
        ConfigError: unknown name, with the allowed ones.
    """
    try:
        return BUDGETS[name]
    except KeyError:
        allowed = ", ".join(BUDGETS)
        raise ConfigError(
            f"Unknown budget '{name}'.{did_you_mean(name, BUDGETS)} Choose one of: {allowed}."
        ) from None
