"""A cell's record: what ``CellResult.info`` says of it beside the scores, and its predictions.

How its tracks were cut into windows and their predictions aggregated (``window_info``, also
in an exported model's ``model.json``), the plugins that gave the candidate's parts, each
front-end's settings, the augmentation policy, and one prediction row per test track and target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from merbench.data.features import FeatureStore
from merbench.pipeline.fitting import CellPlan
from merbench.plugin.specs import AugmentationSpec, FrontEndSpec, ModelSpec
from merbench.train.family import family_of
from merbench.train.policy import make_policy
from merbench.train.tuning import keyword_defaults


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
    family, is_regression = family_of(plan.model), plan.problem.is_regression
    rescaled = family.rescales(is_regression, np.diff(windows.offsets))
    aggregation = family.aggregation(is_regression, rescaled)
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


def plugin_names(plan: CellPlan) -> list[str]:
    """``distribution version`` of the plugins that gave the candidate's parts."""
    records: list[ModelSpec | FrontEndSpec | AugmentationSpec] = [
        plan.model,
        *plan.frontends,
        *plan.augmentations,
    ]
    provenances = [r.provenance for r in records if r.provenance]
    return sorted({f"{p.distribution} {p.version}" for p in provenances})


def frontend_info(plan: CellPlan) -> list[dict[str, Any]]:
    """Each front-end's output kind, whether it trains, its build keywords' defaults (the
    values it used unless tuned: tuned ones are in ``best_params``), the rate it reads when it
    declares one, and what its ``describe()`` says (a pretrained encoder's model id, revision
    and weights' sha256)."""
    return [
        {
            "name": frontend.name,
            "output": frontend.output,
            "trainable": frontend.trainable,
            "params": _keyword_defaults(frontend.builder),
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


def augmentation_info(plan: CellPlan) -> dict[str, Any]:
    """The policy and the mode of each augmentation, when the candidate has any."""
    if not plan.augmentations:
        return {}
    policy = make_policy(
        plan.augmentations, {}, sample_rate=plan.problem.sample_rate, run_mode=plan.augment_mode
    )
    return {"augmentation": policy.describe()}


def prediction_rows(
    plan: CellPlan, y: np.ndarray, y_pred: np.ndarray, test: np.ndarray
) -> list[tuple[str, str, float, float]]:
    """``(track, target, truth, prediction)`` of every test track and target (each tag, with its
    predicted probability, for a multilabel task; ``class`` for a classification task)."""
    ids: Sequence[str] = plan.tracks.table["track_id"].to_numpy()[test].tolist()
    if not plan.problem.task.is_classification:
        return [
            (track, target, float(y[i, d]), float(y_pred[n, d]))
            for n, (track, i) in enumerate(zip(ids, test, strict=True))
            for d, target in enumerate(plan.problem.task.targets)
        ]
    return [
        (track, "class", float(y[i]), float(y_pred[n]))
        for n, (track, i) in enumerate(zip(ids, test, strict=True))
    ]
