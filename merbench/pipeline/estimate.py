"""What a run will cost, before it runs: cell-hours and wall time on N workers.

A cell's time is modelled as the sum of four parts, each a measured rate times the work the
budget and the dataset give it:

- per fit (``setup``: building the network and optimiser, and what a fit costs whatever its
  tracks: what its first epoch takes beyond the others, a scikit-learn ensemble's trees) x fits
  (trials and refits);
- per training track-epoch and second of clip (``train``, ``augment``, ``fit``) x the tracks
  each fit trains on times its epochs;
- per predicted window and second of clip (``validate``, ``predict``) x the windows of the
  validation tracks at every epoch and of the test fold at every refit;
- per cell (``frontends``, ``tuning``, ``other``, ``store``), and once per candidate and dataset
  what a probe saw computing its front-ends' features, scaled to the dataset's windows.

The rates of a candidate come from cells measured earlier (``Sample``: a stored cell's
timings, info and trial epochs, or a probe's), summed over its samples (``rates_of``). How many
epochs a trial really trains (pruning and early stopping stop many early), how many epochs a
refit trains and how many refits a cell makes (the default configuration's own refit) are read
from the same samples, scaled to the budget's epoch cap; a probe has none of these habits, so
they come from the budget (``prior_habits``). The wall time of the cells on N workers is the
makespan of longest-first list scheduling (``makespan``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from merbench.evaluation.budgets import Budget
from merbench.results.schema import CellKey

TRAIN_PHASES = ("train", "augment", "fit")
EVAL_PHASES = ("validate", "predict")
FIT_PHASES = ("setup",)
PRUNER_STARTUP, PRUNER_WARMUP = 2, 2
"""The median pruner's settings (``merbench.train.tuning.MEDIAN_PRUNER``): trials it never
prunes, and the first epoch at which it may prune one (Optuna prunes from the step that equals
``n_warmup_steps``; a trial reports its epochs from 1)."""
WORKER_LINES = (8, 32, 128)
"""Worker counts the plan shows beside the run's own ``--jobs``."""


@dataclass(frozen=True, kw_only=True)
class Work:
    """What one cell does, in the units its time scales with."""

    fits: float
    """Model fits: trials and refits."""
    track_epochs: float
    """Training tracks times epochs, summed over the fits (one drawn window per track)."""
    windows: float
    """Windows predicted: the validation tracks' at every epoch, the test fold's per refit."""
    clip_seconds: float
    """Seconds of audio in a window: a window's cost grows with it."""


@dataclass(frozen=True, kw_only=True)
class Sample:
    """One measured cell of a candidate: its seconds per phase, its work and its habits."""

    candidate: str
    phases: Mapping[str, float]
    """Seconds by phase name (``merbench.train.timing.PHASES``)."""
    work: Work
    network: bool
    """Whether it trains epochs (torch) rather than one fit per configuration."""
    trial_epochs: float = 1.0
    """Mean epochs a trial trained."""
    refit_epochs: float = 1.0
    """Mean epochs a refit trained."""
    refits: float = 1.0
    """Refits of the cell: the tuned one, and the default configuration's when it differs."""
    epoch_cap: int = 1
    """The budget's epochs when it was measured."""
    first_epoch_s: float = 0.0
    """Seconds of its fits' first epochs (timings ``tally_first_epoch_s``; 0: not recorded)."""
    first_tracks: float = 0.0
    """Training tracks of its fits' first epochs: one epoch of every fit."""


@dataclass(frozen=True, kw_only=True)
class Rates:
    """A candidate's measured seconds per unit of work, and its tuning habits."""

    per_fit: float
    per_track_epoch: float
    """Seconds per training track-epoch and second of clip."""
    per_window: float
    """Seconds per predicted window and second of clip."""
    per_cell: float
    network: bool
    trial_fraction: float
    """Epochs a trial trains, as a share of the budget's cap."""
    refit_fraction: float
    refits: float
    source: str
    """Where the rates come from: ``stored`` timings or a ``probe``."""
    once: float = 0.0
    """Seconds the candidate's first cell on a dataset pays beyond the others (a probe's
    estimate of computing its features over the whole dataset; stored cells include it)."""
    tuned: bool = True
    """Whether its cells run the budget's trials (with nothing to tune, a cell runs one)."""


@dataclass(frozen=True, kw_only=True)
class CellSize:
    """What the dataset gives one cell: tracks in its outer training part and test fold."""

    n_train: int
    n_test: int
    windows_per_track: float


@dataclass(frozen=True, kw_only=True)
class Line:
    """The plan of one candidate on one dataset, task and split."""

    dataset: str
    task: str
    split: str
    candidate: str
    cells: int
    cell_seconds: tuple[float, ...]
    """The estimated seconds of each cell (empty: no rates for this candidate)."""
    source: str
    """``stored``, ``probe``, ``static`` (neither: the coarse model of
    ``merbench.pipeline.costs``) or why there is no estimate."""
    keys: tuple[CellKey, ...] = ()
    """The cells, in the order of ``cell_seconds``."""

    @property
    def seconds(self) -> float:
        """The estimated seconds of all its cells."""
        return sum(self.cell_seconds)


@dataclass(frozen=True, kw_only=True)
class RunEstimate:
    """The cost plan of a run: per candidate lines and the wall time on N workers."""

    budget: str
    jobs: int
    lines: tuple[Line, ...]
    wall_s: Mapping[int, float] = field(default_factory=dict)
    """Estimated wall seconds of the cells on N workers, by N (the run's jobs and more)."""

    @property
    def cells(self) -> int:
        """How many cells the run has."""
        return sum(line.cells for line in self.lines)

    @property
    def cell_hours(self) -> float:
        """The estimated cell-hours of the cells with an estimate."""
        return sum(line.seconds for line in self.lines) / 3600

    @property
    def unestimated(self) -> int:
        """Cells with no estimate (their candidate's probe failed)."""
        return sum(line.cells for line in self.lines if not line.cell_seconds)

    @property
    def unmeasured(self) -> int:
        """Cells with no estimate or only the static one (no timings, no probe)."""
        return sum(
            line.cells for line in self.lines if not line.cell_seconds or line.source == "static"
        )

    def cell_costs(self) -> dict[CellKey, float]:
        """The estimated seconds of each cell with an estimate: the order the queue claims."""
        return {
            key: seconds
            for line in self.lines
            for key, seconds in zip(line.keys, line.cell_seconds, strict=False)
        }

    def records(self) -> list[dict[str, Any]]:
        """One record per line: what ``merbench.run(plan=True)`` returns as a table."""
        return [
            {
                "dataset": line.dataset,
                "task": line.task,
                "split": line.split,
                "candidate": line.candidate,
                "cells": line.cells,
                "seconds_per_cell": line.seconds / line.cells if line.cell_seconds else None,
                "cell_hours": line.seconds / 3600 if line.cell_seconds else None,
                "source": line.source,
            }
            for line in self.lines
        ]


def phase_seconds(timings: Mapping[str, Any]) -> dict[str, float]:
    """The seconds per phase of stored timings (``phase_<name>_s``; ``total`` left out)."""
    return {
        key[len("phase_") : -len("_s")]: float(value)
        for key, value in timings.items()
        if key.startswith("phase_") and key.endswith("_s") and key != "phase_total_s"
    }


def sample_of(
    candidate: str,
    timings: Mapping[str, Any],
    info: Mapping[str, Any],
    trial_epochs: Sequence[int | None],
    *,
    epoch_cap: int,
) -> Sample | None:
    """A measured cell from what the store keeps of it (``None``: not enough recorded).

    Args:
        candidate: the cell's candidate.
        timings: its ``timings`` (``phase_<name>_s``).
        info: its ``info`` (``n_train``, ``n_valid``, ``n_test``, windows, refit epochs).
        trial_epochs: the epochs each of its trials trained (``None`` or 0: a fit without epochs).
        epoch_cap: the budget's epochs when the cell ran.
    """
    phases = phase_seconds(timings)
    if not phases or "n_train" not in info:
        return None
    network = info.get("model_family") == "torch"
    n_train, n_test = int(info["n_train"]), int(info.get("n_test") or 0)
    n_valid = int(info.get("n_valid") or 0)
    per_track = float(info.get("n_windows_train") or n_train) / max(n_train, 1)
    epochs = [float(e or 0) if network else 1.0 for e in trial_epochs]
    default = info.get("default") or {}
    extra = "metrics" in default and not default.get("same_as_tuned")
    refit = [float(info.get("refit_epochs") or 1) if network else 1.0]
    if extra:
        refit.append(float(default.get("refit_epochs") or 1) if network else 1.0)
    work = Work(
        fits=len(epochs) + len(refit),
        track_epochs=sum(epochs) * (n_train - n_valid) + sum(refit) * n_train,
        windows=(sum(epochs) * n_valid + len(refit) * n_test) * per_track,
        clip_seconds=float(info.get("window_s") or 1.0),
    )
    first = float(timings.get("tally_first_epoch_s") or 0.0) if network else 0.0
    return Sample(
        candidate=candidate,
        phases=phases,
        work=work,
        network=network,
        trial_epochs=sum(epochs) / max(len(epochs), 1),
        refit_epochs=sum(refit) / len(refit),
        refits=len(refit),
        epoch_cap=epoch_cap if network else 1,
        first_epoch_s=first,
        first_tracks=sum(e > 0 for e in epochs) * (n_train - n_valid) + len(refit) * n_train,
    )


def prior_habits(budget: Budget, *, network: bool, tuned: bool) -> tuple[float, float, float]:
    """Trial and refit epochs (as shares of the cap) and refits of a cell never measured.

    The first trials run to the cap; later ones are pruned about half the time, at the end of
    the pruner's warm-up. A refit trains between its floor (``patience + 1``) and the cap. A
    tuned candidate refits its default configuration too. Early stopping is left out, so the
    epochs are on the high side.

    Args:
        budget: the run's budget.
        network: whether the candidate trains epochs.
        tuned: whether it has a search space (else no default refit).
    """
    refits = 2.0 if tuned else 1.0
    if not network:
        return 1.0, 1.0, refits
    cap, trials = budget.epochs, budget.trials
    full = min(trials, PRUNER_STARTUP)
    pruned_at = min(cap, PRUNER_WARMUP)
    trial = (full * cap + (trials - full) * (cap + pruned_at) / 2) / trials
    refit = (min(cap, budget.patience + 1) + cap) / 2
    return trial / cap, refit / cap, refits


def rates_of(samples: Sequence[Sample], *, source: str = "stored") -> Rates:
    """A candidate's rates: its samples' seconds summed over their work, part by part.

    Raises:
        ValueError: no samples.
    """
    if not samples:
        raise ValueError("rates need at least one measured cell")

    def rate(phases: Iterable[str], units: float) -> float:
        seconds = sum(s.phases.get(p, 0.0) for s in samples for p in phases)
        return seconds / units if units > 0 else 0.0

    known = {*TRAIN_PHASES, *EVAL_PHASES, *FIT_PHASES}
    fixed = sum(v for s in samples for p, v in s.phases.items() if p not in known)
    track_units = sum(s.work.track_epochs * s.work.clip_seconds for s in samples)
    window_units = sum(s.work.windows * s.work.clip_seconds for s in samples)
    unplaced = 0.0  # seconds of parts with no work to divide them by
    for phases, units in ((TRAIN_PHASES, track_units), (EVAL_PHASES, window_units)):
        if units <= 0:
            unplaced += sum(s.phases.get(p, 0.0) for s in samples for p in phases)
    fits = sum(s.work.fits for s in samples)
    per_epoch, once = first_epoch_split(samples, rate(TRAIN_PHASES, track_units))
    n = len(samples)
    return Rates(
        per_fit=rate(FIT_PHASES, fits) + (once / fits if fits > 0 else 0.0),
        per_track_epoch=per_epoch,
        per_window=rate(EVAL_PHASES, window_units),
        per_cell=(fixed + unplaced) / n,
        network=samples[0].network,
        trial_fraction=sum(s.trial_epochs / s.epoch_cap for s in samples) / n,
        refit_fraction=sum(s.refit_epochs / s.epoch_cap for s in samples) / n,
        refits=sum(s.refits for s in samples) / n,
        source=source,
        tuned=any(s.work.fits - s.refits > 1 for s in samples),
    )


def first_epoch_split(samples: Sequence[Sample], per_track_epoch: float) -> tuple[float, float]:
    """The training seconds per track-epoch without each fit's first-epoch surcharge, and the
    surcharge (seconds in all, paid once a fit).

    A fit's first epoch costs more than the others: its kernels are chosen and its memory is
    allocated in its first batches. Counted per track-epoch, that surcharge would grow with the
    epochs: timings of two-epoch fits (a smoke run) would make 30-epoch fits cost 15 first
    epochs. So the later epochs give the rate per track-epoch, and what the first epochs took
    beyond it is a cost per fit. Without tallied first epochs or later epochs (one-epoch fits,
    scikit-learn), or where the first epochs were no slower (noise), ``per_track_epoch`` stands.

    Args:
        samples: the measured cells of a candidate.
        per_track_epoch: the rate over all epochs, first ones included.
    """
    first = sum(s.first_epoch_s for s in samples)
    first_units = sum(s.first_tracks * s.work.clip_seconds for s in samples)
    all_units = sum(s.work.track_epochs * s.work.clip_seconds for s in samples)
    train = sum(s.phases.get(p, 0.0) for s in samples for p in TRAIN_PHASES)
    later_units = all_units - first_units
    if first <= 0 or first_units <= 0 or later_units <= 0:
        return per_track_epoch, 0.0
    later = (train - first) / later_units
    surcharge = first - later * first_units
    if later <= 0 or surcharge <= 0:
        return per_track_epoch, 0.0
    return later, surcharge


def work_of(rates: Rates, budget: Budget, size: CellSize) -> Work:
    """The work of one cell of a candidate with these habits under ``budget``."""
    cap = budget.epochs if rates.network else 1
    trial = max(1.0, rates.trial_fraction * cap)
    floor = min(cap, budget.patience + 1) if rates.network else 1
    refit = min(float(cap), max(float(floor), rates.refit_fraction * cap))
    n_valid = size.n_train * budget.valid_fraction
    trials = budget.trials if rates.tuned else 1
    trial_epochs = trials * trial
    return Work(
        fits=trials + rates.refits,
        track_epochs=trial_epochs * (size.n_train - n_valid) + rates.refits * refit * size.n_train,
        windows=(trial_epochs * n_valid + rates.refits * size.n_test) * size.windows_per_track,
        clip_seconds=budget.clip_seconds,
    )


def cell_seconds(rates: Rates, work: Work) -> float:
    """The estimated seconds of a cell with this work."""
    return (
        rates.per_fit * work.fits
        + rates.per_track_epoch * work.track_epochs * work.clip_seconds
        + rates.per_window * work.windows * work.clip_seconds
        + rates.per_cell
    )


def makespan(seconds: Iterable[float], workers: int) -> float:
    """Wall seconds of these cells on ``workers`` workers, longest first to the least loaded."""
    loads = [0.0] * max(1, workers)
    for duration in sorted(seconds, reverse=True):
        heapq.heapreplace(loads, loads[0] + duration)
    return max(loads)


def estimate(
    lines: Sequence[Line], *, budget: str, jobs: int, workers: Sequence[int] = WORKER_LINES
) -> RunEstimate:
    """The run's plan: its lines and their makespan on ``jobs`` and on ``workers`` workers."""
    durations = [s for line in lines for s in line.cell_seconds]
    counts = sorted({jobs, *workers})
    return RunEstimate(
        budget=budget,
        jobs=jobs,
        lines=tuple(lines),
        wall_s={n: makespan(durations, n) for n in counts},
    )


def duration_text(seconds: float) -> str:
    """Seconds as people read them: ``42 s``, ``7.6 min``, ``3.2 h``, ``2.1 days``."""
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 100 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def summary_lines(plan: RunEstimate) -> list[str]:
    """The plan as a compact text table: one line per candidate, then the totals."""
    width = max([len(line.candidate) for line in plan.lines] + [9])
    rows = [f"{'candidate':<{width}}  cells  per cell  cell-hours  from"]
    for line in plan.lines:
        per_cell = duration_text(line.seconds / line.cells) if line.cell_seconds else "?"
        hours = f"{line.seconds / 3600:.3f}" if line.cell_seconds else "?"
        rows.append(
            f"{line.candidate:<{width}}  {line.cells:>5}  {per_cell:>8}  {hours:>10}  {line.source}"
        )
    rows.append(totals_line(plan))
    return rows


def totals_line(plan: RunEstimate) -> str:
    """The plan's totals: cells, cell-hours and the wall time on N workers."""
    if plan.unmeasured == plan.cells:
        return (
            f"Plan ({plan.budget} budget): {plan.cells} cells, no timings yet "
            "('merbench run --plan' probes them)."
        )
    walls = ", ".join(
        f"{n} worker{'s' if n > 1 else ''}{' (--jobs)' if n == plan.jobs else ''} "
        f"{duration_text(seconds)}"
        for n, seconds in plan.wall_s.items()
    )
    missing = f"; {plan.unestimated} cell(s) without an estimate" if plan.unestimated else ""
    return (
        f"Plan ({plan.budget} budget): {plan.cells} cells, {plan.cell_hours:.2f} cell-hours; "
        f"wall time on {walls}{missing}."
    )
