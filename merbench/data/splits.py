"""The outer folds of one dataset and task: protocol, manifest, hash and audit.

Every candidate of a run is evaluated on the folds made here, once per dataset and task; the
manifest (each fold's test tracks) is stored with its SHA-256, so a resumed run or a worker on
another machine can tell whether it sees the same data (``merbench.pipeline.plan.folds_for``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from merbench.data.config import DatasetConfig
from merbench.data.tracks import Tracks
from merbench.errors import ConfigError, DatasetError
from merbench.evaluation.budgets import Budget
from merbench.evaluation.cv import (
    Fold,
    make_outer_folds,
    make_random_folds,
    manifest,
    manifest_hash,
    official_folds,
)
from merbench.evaluation.stats import leakage_share, noise_ceiling_r2
from merbench.evaluation.tasks import TaskSpec

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


MIN_TRAIN_TRACKS = 4
"""The fewest tracks a fold may train on: tuning splits off validation tracks from them."""


def _check_fold_sizes(tracks: Tracks, folds: Sequence[Fold]) -> None:
    """Refuse folds too small to train and tune on, before any cell fails on them.

    Raises:
        DatasetError: the smallest fold's parts and what to change.
    """
    if not folds:
        return
    small = min(folds, key=lambda f: len(f.train))
    if len(small.train) < MIN_TRAIN_TRACKS or len(small.test) == 0:
        raise DatasetError(
            f"dataset '{tracks.name}' has {len(tracks.table)} usable track(s): fold "
            f"{small.fold} of repeat {small.repeat} would train on {len(small.train)} and test "
            f"on {len(small.test)}, and a fold needs at least {MIN_TRAIN_TRACKS} tracks to train "
            "and tune on. Add tracks, or use fewer folds (--set outer_folds=N)."
        )


def _check_fold_variance(tracks: Tracks, task: TaskSpec, folds: Sequence[Fold]) -> None:
    """Refuse folds whose test tracks all have one value of a target: R\u00b2 and the
    correlations are undefined there, and any constant prediction would score as perfect.

    Raises:
        DatasetError: the first such fold, its target and value, and what to change.
    """
    y = tracks.targets(task)
    for fold in folds:
        test = y[fold.test]
        for d, target in enumerate(task.targets):
            if len(fold.test) and np.ptp(test[:, d]) == 0:
                raise DatasetError(
                    f"dataset '{tracks.name}': the {len(fold.test)} test track(s) of repeat "
                    f"{fold.repeat} fold {fold.fold} all have {target} = {test[0, d]:g}, so no "
                    f"score of task '{task.name}' can be computed there. Use fewer folds "
                    "(--set outer_folds=N) or more tracks."
                )


@dataclass(frozen=True, kw_only=True)
class Split:
    """The outer folds of one dataset and task, with what is stored of them."""

    folds: list[Fold]
    manifest: dict[str, list[list[str]]]
    digest: str
    audit: dict[str, Any]


def make_split(
    tracks: Tracks,
    task: TaskSpec,
    dataset: DatasetConfig,
    budget: Budget,
    seed: int,
    protocol: str | None = None,
) -> Split:
    """Make a dataset's outer folds for a task under a split protocol (default: its own).

    Raises:
        ConfigError: an official split the dataset plugin does not provide, or too few groups.
    """
    table = tracks.table
    protocol = protocol or dataset.split
    classes = tracks.targets(task) if task.is_classification else None
    if protocol == "random":
        folds = make_random_folds(
            len(table),
            n_folds=budget.outer_folds,
            repeats=budget.repeats,
            seed=seed,
            classes=classes,
        )
    elif protocol == "official":
        if "split" not in table:
            raise ConfigError(
                f"[datasets.{dataset.name}]: split = 'official', but dataset plugin "
                f"'{dataset.plugin}' has no official split. Use split = 'grouped'."
            )
        folds = official_folds(table["split"].astype(str).tolist())
    else:
        folds = make_outer_folds(
            table["group"].tolist(),
            n_folds=budget.outer_folds,
            repeats=budget.repeats,
            seed=seed,
            classes=classes,
        )
    _check_fold_sizes(tracks, folds)
    if task.is_regression:
        _check_fold_variance(tracks, task, folds)
    content = manifest(table["track_id"].tolist(), folds)
    return Split(
        folds=folds,
        manifest=content,
        digest=manifest_hash(content),
        audit=_audit(tracks, task, protocol, folds),
    )


def _audit(tracks: Tracks, task: TaskSpec, protocol: str, folds: list[Fold]) -> dict[str, Any]:
    """What the dataset page shows of a split: protocol, sizes, group leakage, noise ceiling.

    ``groups`` (track id -> group) lets statistics resample whole groups of the pooled
    out-of-fold predictions.
    """
    table = tracks.table
    groups = table["group"].to_numpy()
    audit: dict[str, Any] = {
        "protocol": protocol,
        "n_folds": len({f.fold for f in folds}),
        "repeats": len({f.repeat for f in folds}),
        "leakage": max(leakage_share(groups[f.train], groups[f.test]) for f in folds),
        "n_tracks": len(table),
        "n_groups": int(table["group"].nunique()),
        "n_skipped": len(tracks.skipped),
        "groups": dict(zip(table["track_id"].astype(str), table["group"].astype(str), strict=True)),
    }
    if task.is_regression:
        ceiling = _noise_ceiling(table, task.targets)
        if ceiling is not None:
            audit["noise_ceiling_r2"] = ceiling
    return audit


def _noise_ceiling(table: pd.DataFrame, targets: Sequence[str]) -> float | None:
    """The best mean R² the labels allow, when the dataset publishes the raters' spread."""
    columns = [f"{t}_std" for t in targets]
    if not set(columns) <= set(table.columns):
        return None
    n_raters = int(table["n_raters"].median()) if "n_raters" in table else None
    try:
        return noise_ceiling_r2(
            table[columns].to_numpy(dtype=float),
            table[list(targets)].to_numpy(dtype=float),
            n_raters,
        )
    except ValueError as exc:
        log.info("no noise ceiling: %s", exc)
        return None
