"""The transfer protocol's names, common label range and scale-free scores."""

from __future__ import annotations

import numpy as np
import pytest

from merbench.evaluation.tasks import get_task
from merbench.evaluation.transfer import (
    matrix_metric,
    pair_name,
    parse_pair,
    standardised_r2,
    to_common,
    transfer_scores,
)


def test_pair_names_round_trip_and_datasets_are_not_pairs():
    assert pair_name("deam", "emomusic") == "deam>emomusic"
    assert parse_pair("deam>emomusic") == ("deam", "emomusic")
    assert parse_pair("deam") is None
    assert parse_pair(">emomusic") is None


def test_to_common_maps_each_scale_onto_minus_one_to_one():
    assert to_common(np.array([1.0, 5.0, 9.0]), 1, 9).tolist() == [-1.0, 0.0, 1.0]
    assert to_common(np.array([0.0, 0.5, 1.0]), 0, 1).tolist() == [-1.0, 0.0, 1.0]


def test_standardised_r2_forgives_a_dataset_offset_and_scale_but_not_wrong_songs():
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, (200, 1))
    drawn = rng.normal(0, 1, (100, 1))
    truth = (drawn - drawn.mean()) / drawn.std()  # the songs' standing, in standard units
    # the test set rates everything 2 points higher, on a wider spread: a labelling habit
    test = 2 + 1.5 * truth
    perfect = truth  # the model predicts in the training labels' units
    train_mean, train_std = train.mean(0), train.std(0)
    r2 = standardised_r2(test, train_mean + train_std * perfect, train_mean, train_std)
    assert r2[0] == pytest.approx(1.0)
    shuffled = rng.permutation(perfect)
    assert standardised_r2(test, train_mean + train_std * shuffled, train_mean, train_std)[0] < 0
    plain = 1 - ((test - perfect) ** 2).sum() / ((test - test.mean()) ** 2).sum()
    assert plain < 0  # the raw R² counts the habit as error


def test_transfer_scores_are_the_scale_free_ones():
    task = get_task("av-regression")
    rng = np.random.default_rng(1)
    y = rng.uniform(-1, 1, (50, 2))
    scores = transfer_scores(task, y, y + rng.normal(0, 0.1, y.shape), train_stats=([0, 0], [1, 1]))
    assert set(scores) == {
        "pearson_mean", "ccc_mean", "r2_standardised_arousal", "r2_standardised_valence",
        "r2_standardised_mean",
    }  # fmt: skip
    assert scores["pearson_mean"] > 0.9
    assert matrix_metric(task) == "ccc_mean"
    quadrant = get_task("quadrant")
    classes = np.arange(40) % 4 + 1
    assert transfer_scores(quadrant, classes, classes) == {"macro_f1": 1.0, "accuracy": 1.0}
    assert matrix_metric(quadrant) == "macro_f1"
