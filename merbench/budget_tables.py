"""The ``[budgets.<name>]`` tables of ``datasets.toml``: budgets declared beside the built-in ones.

Each table extends a ``base`` (a built-in budget or one declared above it) and sets any of
``merbench.budgets.BUDGET_KEYS``; built-in names cannot be redefined.
"""

from __future__ import annotations

from collections.abc import Mapping

from merbench.budgets import BUDGET_KEYS, BUDGETS, Budget, make_budget
from merbench.errors import ConfigError, did_you_mean
from merbench.toml_text import check_name, describe, header


def parse_budget_tables(tables: object, label: str) -> dict[str, Budget]:
    """Check the ``[budgets.<name>]`` tables, in file order; each extends its ``base``."""
    if not isinstance(tables, dict):
        raise ConfigError(
            f"{label}: 'budgets' must be a table of [budgets.<name>] tables, got "
            f"{describe(tables)}. Remove 'budgets = ...' and write a [budgets.quick] table."
        )
    declared: dict[str, Budget] = {}
    for name, table in tables.items():
        where = f"{label} {header(name, root='budgets')}"
        check_name(name, where, "budget")
        if name in BUDGETS:
            raise ConfigError(
                f"{where}: '{name}' is a built-in budget and cannot be redefined. Rename the "
                f'table, e.g. [budgets.my-{name}], and write base = "{name}" in it.'
            )
        if not isinstance(table, dict):
            raise ConfigError(
                f"{where}: must be a table, got {describe(table)}. Write a [budgets.{name}] "
                'line with the budget\'s keys below it, e.g. base = "default" and trials = 10.'
            )
        allowed = ("base", *BUDGET_KEYS)
        for key in table:
            if key not in allowed:
                raise ConfigError(
                    f"{where}: unknown key '{key}'.{did_you_mean(key, allowed)} "
                    f"Allowed keys: {', '.join(allowed)}."
                )
        values = {k: v for k, v in table.items() if k != "base"}
        base = _budget_base(table.get("base", "default"), declared, where)
        declared[name] = make_budget(name, values, base=base, where=where)
    return declared


def _budget_base(base: object, declared: Mapping[str, Budget], where: str) -> Budget:
    """The budget a table extends: a built-in one or one declared above it."""
    known = BUDGETS | dict(declared)
    if isinstance(base, str) and base in known:
        return known[base]
    near = did_you_mean(base, known) if isinstance(base, str) else ""
    raise ConfigError(
        f"{where}: 'base' must name a built-in budget or one declared above, got "
        f"{describe(base)}.{near} Choose one of: {', '.join(known)}."
    )
