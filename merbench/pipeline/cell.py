"""One cell: tune a candidate on the inner split, refit it, and score it on the outer test fold.

A cell is dataset x task x candidate x (repeat, outer fold). Its Optuna study sees only the outer
training part (split again by group into inner training and validation tracks); the outer test
fold is predicted once, by the model refitted with the best parameters.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from merbench.data.features import FeatureStore
from merbench.data.tracks import Tracks
from merbench.data.windows import Feed, Windows
from merbench.errors import CellError
from merbench.evaluation.budgets import Budget
from merbench.evaluation.cv import Fold, inner_split
from merbench.evaluation.metrics import compute_metrics
from merbench.pipeline.candidates import Candidate
from merbench.plugin.specs import AugmentationSpec, FrontEndSpec, ModelSpec
from merbench.plugin.torch_space import OPTIMISER_DEFAULTS
from merbench.results.schema import CellKey, CellResult
from merbench.train.augment import TrainingAugmentation, TrainingSetup, prepare_training
from merbench.train.calibration import AGGREGATION, Rescaling, is_rescaled, rescale
from merbench.train.fit import Fitted, Problem, Trainable, fit_sklearn, pick_device, score
from merbench.train.policy import make_policy, tunable
from merbench.train.timing import measuring, phase
from merbench.train.tuning import (
    candidate_space,
    default_params,
    keyword_defaults,
    make_study,
    split_params,
    tune,
)

if TYPE_CHECKING:
    import optuna

EpochCallback = Callable[[int, float], None]


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


def cell_seed(run_seed: int, key: CellKey) -> int:
    """A seed for one cell, derived from the run seed and the cell's identity."""
    from numpy.random import SeedSequence

    parts = [key.dataset, key.task, key.candidate]
    entropy = [run_seed, *(zlib.crc32(p.encode()) for p in parts), key.repeat, key.fold]
    return int(SeedSequence(entropy).generate_state(1)[0])


def run_cell(
    plan: CellPlan, features: FeatureStore, on_epoch: EpochCallback | None = None
) -> CellResult:
    """Tune, refit and test one cell; return what the store keeps.

    The cell's time is split into phases (``merbench.train.timing``), stored as timings
    ``phase_<name>_s`` (``phase_total_s``: the whole cell).
    """
    with measuring() as clock:
        result = _run_cell(plan, features, on_epoch)
    phases = {f"phase_{name}_s": seconds for name, seconds in clock.seconds.items()}
    return replace(result, timings={**result.timings, **phases})


def tune_and_refit(
    plan: CellPlan, features: FeatureStore, on_epoch: EpochCallback | None = None
) -> Refit:
    """Tune on an inner grouped split of ``plan.fold.train``, then refit on all of it.

    The part of a cell before its test fold is predicted; ``merbench export`` runs it with
    every track of a dataset as the training part.
    """
    started = time.perf_counter()
    y = plan.tracks.targets(plan.problem.task)
    groups = plan.tracks.table["group"].to_numpy()
    train = plan.fold.train
    inner_train, inner_valid = inner_split(
        groups[train], valid_fraction=plan.problem.budget.valid_fraction, seed=plan.seed
    )
    inner_train, inner_valid = train[inner_train], train[inner_valid]
    rescaling = _rescaling(plan, features, y, inner_train, inner_valid)

    def objective(trial: optuna.Trial, params: dict[str, Any]) -> float:
        def report(epoch: int, value: float) -> None:
            import optuna

            trial.report(value, epoch)
            trial.set_user_attr("epochs", epoch)
            if on_epoch is not None:
                on_epoch(epoch, value)
            if trial.should_prune():
                raise optuna.TrialPruned()

        fitted = _fit(plan, features, params, inner_train, y, inner_valid, report=report)
        trial.set_user_attr("best_epoch", fitted.best_epoch)
        best_epochs.append(fitted.best_epoch)
        finished[trial.number] = {"best_epoch": fitted.best_epoch}
        if rescaling is not None:  # scored with leave-one-out slopes; the slopes go to the refit
            with phase("validate"):
                slopes, y_valid = _fit_rescaling(
                    plan, features, params, fitted, rescaling, inner_valid
                )
            trial.set_user_attr("rescale_slopes", slopes.tolist())
            finished[trial.number]["rescale_slopes"] = slopes.tolist()
            return score(plan.problem, y[inner_valid], y_valid)
        if fitted.valid_score is not None:
            return fitted.valid_score
        with phase("validate"):
            return score(
                plan.problem,
                y[inner_valid],
                _predict(plan, features, fitted, params, inner_valid),
            )

    best_epochs: list[int] = []  # of every trial that finished (pruned trials raise first)
    finished: dict[int, dict[str, Any]] = {}  # by trial number: best epoch, rescaling slopes
    tuned = _tune(plan, objective)
    tuned_at = time.perf_counter()
    epochs = refit_epochs(best_epochs, plan.problem.budget) if best_epochs else None
    fitted = _fit(plan, features, tuned.best_params, train, y, None, epochs=epochs)
    refit_at = time.perf_counter()
    return Refit(
        y=y, inner_valid=inner_valid, rescaling=rescaling, best_epochs=best_epochs, tuned=tuned,
        finished=finished, epochs=epochs, fitted=fitted, started=started, tuned_at=tuned_at,
        refit_at=refit_at,
    )  # fmt: skip


def _run_cell(
    plan: CellPlan, features: FeatureStore, on_epoch: EpochCallback | None = None
) -> CellResult:
    refit = tune_and_refit(plan, features, on_epoch)
    y, inner_valid, rescaling = refit.y, refit.inner_valid, refit.rescaling
    tuned, epochs, fitted, best_epochs = refit.tuned, refit.epochs, refit.fitted, refit.best_epochs
    finished = refit.finished
    started, tuned_at, refit_at = refit.started, refit.tuned_at, refit.refit_at
    train, test = plan.fold.train, plan.fold.test
    with phase("predict"):
        y_pred = _predict(plan, features, fitted, tuned.best_params, test)
        slopes = None if rescaling is None else tuned.best_attrs.get("rescale_slopes")
        y_pred = rescale(y_pred, slopes, y[train].mean(axis=0))
        predicted_at = time.perf_counter()
        scores = None
        if plan.problem.top_k and fitted.scores is not None:
            scores = fitted.scores(_feed(plan, features, tuned.best_params, test), len(test))
    metrics = _metrics(plan, y, y_pred, train, test, scores)
    tested = Tested(params=tuned.best_params, epochs=epochs, slopes=slopes, metrics=metrics)
    default = _default_config(plan, features, y, tuned, finished, tested)
    defaulted_at = time.perf_counter()
    return CellResult(
        metrics=metrics,
        best_params=tuned.best_params,
        timings={
            "tune_s": tuned_at - started,
            "refit_s": refit_at - tuned_at,
            "predict_s": predicted_at - refit_at,
            "per_clip_ms": 1000 * (predicted_at - refit_at) / max(len(test), 1),
            "total_s": predicted_at - started,
            **({} if default is None else {"default_s": defaulted_at - predicted_at}),
        },
        info={
            "n_train": len(train),
            "n_valid": len(inner_valid),
            "n_test": len(test),
            "n_params": fitted.n_params,
            "best_value": tuned.best_value,
            "best_epoch": fitted.best_epoch,
            "refit_epochs": epochs,
            "trial_best_epochs": best_epochs,
            "device": pick_device() if plan.model.family == "torch" else "cpu",
            "seed": plan.seed,
            "is_baseline": plan.model.is_baseline,
            "plugins": _plugins(plan),
            "search_space": tuned.space,
            "study": tuned.study,
            "frontends": _frontend_info(plan),
            "model_family": plan.model.family,
            **_augmentation_info(plan),
            **window_info(plan, features, train, test),
            **({} if rescaling is None else {"rescale_slopes": slopes}),
            **({} if default is None else {"default": default}),
        },
        predictions=_prediction_rows(plan, y, y_pred, test),
        trials=tuned.trials,
    )


def refit_epochs(best_epochs: Sequence[int], budget: Budget) -> int:
    """How many epochs the refit on the whole outer training part trains.

    The median of the best epochs of every finished trial, not the best trial's alone: one
    trial's best epoch on a small validation split is a noisy draw, and a refit of one or two
    epochs scored far below its trials. It is never fewer than ``patience + 1`` epochs (a
    shorter run could not even have been early-stopped) nor more than the budget's cap.
    """
    floor = min(budget.epochs, budget.patience + 1)
    return int(min(budget.epochs, max(floor, round(float(np.median(best_epochs))))))


def window_info(
    plan: CellPlan, features: FeatureStore, train: np.ndarray, test: np.ndarray
) -> dict[str, Any]:
    """How the cell's tracks were cut into windows and their predictions aggregated.

    Keys: ``sample_rate``, ``window_s``, ``hop_s``, ``max_seconds`` (``None``: whole clips),
    ``windowing`` (``all`` or ``single``), ``aggregation`` and ``n_windows_train`` /
    ``n_windows_test``.
    """
    settings = features.audio.settings
    if not plan.model.accepts:
        return {"sample_rate": settings.sample_rate, "aggregation": "none"}
    windows = features.windows(plan.tracks)
    if plan.model.family == "sklearn":
        aggregation = "mean of window inputs"
    elif plan.problem.is_regression:
        rescaled = is_rescaled(plan.model.family, True, np.diff(windows.offsets))
        aggregation = AGGREGATION if rescaled else "mean of window outputs"
    else:
        aggregation = "mean of window probabilities"
    return {
        "sample_rate": settings.sample_rate,
        "window_s": settings.n_samples / settings.sample_rate,
        "hop_s": settings.hop_samples / settings.sample_rate,
        "max_seconds": features.cap(plan.tracks),
        "windowing": settings.windowing,
        "aggregation": aggregation,
        "n_windows_train": int(windows.counts(train).sum()),
        "n_windows_test": int(windows.counts(test).sum()),
    }


def _fit_rescaling(
    plan: CellPlan,
    features: FeatureStore,
    params: Mapping[str, Any],
    fitted: Fitted,
    rescaling: Rescaling,
    valid: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The slopes and rescaled validation predictions of a trial (``Rescaling.fit``).

    From the windows of the kept epoch's early-stopping check when the fit has them (no pass
    over the validation tracks again), else from every window of the validation tracks.
    """
    if fitted.valid_windows is not None:
        window_pred, owner = fitted.valid_windows
        return replace(rescaling, owner=owner).fit(window_pred)
    feed = _feed(plan, features, params, valid).by_window()[0]
    return rescaling.fit(fitted.predict(feed, len(feed)))


def _rescaling(
    plan: CellPlan, features: FeatureStore, y: np.ndarray, train: np.ndarray, valid: np.ndarray
) -> Rescaling | None:
    """How a fit on ``train`` rescales its predictions of ``valid``
    (``merbench.train.calibration``)."""
    windows = features.windows(plan.tracks) if plan.model.accepts else Windows.identity(len(y))
    if not is_rescaled(plan.model.family, plan.problem.is_regression, np.diff(windows.offsets)):
        return None
    owner = windows.rows_of(valid)[1]
    return Rescaling(y_true=y[valid], owner=owner, centre=y[train].mean(axis=0))


def _plugins(plan: CellPlan) -> list[str]:
    """``distribution version`` of the plugins that gave the candidate's parts."""
    records: list[ModelSpec | FrontEndSpec | AugmentationSpec] = [
        plan.model,
        *plan.frontends,
        *plan.augmentations,
    ]
    provenances = [r.provenance for r in records if r.provenance]
    return sorted({f"{p.distribution} {p.version}" for p in provenances})


def _frontend_info(plan: CellPlan) -> list[dict[str, Any]]:
    """Each front-end's output kind, whether it trains, its build keywords' defaults (the
    values it used unless tuned: tuned ones are in ``best_params``), the rate it reads when it
    declares one, and what its ``describe()`` says (a pretrained encoder's model id, revision
    and weights' sha256)."""
    return [
        {
            "name": frontend.name,
            "output": frontend.output,
            "trainable": frontend.trainable,
            "params": _keyword_defaults(frontend.build),
            **({} if frontend.sample_rate is None else {"sample_rate": frontend.sample_rate}),
            **({} if frontend.describe is None else {"weights": dict(frontend.describe())}),
        }
        for frontend in plan.frontends
    ]


def _keyword_defaults(build: Callable[..., Any]) -> dict[str, Any]:
    """``keyword_defaults`` of ``build`` for the record: ``None`` left out, non-scalars as
    ``repr``."""
    return {
        name: value if isinstance(value, bool | int | float | str) else repr(value)
        for name, value in keyword_defaults(build).items()
        if value is not None
    }


def _augmentation_info(plan: CellPlan) -> dict[str, Any]:
    """The policy and the mode of each augmentation, when the candidate has any."""
    if not plan.augmentations:
        return {}
    policy = make_policy(
        plan.augmentations, {}, sample_rate=plan.problem.sample_rate, run_mode=plan.augment_mode
    )
    return {"augmentation": policy.describe()}


def _tune(plan: CellPlan, objective: Callable[[optuna.Trial, dict[str, Any]], float]) -> Any:
    space, defaults = _space_and_defaults(plan)
    with phase("tuning"):
        return tune(
            make_study(plan.seed, n_trials=plan.problem.budget.trials),
            space,
            n_trials=plan.problem.budget.trials,
            objective=objective,
            defaults=defaults,
            suggest=plan.model.suggest,
        )


def _space_and_defaults(plan: CellPlan) -> tuple[dict[str, Any], dict[str, Any]]:
    """The candidate's search space and the study's first trial: the plugins' defaults.

    The defaults are the build functions' keyword defaults, the model's own optimiser settings
    (``ModelSpec.optimiser``) and, for torch models, the core's (``OPTIMISER_DEFAULTS``), each
    kept when it lies in its range (``default_params``).
    """
    augmentations = tunable(plan.augmentations, plan.augment_mode)
    space = candidate_space(plan.model, plan.frontends, augmentations)
    builders: dict[str, Callable[..., Any]] = {"": plan.model.build}
    builders |= {f"{f.name}.": f.build for f in plan.frontends}
    builders |= {f"{a.name}.": a.build for a in augmentations}
    optimiser = dict(plan.model.optimiser)
    if plan.model.family == "torch":
        optimiser = OPTIMISER_DEFAULTS | optimiser
    return space, default_params(space, builders, optimiser=optimiser)


@dataclass(frozen=True, kw_only=True)
class Tested:
    """The tuned model's refit: its parameters, epochs, rescaling slopes and test metrics."""

    params: dict[str, Any]
    epochs: int | None
    slopes: Any
    metrics: dict[str, Any]


DEFAULT_TRIAL = 0
"""The study's first trial, which ``tune`` enqueues with the plugins' defaults."""


def _default_config(
    plan: CellPlan,
    features: FeatureStore,
    y: np.ndarray,
    tuned: Any,
    finished: Mapping[int, Mapping[str, Any]],
    tested: Tested,
) -> dict[str, Any] | None:
    """The plugins' default configuration, refitted and scored on the same outer test fold.

    What the Optuna budget buys is the tuned score minus this one. The configuration is the
    study's first trial (``DEFAULT_TRIAL``): every key with an in-range default takes it, the
    others (``drawn``) the sampler's first draw. It is refitted on the outer training part for
    as many epochs as its own trial early-stopped at (``refit_epochs`` of that one trial), with
    its trial's rescaling slopes, and scored on the outer test fold. When that is exactly the
    tuned refit (the first trial won and the epochs agree) the tuned scores are reused.

    ``None`` for baselines and for candidates with nothing to tune.
    """
    space, defaults = _space_and_defaults(plan)
    first = next((t for t in tuned.trials if t["number"] == DEFAULT_TRIAL), None)
    if plan.model.is_baseline or not space or not defaults or first is None:
        return None
    params = dict(first["params"])
    record: dict[str, Any] = {
        "params": params,
        "trial": DEFAULT_TRIAL,
        "drawn": sorted(set(params) - set(defaults)),
    }
    if DEFAULT_TRIAL not in finished:
        return record | {"error": f"the first trial ended {first['state']}"}
    epochs = refit_epochs([finished[DEFAULT_TRIAL]["best_epoch"]], plan.problem.budget)
    slopes = finished[DEFAULT_TRIAL].get("rescale_slopes")
    record |= {"refit_epochs": epochs}
    if params == tested.params and epochs == tested.epochs and slopes == tested.slopes:
        return record | {"metrics": _scalars(tested.metrics), "same_as_tuned": True}
    train, test = plan.fold.train, plan.fold.test
    fitted = _fit(plan, features, params, train, y, None, epochs=epochs)
    with phase("predict"):
        y_pred = rescale(_predict(plan, features, fitted, params, test), slopes, y[train].mean(0))
        scores = None
        if plan.problem.top_k and fitted.scores is not None:
            scores = fitted.scores(_feed(plan, features, params, test), len(test))
    metrics = _metrics(plan, y, y_pred, train, test, scores)
    return record | {"metrics": _scalars(metrics), "same_as_tuned": False}


def _scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The metrics that are single numbers."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}


def _inputs(
    plan: CellPlan, features: FeatureStore, params: Mapping[str, Any]
) -> tuple[list[np.ndarray], list[Trainable | None], Windows]:
    """Every window's model inputs for these parameters, the in-graph front-ends, the windows.

    A model that declares no input (a baseline) gets one column per track: its group (artist)
    as an integer code, the same code for the same group in every fold. ``mean`` and
    ``majority`` ignore it; ``artist-prior`` predicts from it what the artist alone is worth.
    """
    _, per_frontend = split_params(params, plan.frontends, plan.augmentations)
    arrays: list[np.ndarray] = []
    trainables: list[Trainable | None] = []
    if not plan.model.accepts:
        codes = np.unique(plan.tracks.table["group"].astype(str), return_inverse=True)[1]
        return [codes.astype(np.float64)[:, None]], [], Windows.identity(len(codes))
    with phase("frontends"):
        for frontend, frontend_params in zip(plan.frontends, per_frontend, strict=True):
            if frontend.trainable:
                arrays.append(features.waveforms(plan.tracks))
                trainables.append(Trainable(spec=frontend, params=frontend_params))
            else:
                arrays.append(features.features(plan.tracks, frontend, frontend_params))
                trainables.append(None)
        return arrays, trainables, features.windows(plan.tracks)


def _feed(
    plan: CellPlan, features: FeatureStore, params: Mapping[str, Any], rows: np.ndarray
) -> Feed:
    """The model inputs of the tracks ``rows``, window by window."""
    arrays, _, windows = _inputs(plan, features, params)
    return Feed(sources=arrays, windows=windows, rows=np.asarray(rows))


def _fit(
    plan: CellPlan,
    features: FeatureStore,
    params: Mapping[str, Any],
    train: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray | None,
    *,
    report: Callable[[int, float], None] | None = None,
    epochs: int | None = None,
) -> Fitted:
    model_params, _ = split_params(params, plan.frontends, plan.augmentations)
    _, trainables, _ = _inputs(plan, features, params)
    train_feed = _feed(plan, features, params, train)
    if plan.model.family == "sklearn":
        if plan.augmentations:  # planning refuses these candidates (check_candidate)
            raise CellError(f"{plan.candidate.name}: augmentations train torch models only")
        with phase("fit"):
            return fit_sklearn(plan.model, model_params, train_feed, y[train], plan.problem)
    from merbench.train.loop import fit_torch

    return fit_torch(
        plan.model,
        model_params,
        (train_feed, y[train]),
        plan.problem,
        seed=plan.seed,
        trainables=trainables,
        valid=None if valid is None else (_feed(plan, features, params, valid), y[valid]),
        epochs=epochs,
        report=report,
        augmentation=_augmentation(plan, features, params, train),
    )


def _augmentation(
    plan: CellPlan, features: FeatureStore, params: Mapping[str, Any], train: np.ndarray
) -> TrainingAugmentation | None:
    """How to augment the training batches of one fit (``None`` without a policy)."""
    if not plan.augmentations:
        return None
    sample_rate = plan.problem.sample_rate
    policy = make_policy(
        plan.augmentations, params, sample_rate=sample_rate, run_mode=plan.augment_mode
    )
    _, per_frontend = split_params(params, plan.frontends, plan.augmentations)
    setup = TrainingSetup(
        policy=policy,
        features=features,
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


def _predict(
    plan: CellPlan,
    features: FeatureStore,
    fitted: Fitted,
    params: Mapping[str, Any],
    rows: np.ndarray,
) -> np.ndarray:
    return fitted.predict(_feed(plan, features, params, rows), len(rows))


def _metrics(
    plan: CellPlan,
    y: np.ndarray,
    y_pred: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    scores: np.ndarray | None,
) -> dict[str, Any]:
    labels = plan.problem.labels
    top_k = plan.problem.top_k if scores is not None else None
    if top_k is not None and top_k >= len(labels):
        top_k = None  # top-k of k >= classes is always 1: not a measurement
    return compute_metrics(
        plan.problem.task,
        y[test],
        y_pred,
        labels=labels or None,
        proba=scores,
        top_k=top_k,
        y_train=y[train],
    )


def _prediction_rows(
    plan: CellPlan, y: np.ndarray, y_pred: np.ndarray, test: np.ndarray
) -> list[tuple[str, str, float, float]]:
    ids: Sequence[str] = plan.tracks.table["track_id"].to_numpy()[test].tolist()
    if plan.problem.is_regression:
        return [
            (track, target, float(y[i, d]), float(y_pred[n, d]))
            for n, (track, i) in enumerate(zip(ids, test, strict=True))
            for d, target in enumerate(plan.problem.task.targets)
        ]
    return [
        (track, "class", float(y[i]), float(y_pred[n]))
        for n, (track, i) in enumerate(zip(ids, test, strict=True))
    ]


@dataclass(frozen=True, kw_only=True)
class Refit:
    """What ``tune_and_refit`` leaves for the test fold (and for ``merbench export``)."""

    y: np.ndarray
    """The task's targets of every track of the dataset."""
    inner_valid: np.ndarray
    rescaling: Rescaling | None
    best_epochs: list[int]
    finished: dict[int, dict[str, Any]]
    """By trial number, of every trial that finished: its best epoch and rescaling slopes."""
    tuned: Any
    """The study's outcome (``merbench.train.tuning.tune``): best params, value, attributes."""
    epochs: int | None
    fitted: Fitted
    started: float
    tuned_at: float
    refit_at: float

    @property
    def slopes(self) -> list[float] | None:
        """The best trial's rescaling slopes (``None``: predictions are not rescaled)."""
        return None if self.rescaling is None else self.tuned.best_attrs.get("rescale_slopes")


def refit_params(
    plan: CellPlan, features: FeatureStore, params: Mapping[str, Any], epochs: int | None
) -> Fitted:
    """Fit ``params`` on ``plan.fold.train`` with no validation (as a cell's refit)."""
    y = plan.tracks.targets(plan.problem.task)
    return _fit(plan, features, params, plan.fold.train, y, None, epochs=epochs)


def track_feed(
    plan: CellPlan, features: FeatureStore, params: Mapping[str, Any], rows: np.ndarray
) -> Feed:
    """The model inputs of the tracks ``rows`` window by window, as a cell predicts them."""
    return _feed(plan, features, params, rows)
