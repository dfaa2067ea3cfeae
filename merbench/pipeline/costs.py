"""Estimated costs of a run's cells, so that the queue starts the longest cells first.

Claimed in listing order, a run's cells end on whatever was listed last, often one long torch
cell that a single process trains while every other process idles. So when a run lists its
cells, each gets an estimated cost (``merbench.results.queue.set_costs``), and every process
claims the most expensive pending cell first. The estimate is, in rough seconds:

- the measured time of the same candidate's finished cells on the same dataset, when the store
  has some (a resumed or extended run);
- else a static estimate: a torch cell trains ``trials + 2`` configurations (the trials, the
  refit and the default configuration's refit) for up to ``epochs`` epochs each, an order of
  magnitude above a scikit-learn cell's ``trials + 2`` fits, itself far above a baseline's;
  scaled by the tracks, the window length, the front-ends (trainable or raw-waveform ones cost
  more, vectors for a probe much less) and the augmentations.

Only the order matters, and it is coarse. It never changes a cell's results: a cell is seeded
from its identity, whichever process runs it and whenever.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from merbench.evaluation.budgets import Budget
from merbench.pipeline.candidates import Candidate, parse_candidate
from merbench.pipeline.plan import CellBuilder
from merbench.plugin.registry import Registry
from merbench.plugin.specs import FrontEndSpec
from merbench.results.queue import set_costs
from merbench.results.schema import CellKey, cells
from merbench.results.store import Store
from merbench.train.family import family_of

# Rough seconds on one CPU core for 100 tracks and 3-second windows (a synth smoke run).
TORCH_EPOCH_S = 0.6
"""One epoch of one torch configuration."""
SKLEARN_FIT_S = 0.05
"""One scikit-learn fit and its predictions."""
BASELINE_S = 0.01
"""A baseline cell (no tuning)."""
TRAINABLE_FACTOR = 2.0
"""A trainable front-end runs in the model graph at every step, backward pass included."""
KIND_FACTORS = {"waveform": 1.5, "spectrogram": 1.0, "sequence": 0.5, "vector": 0.05}
"""An epoch on each input kind against one on spectrograms: a model on raw waveforms convolves
many more samples than frames, a probe on vectors is a few matrix products (a synth smoke run:
``cnn1d@raw`` 19 s a cell, ``cnn2d@mel`` 8 s, ``mlp@handcrafted`` 0.4 s)."""
AUGMENT_FACTOR = 0.25
"""What each training-time augmentation adds to a torch epoch."""
REFERENCE_TRACKS = 100
REFERENCE_SECONDS = 3.0


def prioritise(builder: CellBuilder, keys: Sequence[CellKey]) -> dict[CellKey, float]:
    """Estimate the cost of ``keys`` (listed cells of ``builder``'s run) and store it.

    Returns:
        The estimated cost of each key, in rough seconds.
    """
    store = builder.store
    measured = measured_costs(store)
    costs: dict[CellKey, float] = {}
    for key in dict.fromkeys(keys):
        found = measured.get((key.dataset, key.candidate))
        if found is None:
            n_tracks = len(builder.tracks(key.dataset).table)
            candidate = parse_candidate(key.candidate)
            found = static_cost(candidate, builder.registry, builder.budget, n_tracks)
        costs[key] = found
    ids = store.cell_ids()
    set_costs(store, {ids[key]: cost for key, cost in costs.items() if key in ids})
    return costs


def static_cost(candidate: Candidate, registry: Registry, budget: Budget, n_tracks: int) -> float:
    """A coarse estimate of one cell's seconds, from what it will compute."""
    model = registry.model(candidate.model)
    scale = max(n_tracks, 1) / REFERENCE_TRACKS
    if model.is_baseline:
        return BASELINE_S * scale
    fits = budget.trials + 2
    if not family_of(model).network:
        return SKLEARN_FIT_S * fits * scale
    frontends = [registry.frontend(name) for name in candidate.frontends]
    graph = sum(_frontend_factor(f) for f in frontends) or 1.0
    augmented = 1.0 + AUGMENT_FACTOR * len(candidate.augmentations)
    seconds = budget.clip_seconds / REFERENCE_SECONDS
    return TORCH_EPOCH_S * fits * budget.epochs * scale * seconds * graph * augmented


def _frontend_factor(frontend: FrontEndSpec) -> float:
    if frontend.trainable:
        return TRAINABLE_FACTOR
    return KIND_FACTORS.get(frontend.output, 1.0)


def measured_costs(store: Store) -> dict[tuple[str, str], float]:
    """The mean measured seconds of finished cells, by dataset and candidate."""
    query = sa.select(cells.c.dataset, cells.c.candidate, cells.c.timings)
    with store.reader.connect() as conn:
        rows = conn.execute(query.where(cells.c.status == "done")).all()
    seconds: dict[tuple[str, str], list[float]] = {}
    for dataset, candidate, timings in rows:
        total = _seconds(timings)
        if total is not None:
            seconds.setdefault((str(dataset), str(candidate)), []).append(total)
    return {key: sum(values) / len(values) for key, values in seconds.items()}


def _seconds(timings: Mapping[str, float] | None) -> float | None:
    """A finished cell's seconds: tuning, refit and test, and its default configuration's."""
    if not timings or "total_s" not in timings:
        return None
    return float(timings["total_s"]) + float(timings.get("default_s", 0.0))
