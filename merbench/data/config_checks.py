"""Check the values of ``datasets.toml`` tables and write them back for messages.

The checks of single entries that :mod:`merbench.data.config` composes: names, positive
seconds, the dataset plugin a table names, its options (typed by the plugin's defaults) and its
path (``${VAR}``, ``$VAR`` and ``~`` expanded, anchored at the file), the ``[executor]`` table.
Each raises one
:class:`~merbench.errors.ConfigError` naming the table and the fix.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from merbench.errors import ConfigError, did_you_mean
from merbench.plugin.specs import NAME_PATTERN, TASKS, DatasetSpec

# Option types are inferred from the plugin's default; bool comes before int (bool is an int).
_OPTION_KINDS: tuple[tuple[type[Any], tuple[type[Any], ...], str], ...] = (
    (bool, (bool,), "true or false"),
    (int, (int,), "an integer"),
    (float, (int, float), "a number"),
    (str, (str,), "a string"),
    (list, (list,), "an array"),
    (tuple, (list,), "an array"),
    (Mapping, (dict,), "a table"),
)
_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
log = logging.getLogger(__name__)
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
EXECUTORS = ("local", "dask")
"""Where a run's cells run: this machine's processes, or a Dask cluster."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TableContext:
    """What checking one table needs besides the table itself."""

    label: str
    base: Path
    specs: Mapping[str, DatasetSpec]
    environ: Mapping[str, str]


def check_max_seconds(value: float | None, where: str) -> float | None:
    """Return ``max_seconds`` as a float (``None`` when absent), refusing non-positive values."""
    if value is None:
        return None
    if isinstance(value, bool) or value <= 0:
        raise ConfigError(
            f"{where}: 'max_seconds' must be a positive number of seconds, got {value!r}. "
            "Write e.g. max_seconds = 30, or leave it out to use whole clips."
        )
    return float(value)


def check_name(name: str, where: str, kind: str) -> None:
    """Refuse a table name that is not a valid component name, suggesting one that is."""
    if NAME_PATTERN.match(name):
        return
    suggestion = suggest_name(name)
    hint = f" Did you mean '{suggestion}'?" if NAME_PATTERN.match(suggestion) else ""
    raise ConfigError(
        f"{where}: invalid {kind} name '{name}'.{hint} A name is a lowercase letter followed by "
        "up to 31 lowercase letters, digits or '-'. Rename the table."
    )


def suggest_name(text: str) -> str:
    """The valid name closest to ``text`` (lowercase, other characters as ``-``), or ``""``."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:32]


def find_plugin(plugin: str, is_implicit: bool, where: str, context: TableContext) -> DatasetSpec:
    """Return the installed dataset plugin a table names, or say how to get it."""
    if plugin in context.specs:
        return context.specs[plugin]
    origin = " (taken from the table name; set 'plugin' to choose another)" if is_implicit else ""
    count = len(context.specs)
    listing = (
        f"Run 'merbench list datasets' to see all {count}."
        if count
        else "No dataset plugin is installed; run 'merbench plugins' to see why."
    )
    raise ConfigError(
        f"{where}: unknown dataset plugin '{plugin}'{origin}.{did_you_mean(plugin, context.specs)} "
        f"{listing} Install the plugin that provides it, or set enabled = false to keep the "
        "table for later."
    )


def merge_options(spec: DatasetSpec, given: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Return the plugin's defaults updated with the checked values from the file."""
    merged = dict(spec.options)
    for key, value in given.items():
        if key not in spec.options:
            if not spec.options:
                raise ConfigError(
                    f"{where}: plugin '{spec.name}' takes no options, got '{key}'. "
                    "Remove the options table."
                )
            raise ConfigError(
                f"{where}: unknown option '{key}' for plugin '{spec.name}'."
                f"{did_you_mean(key, spec.options)} Options: {', '.join(sorted(spec.options))}."
            )
        merged[key] = _option_value(key, value, spec, where)
    return merged


def _option_value(key: str, value: Any, spec: DatasetSpec, where: str) -> Any:
    """Check ``value`` against the type of the plugin's default; ints become floats for floats."""
    default = spec.options[key]
    for default_type, accepted, what in _OPTION_KINDS:
        if not isinstance(default, default_type):
            continue
        is_bool_mismatch = isinstance(value, bool) and default_type is not bool
        if not isinstance(value, accepted) or is_bool_mismatch:
            raise ConfigError(
                f"{where}: option '{key}' must be {what} (plugin '{spec.name}' defaults to "
                f"{_toml(default)}), got {describe(value)}. Example: {key} = {_toml(default)}."
            )
        if default_type is float:
            return float(value)
        return tuple(value) if default_type is tuple else value
    return value  # a default of None or of another type: the plugin checks the value


def resolve_path(
    spec: DatasetSpec, raw: str | None, where: str, context: TableContext
) -> Path | None:
    """Expand ``raw`` and check that it exists when the plugin needs a path."""
    if not spec.requires_path:
        if raw is not None:
            raise ConfigError(
                f"{where}: plugin '{spec.name}' takes no path (it needs no local copy), got "
                f"path = {json.dumps(raw)}. Remove 'path'."
            )
        return None
    if raw is None:
        download = f" Download it from {spec.homepage}, then add" if spec.homepage else " Add"
        raise ConfigError(
            f"{where}: plugin '{spec.name}' needs a path to a local copy, and none is given."
            f'{download} a line path = "..." naming the folder of your copy, or set '
            "enabled = false."
        )
    path = _expand(raw, where, context)
    if not path.exists():
        shown = f"'{raw}'" if raw == str(path) else f"'{raw}' (expanded: {path})"
        raise ConfigError(
            f"{where}: path {shown} does not exist. Download the dataset there, point 'path' "
            "at your copy, or set enabled = false."
        )
    return path


def _expand(raw: str, where: str, context: TableContext) -> Path:
    """Expand ``${VAR}``, ``$VAR`` and a leading ``~``; anchor a relative path at the file."""

    def substitute(match: re.Match[str]) -> str:
        variable = match.group("braced") or match.group("bare")
        if variable not in context.environ:
            raise ConfigError(
                f"{where}: path '{raw}' uses the environment variable {variable}, which is not "
                f"set. Set it (export {variable}=/path/to/data) or edit 'path' in "
                f"{context.label}."
            )
        return context.environ[variable]

    text = _VARIABLE.sub(substitute, raw)
    home = context.environ.get("HOME")
    if home and (text == "~" or text.startswith("~/")):
        text = home + text[1:]
    try:
        path = Path(text).expanduser()
    except RuntimeError as exc:
        raise ConfigError(
            f"{where}: path '{raw}': cannot expand '~' ({exc}). Set HOME or write the full path."
        ) from exc
    return Path(os.path.abspath(context.base / path))


def header(*keys: str, root: str = "datasets") -> str:
    """Return a table header such as ``[datasets.pmemo]``, quoting keys TOML cannot leave bare."""
    parts = [key if _BARE_KEY.match(key) else json.dumps(key) for key in (root, *keys)]
    return f"[{'.'.join(parts)}]"


def _toml(value: Any) -> str:
    """Write a value as it would appear in TOML, for messages (long values are cut)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        text = "[" + ", ".join(_toml(item) for item in value) + "]"
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + "}"
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
    return f"{_toml(value)} ({kind})"


def check_executor(table: object, label: str) -> dict[str, str | None]:
    """Check the ``[executor]`` table; return its ``kind`` and Dask ``scheduler`` (or ``None``)."""
    where = f"{label} [executor]"
    if not isinstance(table, dict):
        raise ConfigError(
            f"{where}: must be a table, got {describe(table)}. Write an [executor] line with "
            'kind = "dask" below it.'
        )
    for key in table:
        if key not in ("kind", "scheduler"):
            near = did_you_mean(key, ("kind", "scheduler"))
            raise ConfigError(f"{where}: unknown key '{key}'.{near} Allowed keys: kind, scheduler.")
    kind, scheduler = table.get("kind"), table.get("scheduler")
    if kind is not None and kind not in EXECUTORS:
        raise ConfigError(
            f"{where}: 'kind' must be one of {', '.join(map(json.dumps, EXECUTORS))}, got "
            f'{describe(kind)}. Example: kind = "dask".'
        )
    if scheduler is not None and not isinstance(scheduler, str):
        raise ConfigError(
            f"{where}: 'scheduler' must be a string, got {describe(scheduler)}. Quote the "
            'address, e.g. scheduler = "tcp://host:8786".'
        )
    return {"kind": kind, "scheduler": scheduler}


def check_tasks(value: object, where: str) -> tuple[str, ...]:
    """Return a table's ``tasks`` (a task name or an array of them), refusing unknown names."""
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ConfigError(
            f"{where}: 'tasks' must be an array of task names, got {describe(value)}. "
            'Write e.g. tasks = ["quadrant"].'
        )
    if not names:
        raise ConfigError(
            f"{where}: 'tasks' must name at least one task. Write e.g. tasks = "
            '["quadrant"], or leave it out to run the first task the labels give.'
        )
    for name in names:
        if name not in TASKS:
            raise ConfigError(
                f"{where}: unknown task '{name}'.{did_you_mean(name, TASKS)} "
                f"Tasks: {', '.join(TASKS)}."
            )
    return tuple(dict.fromkeys(names))


def dataset_tasks(
    spec: DatasetSpec, options: Mapping[str, Any], asked: tuple[str, ...], where: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return a dataset's default tasks and every task its labels give with ``options``.

    The default is ``asked`` (the table's ``tasks``), else the first task the labels give.

    Raises:
        ConfigError: an asked task the dataset's labels do not give.
    """
    try:
        supported: tuple[str, ...] = spec.tasks_with(options) or spec.tasks
    except Exception as exc:  # the plugin's own checks report bad options when it loads
        log.debug("%s: label_tasks of plugin '%s' failed: %s", where, spec.name, exc)
        supported = spec.tasks
    for task in asked:
        if task not in supported:
            with_options = " with these options" if spec.label_tasks is not None else ""
            raise ConfigError(
                f"{where}: task '{task}' needs labels this dataset does not have: plugin "
                f"'{spec.name}'{with_options} gives {', '.join(supported)}. Remove it from "
                "'tasks', or give the plugin the label columns it needs."
            )
    return asked or supported[:1], supported
