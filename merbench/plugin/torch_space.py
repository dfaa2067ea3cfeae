"""What every torch model shares, importable without torch: the optimiser's space and defaults,
the run's audio settings a builder may ask for, precisions."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict, get_args

from merbench.space import FloatDistribution

if TYPE_CHECKING:
    from merbench.plugin.specs import ModelSpec

TORCH_SEARCH_SPACE_KEYS = ("lr", "weight_decay")

OPTIMISER_DEFAULTS: dict[str, float] = {"lr": 1e-3, "weight_decay": 1e-4}
"""AdamW's settings when neither the trial nor the model (``ModelSpec.optimiser``) gives one."""

CORE_OPTIMISED: frozenset[str] = frozenset({"torch"})
"""The model families whose optimiser the core sets (``ModelSpec.optimiser`` applies to them);
the others set their own in ``build``."""

BUILD_CONTEXT_KEYS = ("sample_rate", "window_seconds")
"""Keywords the core passes to a torch ``build`` that declares them: the audio's rate in Hz and
the window's length in seconds (the budget's ``clip_seconds``)."""

Precision = Literal["fp32", "bf16"]
"""Arithmetic of torch forward passes: float32, or bfloat16 autocast (weights stay float32)."""
PRECISIONS: tuple[str, ...] = get_args(Precision)


def torch_search_space() -> dict[str, FloatDistribution]:
    """Learning rate and weight decay of AdamW, log-uniform."""
    return {
        "lr": FloatDistribution(1e-4, 3e-3, log=True),
        "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
    }


def build_context(
    build: Callable[..., Any], *, sample_rate: int, window_seconds: float
) -> dict[str, Any]:
    """The audio settings among ``BUILD_CONTEXT_KEYS`` that ``build`` names as parameters.

    A ``build`` with ``**kwargs`` gets none of them, as scikit-learn builders get ``task`` only
    when they name it.
    """
    parameters = inspect.signature(build).parameters
    given = {"sample_rate": sample_rate, "window_seconds": window_seconds}
    return {key: value for key, value in given.items() if key in parameters}


class OptimiserSettings(TypedDict):
    """AdamW's keywords that the core sets per fit."""

    lr: float
    weight_decay: float


def optimiser_settings(model: ModelSpec, params: Mapping[str, Any]) -> OptimiserSettings:
    """AdamW's ``lr`` and ``weight_decay``: the trial's, else the model's, else the core's."""

    def pick(key: str) -> float:
        return float(params.get(key, model.optimiser.get(key, OPTIMISER_DEFAULTS[key])))

    return OptimiserSettings(lr=pick("lr"), weight_decay=pick("weight_decay"))


def optimiser_problem(model: ModelSpec) -> str:
    """Why ``model.optimiser`` is unusable (naming the fix), or ``""`` when it is fine."""
    if not model.optimiser:
        return ""
    if model.family not in CORE_OPTIMISED:
        return "optimiser is for torch models; a scikit-learn model sets its own in build()"
    space = torch_search_space()
    for key, value in model.optimiser.items():
        if key not in space:
            return f"optimiser key {key!r} is not one of {', '.join(space)}"
        low, high = space[key].low, space[key].high
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            return f"optimiser {key} {value!r} is not a number"
        if not low <= value <= high:
            return (
                f"optimiser {key} {value:g} is outside the tuned range {low:g}..{high:g}; "
                "use a value in it (the first trial starts there)"
            )
    return ""
