"""Planning: which cells a run has, and how to build any one of them.

``plan_run`` checks a run's settings against the plugins and ``datasets.toml`` before any work
(budget, datasets, tasks, candidates). ``CellBuilder`` loads each dataset once, makes (or reads
back and checks) its folds, and builds the plan of a cell from its key. ``merbench run`` and every
``merbench worker`` go through the same builder, so a cell is the same whichever process takes
it; a worker first reads the run's settings back from the store (``read_stored_run``). Task
names, of the settings and of the keys, become ``TaskSpec`` records here: the folds, the tracks
and the problem of a cell are made from the records.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from merbench.data.audio import SAMPLE_RATE, AudioSettings, AudioStore
from merbench.data.config import (
    SPLITS,
    Config,
    DatasetConfig,
    declare_hint,
    default_config_path,
    load_config,
)
from merbench.data.features import FeatureStore
from merbench.data.splits import Split, make_split
from merbench.data.tracks import Tracks, load_tracks
from merbench.data.transfer import TransferPair, make_pair, make_transfer_split
from merbench.data.windows import MAX_SECONDS, budget_windowing
from merbench.errors import ConfigError, PluginError, RunError, did_you_mean, end_sentence
from merbench.evaluation.budgets import (
    BUDGETS,
    Budget,
    budget_from_record,
    budget_record,
    get_budget,
    override,
)
from merbench.evaluation.cv import Fold
from merbench.evaluation.tasks import TaskSpec, get_task
from merbench.evaluation.transfer import MAX_PAIR_NAME, TRANSFER, pair_name, parse_pair
from merbench.pipeline.candidates import (
    Candidate,
    Unavailable,
    add_policies,
    baseline_candidates,
    check_candidate,
    expand_candidates,
    parse_candidate,
    split_by_tasks,
)
from merbench.pipeline.cell import CellPlan, cell_seed
from merbench.pipeline.settings import RunSettings
from merbench.plugin.registry import Registry
from merbench.plugin.specs import DatasetSpec
from merbench.results.schema import DEFAULT_SPLIT, CellKey
from merbench.results.store import Store
from merbench.results.urls import display_url
from merbench.train.family import family_of
from merbench.train.fit import Problem
from merbench.train.policy import check_run_mode

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """A checked run: datasets with their tasks, candidates, and where results go."""

    name: str
    run_dir: Path
    budget: Budget
    config: Config
    datasets: tuple[DatasetConfig, ...]
    tasks: Mapping[str, tuple[str, ...]]
    """The tasks run on each dataset, by dataset name."""
    protocols: Mapping[str, tuple[str, ...]]
    """The split protocols each dataset runs under, side by side, by dataset name."""
    candidates: tuple[Candidate, ...]
    unavailable: tuple[Unavailable, ...]
    """Requested candidates that cannot run: unknown parts, or none of the run's tasks."""
    baselines: tuple[str, ...] = ()
    """The baselines added beside the candidates asked for (``--no-baselines`` adds none)."""
    uses_torch: bool
    """Whether any candidate trains a torch model (only then is torch imported)."""
    pairs: tuple[tuple[str, str, str], ...] = ()
    """``(source, target, task)`` of every transfer pair (``--split transfer``)."""


def plan_run(settings: RunSettings, registry: Registry) -> RunPlan:
    """Check the settings against the plugins and the configuration, before any work.

    Raises:
        MerbenchError: an unknown budget, model, dataset or task, or a bad ``datasets.toml``.
    """
    config = load_config(settings.config or default_config_path(), registry.datasets)
    budget = resolve_budget(settings, config)
    datasets = _select_datasets(config, settings.datasets)
    tasks = {d.name: tasks_for(d, registry.dataset(d.plugin), settings.tasks) for d in datasets}
    protocols = {d.name: protocols_for(d, settings.split) for d in datasets}
    run_tasks = {t for names in tasks.values() for t in names}
    candidates, unavailable = expand_candidates(settings.models, registry)
    candidates, unfit = split_by_tasks(candidates, settings.models, registry, run_tasks)
    unavailable += unfit
    check_run_mode(settings.augment_mode)
    if settings.augment and candidates:
        candidates = add_policies(candidates, settings.augment, registry)
    baselines = baseline_candidates(registry, run_tasks) if settings.baselines else []
    added = [c for c in baselines if c not in candidates]
    candidates += added
    if not candidates:
        reasons = "; ".join(f"{u.name}: {u.reason}" for u in unavailable) or "none registered"
        raise ConfigError(f"No runnable candidate ({reasons}). Run 'merbench list candidates'.")
    name = settings.run_name(tuple(d.name for d in datasets))
    return RunPlan(
        name=name,
        run_dir=settings.run_dir(name),
        budget=budget,
        config=config,
        datasets=datasets,
        tasks=tasks,
        protocols=protocols,
        candidates=tuple(candidates),
        unavailable=tuple(unavailable),
        baselines=tuple(c.name for c in added),
        uses_torch=any(family_of(registry.model(c.model)).network for c in candidates),
        pairs=transfer_pairs(datasets, tasks) if TRANSFER in settings.split else (),
    )


def transfer_pairs(
    datasets: Sequence[DatasetConfig], tasks: Mapping[str, Sequence[str]]
) -> tuple[tuple[str, str, str], ...]:
    """``(source, target, task)`` for each ordered pair of datasets and each task both run.

    Raises:
        ConfigError: fewer than two datasets share a task, or a pair's name is too long.
    """
    pairs = tuple(
        (a.name, b.name, task)
        for a in datasets
        for b in datasets
        if a.name != b.name
        for task in tasks[a.name]
        if task in tasks[b.name]
    )
    if not pairs:
        names = ", ".join(f"{d.name} ({', '.join(tasks[d.name])})" for d in datasets)
        raise ConfigError(
            f"--split transfer trains on one dataset and tests on another, and needs two "
            f"datasets of the run that share a task; the run has {names}. Add a dataset with "
            "--datasets a,b, or a task both have with --tasks."
        )
    for source, target, _ in pairs:
        if len(pair_name(source, target)) > MAX_PAIR_NAME:
            raise ConfigError(
                f"--split transfer: the pair name '{pair_name(source, target)}' is longer than "
                f"{MAX_PAIR_NAME} characters. Give one of the datasets a shorter name in "
                "datasets.toml."
            )
    return pairs


def resolve_budget(settings: RunSettings, config: Config) -> Budget:
    """The run's budget: built in or declared in ``datasets.toml``, with ``--set`` overrides.

    Raises:
        ConfigError: an unknown budget name or a bad override.
    """
    budget = get_budget(settings.budget, config.budgets)
    return override(budget, settings.budget_overrides) if settings.budget_overrides else budget


def budget_identity(settings: RunSettings, budget: Budget) -> dict[str, object]:
    """What a resumed run must repeat of its budget beyond the name: the values themselves,
    when they come from ``datasets.toml`` or ``--set`` (which can change between commands)."""
    if settings.budget in BUDGETS and not settings.budget_overrides:
        return {}
    return {"budget_values": budget_record(budget)}


def _select_datasets(config: Config, names: Sequence[str]) -> tuple[DatasetConfig, ...]:
    where = str(config.source or "datasets.toml")
    if not names:
        enabled = config.enabled()
        if not enabled:
            raise ConfigError(f"{where}: no dataset is enabled. Set enabled = true on one.")
        return enabled
    chosen = []
    known = [d.name for d in config.datasets]
    for name in names:
        if name not in known:
            raise ConfigError(
                f"{where}: no dataset '{name}'.{did_you_mean(name, known)} "
                f"Declared: {', '.join(known)}. {declare_hint(config.source, name, 'use')}"
            )
        dataset = config.get(name)
        if not dataset.enabled:
            raise ConfigError(
                f"{where} [datasets.{name}]: the dataset is disabled. "
                "Set enabled = true in that table to run it."
            )
        chosen.append(dataset)
    return tuple(chosen)


def protocols_for(dataset: DatasetConfig, asked: Sequence[str]) -> tuple[str, ...]:
    """The split protocols of a dataset in a run: those asked (``--split``), else its own.

    ``transfer`` is a protocol of pairs of datasets (``transfer_pairs``); each dataset of such a
    run is also cross-validated under ``grouped`` folds, the transfer matrix's diagonal.

    Raises:
        ConfigError: an unknown protocol, with the allowed ones.
    """
    allowed = (*SPLITS, TRANSFER)
    for protocol in asked:
        if protocol not in allowed:
            raise ConfigError(
                f"--split '{protocol}': unknown split protocol.{did_you_mean(protocol, allowed)} "
                f"Choose from: {', '.join(allowed)}."
            )
    own = [p for p in asked if p != TRANSFER]
    if TRANSFER in asked and "grouped" not in own:
        own.append("grouped")
    return tuple(dict.fromkeys(own)) or (dataset.split,)


def tasks_for(dataset: DatasetConfig, spec: DatasetSpec, asked: Sequence[str]) -> tuple[str, ...]:
    """The tasks of a run on one dataset: its default tasks (its ``tasks`` in
    ``datasets.toml``, else the first its labels give), ``all`` its labels give, or those asked.

    Raises:
        ConfigError: none of the asked tasks is supported by the dataset.
    """
    supported = dataset.supported_tasks or tuple(spec.tasks)
    if not asked:
        return dataset.default_tasks(spec)
    if "all" in asked:
        return supported
    tasks = tuple(t for t in asked if t in supported)
    if not tasks:
        raise ConfigError(
            f"Dataset '{dataset.name}' supports {', '.join(supported)}; none of {', '.join(asked)}."
        )
    return tasks


def cell_keys(
    plan: RunPlan,
    registry: Registry,
    dataset: str,
    task: str,
    folds: Mapping[tuple[int, int], Fold],
    protocol: str,
) -> list[CellKey]:
    """The cells of one dataset, task and protocol: each candidate serving the task x fold."""
    return [
        CellKey(
            dataset=dataset,
            task=task,
            candidate=c.name,
            repeat=f.repeat,
            fold=f.fold,
            split=protocol,
        )
        for c in plan.candidates
        if task in registry.model(c.model).tasks
        for f in folds.values()
    ]


def make_problem(task: TaskSpec, budget: Budget, settings: RunSettings) -> Problem:
    """What every cell of one dataset and task shares: labels, budget, sample rate, options.

    ``task`` is the record a dataset's tracks give (``TaskSpec.bound_to``: a multilabel task
    with the dataset's tags)."""
    return Problem(
        task=task,
        labels=task.labels,
        budget=budget,
        sample_rate=SAMPLE_RATE,
        top_k=settings.top_k,
        precision="bf16" if settings.precision == "bf16" else "fp32",
    )


def audio_settings(budget: Budget) -> AudioSettings:
    """The audio and window settings of a run: windows of the budget's clip length."""
    hop_fraction, windowing = budget_windowing(budget)
    return AudioSettings(
        sample_rate=SAMPLE_RATE,
        seconds=budget.clip_seconds,
        hop_fraction=hop_fraction,
        windowing=windowing,
    )


class SplitStore(Protocol):
    """What ``CellBuilder`` needs of a store: to save a split and answer the stored hash.

    ``Store`` is one; a Dask worker, which never opens the store, gives the run's stored
    hashes instead (``merbench.pipeline.executors.dask_tasks.StoredSplits``).
    """

    def save_split(
        self,
        dataset: str,
        task: str,
        digest: str,
        manifest: Any,
        audit: Mapping[str, Any],
        protocol: str = DEFAULT_SPLIT,
    ) -> str:
        """Store a split once (the first one wins); return the stored hash."""
        ...


S = TypeVar("S", bound=SplitStore)


class CellBuilder(Generic[S]):
    """Builds the plan of any cell of a run, loading each dataset and its folds once.

    Its store (``S``) is the run's ``Store`` where one is open, else any ``SplitStore``.
    """

    def __init__(
        self,
        store: S,
        registry: Registry,
        settings: RunSettings,
        config: Config,
        tasks: Mapping[str, Sequence[str]],
        budget: Budget,
    ) -> None:
        self.store, self.registry, self.settings, self.config = store, registry, settings, config
        self.tasks = {name: tuple(t) for name, t in tasks.items()}
        self.budget = budget
        self.audio = AudioStore(audio_settings(self.budget))
        caps = {d.name: getattr(d, "max_seconds", MAX_SECONDS) for d in config.datasets}
        self.features = FeatureStore(self.audio, max_seconds=caps)
        self._tracks: dict[str, Tracks] = {}
        self._pairs: dict[str, TransferPair] = {}
        self._folds: dict[tuple[str, str, str], dict[tuple[int, int], Fold]] = {}

    def tracks(self, name: str) -> Tracks:
        """The usable tracks of a dataset of the run (loaded on first use).

        Raises:
            ConfigError: the dataset is not declared in this machine's ``datasets.toml``.
            DatasetError: the dataset cannot be loaded.
        """
        pair = parse_pair(name)
        if pair is not None:
            return self.pair(*pair).tracks
        if name not in self._tracks:
            known = [d.name for d in self.config.datasets]
            if name not in known:
                raise ConfigError(
                    f"{self.config.source or 'datasets.toml'}: no dataset '{name}', which this "
                    "run uses. Pass --config with a datasets.toml that declares it (its files "
                    "may sit at other paths on this machine)."
                )
            dataset = self.config.get(name)
            spec = self.registry.dataset(dataset.plugin)
            tasks = [get_task(t) for t in self.tasks.get(name) or dataset.default_tasks(spec)]
            self._tracks[name] = load_tracks(dataset, spec, tasks, check_audio=self.audio.load)
        return self._tracks[name]

    def pair(self, source: str, target: str) -> TransferPair:
        """A transfer pair's tracks (loaded, and their shared songs found, on first use)."""
        name = pair_name(source, target)
        if name not in self._pairs:
            self._pairs[name] = make_pair(self.tracks(source), self.tracks(target))
        return self._pairs[name]

    def folds(self, dataset: str, task: str, protocol: str) -> dict[tuple[int, int], Fold]:
        """A dataset's outer folds for a task under a protocol, stored on first use (or checked).

        Raises:
            RunError: the folds differ from the ones stored for this run (the dataset changed).
        """
        if (dataset, task, protocol) not in self._folds:
            split = self._split(dataset, task, protocol)
            stored = self.store.save_split(
                dataset, task, split.digest, split.manifest, split.audit, protocol
            )
            if stored != split.digest:
                raise RunError(
                    f"Dataset '{dataset}' changed since this run started (its folds differ). "
                    "Start another run with --out, or --fresh to replace this one."
                )
            self._folds[(dataset, task, protocol)] = {(f.repeat, f.fold): f for f in split.folds}
        return self._folds[(dataset, task, protocol)]

    def _split(self, dataset: str, task: str, protocol: str) -> Split:
        pair = parse_pair(dataset)
        if protocol == TRANSFER and pair is not None:
            return make_transfer_split(self.pair(*pair), get_task(task))
        if protocol == TRANSFER or pair is not None:
            raise RunError(
                f"Cell of '{dataset}' under protocol '{protocol}': transfer cells name a pair "
                "of datasets (source>target), and only they. The store was not written by "
                "this merbench; start another run with --out."
            )
        tracks = self.tracks(dataset)
        config, seed = self.config.get(dataset), self.settings.seed
        return make_split(tracks, get_task(task), config, self.budget, seed, protocol)

    def resolve(self, key: CellKey) -> CellPlan:
        """The plan of the cell ``key``.

        Raises:
            MerbenchError: the dataset is not configured here or differs from the run's, or
                the candidate cannot run with the plugins installed here.
        """
        candidate = parse_candidate(key.candidate)
        reason = check_candidate(candidate, self.registry)
        if reason:
            raise PluginError(
                f"Candidate {key.candidate} cannot run here: {end_sentence(reason)} "
                "Install the plugins of the machine that started the run."
            )
        tracks = self.tracks(key.dataset)
        fold = self.folds(key.dataset, key.task, key.split)[(key.repeat, key.fold)]
        registry = self.registry
        return CellPlan(
            key=key,
            tracks=tracks,
            candidate=candidate,
            model=registry.model(candidate.model),
            frontends=tuple(registry.frontend(f) for f in candidate.frontends),
            fold=fold,
            problem=make_problem(
                get_task(key.task).bound_to(tracks.table.columns), self.budget, self.settings
            ),
            seed=cell_seed(self.settings.seed, key),
            augmentations=tuple(registry.augmentation(a) for a in candidate.augmentations),
            augment_mode=self.settings.augment_mode,
            render_seed=self.settings.seed,
        )


def stored_plan(plan: RunPlan, settings: RunSettings) -> dict[str, object]:
    """What workers read back to rebuild this run's cells (and what people read in the store)."""
    source = plan.config.source
    return {
        "config": str(Path(source).resolve()) if source else None,
        "models": list(settings.models),
        "datasets": [d.name for d in plan.datasets],
        "tasks": list(settings.tasks),
        "candidates": [c.name for c in plan.candidates],
    }


@dataclass(frozen=True, kw_only=True)
class StoredRun:
    """What a worker reads back from the store about the run it serves."""

    name: str
    settings: RunSettings
    config: Config
    tasks: dict[str, tuple[str, ...]]
    budget: Budget
    """The run's budget, rebuilt from its stored values (another datasets.toml may differ)."""


def read_stored_run(
    store: Store, registry: Registry, *, run: str | None = None, config: Path | None = None
) -> StoredRun:
    """Read the run a worker serves: name, settings, ``datasets.toml``, tasks per dataset.

    Args:
        store: the run's results store.
        registry: the plugins of this machine.
        run: refuse a store that holds another run than this one.
        config: this machine's ``datasets.toml`` (default: the run's, if that path exists here).

    Raises:
        RunError: no run in the store, or a run of another name than ``run``.
    """
    row = store.read_run()
    where = display_url(store.url)
    if row is None:
        raise RunError(
            f"{where}: no run in this store yet. Start one with 'merbench run --storage URL "
            "--enqueue-only ...', then start the workers."
        )
    if run is not None and run != row["name"]:
        raise RunError(
            f"{where}: this store holds run '{row['name']}', not '{run}'. "
            f"Pass --run {row['name']} (or the --storage URL of run '{run}')."
        )
    plan = dict(row.get("plan") or {})
    if config is None:
        recorded = Path(plan["config"]) if plan.get("config") else None
        config = recorded if recorded is not None and recorded.exists() else default_config_path()
    tasks: dict[str, list[str]] = {}
    for split in store.table("splits"):
        tasks.setdefault(split["dataset"], []).append(split["task"])
    return StoredRun(
        name=str(row["name"]),
        settings=RunSettings.from_stored(dict(row["settings"])),
        config=load_config(config, registry.datasets),
        tasks={d: tuple(t) for d, t in tasks.items()},
        budget=budget_from_record(dict(row["provenance"])["budget"]),
    )
