"""A run's cost plan from its datasets, its budget and measured rates (``merbench run --plan``).

The rates of a candidate come from the cells of a previous run in the store at hand (the run
directory's own, or ``--storage``), else from a probe: a cell of the candidate under a tiny
budget (``PROBE_TRIALS`` one-epoch trials: the plugins' defaults and draws from the search
space) on ``PROBE_TRACKS`` tracks of the dataset, timed phase by phase like any cell
(``merbench.pipeline.estimate`` turns both into rates). A probe caches the features of its few
tracks only; the plan writes nothing else: no store, no folds, no run directory.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from merbench.data.audio import AudioStore
from merbench.data.config import Config
from merbench.data.features import FeatureStore
from merbench.data.splits import make_split
from merbench.data.tracks import Tracks, load_tracks
from merbench.data.transfer import TransferPair, make_pair, make_transfer_split
from merbench.data.windows import MAX_SECONDS
from merbench.evaluation.budgets import Budget
from merbench.evaluation.cv import Fold
from merbench.evaluation.tasks import get_task
from merbench.evaluation.transfer import TRANSFER, pair_name, parse_pair
from merbench.pipeline.candidates import Candidate
from merbench.pipeline.cell import CellPlan, cell_seed, run_cell
from merbench.pipeline.costs import static_rates
from merbench.pipeline.estimate import (
    EVAL_PHASES,
    FIT_PHASES,
    TRAIN_PHASES,
    CellSize,
    Line,
    Rates,
    RunEstimate,
    Sample,
    cell_seconds,
    estimate,
    prior_habits,
    rates_of,
    sample_of,
    work_of,
)
from merbench.pipeline.plan import CellBuilder, RunPlan, audio_settings, make_problem
from merbench.pipeline.progress import one_line
from merbench.pipeline.settings import RunSettings
from merbench.plugin.registry import Registry
from merbench.results.schema import CellKey
from merbench.results.store import Store

log = logging.getLogger(__name__)

PROBE_TRACKS = 48
"""Tracks a probe uses (and a quarter of them): two thirds train (split again for validation),
a third test."""
PROBE_TRIALS = 8
"""The plugins' defaults and seven configurations its sampler draws, as a cell's study does.
One configuration of a search space can cost ten times another (a network's width, a
spectrogram's hop), and the defaults are often among the cheapest: the rates are the mean over
enough draws to reach the expensive part."""
PROBE_EPOCHS = 1


class Sizes(Protocol):
    """Where the plan reads a run's tracks, folds and windows (``CellBuilder`` is one)."""

    features: FeatureStore

    def tracks(self, name: str) -> Tracks: ...

    def folds(self, dataset: str, task: str, protocol: str) -> dict[tuple[int, int], Fold]: ...


class DrySizes:
    """A run's tracks and folds, made as a run makes them but stored nowhere."""

    def __init__(
        self, registry: Registry, settings: RunSettings, plan: RunPlan, config: Config
    ) -> None:
        self.registry, self.settings, self.plan, self.config = registry, settings, plan, config
        audio = AudioStore(audio_settings(plan.budget))
        caps = {d.name: getattr(d, "max_seconds", MAX_SECONDS) for d in config.datasets}
        self.features = FeatureStore(audio, max_seconds=caps)
        self._tracks: dict[str, Tracks] = {}
        self._pairs: dict[str, TransferPair] = {}

    def tracks(self, name: str) -> Tracks:
        """The usable tracks of a dataset of the run, or of a transfer pair (loaded once)."""
        pair = parse_pair(name)
        if pair is not None:
            if name not in self._pairs:
                self._pairs[name] = make_pair(self.tracks(pair[0]), self.tracks(pair[1]))
            return self._pairs[name].tracks
        if name not in self._tracks:
            dataset = self.config.get(name)
            spec = self.registry.dataset(dataset.plugin)
            tasks = [get_task(t) for t in self.plan.tasks.get(name) or dataset.default_tasks(spec)]
            audio = self.features.audio
            self._tracks[name] = load_tracks(dataset, spec, tasks, check_audio=audio.load)
        return self._tracks[name]

    def folds(self, dataset: str, task: str, protocol: str) -> dict[tuple[int, int], Fold]:
        """A dataset's outer folds for a task under a protocol (a pair's one fold)."""
        if protocol == TRANSFER:
            self.tracks(dataset)
            split = make_transfer_split(self._pairs[dataset], get_task(task))
            return {(f.repeat, f.fold): f for f in split.folds}
        tracks, config = self.tracks(dataset), self.config.get(dataset)
        split = make_split(
            tracks, get_task(task), config, self.plan.budget, self.settings.seed, protocol
        )
        return {(f.repeat, f.fold): f for f in split.folds}


def stored_samples(store: Store) -> dict[str, list[Sample]]:
    """The measured cells of the run in ``store``, by candidate (none: an empty store)."""
    run = store.read_run()
    if run is None:
        return {}
    cap = int(dict(dict(run["provenance"]).get("budget") or {}).get("epochs") or 1)
    epochs: defaultdict[int, list[int | None]] = defaultdict(list)
    for trial in store.table("trials"):
        epochs[trial["cell_id"]].append(trial["epochs"])
    samples: defaultdict[str, list[Sample]] = defaultdict(list)
    for cell in store.table("cells"):
        if cell["status"] != "done" or not cell["timings"] or not cell["info"]:
            continue
        sample = sample_of(
            cell["candidate"], cell["timings"], cell["info"], epochs[cell["id"]], epoch_cap=cap
        )
        if sample is not None:
            samples[cell["candidate"]].append(sample)
    return dict(samples)


@dataclass(frozen=True, kw_only=True)
class Probe:
    """What a probe runs on: the run's pieces and the plugins."""

    registry: Registry
    settings: RunSettings
    budget: Budget
    features: FeatureStore


def probe_rates(probe: Probe, tracks: Tracks, key: CellKey, candidate: Candidate) -> Rates:
    """A candidate's rates from a tiny cell on a few tracks, with habits from the budget.

    The cell runs on ``PROBE_TRACKS`` tracks, then on a quarter of them, then on all of them
    again: the first run pays for imports, the features of its tracks and the first kernels;
    its features' seconds, scaled to the dataset, are what the candidate's first cell pays
    once (``Rates.once``). The other two give the cost per track and per fit
    (``probe_rates_of``).

    Raises:
        Exception: whatever the probe cell raised.
    """
    large = _probe_plan(probe, tracks, key, candidate, PROBE_TRACKS)
    small = _probe_plan(probe, tracks, key, candidate, PROBE_TRACKS // 4)
    warm = run_cell(large, probe.features)
    (small_sample, _), (large_sample, trials) = (_probe_sample(p, probe) for p in (small, large))
    features = probe.features
    share = len(features.windows(tracks)) / max(len(features.windows(large.tracks)), 1)
    once = float(warm.timings.get("phase_frontends_s", 0.0)) * share
    spaces = [large.model.search_space, *(f.search_space for f in large.frontends)]
    network = large_sample.network
    tuned = not large.model.is_baseline and (network or any(spaces))
    trial, refit, refits = prior_habits(probe.budget, network=network, tuned=tuned)
    rates = probe_rates_of(small_sample, large_sample)
    defaults = refits / (probe.budget.trials + refits) if tuned else 1.0
    scale = defaults_weighted(trials, defaults)
    return replace(
        rates,
        per_fit=rates.per_fit * scale,
        per_track_epoch=rates.per_track_epoch * scale,
        per_window=rates.per_window * scale,
        trial_fraction=trial,
        refit_fraction=refit,
        refits=refits,
        once=once,
        tuned=tuned,
    )


def defaults_weighted(trials: Sequence[Mapping[str, Any]], share: float) -> float:
    """The probe's mean fit cost, scaled to a cell where ``share`` of the fits train the defaults.

    A probe tries the plugins' defaults (its first trial) once among ``PROBE_TRIALS``
    configurations, but a cell trains them more often: its first trial and, when tuned, the
    default configuration's own refit (two fits of ``trials + 2``: a third of a default cell's,
    a sixteenth of a full one's). The defaults are often far cheaper, or dearer, than the mean
    draw, so the probe's rates are scaled by the cell's mix over the probe's.

    Args:
        trials: the probe cell's trial records (``duration_s``; the defaults first).
        share: the share of a cell's fits that train the defaults.
    """
    seconds = [float(t.get("duration_s") or 0.0) for t in trials]
    if len(seconds) < 2 or sum(seconds) <= 0:
        return 1.0
    drawn = sum(seconds[1:]) / (len(seconds) - 1)
    return (share * seconds[0] + (1 - share) * drawn) / (sum(seconds) / len(seconds))


def _probe_sample(plan: CellPlan, probe: Probe) -> tuple[Sample, list[dict[str, Any]]]:
    """A probe cell's sample and its trial records."""
    result = run_cell(plan, probe.features)
    trial_epochs = [t.get("epochs") for t in result.trials]
    sample = sample_of(plan.key.candidate, result.timings, result.info, trial_epochs, epoch_cap=1)
    if sample is None:
        raise ValueError(f"the probe of {plan.key.candidate} recorded no timings")
    return sample, [dict(t) for t in result.trials]


def _probe_plan(
    probe: Probe, tracks: Tracks, key: CellKey, candidate: Candidate, n_tracks: int
) -> CellPlan:
    """A probe's cell: ``n_tracks`` tracks spread over the dataset, a tiny budget."""
    rows = np.linspace(0, len(tracks.table) - 1, min(n_tracks, len(tracks.table)))
    table = tracks.table.iloc[np.unique(rows.astype(int))].reset_index(drop=True)
    few = replace(tracks, table=table, skipped={})
    n = len(table)
    cut = max(2, (2 * n) // 3)
    budget = replace(probe.budget, trials=PROBE_TRIALS, epochs=PROBE_EPOCHS, patience=1)
    registry = probe.registry
    return CellPlan(
        key=key,
        tracks=few,
        candidate=candidate,
        model=registry.model(candidate.model),
        frontends=tuple(registry.frontend(f) for f in candidate.frontends),
        fold=Fold(repeat=0, fold=0, train=np.arange(cut), test=np.arange(cut, n)),
        problem=make_problem(get_task(key.task).bound_to(table.columns), budget, probe.settings),
        seed=cell_seed(probe.settings.seed, key),
        augmentations=tuple(registry.augmentation(a) for a in candidate.augmentations),
        augment_mode=probe.settings.augment_mode,
        render_seed=probe.settings.seed,
    )


def probe_rates_of(small: Sample, large: Sample) -> Rates:
    """A candidate's rates from the same probe cell on fewer and on more tracks.

    What training and prediction cost beyond their tracks (building a model, an epoch's own
    overhead, a scikit-learn ensemble's trees) would read as a cost per track on one size; the
    difference of two sizes is the cost per track, the rest a cost per fit.
    """
    fixed, slopes = large.phases.get("setup", 0.0), []
    for phases, units in ((TRAIN_PHASES, _track_units), (EVAL_PHASES, _window_units)):
        seconds = [sum(s.phases.get(p, 0.0) for p in phases) for s in (small, large)]
        more = units(large) - units(small)
        slope = (seconds[1] - seconds[0]) / more if more > 0 else 0.0
        if slope <= 0 or seconds[1] - slope * units(large) < 0:  # noise: all of it per track
            slope = seconds[1] / units(large) if units(large) > 0 else 0.0
        fixed += seconds[1] - slope * units(large)
        slopes.append(slope)
    known = {*TRAIN_PHASES, *EVAL_PHASES, *FIT_PHASES}
    rest = sum(v for p, v in large.phases.items() if p not in known)
    return Rates(
        per_fit=fixed / max(large.work.fits, 1.0),
        per_track_epoch=slopes[0],
        per_window=slopes[1],
        per_cell=rest,
        network=large.network,
        trial_fraction=1.0,
        refit_fraction=1.0,
        refits=large.refits,
        source="probe",
    )


def _track_units(sample: Sample) -> float:
    return sample.work.track_epochs * sample.work.clip_seconds


def _window_units(sample: Sample) -> float:
    return sample.work.windows * sample.work.clip_seconds


def plan_cost(
    plan: RunPlan,
    registry: Registry,
    sizes: Sizes,
    rates: Callable[[Tracks, CellKey, Candidate], Rates | str],
    *,
    jobs: int,
) -> RunEstimate:
    """The cost plan of every cell of the run: per candidate, then on N workers.

    Args:
        plan: the checked run.
        registry: the plugins (which models serve which task).
        sizes: its tracks, folds and windows.
        rates: a candidate's rates on its first dataset and task, or why there are none.
        jobs: the run's processes.
    """
    lines: list[Line] = []
    known: dict[str, Rates | str] = {}
    for dataset in plan.datasets:
        tracks = sizes.tracks(dataset.name)
        per_track = len(sizes.features.windows(tracks)) / max(len(tracks.table), 1)
        for task in plan.tasks[dataset.name]:
            for protocol in plan.protocols[dataset.name]:
                folds = sizes.folds(dataset.name, task, protocol)
                for candidate in plan.candidates:
                    if task not in registry.model(candidate.model).tasks:
                        continue
                    key = CellKey(
                        dataset=dataset.name, task=task, candidate=candidate.name,
                        repeat=0, fold=0, split=protocol,
                    )  # fmt: skip
                    if candidate.name not in known:
                        known[candidate.name] = rates(tracks, key, candidate)
                    found = known[candidate.name]
                    lines.append(_line(key, folds.values(), found, plan.budget, per_track))
    for source, target, task in plan.pairs:  # --split transfer: one fold per pair
        name = pair_name(source, target)
        tracks = sizes.tracks(name)
        per_track = len(sizes.features.windows(tracks)) / max(len(tracks.table), 1)
        folds = sizes.folds(name, task, TRANSFER)
        for candidate in plan.candidates:
            if task in registry.model(candidate.model).tasks and candidate.name in known:
                key = CellKey(
                    dataset=name, task=task, candidate=candidate.name, repeat=0, fold=0,
                    split=TRANSFER,
                )  # fmt: skip
                found = known[candidate.name]
                lines.append(_line(key, folds.values(), found, plan.budget, per_track))
    return estimate(lines, budget=plan.budget.name, jobs=jobs)


def _line(
    key: CellKey, folds: Iterable[Fold], rates: Rates | str, budget: Budget, per_track: float
) -> Line:
    fold_list = list(folds)
    keys = tuple(replace(key, repeat=f.repeat, fold=f.fold) for f in fold_list)
    seconds: tuple[float, ...] = ()
    if not isinstance(rates, str):
        sizes = [CellSize(n_train=len(f.train), n_test=len(f.test), windows_per_track=per_track)
                 for f in fold_list]  # fmt: skip
        seconds = tuple(cell_seconds(rates, work_of(rates, budget, s)) for s in sizes)
        seconds = (seconds[0] + rates.once, *seconds[1:]) if seconds else ()
    return Line(
        dataset=key.dataset, task=key.task, split=key.split, candidate=key.candidate,
        cells=len(fold_list), cell_seconds=seconds,
        source=rates if isinstance(rates, str) else rates.source, keys=keys,
    )  # fmt: skip


def rate_finder(
    stored: Mapping[str, Sequence[Sample]],
    probe: Probe | None,
    budget: Budget,
    fallback: Callable[[Candidate], Rates] | None = None,
) -> Callable[[Tracks, CellKey, Candidate], Rates | str]:
    """A candidate's rates: from its stored cells, else from a probe (when given), else from
    ``fallback`` (the static rates of ``merbench.pipeline.costs``, when given), else why not.

    Cells stored under a smaller epoch cap than ``budget``'s cannot show how pruning and early
    stopping cut trials short (a smoke run's two epochs always run): their habits are the
    budget's (``prior_habits``).
    """

    def find(tracks: Tracks, key: CellKey, candidate: Candidate) -> Rates | str:
        samples = stored.get(candidate.name)
        if samples:
            rates = rates_of(samples)
            if not rates.network or min(s.epoch_cap for s in samples) >= budget.epochs:
                return rates
            trial, refit, refits = prior_habits(budget, network=True, tuned=True)
            return replace(rates, trial_fraction=trial, refit_fraction=refit, refits=refits)
        if probe is None:
            return "no timings" if fallback is None else fallback(candidate)
        try:
            return probe_rates(probe, tracks, key, candidate)
        except Exception as exc:  # a probe that fails leaves the candidate unestimated
            log.info("probe of %s failed", candidate.name, exc_info=True)
            return f"probe failed: {one_line(exc)}"

    return find


def plan_only(settings: RunSettings, plan: RunPlan, registry: Registry) -> RunEstimate:
    """``merbench run --plan``: the cost plan, from a store's timings or probes; nothing stored.

    The store read is ``--storage`` or the run directory's, when one exists: its finished cells
    give the rates of their candidates, whatever budget they ran under.
    """
    from merbench.pipeline.executors.jobs import cell_threads, resolve_jobs, resolve_threads

    sizes = DrySizes(registry, settings, plan, plan.config)
    probe = Probe(registry=registry, settings=settings, budget=plan.budget, features=sizes.features)
    finder = rate_finder(_previous_samples(settings, plan), probe, plan.budget)
    jobs = resolve_jobs(settings.jobs, uses_torch=plan.uses_torch)
    with cell_threads(resolve_threads()):
        return plan_cost(plan, registry, sizes, finder, jobs=jobs)


def _previous_samples(settings: RunSettings, plan: RunPlan) -> dict[str, list[Sample]]:
    """The measured cells of the store this run would use, if it exists (never created)."""
    from merbench.errors import RunError
    from merbench.results.urls import sqlite_url

    if settings.storage is None and not (plan.run_dir / "results.sqlite").is_file():
        return {}
    try:
        store = Store(settings.storage or sqlite_url(plan.run_dir), create=False)
    except RunError as exc:
        log.info("no timings from the run's store: %s", exc)
        return {}
    try:
        return stored_samples(store)
    finally:
        store.close()


def run_plan(
    plan: RunPlan, builder: CellBuilder[Store], keys: Collection[CellKey], jobs: int
) -> RunEstimate:
    """The plan of a real run's listed cells, from the timings in its store (a resumed run's).

    A real run probes nothing (the time and the feature caches a probe takes are ``--plan``'s):
    a candidate without stored timings gets the static rates (``costs.static_rates``). The
    plan's per-cell seconds are the order the queue claims the cells in (``costs.prioritise``).
    """
    listed = {key.dataset for key in keys}
    datasets = tuple(d for d in plan.datasets if d.name in listed)  # skipped ones left out
    registry = builder.registry
    finder = rate_finder(
        stored_samples(builder.store),
        None,
        plan.budget,
        fallback=lambda candidate: static_rates(candidate, registry),
    )
    return plan_cost(replace(plan, datasets=datasets), registry, builder, finder, jobs=jobs)
