"""Dask tasks: what a Dask worker runs for a run's cell, and the record the task carries.

``run_one_cell`` builds a cell from its key and the run's stored settings (``DaskRun``) through
the same ``plan.CellBuilder`` as ``merbench worker``, runs it with the run's threads per cell and
returns its ``CellResult``, or a one-line reason: a failing cell never stops the run. A worker
never opens the results store: the run's process (``merbench.pipeline.executors.dask_executor``)
stores what the tasks return. This module imports nothing of Dask, so a worker unpickles a task
by importing it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from merbench.data.config import load_config
from merbench.errors import RunError
from merbench.evaluation.budgets import budget_from_record
from merbench.pipeline.cell import run_cell
from merbench.pipeline.executors.jobs import cell_threads
from merbench.pipeline.plan import CellBuilder
from merbench.pipeline.progress import one_line
from merbench.pipeline.settings import RunSettings
from merbench.plugin.registry import Registry, load_registry
from merbench.results.schema import DEFAULT_SPLIT, CellKey, CellResult
from merbench.results.store import Store
from merbench.results.urls import display_url

log = logging.getLogger(__name__)

SplitId = tuple[str, str, str]
"""``(dataset, task, protocol)`` of a stored split."""


@dataclass(frozen=True, kw_only=True)
class DaskRun:
    """What a Dask worker needs to build any cell of a run: the run's stored settings.

    Small and picklable; it travels with every task, so a worker that joins late, or is
    restarted, builds the same cells.
    """

    token: str
    """This run process's session, naming the builder a worker keeps between its cells."""
    name: str
    settings: Mapping[str, Any]
    """The settings stored with the run (``RunSettings.from_stored`` reads them)."""
    config: str | None
    """The absolute path of the run's ``datasets.toml`` (the same path on every worker)."""
    tasks: Mapping[str, tuple[str, ...]]
    budget: Mapping[str, Any]
    splits: Mapping[SplitId, str]
    """The hash of every stored split: a worker's folds must hash the same."""
    threads: int | None
    versions: Mapping[str, str]
    """merbench's and each plugin distribution's version in the run's process."""


@dataclass(frozen=True, kw_only=True)
class CellOutcome:
    """What a Dask task returns: the cell's result, or why it failed (and the traceback)."""

    status: Literal["done", "failed"]
    result: CellResult | None = None
    reason: str = ""
    trace: str = ""


def dask_run(store: Store, registry: Registry) -> DaskRun:
    """The record of the run in ``store`` that its Dask tasks carry.

    Raises:
        RunError: the store holds no run.
    """
    row = store.read_run()
    if row is None:
        raise RunError(
            f"{display_url(store.url)}: no run in this store. Start one with 'merbench run'."
        )
    splits: dict[SplitId, str] = {}
    tasks: dict[str, dict[str, None]] = {}
    for split in store.table("splits"):
        protocol = split.get("protocol") or DEFAULT_SPLIT
        splits[(split["dataset"], split["task"], protocol)] = str(split["hash"])
        tasks.setdefault(split["dataset"], {})[split["task"]] = None
    settings = dict(row["settings"])
    config = dict(row.get("plan") or {}).get("config")
    threads = settings.get("threads")
    return DaskRun(
        token=secrets.token_hex(8),
        name=str(row["name"]),
        settings=settings,
        config=str(config) if config else None,
        tasks={d: tuple(t) for d, t in tasks.items()},
        budget=dict(dict(row["provenance"])["budget"]),
        splits=splits,
        threads=None if threads is None else int(threads),
        versions=software_versions(p.distribution for p in registry.plugins if p.version),
    )


def software_versions(distributions: Iterable[str]) -> dict[str, str]:
    """merbench's version and each named distribution's, as installed in this process."""
    from importlib.metadata import PackageNotFoundError, version

    from merbench.version import __version__

    found = {"merbench": __version__}
    for name in sorted(set(distributions) - {"merbench"}):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def version_problem(expected: Mapping[str, str]) -> str:
    """How this process's merbench and plugin versions differ from ``expected`` ('' if not)."""
    here = software_versions(expected)
    differ = [f"{n} {here[n]} (the run has {v})" for n, v in expected.items() if here[n] != v]
    return ", ".join(differ)


class StoredSplits:
    """The split hashes a run stored, in place of the store a Dask worker never opens.

    ``CellBuilder.folds`` asks its store to save a split and compares the hash it gets back
    (``plan.SplitStore``, all a builder needs of a store); on a worker the run's stored hash
    answers, so a dataset that differs there is refused.
    """

    def __init__(self, digests: Mapping[SplitId, str]) -> None:
        self.digests = dict(digests)

    def save_split(
        self,
        dataset: str,
        task: str,
        digest: str,
        manifest: Any,
        audit: Mapping[str, Any],
        protocol: str = DEFAULT_SPLIT,
    ) -> str:
        """The stored hash of this split (``digest`` itself when the run stored none)."""
        return self.digests.get((dataset, task, protocol), digest)


_built: dict[str, CellBuilder[StoredSplits]] = {}
_building = threading.Lock()
KEPT_RUNS = 2
"""The runs whose builders (and loaded datasets) a worker keeps: runs may share a cluster."""


def _builder(run: DaskRun) -> CellBuilder[StoredSplits]:
    """This worker's builder of the run's cells, made on its first cell (datasets load once)."""
    with _building:
        if run.token not in _built:
            while len(_built) >= KEPT_RUNS:  # forget the oldest run's datasets
                _built.pop(next(iter(_built)))
            registry = load_registry()
            config = load_config(Path(run.config) if run.config else None, registry.datasets)
            splits = StoredSplits(run.splits)  # a builder only saves (checks) splits
            settings = RunSettings.from_stored(run.settings)
            budget = budget_from_record(run.budget)
            _built[run.token] = CellBuilder(splits, registry, settings, config, run.tasks, budget)
        return _built[run.token]


def run_one_cell(key: CellKey, run: DaskRun) -> CellOutcome:
    """Build and run one cell on a Dask worker; never raises for a failing cell.

    A worker whose merbench or plugin versions differ from the run's fails the cell, naming
    them, instead of storing numbers another version computed.
    """
    problem = version_problem(run.versions)
    if problem:
        return CellOutcome(status="failed", reason=f"this Dask worker has {problem}")
    try:
        with cell_threads(run.threads):
            builder = _builder(run)
            result = run_cell(builder.resolve(key), builder.features)
    except Exception as exc:
        return CellOutcome(status="failed", reason=one_line(exc), trace=traceback.format_exc())
    return CellOutcome(status="done", result=result)
