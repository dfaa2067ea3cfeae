"""Plugin discovery: load every ``merbench`` entry point on its own, check it, index its records.

The host survives its plugins: a plugin that fails to import, targets another plugin API, has a
misspelt hook, raises in a hook or yields an invalid record is recorded in
``Registry.failures`` and skipped; the rest load. Nothing runs at import time:
``load_registry()`` is called by the CLI and the API.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, cast

import pluggy

from merbench.errors import PluginError, did_you_mean
from merbench.plugin import hookspecs
from merbench.plugin.specs import (
    KINDS,
    AugmentationSpec,
    DatasetSpec,
    FrontEndSpec,
    ModelSpec,
    Provenance,
    Spec,
)
from merbench.plugin.validation import validate_record
from merbench.plugin.watch import report_ended_imports, watched_import

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "merbench"
DISABLE_ENV = "MERBENCH_DISABLE_PLUGINS"
STRICT_ENV = "MERBENCH_STRICT_PLUGINS"
TRACE_ENV = "MERBENCH_TRACE_PLUGINS"
FIRST_PARTY_DISTRIBUTION = "merbench"
PLUGIN_ERRORS = (Exception, SystemExit)
"""What a plugin may raise and be refused for: ``sys.exit()`` in a plugin must not end the host,
while ``KeyboardInterrupt`` still stops it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PluginInfo:
    """One loaded plugin module and what it provided."""

    name: str
    module: str
    distribution: str
    version: str
    api: int | None
    first_party: bool
    records: tuple[tuple[str, str], ...] = ()
    """``(kind, name)`` of every record this plugin provides (after conflicts)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PluginFailure:
    """A plugin, or one of its records, that was refused, and why."""

    plugin: str
    distribution: str
    version: str
    stage: str
    message: str


@dataclass(kw_only=True)
class Registry:
    """Every valid record by kind and name, the plugins that gave them, and every refusal."""

    records: dict[str, dict[str, Spec]] = field(default_factory=lambda: {k: {} for k in KINDS})
    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)

    def names(self, kind: str) -> list[str]:
        """Return the sorted names of every record of ``kind``."""
        return sorted(self.records[kind])

    def get(self, kind: str, name: str) -> Spec:
        """Return the record ``name`` of ``kind``.

        Raises:
            PluginError: no such record; the message suggests a close name and says why a
                plugin that should provide it was refused, if one was.
        """
        try:
            return self.records[kind][name]
        except KeyError:
            pass
        known = self.names(kind)
        refused = [f for f in self.failures if f"'{name}'" in f.message]
        hint = f" It was refused: {refused[0].message}" if refused else ""
        raise PluginError(
            f"Unknown {kind} '{name}'.{did_you_mean(name, known)} "
            f"Run 'merbench list {kind}s' to see all {len(known)}.{hint}"
        ) from None

    @property
    def datasets(self) -> dict[str, DatasetSpec]:
        return cast("dict[str, DatasetSpec]", self.records["dataset"])

    @property
    def frontends(self) -> dict[str, FrontEndSpec]:
        return cast("dict[str, FrontEndSpec]", self.records["frontend"])

    @property
    def augmentations(self) -> dict[str, AugmentationSpec]:
        return cast("dict[str, AugmentationSpec]", self.records["augmentation"])

    @property
    def models(self) -> dict[str, ModelSpec]:
        return cast("dict[str, ModelSpec]", self.records["model"])

    def model(self, name: str) -> ModelSpec:
        """Return the model ``name`` (``PluginError`` with a suggestion if unknown)."""
        return cast(ModelSpec, self.get("model", name))

    def frontend(self, name: str) -> FrontEndSpec:
        """Return the front-end ``name`` (``PluginError`` with a suggestion if unknown)."""
        return cast(FrontEndSpec, self.get("frontend", name))

    def dataset(self, name: str) -> DatasetSpec:
        """Return the dataset plugin ``name`` (``PluginError`` with a suggestion if unknown)."""
        return cast(DatasetSpec, self.get("dataset", name))

    def augmentation(self, name: str) -> AugmentationSpec:
        """Return the augmentation ``name`` (``PluginError`` with a suggestion if unknown)."""
        return cast(AugmentationSpec, self.get("augmentation", name))


@dataclass(frozen=True, kw_only=True, slots=True)
class _Source:
    """A plugin to load: an entry point, or a module handed over directly (tests, notebooks)."""

    name: str
    distribution: str
    version: str
    load: Callable[[], Any]

    @property
    def first_party(self) -> bool:
        return self.distribution == FIRST_PARTY_DISTRIBUTION

    def describe(self) -> str:
        return f"Plugin '{self.name}' ({self.distribution} {self.version})".replace(" )", ")")


def load_registry(
    *,
    plugins: Iterable[ModuleType | object] | None = None,
    entry_points: bool = True,
    strict: bool | None = None,
    disabled: Iterable[str] | None = None,
) -> Registry:
    """Discover, check and index plugins.

    Args:
        plugins: plugin modules (or objects with hookimpls) to register directly.
        entry_points: also load every entry point of the ``merbench`` group.
        strict: raise on the first refusal instead of skipping it (for plugin authors);
            defaults to ``$MERBENCH_STRICT_PLUGINS``.
        disabled: entry-point or distribution names to skip; defaults to
            ``$MERBENCH_DISABLE_PLUGINS`` (comma-separated).

    Returns:
        The registry.

    Raises:
        PluginError: in strict mode, when any plugin or record is refused.
    """
    if strict is None:
        strict = os.environ.get(STRICT_ENV, "") not in ("", "0")
    skip = set(disabled) if disabled is not None else _disabled_from_env()
    sources = [_direct_source(p) for p in plugins or ()]
    if entry_points:
        report_ended_imports()
        sources += _entry_point_sources(skip)
    registry = Registry()
    offers: dict[tuple[str, str], list[tuple[_Source, Spec]]] = {}
    for source in sources:
        module = _load_plugin(source, registry)
        if module is not None:
            for kind, record in _collect(source, module, registry):
                offers.setdefault((kind, record.name), []).append((source, record))
    _resolve(offers, registry)
    if strict and registry.failures:
        raise PluginError("\n".join(f.message for f in registry.failures))
    return registry


def _disabled_from_env() -> set[str]:
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def _direct_source(plugin: ModuleType | object) -> _Source:
    name = getattr(plugin, "__name__", type(plugin).__name__)
    return _Source(name=name, distribution="(direct)", version="", load=lambda: plugin)


def _entry_point_sources(skip: set[str]) -> list[_Source]:
    sources = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "(unknown)"
        version = ep.dist.version if ep.dist is not None else ""
        if ep.name in skip or dist in skip:
            log.info("plugin %s (%s) disabled by %s", ep.name, dist, DISABLE_ENV)
            continue
        sources.append(_Source(name=ep.name, distribution=dist, version=version, load=ep.load))
    # First-party plugins load first so that they win name conflicts deterministically.
    return sorted(sources, key=lambda s: (not s.first_party, s.name))


def _fail(registry: Registry, source: _Source, stage: str, message: str) -> None:
    registry.failures.append(
        PluginFailure(
            plugin=source.name,
            distribution=source.distribution,
            version=source.version,
            stage=stage,
            message=message,
        )
    )
    # Commands show failures themselves (merbench plugins, run, list); the log keeps a record.
    log.info("%s", message)


def _load_plugin(source: _Source, registry: Registry) -> object | None:
    """Import one plugin and check its API version and hook names; ``None`` if refused."""
    disable = f"disable it with {DISABLE_ENV}={source.name}"
    try:
        if source.first_party or source.distribution == "(direct)":
            module: object = source.load()
        else:
            with watched_import(source.name, source.distribution, disable):
                module = source.load()
    except PLUGIN_ERRORS as exc:
        reason = f"{type(exc).__name__}: {exc}"
        _fail(
            registry,
            source,
            "import",
            f"{source.describe()} failed to import ({reason}). "
            f"Reinstall or fix {source.distribution}, or {disable}. Skipped.",
        )
        return None
    api = getattr(module, "MERBENCH_PLUGIN_API", None)
    problem = _check_api(source, api) or _check_hook_names(source, module)
    if problem:
        _fail(registry, source, "api" if "API" in problem else "hook", f"{problem} Skipped.")
        return None
    registry.plugins.append(
        PluginInfo(
            name=source.name,
            module=getattr(module, "__name__", source.name),
            distribution=source.distribution,
            version=source.version,
            api=api,
            first_party=source.first_party,
        )
    )
    return module


def _check_api(source: _Source, api: object) -> str:
    supported = ", ".join(str(v) for v in sorted(hookspecs.SUPPORTED_PLUGIN_APIS))
    if api is None:
        return (
            f"{source.describe()} does not declare MERBENCH_PLUGIN_API. "
            f"Set MERBENCH_PLUGIN_API = {hookspecs.PLUGIN_API} in the plugin module."
        )
    if api not in hookspecs.SUPPORTED_PLUGIN_APIS:
        return (
            f"{source.describe()} targets plugin API {api}; this merbench supports "
            f"{supported}. Upgrade merbench or install an older {source.distribution}."
        )
    return ""


def _check_hook_names(source: _Source, module: object) -> str:
    """Catch misspelt hooks, which pluggy would otherwise ignore or reject late."""
    for attr in dir(module):
        if attr.startswith("merbench_") and attr not in hookspecs.HOOKS:
            value = getattr(module, attr)
            if callable(value):
                return (
                    f"{source.describe()} defines '{attr}', which is not a merbench hook."
                    f"{did_you_mean(attr, hookspecs.HOOKS)} "
                    f"Hooks are: {', '.join(hookspecs.HOOKS)}."
                )
    return ""


def _manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    if os.environ.get(TRACE_ENV, "") not in ("", "0"):
        manager.trace.root.setwriter(lambda message: log.warning("trace: %s", message.rstrip()))
        manager.enable_tracing()
    return manager


def _collect(source: _Source, module: object, registry: Registry) -> Iterator[tuple[str, Spec]]:
    """Register one plugin with pluggy, call each of its hooks on its own, validate records."""
    manager = _manager()
    try:
        manager.register(module, name=source.name)
        manager.check_pending()
    except PLUGIN_ERRORS as exc:  # pluggy.PluginValidationError, anything a plugin's dir() raises
        _fail(registry, source, "hook", f"{source.describe()} has an invalid hook: {exc}. Skipped.")
        return
    for hook_name, kind in hookspecs.HOOKS.items():
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            yield from _call_hook(source, hook_name, kind, impl.function, registry)


def _call_hook(
    source: _Source,
    hook_name: str,
    kind: str,
    function: Callable[[], Iterable[Any] | None],
    registry: Registry,
) -> Iterator[tuple[str, Spec]]:
    try:
        records = list(function() or ())
    except PLUGIN_ERRORS as exc:
        _fail(
            registry,
            source,
            "hook",
            f"{source.describe()} raised in {hook_name}(): {type(exc).__name__}: {exc}. "
            f"Its {kind}s were skipped; the rest of merbench goes on.",
        )
        return
    provenance = Provenance(
        entry_point=source.name,
        module=getattr(function, "__module__", "") or "",
        distribution=source.distribution,
        version=source.version,
        first_party=source.first_party,
    )
    for record in records:
        problem = validate_record(kind, record)
        if problem:
            _fail(registry, source, "record", f"{source.describe()}, {hook_name}(): {problem}")
            continue
        yield kind, dataclasses.replace(record, provenance=provenance)


def _resolve(offers: dict[tuple[str, str], list[tuple[_Source, Spec]]], registry: Registry) -> None:
    """Index records; on a name conflict the first-party record wins, else all are refused."""
    owned: dict[str, list[tuple[str, str]]] = {}
    for (kind, name), providers in sorted(offers.items()):
        keep = _pick(kind, name, providers, registry)
        if keep is not None:
            registry.records[kind][name] = keep[1]
            owned.setdefault(keep[0].name, []).append((kind, name))
    registry.plugins = [
        dataclasses.replace(p, records=tuple(owned.get(p.name, ()))) for p in registry.plugins
    ]


def _pick(
    kind: str, name: str, providers: list[tuple[_Source, Spec]], registry: Registry
) -> tuple[_Source, Spec] | None:
    if len(providers) == 1:
        return providers[0]
    who = " and ".join(f"{s.distribution} {s.version} ({s.name})" for s, _ in providers)
    first_party = [p for p in providers if p[0].first_party]
    if len(first_party) == 1:
        for source, _ in providers:
            if not source.first_party:
                _fail(
                    registry,
                    source,
                    "conflict",
                    f"{kind.capitalize()} '{name}' is provided by {who}. Kept the first-party one; "
                    f"rename the other or disable it with {DISABLE_ENV}={source.name}.",
                )
        return first_party[0]
    for source, _ in providers:
        _fail(
            registry,
            source,
            "conflict",
            f"{kind.capitalize()} '{name}' is provided by {who}. Refused all of them; "
            f"uninstall one or disable it with {DISABLE_ENV}=<entry point>.",
        )
    return None
