"""Hyperparameter tuning: one seeded Optuna study per cell, pruned per epoch.

Search spaces are data that plugins declare (``search_space``), composed here: model keys as
they are, front-end keys as ``<frontend>.<key>``, augmentation keys as ``<augmentation>.<key>``,
and the optimiser's ``lr`` and ``weight_decay`` for torch models. Every candidate gets the same
number of trials.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from merbench.errors import CellError
from merbench.specs import AugmentationSpec, FrontEndSpec, ModelSpec

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

log = logging.getLogger(__name__)

Objective = Callable[["optuna.Trial", dict[str, Any]], float]


@dataclass(frozen=True, kw_only=True, slots=True)
class Tuned:
    """The outcome of a cell's study."""

    best_params: dict[str, Any]
    best_value: float
    best_attrs: dict[str, Any]
    trials: list[dict[str, Any]]


def candidate_space(
    model: ModelSpec,
    frontends: Sequence[FrontEndSpec],
    augmentations: Sequence[AugmentationSpec] = (),
) -> dict[str, BaseDistribution]:
    """Compose a candidate's search space from its model, front-ends and tuned augmentations."""
    space: dict[str, BaseDistribution] = dict(model.search_space)
    if model.family == "torch":
        from merbench.torch_space import torch_search_space

        space.update(torch_search_space())
    for frontend in frontends:
        space.update({f"{frontend.name}.{k}": v for k, v in frontend.search_space.items()})
    for augmentation in augmentations:
        space.update({f"{augmentation.name}.{k}": v for k, v in augmentation.search_space.items()})
    return space


def split_params(
    params: Mapping[str, Any],
    frontends: Sequence[FrontEndSpec],
    augmentations: Sequence[AugmentationSpec] = (),
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Split flat trial parameters into model parameters and per-front-end parameters.

    Keys of ``augmentations`` (``<augmentation>.<key>``) go to neither.
    """
    names = {f.name for f in frontends} | {a.name for a in augmentations}
    model_params = {k: v for k, v in params.items() if k.partition(".")[0] not in names}
    per_frontend = [
        {k.partition(".")[2]: v for k, v in params.items() if k.partition(".")[0] == f.name}
        for f in frontends
    ]
    return model_params, per_frontend


def default_params(
    space: Mapping[str, BaseDistribution], builders: Mapping[str, Callable[..., Any]]
) -> dict[str, Any]:
    """The builders' own defaults for the keys of ``space`` that they declare in range.

    ``builders`` maps a key prefix (``""`` for the model, ``"<frontend>."``) to a build function.
    """
    defaults: dict[str, Any] = {}
    for prefix, build in builders.items():
        for name, parameter in inspect.signature(build).parameters.items():
            key = f"{prefix}{name}"
            if key in space and parameter.default is not inspect.Parameter.empty:
                if space[key]._contains(space[key].to_internal_repr(parameter.default)):
                    defaults[key] = parameter.default
    return defaults


def make_study(
    seed: int,
    *,
    storage: str | None = None,
    name: str | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """A maximising study with a seeded TPE sampler and (by default) a median pruner."""
    import optuna

    return optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),
        storage=storage,
        study_name=name,
        load_if_exists=storage is not None,
    )


def tune(
    study: optuna.Study,
    space: Mapping[str, BaseDistribution],
    *,
    n_trials: int,
    objective: Objective,
    defaults: Mapping[str, Any] | None = None,
    suggest: Callable[[optuna.Trial], dict[str, Any]] | None = None,
) -> Tuned:
    """Run up to ``n_trials`` trials (one when there is nothing to tune) and pick the best.

    A trial that raises ``optuna.TrialPruned`` is recorded as pruned; one whose training
    diverged (``NonFiniteLoss``) as failed. Any other exception ends the cell.

    Raises:
        CellError: every trial failed or was pruned.
    """
    import optuna

    from merbench.train import NonFiniteLoss

    if defaults and space:
        study.enqueue_trial(dict(defaults), skip_if_exists=True)
    total = n_trials if (space or suggest) else 1
    records: list[dict[str, Any]] = []
    for _ in range(total):
        trial = study.ask(fixed_distributions=dict(space))
        params = dict(trial.params) | (suggest(trial) if suggest else {})
        started = time.perf_counter()
        value: float | None = None
        try:
            value = objective(trial, params)
            state = optuna.trial.TrialState.COMPLETE
        except optuna.TrialPruned:
            state = optuna.trial.TrialState.PRUNED
        except NonFiniteLoss as exc:
            log.info("trial %d failed: %s", trial.number, exc)
            trial.set_user_attr("error", str(exc))
            state = optuna.trial.TrialState.FAIL
        study.tell(trial, value if state == optuna.trial.TrialState.COMPLETE else None, state=state)
        records.append(_record(trial, state.name.lower(), value, params, started))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        reasons = {t.user_attrs.get("error", t.state.name.lower()) for t in study.trials}
        raise CellError(f"no trial finished ({'; '.join(sorted(map(str, reasons)))})")
    best = max(complete, key=lambda t: float(t.value or 0.0))
    best_params = next(r["params"] for r in records if r["number"] == best.number)
    return Tuned(
        best_params=best_params,
        best_value=float(best.value or 0.0),
        best_attrs=dict(best.user_attrs),
        trials=records,
    )


def _record(
    trial: optuna.Trial, state: str, value: float | None, params: dict[str, Any], started: float
) -> dict[str, Any]:
    return {
        "number": trial.number,
        "state": state,
        "value": value,
        "params": params,
        "duration_s": time.perf_counter() - started,
        "epochs": int(trial.user_attrs.get("epochs", 0)),
    }
