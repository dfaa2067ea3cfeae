"""Baselines: ``mean``, ``majority``, ``tag-prior`` (trivial) and ``artist-prior`` (what the
artist is worth).

Every leaderboard shows them beside the models: a candidate that does not beat them has learnt
nothing from the audio. They declare no input and have nothing to tune; the core gives a model
without inputs each track's group (artist) as an integer code in one column ``[N, 1]``.

``tag-prior`` gives every track each tag's training prevalence: its ROC-AUC is 0.5 and its PR-AUC
the tag's test prevalence, the chance levels of a multi-label task.

``artist-prior`` predicts the training mean (regression) or the most frequent class of the test
track's artist, and falls back to the whole training part for an artist it has not seen. Under
grouped folds no test artist is ever seen, so it equals the trivial baselines by construction;
under random folds the gap between the two is what the artist's name alone is worth, which is
what a model recognising an artist's production can exploit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

import merbench

MERBENCH_PLUGIN_API = 1


def build_mean() -> object:
    """Predict the training mean of arousal and valence."""
    from sklearn.dummy import DummyRegressor

    return DummyRegressor(strategy="mean")


def build_majority() -> object:
    """Predict the most frequent training class."""
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="most_frequent")


def build_tag_prior() -> object:
    """Predict each tag's training prevalence as its probability, for every track."""
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="prior")


class ArtistPrior:
    """Predict from the track's group code (column 0 of ``X``) what its training tracks had.

    A scikit-learn-style estimator: ``y`` is ``[N, D]`` floats (regression: per-group means) or
    ``[N]`` classes (classification: per-group class frequencies, for ``predict_proba``); 0/1
    tags ``[N, T]`` give per-group tag frequencies, each tag's probability.
    """

    def __init__(self) -> None:
        self.is_classifier = False

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import Tags, TargetTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=True, multi_output=True))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {}

    def fit(self, x: np.ndarray, y: np.ndarray) -> ArtistPrior:
        groups = np.asarray(x)[:, 0]
        target = np.asarray(y)
        self.is_classifier = target.ndim == 1
        if self.is_classifier:
            self.classes_ = np.unique(target)
            target = (target[:, None] == self.classes_[None, :]).astype(np.float64)
        self.overall_ = target.mean(axis=0)
        self.by_group_ = {g: target[groups == g].mean(axis=0) for g in np.unique(groups)}
        return self

    def _rows(self, x: np.ndarray) -> np.ndarray:
        return np.stack([self.by_group_.get(g, self.overall_) for g in np.asarray(x)[:, 0]])

    def predict(self, x: np.ndarray) -> np.ndarray:
        rows = self._rows(x)
        if self.is_classifier:  # ties go to the smallest class, as the majority baseline's
            return np.asarray(self.classes_[np.argmax(rows, axis=1)])
        return rows

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self._rows(x)


def build_artist_prior() -> object:
    """Predict the training mean or most frequent class of the track's artist."""
    return ArtistPrior()


@merbench.hookimpl
def merbench_models() -> Iterator[merbench.ModelSpec]:
    yield merbench.ModelSpec(
        name="mean",
        accepts=(),
        family="sklearn",
        build=build_mean,
        tasks=("av-regression",),
        is_baseline=True,
        summary="Predicts the training mean of each dimension (the trivial regression baseline).",
    )
    yield merbench.ModelSpec(
        name="majority",
        accepts=(),
        family="sklearn",
        build=build_majority,
        tasks=("quadrant", "arousal-binary", "valence-binary"),
        is_baseline=True,
        summary="Predicts the most frequent training class (the trivial classification baseline).",
    )
    yield merbench.ModelSpec(
        name="tag-prior",
        accepts=(),
        family="sklearn",
        build=build_tag_prior,
        tasks=("mood-tags",),
        is_baseline=True,
        summary="Predicts each tag's training prevalence (the trivial multi-label baseline).",
    )
    yield merbench.ModelSpec(
        name="artist-prior",
        accepts=(),
        family="sklearn",
        build=build_artist_prior,
        is_baseline=True,
        summary="Predicts the training mean or most frequent class of the track's artist (what "
        "the artist alone is worth under random folds; the trivial baseline under grouped ones).",
    )
