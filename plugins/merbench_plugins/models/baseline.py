"""Trivial baselines: ``mean`` (regression) and ``majority`` (classification).

Every leaderboard shows them beside the models: a candidate that does not beat them has learnt
nothing from the audio. They take no input and have nothing to tune.
"""

from __future__ import annotations

from collections.abc import Iterator

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
