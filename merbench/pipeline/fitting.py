"""Fitting one candidate of a cell: its inputs, one fit per parameter set, its predictions.

``CandidateFit`` is what a cell's trials, its refit and its default-configuration refit share
with ``merbench export``: the model inputs of a parameter set (cached front-end features or
waveforms, and the windows they are cut into), a fit on some tracks (the model family's:
``merbench.train.family``), predictions, class scores and the rescaling of whole-clip
predictions. The feature store is asked once per parameter set, not once per use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from merbench.data.features import FeatureStore
from merbench.data.tracks import Tracks
from merbench.data.windows import Feed, Windows
from merbench.errors import CellError
from merbench.evaluation.cv import Fold
from merbench.pipeline.candidates import Candidate
from merbench.plugin.specs import AugmentationSpec, FrontEndSpec, ModelSpec
from merbench.results.schema import CellKey
from merbench.train.augment import TrainingAugmentation, TrainingSetup, prepare_training
from merbench.train.calibration import Rescaling
from merbench.train.family import FitRequest, family_of
from merbench.train.fit import Fitted, Problem, Trainable
from merbench.train.policy import make_policy
from merbench.train.timing import phase
from merbench.train.tuning import split_params


@dataclass(frozen=True, kw_only=True)
class CellPlan:
    """Everything one cell needs."""

    key: CellKey
    tracks: Tracks
    candidate: Candidate
    model: ModelSpec
    frontends: tuple[FrontEndSpec, ...]
    fold: Fold
    problem: Problem
    seed: int
    augmentations: tuple[AugmentationSpec, ...] = ()
    augment_mode: str = "auto"
    """``auto`` (each augmentation's own mode), ``on-the-fly`` or ``pre-rendered``."""
    render_seed: int = 0
    """The run's seed: pre-rendered copies are shared by every fold and candidate."""


@dataclass(frozen=True, kw_only=True)
class CandidateInputs:
    """Every window's model inputs for one parameter set."""

    arrays: list[np.ndarray]
    """Per model input: cached features of a fixed front-end, or waveforms of a trainable one."""
    trainables: list[Trainable | None]
    """Per model input: the trainable front-end run inside the network (``None``: fixed)."""
    windows: Windows


class CandidateFit:
    """Fit parameter sets of a cell's candidate and predict with them.

    The inputs of the last parameter set asked for are kept: a trial's fit, its validation
    and the refit's test predictions ask the feature store once. They depend on the front-ends'
    parameters alone, so trials that tune only the model's share them. Only the last set is
    kept, so a study holds one set of arrays at a time.
    """

    def __init__(self, plan: CellPlan, features: FeatureStore) -> None:
        self.plan = plan
        self.features = features
        self.family = family_of(plan.model)
        self.y = plan.tracks.targets(plan.problem.task)
        """The task's targets of every track of the dataset."""
        self._last: tuple[list[list[tuple[str, type, Any]]], CandidateInputs] | None = None

    def inputs(self, params: Mapping[str, Any]) -> CandidateInputs:
        """Every window's model inputs for these parameters (kept for the next call).

        A model that declares no input (a baseline) gets one column per track: its group
        (artist) as an integer code, the same code for the same group in every fold. ``mean``
        and ``majority`` ignore it; ``artist-prior`` predicts from it what the artist alone
        is worth.
        """
        key = self._key(params)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        self._last = None  # the previous set's arrays go before the next set's are read
        inputs = self._read(params)
        self._last = (key, inputs)
        return inputs

    def _key(self, params: Mapping[str, Any]) -> list[list[tuple[str, type, Any]]]:
        """What the inputs depend on: each front-end's parameters, types included (``True``
        and ``1`` build different front-ends)."""
        _, per_frontend = split_params(params, self.plan.frontends, self.plan.augmentations)
        return [[(k, type(v), v) for k, v in sorted(p.items())] for p in per_frontend]

    def _read(self, params: Mapping[str, Any]) -> CandidateInputs:
        plan, features = self.plan, self.features
        if not plan.model.accepts:
            codes = np.unique(plan.tracks.table["group"].astype(str), return_inverse=True)[1]
            column = codes.astype(np.float64)[:, None]
            return CandidateInputs(
                arrays=[column], trainables=[], windows=Windows.identity(len(codes))
            )
        _, per_frontend = split_params(params, plan.frontends, plan.augmentations)
        arrays: list[np.ndarray] = []
        trainables: list[Trainable | None] = []
        with phase("frontends"):
            for frontend, frontend_params in zip(plan.frontends, per_frontend, strict=True):
                if frontend.trainable:
                    arrays.append(features.waveforms(plan.tracks))
                    trainables.append(Trainable(spec=frontend, params=frontend_params))
                else:
                    arrays.append(features.features(plan.tracks, frontend, frontend_params))
                    trainables.append(None)
            windows = features.windows(plan.tracks)
        return CandidateInputs(arrays=arrays, trainables=trainables, windows=windows)

    def feed(self, params: Mapping[str, Any], rows: np.ndarray) -> Feed:
        """The model inputs of the tracks ``rows``, window by window."""
        inputs = self.inputs(params)
        return Feed(sources=inputs.arrays, windows=inputs.windows, rows=np.asarray(rows))

    def fit(
        self,
        params: Mapping[str, Any],
        train: np.ndarray,
        valid: np.ndarray | None = None,
        *,
        report: Callable[[int, float], None] | None = None,
        epochs: int | None = None,
    ) -> Fitted:
        """Fit ``params`` on the tracks ``train``, early-stopping on ``valid`` when given.

        Raises:
            CellError: augmentations for a family that trains without them (planning refuses
                these candidates first: ``merbench.train.policy.check_policy``).
        """
        plan, y = self.plan, self.y
        if plan.augmentations and not self.family.augments:
            raise CellError(f"{plan.candidate.name}: augmentations train torch models only")
        model_params, _ = split_params(params, plan.frontends, plan.augmentations)
        request = FitRequest(
            model=plan.model,
            params=model_params,
            train=(self.feed(params, train), y[train]),
            problem=plan.problem,
            seed=plan.seed,
            trainables=self.inputs(params).trainables,
            valid=None if valid is None else (self.feed(params, valid), y[valid]),
            epochs=epochs,
            report=report,
            augmentation=self.augmentation(params, train) if self.family.augments else None,
        )
        return self.family.fit(request)

    def augmentation(
        self, params: Mapping[str, Any], train: np.ndarray
    ) -> TrainingAugmentation | None:
        """How to augment the training batches of one fit (``None`` without a policy)."""
        plan = self.plan
        if not plan.augmentations:
            return None
        sample_rate = plan.problem.sample_rate
        policy = make_policy(
            plan.augmentations, params, sample_rate=sample_rate, run_mode=plan.augment_mode
        )
        _, per_frontend = split_params(params, plan.frontends, plan.augmentations)
        setup = TrainingSetup(
            policy=policy,
            features=self.features,
            tracks=plan.tracks,
            frontends=plan.frontends,
            frontend_params=per_frontend,
            rows=train,
            seed=plan.seed,
            render_seed=plan.render_seed,
            sample_rate=sample_rate,
        )
        with phase("augment"):
            return prepare_training(setup)

    def predict(self, fitted: Fitted, params: Mapping[str, Any], rows: np.ndarray) -> np.ndarray:
        """The fit's predictions of the tracks ``rows`` (before any rescaling)."""
        return fitted.predict(self.feed(params, rows), len(rows))

    def scores(
        self, fitted: Fitted, params: Mapping[str, Any], rows: np.ndarray
    ) -> np.ndarray | None:
        """Class scores of the tracks ``rows`` for top-k accuracy (``None``: not asked for,
        or a regression fit)."""
        if not self.plan.problem.top_k or fitted.scores is None:
            return None
        return fitted.scores(self.feed(params, rows), len(rows))

    def rescaling(self, train: np.ndarray, valid: np.ndarray) -> Rescaling | None:
        """How a fit on ``train`` rescales its predictions of ``valid``
        (``merbench.train.calibration``; ``None``: the family does not rescale them)."""
        plan, y = self.plan, self.y
        accepts = plan.model.accepts
        windows = self.features.windows(plan.tracks) if accepts else Windows.identity(len(y))
        if not self.family.rescales(plan.problem.is_regression, np.diff(windows.offsets)):
            return None
        owner = windows.rows_of(valid)[1]
        return Rescaling(y_true=y[valid], owner=owner, centre=y[train].mean(axis=0))

    def fit_rescaling(
        self,
        params: Mapping[str, Any],
        fitted: Fitted,
        rescaling: Rescaling,
        valid: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The slopes and rescaled validation predictions of a trial (``Rescaling.fit``).

        From the windows of the kept epoch's early-stopping check when the fit has them (no
        pass over the validation tracks again), else from every window of the validation
        tracks.
        """
        if fitted.valid_windows is not None:
            window_pred, owner = fitted.valid_windows
            return replace(rescaling, owner=owner).fit(window_pred)
        feed = self.feed(params, valid).by_window()[0]
        return rescaling.fit(fitted.predict(feed, len(feed)))
