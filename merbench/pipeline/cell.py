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
from merbench.evaluation.budgets import Budget
from merbench.evaluation.cv import inner_split
from merbench.evaluation.metrics import compute_metrics
from merbench.pipeline.fitting import CandidateFit
from merbench.pipeline.fitting import CellPlan as CellPlan
from merbench.pipeline.progress import Step
from merbench.pipeline.record import (
    augmentation_info,
    frontend_info,
    plugin_names,
    prediction_rows,
    window_info,
)
from merbench.results.schema import CellKey, CellResult
from merbench.train.calibration import Rescaling, rescale
from merbench.train.family import family_of
from merbench.train.fit import Fitted, describe_device, score
from merbench.train.policy import tunable
from merbench.train.timing import measuring, phase
from merbench.train.tuning import candidate_space, default_params, make_study, tune

if TYPE_CHECKING:
    import optuna

EpochCallback = Callable[[Step], None]
"""What a cell calls after every epoch of a trial: where its tuning is (``Step``)."""


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
    ``phase_<name>_s`` (``phase_total_s``: the whole cell), beside its tallies
    (``tally_<name>_s``: a torch fit's first epochs).
    """
    with measuring() as clock:
        result = _run_cell(plan, features, on_epoch)
    phases = {f"phase_{name}_s": seconds for name, seconds in clock.seconds.items()}
    phases |= {f"tally_{name}_s": seconds for name, seconds in clock.tallies.items()}
    return replace(result, timings={**result.timings, **phases})


def tune_and_refit(
    plan: CellPlan, features: FeatureStore, on_epoch: EpochCallback | None = None
) -> Refit:
    """Tune on an inner grouped split of ``plan.fold.train``, then refit on all of it.

    The part of a cell before its test fold is predicted; ``merbench export`` runs it with
    every track of a dataset as the training part.
    """
    return _tune_and_refit(CandidateFit(plan, features), on_epoch)


def _tune_and_refit(fitting: CandidateFit, on_epoch: EpochCallback | None) -> Refit:
    started = time.perf_counter()
    plan, y, train = fitting.plan, fitting.y, fitting.plan.fold.train
    inner_train, inner_valid = _inner_split(plan)
    rescaling = fitting.rescaling(inner_train, inner_valid)

    def objective(trial: optuna.Trial, params: dict[str, Any]) -> float:
        report = _reporter(trial, on_epoch, plan.problem.budget)
        fitted = fitting.fit(params, inner_train, inner_valid, report=report)
        trial.set_user_attr("best_epoch", fitted.best_epoch)
        best_epochs.append(fitted.best_epoch)
        finished[trial.number] = {"best_epoch": fitted.best_epoch}
        if rescaling is not None:  # scored with leave-one-out slopes; the slopes go to the refit
            with phase("validate"):
                slopes, y_valid = fitting.fit_rescaling(params, fitted, rescaling, inner_valid)
            trial.set_user_attr("rescale_slopes", slopes.tolist())
            finished[trial.number]["rescale_slopes"] = slopes.tolist()
            return score(plan.problem, y[inner_valid], y_valid)
        if fitted.valid_score is not None:
            return fitted.valid_score
        with phase("validate"):
            y_valid = fitting.predict(fitted, params, inner_valid)
            return score(plan.problem, y[inner_valid], y_valid)

    best_epochs: list[int] = []  # of every trial that finished (pruned trials raise first)
    finished: dict[int, dict[str, Any]] = {}  # by trial number: best epoch, rescaling slopes
    tuned = _tune(plan, objective)
    tuned_at = time.perf_counter()
    epochs = refit_epochs(best_epochs, plan.problem.budget) if best_epochs else None
    fitted = fitting.fit(tuned.best_params, train, epochs=epochs)
    refit_at = time.perf_counter()
    return Refit(
        y=y, inner_valid=inner_valid, rescaling=rescaling, best_epochs=best_epochs, tuned=tuned,
        finished=finished, epochs=epochs, fitted=fitted, started=started, tuned_at=tuned_at,
        refit_at=refit_at,
    )  # fmt: skip


def _inner_split(plan: CellPlan) -> tuple[np.ndarray, np.ndarray]:
    """The inner training and validation tracks: ``plan.fold.train`` split by group."""
    groups = plan.tracks.table["group"].to_numpy()
    train = plan.fold.train
    inner_train, inner_valid = inner_split(
        groups[train], valid_fraction=plan.problem.budget.valid_fraction, seed=plan.seed
    )
    return train[inner_train], train[inner_valid]


def _reporter(
    trial: optuna.Trial, on_epoch: EpochCallback | None, budget: Budget
) -> Callable[[int, float], None]:
    """What a trial's fit calls after every epoch: report to the study, prune when it says so."""

    def report(epoch: int, value: float) -> None:
        import optuna

        trial.report(value, epoch)
        trial.set_user_attr("epochs", epoch)
        if on_epoch is not None:
            trials, epochs = budget.trials, budget.epochs
            number = trial.number + 1
            on_epoch(Step(trial=number, trials=trials, epoch=epoch, epochs=epochs, value=value))
        if trial.should_prune():
            raise optuna.TrialPruned()

    return report


def _run_cell(
    plan: CellPlan, features: FeatureStore, on_epoch: EpochCallback | None = None
) -> CellResult:
    fitting = CandidateFit(plan, features)
    refit = _tune_and_refit(fitting, on_epoch)
    y, tuned, fitted = refit.y, refit.tuned, refit.fitted
    train, test = plan.fold.train, plan.fold.test
    with phase("predict"):
        y_pred = fitting.predict(fitted, tuned.best_params, test)
        slopes = refit.slopes
        y_pred = rescale(y_pred, slopes, y[train].mean(axis=0))
        predicted_at = time.perf_counter()
        scores = fitting.scores(fitted, tuned.best_params, test)
    metrics = _metrics(plan, y, y_pred, train, test, scores)
    tested = Tested(params=tuned.best_params, epochs=refit.epochs, slopes=slopes, metrics=metrics)
    default = _default_config(fitting, tuned, refit.finished, tested)
    defaulted_at = time.perf_counter()
    started, tuned_at, refit_at = refit.started, refit.tuned_at, refit.refit_at
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
        info=_info(fitting, refit, default),
        predictions=prediction_rows(plan, y, y_pred, test),
        trials=tuned.trials,
    )


def _info(fitting: CandidateFit, refit: Refit, default: dict[str, Any] | None) -> dict[str, Any]:
    """The cell's ``CellResult.info`` (``merbench.pipeline.record`` gives its parts)."""
    plan, tuned, fitted = fitting.plan, refit.tuned, refit.fitted
    train, test = plan.fold.train, plan.fold.test
    return {
        "n_train": len(train),
        "n_valid": len(refit.inner_valid),
        "n_test": len(test),
        "n_params": fitted.n_params,
        "best_value": tuned.best_value,
        "best_epoch": fitted.best_epoch,
        "refit_epochs": refit.epochs,
        "trial_best_epochs": refit.best_epochs,
        "device": describe_device(fitting.family.device()),
        "seed": plan.seed,
        "is_baseline": plan.model.is_baseline,
        "plugins": plugin_names(plan),
        "search_space": tuned.space,
        "study": tuned.study,
        "frontends": frontend_info(plan),
        "model_family": plan.model.family,
        **augmentation_info(plan),
        **window_info(plan, fitting.features, train, test),
        **({} if refit.rescaling is None else {"rescale_slopes": refit.slopes}),
        **({} if default is None else {"default": default}),
    }


def refit_epochs(best_epochs: Sequence[int], budget: Budget) -> int:
    """How many epochs the refit on the whole outer training part trains.

    The median of the best epochs of every finished trial, not the best trial's alone: one
    trial's best epoch on a small validation split is a noisy draw, and a refit of one or two
    epochs scored far below its trials. It is never fewer than ``patience + 1`` epochs (a
    shorter run could not even have been early-stopped) nor more than the budget's cap.
    """
    floor = min(budget.epochs, budget.patience + 1)
    return int(min(budget.epochs, max(floor, round(float(np.median(best_epochs))))))


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
    builders: dict[str, Callable[..., Any]] = {"": plan.model.builder}
    builders |= {f"{f.name}.": f.builder for f in plan.frontends}
    builders |= {f"{a.name}.": a.builder for a in augmentations}
    optimiser = family_of(plan.model).optimiser_defaults(plan.model)
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
    fitting: CandidateFit,
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
    plan, y = fitting.plan, fitting.y
    space, defaults = _space_and_defaults(plan)
    first = next((t for t in tuned.trials if t["number"] == DEFAULT_TRIAL), None)
    if plan.model.is_baseline or not space or not defaults or first is None:
        return None
    params = dict(first["params"])
    drawn = sorted(set(params) - set(defaults))
    record: dict[str, Any] = {"params": params, "trial": DEFAULT_TRIAL, "drawn": drawn}
    if DEFAULT_TRIAL not in finished:
        return record | {"error": f"the first trial ended {first['state']}"}
    epochs = refit_epochs([finished[DEFAULT_TRIAL]["best_epoch"]], plan.problem.budget)
    slopes = finished[DEFAULT_TRIAL].get("rescale_slopes")
    record |= {"refit_epochs": epochs}
    if params == tested.params and epochs == tested.epochs and slopes == tested.slopes:
        return record | {"metrics": _scalars(tested.metrics), "same_as_tuned": True}
    train, test = plan.fold.train, plan.fold.test
    fitted = fitting.fit(params, train, epochs=epochs)
    with phase("predict"):
        y_pred = rescale(fitting.predict(fitted, params, test), slopes, y[train].mean(0))
        scores = fitting.scores(fitted, params, test)
    metrics = _metrics(plan, y, y_pred, train, test, scores)
    return record | {"metrics": _scalars(metrics), "same_as_tuned": False}


def _scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The metrics that are single numbers."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}


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
