"""Each cell's estimated cost, so that the queue starts the longest cells first.

Claimed in listing order, a run's cells end on whatever was listed last, often one long torch
cell that a single process trains while every other process idles. So when a run lists its
cells, it makes its cost plan (``merbench.pipeline.probe.run_plan``: the estimate
``merbench run --plan`` prints), stores each cell's estimated seconds from it
(``merbench.results.queue.set_costs``), and every process claims the most expensive pending cell
first. The plan's rates come from the store's timings of the candidate (a resumed or extended
run); a candidate without any gets the static rates here (``static_rates``): a torch epoch over
the training tracks an order of magnitude above a scikit-learn fit, itself far above a
baseline's, scaled by the window length, the front-ends (trainable or raw-waveform ones cost
more, vectors for a probe much less) and the augmentations; the plan scales them by the
budget's trials and epochs and the dataset's folds as it scales measured rates.

Only the order matters, and the static rates are coarse. The order never changes a cell's
results: a cell is seeded from its identity, whichever process runs it and whenever.
"""

from __future__ import annotations

from merbench.pipeline.candidates import Candidate
from merbench.pipeline.estimate import Rates, RunEstimate
from merbench.plugin.registry import Registry
from merbench.plugin.specs import FrontEndSpec
from merbench.results.queue import set_costs
from merbench.results.schema import CellKey
from merbench.results.store import Store
from merbench.train.family import family_of

# Rough seconds on one CPU core for 100 training tracks and 3-second windows (synth, smoke).
TORCH_EPOCH_S = 0.6
"""One epoch of one torch configuration."""
SKLEARN_FIT_S = 0.05
"""One scikit-learn fit and its predictions."""
BASELINE_S = 0.005
"""A baseline's fit."""
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


def static_rates(candidate: Candidate, registry: Registry) -> Rates:
    """Coarse rates of a candidate never measured: per training track-epoch only.

    Habits are the plainest: every trial and refit trains to the cap, a tuned candidate refits
    twice (its tuned and its default configuration).
    """
    model = registry.model(candidate.model)
    network = family_of(model).network
    per_track = 1.0 / (REFERENCE_TRACKS * REFERENCE_SECONDS)
    if model.is_baseline:
        seconds = BASELINE_S
    elif not network:
        seconds = SKLEARN_FIT_S
    else:
        frontends = [registry.frontend(name) for name in candidate.frontends]
        graph = sum(_frontend_factor(f) for f in frontends) or 1.0
        augmented = 1.0 + AUGMENT_FACTOR * len(candidate.augmentations)
        seconds = TORCH_EPOCH_S * graph * augmented
    tuned = not model.is_baseline
    return Rates(
        per_fit=0.0,
        per_track_epoch=seconds * per_track,
        per_window=0.0,
        per_cell=0.0,
        network=network,
        trial_fraction=1.0,
        refit_fraction=1.0,
        refits=2.0 if tuned else 1.0,
        source="static",
        tuned=tuned,
    )


def _frontend_factor(frontend: FrontEndSpec) -> float:
    if frontend.trainable:
        return TRAINABLE_FACTOR
    return KIND_FACTORS.get(frontend.output, 1.0)


def prioritise(store: Store, plan: RunEstimate) -> dict[CellKey, float]:
    """Store the plan's estimated seconds of each of its cells as the queue's order.

    Returns:
        The estimated seconds of each cell of the plan.
    """
    costs = plan.cell_costs()
    ids = store.cell_ids()
    set_costs(store, {ids[key]: cost for key, cost in costs.items() if key in ids})
    return costs
