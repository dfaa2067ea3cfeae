"""Hyperparameter tuning: one seeded Optuna study per cell, pruned per epoch.

Search spaces are data that plugins declare (``search_space``), composed here: model keys as
they are, front-end keys as ``<frontend>.<key>``, augmentation keys as ``<augmentation>.<key>``,
and the optimiser's ``lr`` and ``weight_decay`` for torch models. Every candidate gets the same
number of trials.

Studies live in memory unless a worker places them: on a PostgreSQL results store each cell's
study is kept in the same database (Optuna's ``RDBStorage``, its tables in schema ``optuna``),
named after the run and the cell, and started afresh whenever the cell is (re)claimed, so a
re-queued cell's study is the one a single process would have run.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from merbench.errors import CellError
from merbench.plugin.specs import AugmentationSpec, FrontEndSpec, ModelSpec
from merbench.space import optuna_space
from merbench.train.family import family_of

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

    from merbench.results.store import Store

log = logging.getLogger(__name__)

Objective = Callable[["optuna.Trial", dict[str, Any]], float]
OPTUNA_SCHEMA = "optuna"
OPTUNA_LOGGER = "merbench.optuna"
SETTINGS_ATTR = "merbench_settings"
"""The study's user attribute that records how ``make_study`` made it (``Tuned.study``)."""
MEDIAN_PRUNER = {"n_startup_trials": 2, "n_warmup_steps": 2}
"""The default pruner's settings: prune from the third trial on, after a trial's second step."""
"""The level set on this logger (by the CLI's ``-v``) is the level Optuna's own logs get."""

_placement: ContextVar[tuple[optuna.storages.BaseStorage, str] | None] = ContextVar(
    "merbench_study_placement", default=None
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Tuned:
    """The outcome of a cell's study."""

    best_params: dict[str, Any]
    best_value: float
    best_attrs: dict[str, Any]
    trials: list[dict[str, Any]]
    space: dict[str, Any] = field(default_factory=dict)
    """Every parameter's distribution as Optuna's JSON (``distribution_to_json``), suggested
    ones included."""
    study: dict[str, Any] = field(default_factory=dict)
    """How the study sampled and pruned (``make_study``'s record) and whether it started from
    the plugins' defaults."""


def candidate_space(
    model: ModelSpec,
    frontends: Sequence[FrontEndSpec],
    augmentations: Sequence[AugmentationSpec] = (),
) -> dict[str, BaseDistribution]:
    """Compose a candidate's search space (as Optuna distributions) from its model, front-ends
    and tuned augmentations."""
    space: dict[str, Any] = dict(model.search_space)
    space.update(family_of(model).search_space())
    for frontend in frontends:
        space.update({f"{frontend.name}.{k}": v for k, v in frontend.search_space.items()})
    for augmentation in augmentations:
        space.update({f"{augmentation.name}.{k}": v for k, v in augmentation.search_space.items()})
    return optuna_space(space)


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
    space: Mapping[str, BaseDistribution],
    builders: Mapping[str, Callable[..., Any]],
    *,
    optimiser: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The first trial's parameters: the builders' own defaults for the keys of ``space`` that
    they declare, then the model's ``optimiser`` settings (``ModelSpec.optimiser``), each kept
    when it lies in its range.

    ``builders`` maps a key prefix (``""`` for the model, ``"<frontend>."``) to a build function.
    """
    defaults: dict[str, Any] = {}
    for prefix, build in builders.items():
        defaults |= {f"{prefix}{k}": v for k, v in keyword_defaults(build).items()}
    defaults |= dict(optimiser or {})
    return {k: v for k, v in defaults.items() if k in space and is_in_range(space[k], v)}


def keyword_defaults(build: Callable[..., Any]) -> dict[str, Any]:
    """The keywords of ``build`` that have a default, with it (none without a signature)."""
    try:
        parameters = inspect.signature(build).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return {}
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def default_reprs(build: Callable[..., Any]) -> dict[str, str]:
    """``keyword_defaults`` of ``build`` as ``repr`` text: how an export records a front-end's
    defaults and how predict compares them with the installed plugin's."""
    return {name: repr(value) for name, value in keyword_defaults(build).items()}


def is_in_range(distribution: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` is one ``distribution`` can give (a category not among the choices
    is not)."""
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except ValueError:
        return False


def quiet_optuna() -> None:
    """Give Optuna's logs the level set on ``merbench.optuna`` (WARNING when unset).

    Optuna adds its own stderr handler when it is imported; merbench removes it, so trial
    lines never tear the progress display.
    """
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.set_verbosity(logging.getLogger(OPTUNA_LOGGER).level or logging.WARNING)


def startup_trials(n_trials: int | None) -> int:
    """Trials the TPE sampler draws at random before it models the results.

    Optuna's default, 10, when the budget is unknown or large; else half the budget (at least
    one), so a small budget still has TPE proposals: with 4 trials the study is the plugin's
    defaults, one random draw and two TPE proposals, not the defaults and three random draws.
    Enqueued, pruned and completed trials all count towards it; failed ones do not.
    """
    return _OPTUNA_STARTUP if n_trials is None else min(_OPTUNA_STARTUP, max(1, n_trials // 2))


_OPTUNA_STARTUP = 10


def make_study(
    seed: int,
    *,
    n_trials: int | None = None,
    storage: str | None = None,
    name: str | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """A maximising study with a seeded TPE sampler and (by default) a median pruner.

    ``n_trials``, the budget's trials, sets the sampler's random start-up (``startup_trials``).
    Without ``storage``, inside ``study_placement(storage, name)`` the study is created afresh
    there (a study of that name left by an interrupted worker is deleted first).
    """
    import optuna

    quiet_optuna()
    target: str | optuna.storages.BaseStorage | None = storage
    placed = _placement.get() if storage is None else None
    if placed is not None:
        target, name = placed
        _delete_study(target, name)
    startup = startup_trials(n_trials)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup),
        pruner=pruner or optuna.pruners.MedianPruner(**MEDIAN_PRUNER),
        storage=target,
        study_name=name,
        load_if_exists=storage is not None,
    )
    settings = {"direction": "maximize", "sampler": "TPESampler", "startup_trials": startup}
    settings["pruner"] = type(study.pruner).__name__
    settings |= {f"pruner_{k}": v for k, v in MEDIAN_PRUNER.items()} if pruner is None else {}
    study.set_user_attr(SETTINGS_ATTR, settings)
    return study


@contextmanager
def study_placement(storage: optuna.storages.BaseStorage | None, name: str) -> Iterator[None]:
    """Put the studies that ``make_study`` creates in this block into ``storage`` as ``name``."""
    if storage is None:
        yield
        return
    token = _placement.set((storage, name))
    try:
        yield
    finally:
        _placement.reset(token)


def open_study_storage(store: Store) -> optuna.storages.BaseStorage | None:
    """Optuna's storage beside a results store: PostgreSQL's schema ``optuna``, else ``None``.

    On SQLite studies stay in memory: one worker runs a whole study, and Optuna's SQLite
    storage would cost tens of milliseconds per trial.
    """
    if store.dialect != "postgresql":
        return None
    import optuna
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        # Session-level lock: workers starting together must not race to create the schema
        # or Optuna's tables (CREATE ... IF NOT EXISTS is not safe against that).
        conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _OPTUNA_LOCK})
        try:
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}"))
            conn.commit()
            return optuna.storages.RDBStorage(
                store.engine.url.render_as_string(hide_password=False),
                engine_kwargs={
                    "connect_args": {"options": f"-csearch_path={OPTUNA_SCHEMA}"},
                    "pool_pre_ping": True,
                    # One thread uses the study: one connection, kept open between trials,
                    # is each worker's whole steady share of max_connections (the store's
                    # own connections last one transaction each; docs/scale-out.md). Optuna
                    # opens a second one for a moment while it checks its tables' version.
                    "pool_size": 1,
                    "max_overflow": 1,
                },
            )
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _OPTUNA_LOCK})
            conn.commit()


_OPTUNA_LOCK = 0x6D65_7263


def close_study_storage(storage: optuna.storages.BaseStorage | None) -> None:
    """Release the database connections of a storage from ``open_study_storage``."""
    import optuna

    if isinstance(storage, optuna.storages.RDBStorage):
        storage.remove_session()
        storage.engine.dispose()


def _delete_study(storage: optuna.storages.BaseStorage, name: str) -> None:
    import optuna

    try:
        optuna.delete_study(study_name=name, storage=storage)
    except KeyError:
        return
    log.info("deleted the unfinished study %s to start it afresh", name)


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

    from merbench.train.fit import NonFiniteLoss

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
    made = dict(study.user_attrs.get(SETTINGS_ATTR) or {})
    return Tuned(
        best_params=best_params,
        best_value=float(best.value or 0.0),
        best_attrs=dict(best.user_attrs),
        trials=records,
        space=_space_record(study.trials),
        study=made | {"defaults_first": bool(defaults and space)},
    )


def _space_record(trials: Sequence[optuna.trial.FrozenTrial]) -> dict[str, Any]:
    """The distributions of every parameter the trials drew, as JSON-ready dicts."""
    import json

    from optuna.distributions import distribution_to_json

    return {
        name: json.loads(distribution_to_json(distribution))
        for trial in trials
        for name, distribution in trial.distributions.items()
    }


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
