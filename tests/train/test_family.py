"""Model families: each family's behaviour, and the one lookup from a model to its family."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import merbench
from merbench.data.windows import Feed, Windows
from merbench.errors import PluginError
from merbench.evaluation.budgets import BUDGETS
from merbench.evaluation.tasks import get_task
from merbench.plugin.torch_space import OPTIMISER_DEFAULTS
from merbench.train.calibration import AGGREGATION
from merbench.train.family import FAMILIES, SKLEARN, TORCH, FitRequest, family_of
from merbench.train.fit import Problem


def _ridge(**params):
    from sklearn.linear_model import Ridge

    return Ridge(**params)


def _model(family, **fields):
    return merbench.ModelSpec(name="probe", accepts=("vector",), build=_ridge, family=family,
                              **fields)  # fmt: skip


def _problem(task="av-regression", labels=()):
    return Problem(task=get_task(task), labels=labels, budget=BUDGETS["smoke"], sample_rate=16000)


def _request(model, problem, y, **fields):
    x = np.random.default_rng(0).normal(size=(len(y), 3)).astype(np.float32)
    feed = Feed(sources=[x], windows=Windows.identity(len(y)), rows=np.arange(len(y)))
    return FitRequest(model=model, params={}, train=(feed, y), problem=problem, seed=1,
                      trainables=[None], **fields)  # fmt: skip


def test_the_lookup_gives_each_family_its_object_and_refuses_an_unknown_one():
    assert family_of(_model("torch")) is TORCH
    assert family_of(_model("sklearn")) is SKLEARN
    assert set(FAMILIES) == {"torch", "sklearn"}
    with pytest.raises(PluginError, match=r"model 'probe': family 'jax' is not one of torch, sk"):
        family_of(_model("jax"))


def test_torch_runs_on_the_accelerator_and_tunes_the_core_optimiser():
    import torch

    assert TORCH.network and TORCH.augments and TORCH.weight_format == "safetensors"
    assert TORCH.device() == ("cuda" if torch.cuda.is_available() else "cpu")
    assert set(TORCH.search_space()) == {"lr", "weight_decay"}
    assert TORCH.optimiser_defaults(_model("torch")) == OPTIMISER_DEFAULTS
    own = TORCH.optimiser_defaults(_model("torch", optimiser={"lr": 5e-4}))
    assert own == {"lr": 5e-4, "weight_decay": OPTIMISER_DEFAULTS["weight_decay"]}


def test_sklearn_runs_on_the_cpu_with_its_own_optimiser_and_no_augmentation():
    assert not SKLEARN.network and not SKLEARN.augments and SKLEARN.weight_format == "skops"
    assert SKLEARN.device() == "cpu"
    assert SKLEARN.search_space() == {}
    assert SKLEARN.optimiser_defaults(_model("sklearn")) == {}


def test_each_family_aggregates_windows_its_own_way():
    assert TORCH.aggregation(True, True) == AGGREGATION
    assert TORCH.aggregation(True, False) == "mean of window outputs"
    assert TORCH.aggregation(False, False) == "mean of window probabilities"
    for is_regression, rescaled in [(True, False), (False, False)]:
        assert SKLEARN.aggregation(is_regression, rescaled) == "mean of window inputs"
    assert TORCH.rescales(True, np.array([1, 3])) and not TORCH.rescales(False, np.array([3]))
    assert not SKLEARN.rescales(True, np.array([3, 3]))


def test_class_scores_are_probabilities_unless_an_estimator_only_has_a_decision_function():
    class Margin:
        def decision_function(self, x):
            return x

    class Calibrated(Margin):
        def predict_proba(self, x):
            return x

    assert TORCH.class_score_kind(Margin()) == "probabilities"
    assert SKLEARN.class_score_kind(Calibrated()) == "probabilities"
    assert SKLEARN.class_score_kind(Margin()) == "decision"


def test_sklearn_fits_the_estimator_on_the_training_feed():
    y = np.random.default_rng(1).normal(size=(12, 2))
    fitted = SKLEARN.fit(_request(_model("sklearn"), _problem(), y))
    assert fitted.n_params > 0 and fitted.best_epoch == 0
    assert fitted.predict(_request(_model("sklearn"), _problem(), y).train[0], 12).shape == (12, 2)


def test_torch_hands_the_whole_request_to_the_core_loop(monkeypatch):
    import merbench.train.loop as loop

    seen = {}

    def fake_fit_torch(model, params, train, problem, **keywords):
        seen.update(model=model, params=params, train=train, problem=problem, **keywords)
        return "fitted"

    monkeypatch.setattr(loop, "fit_torch", fake_fit_torch)
    request = _request(_model("torch"), _problem(), np.zeros((4, 2)), epochs=3)
    assert TORCH.fit(request) == "fitted"
    assert seen["model"] is request.model and seen["train"] is request.train
    assert seen["seed"] == 1 and seen["epochs"] == 3 and seen["valid"] is None
    assert seen["trainables"] == [None] and seen["augmentation"] is None


def test_looking_up_a_family_imports_no_torch():
    code = (
        "import sys, merbench\n"
        "from merbench.train.family import family_of\n"
        "spec = merbench.ModelSpec(name='m', accepts=(), build=dict, family='sklearn')\n"
        "family = family_of(spec)\n"
        "family.search_space(), family.optimiser_defaults(spec), family.device()\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
