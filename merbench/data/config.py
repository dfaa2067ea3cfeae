"""Read ``datasets.toml``: the datasets a run can use, with their plugin, path and options.

The file holds one ``[datasets.<name>]`` table per dataset, and optionally ``[budgets.<name>]``
tables declaring budgets beside the built-in ones (``merbench.evaluation.budgets``). Reading it
checks every table against the installed dataset plugins (``DatasetSpec``) and returns frozen
:class:`Config` objects; any problem is a single :class:`~merbench.errors.ConfigError` that names
the file, the table and the fix. Disabled tables (``enabled = false``) are checked for keys and
types only, so a file can keep declarations for datasets that are not downloaded or whose plugin is
not installed.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from merbench.errors import ConfigError, did_you_mean
from merbench.evaluation.budgets import BUDGET_KEYS, BUDGETS, Budget, make_budget
from merbench.plugin.specs import NAME_PATTERN, DatasetSpec

Split = Literal["grouped", "random", "official"]
OnBadTracks = Literal["skip", "fail"]

SPLITS: tuple[str, ...] = get_args(Split)
BAD_TRACK_POLICIES: tuple[str, ...] = get_args(OnBadTracks)
CONFIG_NAME = "datasets.toml"
PACKAGED_CONFIG = Path(__file__).parents[1] / CONFIG_NAME
"""The default shipped inside the package, used when the working folder has no ``datasets.toml``."""

_KEYS = ("enabled", "max_seconds", "on_bad_tracks", "options", "path", "plugin", "split")
_CHOICES: dict[str, tuple[str, ...]] = {"split": SPLITS, "on_bad_tracks": BAD_TRACK_POLICIES}
# key -> (accepted type, what it must be, how to write it; {header} is the table's header)
_KEY_TYPES: dict[str, tuple[Any, str, str]] = {
    "enabled": (bool, "true or false", "Write enabled = true or enabled = false, without quotes"),
    "max_seconds": (
        int | float,
        "a number of seconds",
        "Write e.g. max_seconds = 30, without quotes (leave it out to use whole clips)",
    ),
    "plugin": (str, "a string", 'Quote the plugin name, e.g. plugin = "folder"'),
    "path": (str, "a string", 'Quote the folder, e.g. path = "${{MERBENCH_DATA}}/my-songs"'),
    "options": (
        dict,
        "a table",
        "Write the options below a {header} line, one 'name = value' a line",
    ),
}
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
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TOP_LEVEL = ("datasets", "budgets")


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetConfig:
    """One ``[datasets.<name>]`` table, checked against its plugin.

    Attributes:
        name: the table name, used on the command line and in results.
        plugin: the dataset plugin that loads it (defaults to ``name``).
        path: the local copy, expanded and absolute; ``None`` when the plugin needs no path, or
            when the dataset is disabled (disabled tables are not resolved).
        options: the plugin's defaults merged with the file's values (read-only).
        enabled: whether runs use it by default.
        split: ``"grouped"`` (grouped K-fold), ``"random"`` (ungrouped K-fold, as most published
            MER results used) or ``"official"`` (the dataset's own split).
        on_bad_tracks: ``"skip"`` leaves unusable tracks out (recorded), ``"fail"`` stops.
    """

    name: str
    plugin: str
    path: Path | None
    options: Mapping[str, Any]
    enabled: bool = True
    split: Split = "grouped"
    on_bad_tracks: OnBadTracks = "skip"
    max_seconds: float | None = None
    """The seconds of each track its windows are cut from (from its start); ``None``: all."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Config:
    """The datasets declared in one ``datasets.toml``, in file order.

    Attributes:
        source: the file it was read from (``None`` for text parsed in memory).
        datasets: every declared dataset, enabled or not.
        budgets: the budgets declared as ``[budgets.<name>]`` tables, by name, in file order
            (``merbench.evaluation.budgets.get_budget`` looks names up here and among the built-in
    ones).
    """

    source: Path | None
    datasets: tuple[DatasetConfig, ...]
    budgets: Mapping[str, Budget] = field(default_factory=lambda: MappingProxyType({}))

    def enabled(self) -> tuple[DatasetConfig, ...]:
        """Return the datasets a run uses when none are named."""
        return tuple(dataset for dataset in self.datasets if dataset.enabled)

    def get(self, name: str) -> DatasetConfig:
        """Return the dataset declared as ``[datasets.<name>]``.

        Raises:
            ConfigError: no such table, with the closest declared name.
        """
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        known = [dataset.name for dataset in self.datasets]
        raise ConfigError(
            f"{_label(self.source)}: no dataset '{name}'.{did_you_mean(name, known)} "
            f"Declared: {', '.join(known) or 'none'}. Add a [datasets.{name}] table to declare it."
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class _Context:
    """What checking one table needs besides the table itself."""

    label: str
    base: Path
    specs: Mapping[str, DatasetSpec]
    environ: Mapping[str, str]


def default_config_path(cwd: Path | None = None) -> Path:
    """Return ``./datasets.toml`` when it exists, else the packaged default.

    Args:
        cwd: the folder to look in (default: the working folder, giving a relative path).
    """
    local = (cwd if cwd is not None else Path()) / CONFIG_NAME
    return local if local.is_file() else PACKAGED_CONFIG


def load_config(
    path: Path | None,
    datasets: Mapping[str, DatasetSpec],
    *,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read and check a ``datasets.toml``.

    Args:
        path: the file (``None``: :func:`default_config_path`).
        datasets: the installed dataset plugins, by name.
        environ: variables for ``${VAR}``, ``$VAR`` and ``~`` (default: ``os.environ``).

    Returns:
        The checked configuration; relative paths are resolved against the file's folder.

    Raises:
        ConfigError: the file is missing or unreadable, or any table is invalid.
    """
    path = default_config_path() if path is None else path
    return parse_config(_read(path), datasets, source=path, environ=environ)


def load_budgets(path: Path | None) -> dict[str, Budget]:
    """Read only the ``[budgets.<name>]`` tables of a ``datasets.toml``.

    Neither the datasets nor their plugins are checked, so budgets can be listed (and looked
    up) on a machine where a declared dataset's copy or plugin is missing.

    Args:
        path: the file (``None``: :func:`default_config_path`).

    Raises:
        ConfigError: the file is missing, unreadable or not TOML, or a budget table is invalid.
    """
    path = default_config_path() if path is None else path
    label = _label(path)
    document = _parse_toml(_read(path), label)
    _dataset_tables(document, label)  # refuses unknown top-level keys
    return _budgets(document.get("budgets", {}), label)


def _read(path: Path) -> str:
    """The text of a config file."""
    if not path.exists():
        raise ConfigError(
            f"{path}: config file not found (looked for {Path(os.path.abspath(path))}). "
            f"Pass --config with an existing file, or create it from the packaged default: "
            f"cp {PACKAGED_CONFIG} {path}"
        )
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read the config file ({type(exc).__name__}: {exc}). "
            "Pass --config with a readable UTF-8 TOML file."
        ) from exc


def parse_config(
    text: str,
    datasets: Mapping[str, DatasetSpec],
    *,
    source: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Check the text of a ``datasets.toml``.

    Args:
        text: the TOML text.
        datasets: the installed dataset plugins, by name.
        source: the file the text came from: names it in messages, anchors relative paths
            (``None``: the working folder).
        environ: variables for ``${VAR}``, ``$VAR`` and ``~`` (default: ``os.environ``).

    Raises:
        ConfigError: the first problem found, naming the table and the fix.
    """
    label = _label(source)
    document = _parse_toml(text, label)
    tables = _dataset_tables(document, label)
    budgets = _budgets(document.get("budgets", {}), label)
    context = _Context(
        label=label,
        base=source.parent if source is not None else Path.cwd(),
        specs=datasets,
        environ=os.environ if environ is None else environ,
    )
    return Config(
        source=source,
        datasets=tuple(_dataset(name, value, context) for name, value in tables.items()),
        budgets=MappingProxyType(budgets),
    )


def _label(source: Path | None) -> str:
    return str(source) if source is not None else CONFIG_NAME


def _parse_toml(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{label}: invalid TOML: {exc}. Fix the syntax there: strings need double quotes, "
            "true/false are lowercase, and each dataset is a [datasets.<name>] table."
        ) from exc


def _dataset_tables(document: dict[str, Any], label: str) -> dict[str, Any]:
    """Return the ``datasets`` table, refusing top-level keys other than ``_TOP_LEVEL``."""
    for key, value in document.items():
        if key not in _TOP_LEVEL:
            near = did_you_mean(key, _TOP_LEVEL)
            is_dataset = isinstance(value, dict) and "budgets" not in near
            hint = f" Write [datasets.{key}], not [{key}]." if is_dataset else ""
            raise ConfigError(
                f"{label}: unknown top-level key '{key}'.{near} "
                f"The top-level keys are 'datasets' and 'budgets': declare each dataset as a "
                f"[datasets.<name>] table, each budget as a [budgets.<name>] table.{hint}"
            )
    tables = document.get("datasets", {})
    if not isinstance(tables, dict):
        raise ConfigError(
            f"{label}: 'datasets' must be a table of [datasets.<name>] tables, got "
            f"{_describe(tables)}. Remove 'datasets = ...' and write a [datasets.synth] table."
        )
    return tables


def _budgets(tables: object, label: str) -> dict[str, Budget]:
    """Check the ``[budgets.<name>]`` tables, in file order; each extends its ``base``."""
    if not isinstance(tables, dict):
        raise ConfigError(
            f"{label}: 'budgets' must be a table of [budgets.<name>] tables, got "
            f"{_describe(tables)}. Remove 'budgets = ...' and write a [budgets.quick] table."
        )
    declared: dict[str, Budget] = {}
    for name, table in tables.items():
        where = f"{label} {_header(name, root='budgets')}"
        _check_name(name, where, "budget")
        if name in BUDGETS:
            raise ConfigError(
                f"{where}: '{name}' is a built-in budget and cannot be redefined. Rename the "
                f'table, e.g. [budgets.my-{name}], and write base = "{name}" in it.'
            )
        if not isinstance(table, dict):
            raise ConfigError(
                f"{where}: must be a table, got {_describe(table)}. Write a [budgets.{name}] "
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
        f"{_describe(base)}.{near} Choose one of: {', '.join(known)}."
    )


def _dataset(name: str, value: object, context: _Context) -> DatasetConfig:
    """Check one ``[datasets.<name>]`` entry and resolve it against its plugin."""
    where = f"{context.label} {_header(name)}"
    _check_name(name, where, "dataset")
    table = _check_table(name, value, where)
    declared = DatasetConfig(
        name=name,
        plugin=table.get("plugin", name),
        path=None,
        options=MappingProxyType(dict(table.get("options", {}))),
        enabled=table.get("enabled", True),
        split=table.get("split", "grouped"),
        on_bad_tracks=table.get("on_bad_tracks", "skip"),
        max_seconds=_max_seconds(table.get("max_seconds"), where),
    )
    if not declared.enabled:
        return declared  # kept as written: no plugin, option or path checks
    spec = _find_plugin(declared.plugin, "plugin" not in table, where, context)
    options = _merge_options(spec, declared.options, f"{context.label} {_header(name, 'options')}")
    path = _resolve_path(spec, table.get("path"), where, context)
    return replace(declared, path=path, options=MappingProxyType(options))


def _max_seconds(value: float | None, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or value <= 0:
        raise ConfigError(
            f"{where}: 'max_seconds' must be a positive number of seconds, got {value!r}. "
            "Write e.g. max_seconds = 30, or leave it out to use whole clips."
        )
    return float(value)


def _check_name(name: str, where: str, kind: str) -> None:
    if NAME_PATTERN.match(name):
        return
    suggestion = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:32]
    hint = f" Did you mean '{suggestion}'?" if NAME_PATTERN.match(suggestion) else ""
    raise ConfigError(
        f"{where}: invalid {kind} name '{name}'.{hint} A name is a lowercase letter followed by "
        "up to 31 lowercase letters, digits or '-'. Rename the table."
    )


def _check_table(name: str, value: object, where: str) -> dict[str, Any]:
    """Check that an entry is a table with known keys of the right types."""
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where}: must be a table, got {_describe(value)}. Write a [datasets.{name}] line "
            "with the dataset's keys below it, e.g. enabled = true."
        )
    for key, item in value.items():
        if key not in _KEYS:
            raise ConfigError(
                f"{where}: unknown key '{key}'.{did_you_mean(key, _KEYS)} "
                f"Allowed keys: {', '.join(_KEYS)}."
            )
        if key in _KEY_TYPES:
            expected, what, fix = _KEY_TYPES[key]
            if not isinstance(item, expected):
                fix = fix.format(header=_header(name, "options"))
                raise ConfigError(f"{where}: '{key}' must be {what}, got {_describe(item)}. {fix}.")
        if key in _CHOICES and item not in _CHOICES[key]:
            choices = _CHOICES[key]
            near = did_you_mean(item, choices) if isinstance(item, str) else ""
            raise ConfigError(
                f"{where}: '{key}' must be one of {', '.join(map(json.dumps, choices))}, got "
                f"{_describe(item)}.{near} Example: {key} = {json.dumps(choices[0])}."
            )
    return value


def _find_plugin(plugin: str, is_implicit: bool, where: str, context: _Context) -> DatasetSpec:
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


def _merge_options(spec: DatasetSpec, given: Mapping[str, Any], where: str) -> dict[str, Any]:
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
                f"{_toml(default)}), got {_describe(value)}. Example: {key} = {_toml(default)}."
            )
        if default_type is float:
            return float(value)
        return tuple(value) if default_type is tuple else value
    return value  # a default of None or of another type: the plugin checks the value


def _resolve_path(spec: DatasetSpec, raw: str | None, where: str, context: _Context) -> Path | None:
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


def _expand(raw: str, where: str, context: _Context) -> Path:
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


def _header(*keys: str, root: str = "datasets") -> str:
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


def _describe(value: Any) -> str:
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
