"""Outer folds are grouped, seeded and identical for every candidate; inner splits are grouped."""

from __future__ import annotations

import numpy as np
import pytest

from merbench.errors import ConfigError
from merbench.evaluation.cv import (
    inner_split,
    make_outer_folds,
    manifest,
    manifest_hash,
    official_folds,
)
from merbench.evaluation.tasks import get_task


def _groups(n=60, n_groups=12):
    return [f"artist-{i % n_groups}" for i in range(n)]


def test_outer_folds_are_grouped_and_cover_every_track_once():
    groups = np.asarray(_groups())
    folds = make_outer_folds(groups, n_folds=5, repeats=2, seed=3)
    assert len(folds) == 10
    for repeat in (0, 1):
        tests = np.concatenate([f.test for f in folds if f.repeat == repeat])
        assert sorted(tests.tolist()) == list(range(60))
    for fold in folds:
        assert not set(groups[fold.train]) & set(groups[fold.test])


def test_folds_depend_on_the_seed_only():
    groups = _groups()
    first = manifest(
        [str(i) for i in range(60)], make_outer_folds(groups, n_folds=5, repeats=1, seed=0)
    )
    again = manifest(
        [str(i) for i in range(60)], make_outer_folds(groups, n_folds=5, repeats=1, seed=0)
    )
    other = manifest(
        [str(i) for i in range(60)], make_outer_folds(groups, n_folds=5, repeats=1, seed=1)
    )
    assert manifest_hash(first) == manifest_hash(again)
    assert manifest_hash(first) != manifest_hash(other)


def test_stratified_folds_for_classes_stay_grouped():
    groups = np.asarray(_groups())
    classes = np.arange(60) % 4 + 1
    for fold in make_outer_folds(groups, n_folds=3, repeats=1, seed=0, classes=classes):
        assert not set(groups[fold.train]) & set(groups[fold.test])
        assert set(classes[fold.test]) == {1, 2, 3, 4}


def test_fewer_groups_than_folds_lowers_k_and_one_group_fails():
    assert len(make_outer_folds(_groups(12, 3), n_folds=5, repeats=1, seed=0)) == 3
    with pytest.raises(ConfigError, match="at least 2 groups"):
        make_outer_folds(["a"] * 10, n_folds=5, repeats=1, seed=0)


def test_inner_split_is_grouped():
    groups = np.asarray(_groups())
    train, valid = inner_split(groups, valid_fraction=0.25, seed=0)
    assert len(valid) > 0 and not set(groups[train]) & set(groups[valid])
    assert sorted(np.concatenate([train, valid]).tolist()) == list(range(60))


def test_official_split():
    [fold] = official_folds(["train", "valid", "test", "train", "test"])
    assert fold.train.tolist() == [0, 1, 3] and fold.test.tolist() == [2, 4]
    with pytest.raises(ConfigError, match="needs 'train' and 'test'"):
        official_folds(["train", "train"])


def _regression_score(valid):
    from merbench.evaluation.budgets import get_budget
    from merbench.train.fit import Problem, score

    problem = Problem(
        task=get_task("av-regression"), labels=(), budget=get_budget("smoke"), sample_rate=8000
    )
    y = np.stack([np.arange(10.0), np.arange(10.0)[::-1]], axis=1)
    return score(problem, y[valid], y[valid] + 0.1)


@pytest.mark.parametrize("n_groups", [5, 1], ids=["one-track-groups", "one-group"])
def test_an_inner_split_never_validates_on_a_single_track(n_groups):
    groups = np.asarray([f"artist-{i % n_groups}" for i in range(5)])
    for seed in range(20):
        train, valid = inner_split(groups, valid_fraction=0.2, seed=seed)
        assert np.isfinite(_regression_score(valid))  # was: 'float' object is not iterable
        assert len(valid) >= 2 and len(train) >= 2
        assert sorted([*train, *valid]) == list(range(5))
        if n_groups > 1:
            assert not set(groups[train]) & set(groups[valid])


def test_an_inner_split_of_a_larger_part_is_scikit_learns():
    from sklearn.model_selection import GroupShuffleSplit

    groups = _groups(40, 10)
    train, valid = inner_split(groups, valid_fraction=0.2, seed=4)
    expected = next(
        GroupShuffleSplit(1, test_size=0.2, random_state=4).split(groups, groups=groups)
    )
    assert train.tolist() == expected[0].tolist() and valid.tolist() == expected[1].tolist()


def test_an_inner_split_too_small_to_validate_says_what_it_needs():
    with pytest.raises(ConfigError) as caught:
        inner_split(["a", "b", "c"], valid_fraction=0.2, seed=0)
    assert str(caught.value).startswith(
        "Inner validation split: the outer training part has 3 track(s) in 3 group(s); it needs "
        "whole groups with at least 2 tracks to validate on and 2 more to train on"
    )


def test_random_folds_ignore_groups_cover_every_track_once_and_follow_the_seed():
    from merbench.evaluation.cv import make_random_folds
    from merbench.evaluation.stats import leakage_share

    groups = np.repeat(np.arange(10), 6).astype(str)
    folds = make_random_folds(len(groups), n_folds=5, repeats=2, seed=3)
    assert len(folds) == 10
    for repeat in (0, 1):
        tested = np.concatenate([f.test for f in folds if f.repeat == repeat])
        assert sorted(tested) == list(range(len(groups)))
    assert max(leakage_share(groups[f.train], groups[f.test]) for f in folds) > 0.5
    again = make_random_folds(len(groups), n_folds=5, repeats=2, seed=3)
    assert all((a.test == b.test).all() for a, b in zip(folds, again, strict=True))
    classes = np.tile([1, 2, 3, 4], 15)
    stratified = make_random_folds(len(classes), n_folds=5, repeats=1, seed=0, classes=classes)
    assert all(sorted(set(classes[f.test])) == [1, 2, 3, 4] for f in stratified)
