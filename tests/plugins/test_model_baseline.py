"""Baselines: artist-prior predicts what an artist's training tracks had, else the whole part."""

from __future__ import annotations

import numpy as np
import pytest

from merbench.testing import check_plugin
from merbench_plugins.models import baseline
from merbench_plugins.models.baseline import ArtistPrior


def test_the_baselines_pass_the_contract_kit():
    check_plugin(baseline)


def test_artist_prior_regression_uses_the_artist_mean_and_falls_back_to_all_tracks():
    x = np.array([[0.0], [0.0], [1.0], [1.0]])
    y = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    model = ArtistPrior().fit(x, y)
    predicted = model.predict(np.array([[1.0], [0.0], [9.0]]))
    assert predicted.tolist() == [[6.0, 7.0], [2.0, 3.0], [4.0, 5.0]]


def test_artist_prior_classification_takes_the_artist_majority_with_probabilities():
    x = np.array([[0.0], [0.0], [0.0], [1.0], [1.0]])
    y = np.array([2, 2, 1, 4, 4])
    model = ArtistPrior().fit(x, y)
    assert model.predict(np.array([[0.0], [1.0], [7.0]])).tolist() == [2, 4, 2]
    assert model.classes_.tolist() == [1, 2, 4]
    assert model.predict_proba(np.array([[0.0]]))[0] == pytest.approx([1 / 3, 2 / 3, 0.0])


LEANING = """
from pathlib import Path
import pandas as pd
import merbench
from merbench.testing import write_tone_dataset

MERBENCH_PLUGIN_API = 1

def load(root):
    table = pd.DataFrame(write_tone_dataset(Path(root) / "audio", n_tracks=36, n_groups=6))
    centre = table["group"].str[-1].astype(int)  # each artist leans to its own labels
    table["arousal"] = 2.0 + centre + 0.1 * (table.index % 3)
    table["valence"] = 8.0 - centre + 0.1 * (table.index % 2)
    return table

@merbench.hookimpl
def merbench_datasets():
    yield merbench.DatasetSpec(name="tones", load=load, tasks=("av-regression",),
                               label_scale=merbench.LabelScale(low=1, high=9))
"""


@pytest.mark.slow
@pytest.mark.parametrize("split", ["grouped", "random"])
def test_artist_prior_beats_the_trivial_baseline_only_under_random_folds(
    install_tones, tmp_path, split
):
    from merbench.api import run

    config = install_tones(LEANING)
    config.write_text(config.read_text() + f'split = "{split}"\n')
    results = run(
        ["mean", "artist-prior"], budget="smoke", config=config, out=tmp_path / "run", jobs=1
    ).cells
    assert (results["status"] == "done").all()
    scores = results.pivot(index="fold", columns="candidate", values="r2_mean")
    if split == "grouped":  # no test artist is ever seen in training
        assert np.allclose(scores["artist-prior"], scores["mean"])
    else:
        assert (scores["artist-prior"] > scores["mean"] + 0.5).all(), scores
