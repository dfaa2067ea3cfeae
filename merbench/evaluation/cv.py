"""Splits: grouped outer folds shared by every candidate, and the inner validation split.

Outer folds keep every group (artist) on one side, are seeded, and are stored with a hash in the
results store, so every candidate of a run is evaluated on exactly the same folds (a paired
comparison). The inner split holds out groups of an outer training part for early stopping and
for the Optuna objective.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from merbench.errors import ConfigError


@dataclass(frozen=True, kw_only=True, slots=True)
class Fold:
    """One outer fold: indices into the dataset's track table."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


def make_outer_folds(
    groups: Sequence[str],
    *,
    n_folds: int,
    repeats: int,
    seed: int,
    classes: np.ndarray | None = None,
) -> list[Fold]:
    """Make ``repeats`` x ``n_folds`` grouped folds (stratified by class when given).

    Args:
        groups: the group (artist) of every track.
        n_folds: K; lowered to the number of groups when there are fewer.
        repeats: how many shuffled K-fold partitions to make.
        seed: the run seed; repeat ``r`` uses ``seed + r``.
        classes: class labels for classification tasks (StratifiedGroupKFold).

    Raises:
        ConfigError: fewer than two groups.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    group_array = np.asarray(groups)
    n_groups = len(np.unique(group_array))
    if n_groups < 2:
        raise ConfigError(
            f"Grouped cross-validation needs at least 2 groups (artists); the data has {n_groups}. "
            "Check the dataset's 'group' column."
        )
    k = min(n_folds, n_groups)
    folds = []
    index = np.arange(len(group_array))
    for repeat in range(repeats):
        if classes is not None:
            splitter: Any = StratifiedGroupKFold(k, shuffle=True, random_state=seed + repeat)
        else:
            splitter = GroupKFold(k, shuffle=True, random_state=seed + repeat)
        labels = classes if classes is not None else np.zeros(len(group_array))
        for fold, (train, test) in enumerate(splitter.split(index, labels, group_array)):
            folds.append(Fold(repeat=repeat, fold=fold, train=train, test=test))
    return folds


def make_random_folds(
    n_tracks: int, *, n_folds: int, repeats: int, seed: int, classes: np.ndarray | None = None
) -> list[Fold]:
    """Make ``repeats`` x ``n_folds`` ungrouped folds (stratified by class when given).

    The protocol most published MER results used: an artist's songs may sit on both sides, so
    a model can score by recognising the artist (``merbench.data.splits`` reports the leakage).

    Raises:
        ConfigError: fewer than two tracks.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    if n_tracks < 2:
        raise ConfigError(f"Cross-validation needs at least 2 tracks; the data has {n_tracks}.")
    k = min(n_folds, n_tracks)
    if classes is not None:
        k = min(k, max(2, int(np.bincount(np.unique(classes, return_inverse=True)[1]).min())))
    index = np.arange(n_tracks)
    labels = classes if classes is not None else np.zeros(n_tracks)
    folds = []
    for repeat in range(repeats):
        if classes is not None:
            splitter: Any = StratifiedKFold(k, shuffle=True, random_state=seed + repeat)
        else:
            splitter = KFold(k, shuffle=True, random_state=seed + repeat)
        for fold, (train, test) in enumerate(splitter.split(index, labels)):
            folds.append(Fold(repeat=repeat, fold=fold, train=train, test=test))
    return folds


def official_folds(splits: Sequence[str]) -> list[Fold]:
    """One fold from a dataset's own split column (``train``/``valid`` train, ``test`` tests).

    Raises:
        ConfigError: the column has no ``test`` or no training tracks.
    """
    split = np.asarray(splits)
    train = np.flatnonzero(np.isin(split, ("train", "valid")))
    test = np.flatnonzero(split == "test")
    if not len(train) or not len(test):
        raise ConfigError(
            "The dataset's official split needs 'train' and 'test' tracks in its 'split' column."
        )
    return [Fold(repeat=0, fold=0, train=train, test=test)]


MIN_VALID_TRACKS = 2
"""Validation scores (R², CCC, Pearson r) are undefined on one track."""
MIN_TRAIN_TRACKS = 2


def inner_split(
    groups: Sequence[str], *, valid_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split an outer training part into inner train and validation indices (by group).

    When the held-out groups hold a single track (one-track groups of a small dataset), more
    groups, in a seeded order, move to the validation side until it has two tracks.

    Returns:
        Positions into ``groups`` of the inner training and validation tracks.

    Raises:
        ConfigError: the part is too small for two validation and two training tracks.
    """
    from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

    group_array = np.asarray(groups)
    index = np.arange(len(group_array))
    if len(np.unique(group_array)) >= 2:
        splitter: Any = GroupShuffleSplit(1, test_size=valid_fraction, random_state=seed)
        train, valid = next(splitter.split(index, groups=group_array))
    else:
        splitter = ShuffleSplit(1, test_size=valid_fraction, random_state=seed)
        train, valid = next(splitter.split(index))
    train, valid = np.asarray(train), np.asarray(valid)
    if len(valid) < MIN_VALID_TRACKS:
        train, valid = _grow_valid(group_array, train, valid, seed)
    return train, valid


def _grow_valid(
    group_array: np.ndarray, train: np.ndarray, valid: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Move whole groups (tracks, for a single group) from ``train`` to ``valid``."""
    units = group_array if len(np.unique(group_array)) >= 2 else np.arange(len(group_array))
    order = np.random.default_rng(seed).permutation(np.unique(units[train]))
    for unit in order:
        if len(valid) >= MIN_VALID_TRACKS:
            break
        moved = units[train] == unit
        if len(train) - moved.sum() >= MIN_TRAIN_TRACKS:
            valid = np.sort(np.concatenate([valid, train[moved]]))
            train = train[~moved]
    if len(valid) < MIN_VALID_TRACKS:
        n_groups = len(np.unique(group_array))
        raise ConfigError(
            f"Inner validation split: the outer training part has {len(group_array)} track(s) "
            f"in {n_groups} group(s); it needs whole groups with at least {MIN_VALID_TRACKS} "
            f"tracks to validate on and {MIN_TRAIN_TRACKS} more to train on (at least 4 tracks "
            "in 2 groups). Use a dataset with more tracks and groups (artists), or a budget "
            "with fewer outer_folds so that each training part is larger."
        )
    return train, valid


def manifest(track_ids: Sequence[str], folds: Sequence[Fold]) -> dict[str, list[list[str]]]:
    """The test tracks of every fold, by repeat: what the hash is taken of."""
    ids = np.asarray(track_ids)
    out: dict[str, list[list[str]]] = {}
    for fold in folds:
        out.setdefault(str(fold.repeat), []).append(sorted(ids[fold.test].tolist()))
    return out


def manifest_hash(content: dict[str, list[list[str]]]) -> str:
    """A stable SHA-256 of a split manifest."""
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
