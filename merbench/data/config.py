"""Read ``datasets.toml``: the datasets a run can use, with their plugin, path and options.

The file holds one ``[datasets.<name>]`` table per dataset, optionally ``[budgets.<name>]``
tables declaring budgets beside the built-in ones (``merbench.evaluation.budgets``), and
optionally an ``[executor]`` table: where a run's cells run (``--executor`` wins). Reading it
checks every table against the installed dataset plugins (``DatasetSpec``) and returns frozen
:class:`Config` objects; any problem is a single :class:`~merbench.errors.ConfigError` that names
the file, the table and the fix. Disabled tables (``enabled = false``) are checked for keys and
types only, so a file can keep declarations for datasets that are not downloaded or whose plugin is
not installed.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from merbench.data.config_checks import (
    TableContext,
    check_executor,
    check_max_seconds,
    check_name,
    check_tasks,
    dataset_tasks,
    describe,
    find_plugin,
    header,
    merge_options,
    resolve_path,
)
from merbench.errors import ConfigError, did_you_mean
from merbench.evaluation.budgets import BUDGET_KEYS, BUDGETS, Budget, make_budget
from merbench.plugin.specs import DatasetSpec

Split = Literal["grouped", "random", "official"]
OnBadTracks = Literal["skip", "fail"]

SPLITS: tuple[str, ...] = get_args(Split)
BAD_TRACK_POLICIES: tuple[str, ...] = get_args(OnBadTracks)
CONFIG_NAME = "datasets.toml"
PACKAGED_CONFIG = Path(__file__).parents[1] / CONFIG_NAME
"""The default shipped inside the package, used when the working folder has no ``datasets.toml``."""

_KEYS = ("enabled", "max_seconds", "on_bad_tracks", "options", "path", "plugin", "split", "tasks")
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
_TOP_LEVEL = ("datasets", "budgets", "executor")


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
    tasks: tuple[str, ...] = ()
    """The tasks a run without ``--tasks`` runs: the table's ``tasks``, else the first task its
    labels give; empty for a disabled table without ``tasks`` (then: the plugin's first)."""
    supported_tasks: tuple[str, ...] = ()
    """Every task its labels give with its options (``--tasks all``); empty when disabled."""

    def default_tasks(self, spec: DatasetSpec) -> tuple[str, ...]:
        """The tasks a run without ``--tasks`` runs on this dataset."""
        return self.tasks or tuple(spec.tasks[:1])


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutorConfig:
    """The ``[executor]`` table: ``kind`` (``local`` or ``dask``) and a Dask ``scheduler``."""

    kind: str | None = None
    scheduler: str | None = None


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
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    """Where runs of this file run their cells unless ``--executor`` says (``[executor]``)."""

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
            f"Declared: {', '.join(known) or 'none'}. {declare_hint(self.source, name)}"
        )


def declare_hint(source: Path | None, name: str, verb: str = "declare") -> str:
    """How to declare dataset ``name``: in the file read, or, when that was the packaged
    default (no ``datasets.toml`` in the working folder), in one ``merbench init`` writes."""
    if source is not None and Path(os.path.abspath(source)) == PACKAGED_CONFIG.absolute():
        return (
            f"There is no {CONFIG_NAME} in this folder, so merbench read its packaged default. "
            f"Run 'merbench init --dataset folder PATH' to write one here declaring your folder "
            f"of audio files and labels CSV as a dataset ('merbench init' alone writes the "
            f"commented default), or pass --config with yours."
        )
    return f"Add a [datasets.{name}] table to {verb} it."


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
    document = _parsetoml_value(_read(path), label)
    _dataset_tables(document, label)  # refuses unknown top-level keys
    return _budgets(document.get("budgets", {}), label)


def _read(path: Path) -> str:
    """The text of a config file."""
    if not path.exists():
        raise ConfigError(
            f"{path}: config file not found (looked for {Path(os.path.abspath(path))}). "
            f"Pass --config with an existing file, or run 'merbench init' in the folder to "
            f"write a commented {CONFIG_NAME} there."
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
    document = _parsetoml_value(text, label)
    tables = _dataset_tables(document, label)
    budgets = _budgets(document.get("budgets", {}), label)
    context = TableContext(
        label=label,
        base=source.parent if source is not None else Path.cwd(),
        specs=datasets,
        environ=os.environ if environ is None else environ,
    )
    return Config(
        source=source,
        datasets=tuple(_dataset(name, value, context) for name, value in tables.items()),
        budgets=MappingProxyType(budgets),
        executor=ExecutorConfig(**check_executor(document.get("executor", {}), label)),
    )


def _label(source: Path | None) -> str:
    return str(source) if source is not None else CONFIG_NAME


def _parsetoml_value(text: str, label: str) -> dict[str, Any]:
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
            is_dataset = isinstance(value, dict) and not ("budgets" in near or "executor" in near)
            hint = f" Write [datasets.{key}], not [{key}]." if is_dataset else ""
            raise ConfigError(
                f"{label}: unknown top-level key '{key}'.{near} The top-level keys are "
                "'datasets', 'budgets' and 'executor': declare each dataset as a "
                "[datasets.<name>] table, each budget as a [budgets.<name>] table, the executor "
                f"as one [executor] table.{hint}"
            )
    tables = document.get("datasets", {})
    if not isinstance(tables, dict):
        raise ConfigError(
            f"{label}: 'datasets' must be a table of [datasets.<name>] tables, got "
            f"{describe(tables)}. Remove 'datasets = ...' and write a [datasets.synth] table."
        )
    return tables


def _budgets(tables: object, label: str) -> dict[str, Budget]:
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


def _dataset(name: str, value: object, context: TableContext) -> DatasetConfig:
    """Check one ``[datasets.<name>]`` entry and resolve it against its plugin."""
    where = f"{context.label} {header(name)}"
    check_name(name, where, "dataset")
    table = _check_table(name, value, where)
    declared = DatasetConfig(
        name=name,
        plugin=table.get("plugin", name),
        path=None,
        options=MappingProxyType(dict(table.get("options", {}))),
        enabled=table.get("enabled", True),
        split=table.get("split", "grouped"),
        on_bad_tracks=table.get("on_bad_tracks", "skip"),
        max_seconds=check_max_seconds(table.get("max_seconds"), where),
        tasks=check_tasks(table.get("tasks"), where),
    )
    if not declared.enabled:
        return declared  # kept as written: no plugin, option or path checks
    spec = find_plugin(declared.plugin, "plugin" not in table, where, context)
    options = merge_options(spec, declared.options, f"{context.label} {header(name, 'options')}")
    tasks, supported = dataset_tasks(spec, options, declared.tasks, where)
    path = resolve_path(spec, table.get("path"), where, context)
    return replace(
        declared,
        path=path,
        options=MappingProxyType(options),
        tasks=tasks,
        supported_tasks=supported,
    )


def _check_table(name: str, value: object, where: str) -> dict[str, Any]:
    """Check that an entry is a table with known keys of the right types."""
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where}: must be a table, got {describe(value)}. Write a [datasets.{name}] line "
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
                fix = fix.format(header=header(name, "options"))
                raise ConfigError(f"{where}: '{key}' must be {what}, got {describe(item)}. {fix}.")
        if key in _CHOICES and item not in _CHOICES[key]:
            choices = _CHOICES[key]
            near = did_you_mean(item, choices) if isinstance(item, str) else ""
            raise ConfigError(
                f"{where}: '{key}' must be one of {', '.join(map(json.dumps, choices))}, got "
                f"{describe(item)}.{near} Example: {key} = {json.dumps(choices[0])}."
            )
    return value
