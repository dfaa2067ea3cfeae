"""Augmented training: where each model input's training batches come from.

``prepare_training`` decides, for one fit, the route of every model input (its cached features,
augmented waveforms, a fixed front-end run in the graph on augmented waveforms, or pre-rendered
copies) and renders or loads the copies it needs. The torch loop applies the routes to training
batches only (``merbench.train.torch_augment``), never when it predicts validation or test tracks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from merbench.data.features import FeatureStore
from merbench.data.tracks import Tracks
from merbench.plugin.specs import FrontEndSpec
from merbench.train.policy import N_COPIES, Policy
from merbench.train.prerender import Copies, copy_features, render_copies

Source = Literal["cached", "waveform", "frontend", "copies"]


@dataclass(frozen=True, kw_only=True)
class Route:
    """Where the training batches of one model input come from.

    ``cached``: the input the model sees at validation too (fixed features, or waveforms for a
    trainable front-end); ``waveform``: the augmented waveforms (for a trainable front-end);
    ``frontend``: a fixed front-end run in the graph on augmented waveforms; ``copies``: the
    cached features of pre-rendered copies.
    """

    source: Source
    frontend: Any = None
    copies: np.ndarray | None = None


@dataclass(frozen=True, kw_only=True)
class TrainingAugmentation:
    """Everything the torch loop needs to augment one fit's training batches.

    Attributes:
        policy: the built augmentations.
        seed: the cell's seed.
        rows: the track rows of the fit's training examples.
        waveforms: every window's samples ``[M, C, T]``, or its copies ``[M, K, C, T]``, by
            window row (the sample index of the per-example seeds); ``None`` when no input
            needs waveforms.
        n_copies: ``K`` when the policy pre-renders, else 0.
        routes: one per model input.
    """

    policy: Policy
    seed: int
    rows: np.ndarray
    waveforms: np.ndarray | None
    n_copies: int
    routes: tuple[Route, ...]


@dataclass(frozen=True, kw_only=True)
class TrainingSetup:
    """What ``prepare_training`` needs from a cell."""

    policy: Policy
    features: FeatureStore
    tracks: Tracks
    frontends: Sequence[FrontEndSpec]
    frontend_params: Sequence[Mapping[str, Any]]
    rows: np.ndarray
    seed: int
    render_seed: int
    sample_rate: int


def prepare_training(setup: TrainingSetup) -> TrainingAugmentation:
    """Decide each input's route and render (or load) the pre-rendered copies it needs.

    Window waveforms are read (and cached) only when an input needs them; copies are rendered
    per window, so any window a training epoch draws has its copies.
    """
    policy = setup.policy
    copies = _copies(setup) if policy.prerendered else None
    has_waveform_step = bool(policy.live_waveform or policy.prerendered)
    routes = []
    for frontend, params in zip(setup.frontends, setup.frontend_params, strict=True):
        if frontend.trainable:
            routes.append(Route(source="waveform" if has_waveform_step else "cached"))
        elif policy.live_waveform:
            module = frontend.builder(setup.sample_rate, **params)
            routes.append(Route(source="frontend", frontend=module))
        elif copies is not None:
            features = copy_features(copies, frontend, params, sample_rate=setup.sample_rate)
            routes.append(Route(source="copies", copies=features))
        else:
            routes.append(Route(source="cached"))
    needs_waveforms = any(r.source in ("waveform", "frontend") for r in routes)
    source = None
    if needs_waveforms:
        source = copies.array if copies is not None else setup.features.waveforms(setup.tracks)
    return TrainingAugmentation(
        policy=policy,
        seed=setup.seed,
        rows=np.asarray(setup.rows),
        waveforms=source,
        n_copies=N_COPIES if copies is not None else 0,
        routes=tuple(routes),
    )


def _copies(setup: TrainingSetup) -> Copies:
    """The pre-rendered copies of every window of the dataset (rendered once per seed)."""
    features, tracks = setup.features, setup.tracks
    windows = features.windows(tracks)
    key = {"windows": features.window_key(tracks)}
    track_ids = tracks.table["track_id"].astype(str).to_numpy()
    ids = [f"{track_ids[t]}@{s}" for t, s in zip(windows.track, windows.start, strict=True)]
    array, digest = render_copies(
        features.waveforms(tracks), ids, setup.policy.prerendered, seed=setup.render_seed, key=key
    )
    return Copies(array=array, key=digest)
