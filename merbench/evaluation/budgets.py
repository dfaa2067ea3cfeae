"""Budgets: how much work a run spends.

A budget fixes the protocol's sizes (outer folds, repeats, Optuna trials) and the training caps of
torch models (epochs, patience, batch size, clip length). Every candidate in a run gets the same
budget, so comparisons stay fair. Three are built in (``BUDGETS``; ``docs/protocol.md`` documents
the figures); ``datasets.toml`` may declare more as ``[budgets.<name>]`` tables, each extending a
built-in one (``merbench.data.config`` reads them through ``make_budget``), and ``override`` changes
single values (``trials=10,epochs=20``). A run records its budget's full values
(``budget_record``), so a worker rebuilds it from the store (``budget_from_record``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, fields, replace
from typing import Any

from merbench.errors import ConfigError, did_you_mean


@dataclass(frozen=True, kw_only=True, slots=True)
class Budget:
    """The sizes of one run.

    Attributes:
        name: ``smoke``, ``default``, ``full`` or a name declared in ``datasets.toml``.
        outer_folds: K of the outer grouped K-fold.
        repeats: how many times the outer K-fold is repeated with another shuffle.
        trials: Optuna trials per cell (the same for every candidate).
        epochs: maximum epochs of a torch model per trial and for the refit.
        patience: epochs without validation improvement before early stopping.
        batch_size: torch mini-batch size.
        clip_seconds: the window: seconds of audio a front-end sees at once. Training draws one
            window per track and epoch; validation and test average every window of the track.
        valid_fraction: share of the outer training part (by group) held out for validation.
        hop_fraction: the hop between windows, as a fraction of the window.
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
    hop_fraction: float = 0.5


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


# field -> (type, smallest value, whether the smallest is allowed, largest value allowed)
_LIMITS: dict[str, tuple[type[Any], float, bool, float]] = {
    "outer_folds": (int, 2, True, math.inf),
    "repeats": (int, 1, True, math.inf),
    "trials": (int, 1, True, math.inf),
    "epochs": (int, 1, True, math.inf),
    "patience": (int, 1, True, math.inf),
    "batch_size": (int, 2, True, math.inf),
    "clip_seconds": (float, 0.0, False, math.inf),
    "valid_fraction": (float, 0.0, False, 0.9),
    "hop_fraction": (float, 0.0, False, 1.0),
}
BUDGET_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Budget) if f.name != "name")
"""The values a budget table or an override may set."""


def get_budget(name: str, configured: Mapping[str, Budget] | None = None) -> Budget:
    """Return the budget called ``name``: a built-in one or one of ``configured``.

    Args:
        name: the budget's name.
        configured: budgets declared in ``datasets.toml`` (``Config.budgets``).

    Raises:
        ConfigError: unknown name, with the closest and all known ones.
    """
    known = all_budgets(configured)
    if name in known:
        return known[name]
    raise ConfigError(
        f"Unknown budget '{name}'.{did_you_mean(name, known)} Choose one of: "
        f"{', '.join(known)}, or declare it as a [budgets.{name}] table in datasets.toml."
    )


def all_budgets(configured: Mapping[str, Budget] | None = None) -> dict[str, Budget]:
    """The built-in budgets, then the configured ones, by name."""
    return BUDGETS | dict(configured or {})


def make_budget(name: str, values: Mapping[str, Any], *, base: Budget, where: str) -> Budget:
    """Return ``base`` with ``values`` set and renamed ``name``, every value checked.

    Args:
        name: the new budget's name.
        values: ``BUDGET_KEYS`` and their values (integers for counts; a float may be written
            as an integer).
        base: the budget it extends.
        where: what to name in messages, e.g. ``datasets.toml [budgets.quick]``.

    Raises:
        ConfigError: an unknown key or a value of the wrong type or out of range.
    """
    checked = {key: _check_value(key, value, where) for key, value in values.items()}
    return replace(base, name=name, **checked)


def _check_value(key: str, value: Any, where: str) -> Any:
    """Return ``value`` as the type of budget field ``key`` (ints become floats for floats)."""
    if key not in _LIMITS:
        raise ConfigError(
            f"{where}: unknown budget key '{key}'.{did_you_mean(key, BUDGET_KEYS)} "
            f"Allowed keys: {', '.join(BUDGET_KEYS)}."
        )
    kind, low, low_ok, high = _LIMITS[key]
    accepted = (int,) if kind is int else (int, float)
    is_number = isinstance(value, accepted) and not isinstance(value, bool)
    is_in_range = is_number and (value >= low if low_ok else value > low) and value <= high
    if not is_in_range:
        example = getattr(BUDGETS["default"], key)
        raise ConfigError(
            f"{where}: '{key}' must be {_range(key)}, got {value!r}. Example: {key} = {example}."
        )
    return kind(value)


def _range(key: str) -> str:
    kind, low, low_ok, high = _LIMITS[key]
    what = "an integer" if kind is int else "a number"
    bound = f">= {low:g}" if low_ok else f"> {low:g}"
    return f"{what} {bound}" + (f" and <= {high:g}" if high < math.inf else "")


def override(budget: Budget, text: str) -> Budget:
    """Return ``budget`` with the values of ``text`` (``"trials=10,epochs=20"``) set.

    The name stays; the run records every value (``budget_record``). Values are read as the
    field's type: ``trials=10``, ``clip_seconds=4.5``.

    Raises:
        ConfigError: a part without ``=``, an unknown key, a value that is not a number of the
            field's type or is out of range.
    """
    where = f"--set '{text}'"
    values: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, is_pair, raw = (s.strip() for s in part.partition("="))
        if not is_pair or not key or not raw:
            raise ConfigError(
                f"{where}: '{part}' is not key=value. Write e.g. --set trials=10,epochs=20."
            )
        values[key] = _number(raw)
    return make_budget(budget.name, values, base=budget, where=where)


def _number(raw: str) -> int | float | str:
    """``raw`` as an int, else a float, else itself (``_check_value`` says what is wrong)."""
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw


def budget_record(budget: Budget) -> dict[str, Any]:
    """Every value of ``budget``, by field name (what a run stores)."""
    return asdict(budget)


def budget_from_record(record: Mapping[str, Any]) -> Budget:
    """Rebuild a budget from ``budget_record`` (a stored run's provenance).

    Raises:
        ConfigError: a missing, unknown or invalid value.
    """
    where = "stored run budget"
    required = [f.name for f in fields(Budget) if f.default is MISSING]  # newer keys default
    missing = [key for key in required if key not in record]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}. Start the run again (--fresh).")
    values = {k: v for k, v in record.items() if k != "name"}
    return make_budget(str(record["name"]), values, base=BUDGETS["default"], where=where)
