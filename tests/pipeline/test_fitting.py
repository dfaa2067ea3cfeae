"""Fitting one candidate: a trial asks the feature store once per parameter set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import merbench
from merbench.data.tracks import Tracks
from merbench.data.windows import Windows
from merbench.errors import CellError
from merbench.evaluation.budgets import BUDGETS
from merbench.evaluation.cv import Fold
from merbench.evaluation.tasks import get_task
from merbench.pipeline.candidates import parse_candidate
from merbench.pipeline.fitting import CandidateFit, CellPlan
from merbench.plugin.registry import load_registry
from merbench.results.schema import CellKey
from merbench.space import FloatDistribution
from merbench.testing import write_tone_dataset
from merbench.train.fit import Problem

N = 18
WINDOWS_PER_TRACK = 2


class SpyStore:
    """A feature store that records every request and answers with seeded arrays."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def features(self, tracks, frontend, params):
        self.calls.append(("features", dict(params)))
        rng = np.random.default_rng(len(self.calls))
        return rng.normal(size=(N * WINDOWS_PER_TRACK, 4)).astype(np.float32)

    def waveforms(self, tracks):
        self.calls.append(("waveforms", {}))
        return np.zeros((N * WINDOWS_PER_TRACK, 1, 160), np.float32)

    def windows(self, tracks):
        self.calls.append(("windows", {}))
        return Windows.build([2 * 160] * N, 160, 160)


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    rows = write_tone_dataset(tmp_path_factory.mktemp("tones"), n_tracks=N, n_groups=6)
    spec = merbench.DatasetSpec(name="tones", load=lambda root: None,
                                tasks=("av-regression", "quadrant"),
                                label_scale=merbench.LabelScale(low=1, high=9))  # fmt: skip
    return Tracks(name="tones", spec=spec, table=pd.DataFrame(rows))


@pytest.fixture(scope="module")
def registry():
    return load_registry()


VECTOR = merbench.FrontEndSpec(
    name="vec",
    output="vector",
    build=lambda sample_rate, scale=1.0: None,
    search_space={"scale": FloatDistribution(0.5, 2.0)},
)


def _plan(tones, registry, model, task="av-regression", augmentations=()):
    rows = np.arange(N)
    labels = () if task == "av-regression" else (1, 2, 3, 4)
    return CellPlan(
        key=CellKey(dataset="tones", task=task, candidate=f"{model}@vec", repeat=0, fold=0),
        tracks=tones,
        candidate=parse_candidate(f"{model}@vec"),
        model=registry.model(model),
        frontends=(VECTOR,),
        fold=Fold(repeat=0, fold=0, train=rows[rows % 6 != 0], test=rows[rows % 6 == 0]),
        problem=Problem(
            task=get_task(task),
            labels=labels,
            budget=BUDGETS["smoke"],
            sample_rate=16000,
            top_k=2 if labels else None,
        ),
        seed=3,
        augmentations=tuple(augmentations),
    )


def _trial(fitting, params):
    """A trial's fit with early stopping, its validation, then the test fold's predictions."""
    train, test = fitting.plan.fold.train, fitting.plan.fold.test
    inner, valid = train[: len(train) // 2], train[len(train) // 2 :]
    fitted = fitting.fit(params, inner, valid, epochs=1)
    fitting.predict(fitted, params, valid)
    fitting.predict(fitted, params, test)
    fitting.scores(fitted, params, test)
    return fitted


@pytest.mark.parametrize(("model", "task"), [("ridge", "quadrant"), ("mlp", "av-regression")])
def test_one_trial_asks_the_store_once_for_its_inputs(tones, registry, model, task):
    store = SpyStore()
    fitting = CandidateFit(_plan(tones, registry, model, task), store)
    _trial(fitting, {"vec.scale": 1.0})
    assert store.calls == [("features", {"scale": 1.0}), ("windows", {})]


def test_the_store_is_asked_again_for_other_frontend_parameters_only(tones, registry):
    store = SpyStore()
    fitting = CandidateFit(_plan(tones, registry, "ridge"), store)
    _trial(fitting, {"vec.scale": 1.0, "alpha": 1.0})
    _trial(fitting, {"vec.scale": 1.0, "alpha": 2.0})  # the model's own parameter: same inputs
    _trial(fitting, {"vec.scale": 2.0, "alpha": 2.0})
    _trial(fitting, {"vec.scale": 1.0, "alpha": 2.0})  # only the last set is kept
    asked = [params for name, params in store.calls if name == "features"]
    assert asked == [{"scale": 1.0}, {"scale": 2.0}, {"scale": 1.0}]


def test_kept_inputs_give_the_predictions_of_fresh_ones(tones, registry):
    params = {"vec.scale": 1.0, "alpha": 1.0}
    kept = CandidateFit(_plan(tones, registry, "ridge"), SpyStore())
    fitted = _trial(kept, params)
    test = kept.plan.fold.test
    again = kept.predict(fitted, params, test)
    fresh = CandidateFit(kept.plan, SpyStore()).predict(fitted, params, test)
    assert np.array_equal(again, fresh)


def test_feeds_cut_the_rows_asked_for_from_every_window(tones, registry):
    fitting = CandidateFit(_plan(tones, registry, "ridge"), SpyStore())
    feed = fitting.feed({}, np.array([2, 5]))
    assert feed.rows.tolist() == [2, 5] and len(feed.sources[0]) == N * WINDOWS_PER_TRACK


def test_a_scikit_learn_candidate_with_augmentations_is_refused(tones, registry):
    gain = registry.augmentation("gain")
    fitting = CandidateFit(_plan(tones, registry, "ridge", augmentations=[gain]), SpyStore())
    with pytest.raises(CellError, match="ridge@vec: augmentations train torch models only"):
        fitting.fit({}, fitting.plan.fold.train)
    assert fitting.features.calls == []  # refused before any input is read


def test_rescaling_is_the_families_choice(tones, registry):
    train, test = np.arange(12), np.arange(12, N)
    torch_fit = CandidateFit(_plan(tones, registry, "mlp"), SpyStore())
    rescaling = torch_fit.rescaling(train, test)
    assert rescaling is not None and rescaling.owner.tolist() == np.repeat(np.arange(6), 2).tolist()
    assert CandidateFit(_plan(tones, registry, "ridge"), SpyStore()).rescaling(train, test) is None
    classify = CandidateFit(_plan(tones, registry, "mlp", "quadrant"), SpyStore())
    assert classify.rescaling(train, test) is None
