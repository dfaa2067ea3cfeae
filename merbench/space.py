"""Search-space distributions a plugin declares without importing Optuna.

``FloatDistribution``, ``IntDistribution`` and ``CategoricalDistribution`` take the same
arguments as Optuna's classes of the same names, and the core turns them into Optuna's when a
study asks for parameters (``to_optuna``). Plugins may declare Optuna's own distributions too;
merbench's keep plugin discovery (``merbench list``, ``merbench plugins``, planning and queueing
a run of scikit-learn models) free of Optuna's import cost.

>>> from merbench.space import FloatDistribution, IntDistribution
>>> space = {"dropout": FloatDistribution(0.0, 0.5), "width": IntDistribution(8, 64, log=True)}
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

Choice = None | bool | int | float | str


@dataclass(frozen=True, slots=True)
class FloatDistribution:
    """A float between ``low`` and ``high`` (inclusive), log-uniform with ``log``."""

    low: float
    high: float
    log: bool = False
    step: float | None = None


@dataclass(frozen=True, slots=True)
class IntDistribution:
    """An integer between ``low`` and ``high`` (inclusive), log-uniform with ``log``."""

    low: int
    high: int
    log: bool = False
    step: int = 1


@dataclass(frozen=True, slots=True)
class CategoricalDistribution:
    """One of ``choices`` (``None``, booleans, numbers or strings)."""

    choices: Sequence[Choice]

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))


Distribution = FloatDistribution | IntDistribution | CategoricalDistribution
OWN_TYPES = (FloatDistribution, IntDistribution, CategoricalDistribution)


def is_distribution(value: object) -> bool:
    """Whether ``value`` is a distribution of merbench's or of Optuna's.

    Optuna is not imported to tell: a plugin that made an Optuna distribution imported it.
    """
    if isinstance(value, OWN_TYPES):
        return True
    module = sys.modules.get("optuna.distributions")
    return module is not None and isinstance(value, module.BaseDistribution)


def to_optuna(value: Distribution | BaseDistribution) -> BaseDistribution:
    """The Optuna distribution of ``value`` (an Optuna distribution is returned as it is)."""
    from optuna import distributions

    if isinstance(value, FloatDistribution):
        return distributions.FloatDistribution(
            value.low, value.high, log=value.log, step=value.step
        )
    if isinstance(value, IntDistribution):
        return distributions.IntDistribution(value.low, value.high, log=value.log, step=value.step)
    if isinstance(value, CategoricalDistribution):
        return distributions.CategoricalDistribution(value.choices)
    return value


def optuna_space(space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """A whole search space as Optuna distributions, for ``study.ask(fixed_distributions=...)``."""
    return {key: to_optuna(value) for key, value in space.items()}
