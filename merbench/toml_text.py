"""How ``datasets.toml`` messages quote what they name: table headers, values and their types,
and the check of a table's name."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Mapping
from typing import Any

from merbench.errors import ConfigError
from merbench.specs import NAME_PATTERN

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def header(*keys: str, root: str = "datasets") -> str:
    """Return a table header such as ``[datasets.pmemo]``, quoting keys TOML cannot leave bare."""
    parts = [key if BARE_KEY.match(key) else json.dumps(key) for key in (root, *keys)]
    return f"[{'.'.join(parts)}]"


def toml_value(value: Any) -> str:
    """Write a value as it would appear in TOML, for messages (long values are cut)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        text = "[" + ", ".join(toml_value(item) for item in value) + "]"
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe(value: Any) -> str:
    """Return e.g. ``"yes" (a string)`` for messages."""
    kinds: tuple[tuple[type[Any] | tuple[type[Any], ...], str], ...] = (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a float"),
        (str, "a string"),
        (list, "an array"),
        (dict, "a table"),
        ((datetime.date, datetime.time), "a date or time"),
    )
    kind = next((name for types, name in kinds if isinstance(value, types)), type(value).__name__)
    return f"{toml_value(value)} ({kind})"


def check_name(name: str, where: str, kind: str) -> None:
    if NAME_PATTERN.match(name):
        return
    suggestion = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:32]
    hint = f" Did you mean '{suggestion}'?" if NAME_PATTERN.match(suggestion) else ""
    raise ConfigError(
        f"{where}: invalid {kind} name '{name}'.{hint} A name is a lowercase letter followed by "
        "up to 31 lowercase letters, digits or '-'. Rename the table."
    )
