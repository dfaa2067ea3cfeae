"""Scikit-learn candidates fit in the cell's threads and predict in one, so that a forest's
predictions are the same in every run."""

from __future__ import annotations

import numpy as np
from joblib.parallel import get_active_backend
from sklearn.base import BaseEstimator, RegressorMixin

import merbench
from merbench.evaluation.budgets import BUDGETS
from merbench.evaluation.tasks import get_task
from merbench.train.fit import Problem, fit_sklearn, thread_count
from merbench_plugins.models.classical import build_random_forest

PROBLEM = Problem(task=get_task("av-regression"), labels=(), budget=BUDGETS["smoke"], sample_rate=1)


SEEN: dict[str, int] = {}


class _Spy(RegressorMixin, BaseEstimator):
    """Records how many jobs joblib would give it when it fits and when it predicts."""

    def fit(self, x, y):
        SEEN["fit"] = get_active_backend()[1]
        self.mean_ = np.mean(y, axis=0)
        return self

    def predict(self, x):
        SEEN["predict"] = get_active_backend()[1]
        return np.tile(self.mean_, (len(x), 1))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _data(n: int = 40) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = np.stack([x[:, 0] + rng.normal(size=n), x[:, 1] - x[:, 2]], axis=1)
    return [x], y


def test_thread_count_reads_the_runs_setting_first(monkeypatch):
    monkeypatch.setenv("MERBENCH_THREADS", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert thread_count() == 3
    monkeypatch.delenv("MERBENCH_THREADS")
    assert thread_count() == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "0")
    assert thread_count() == 1


def test_an_estimator_fits_in_the_cells_threads_and_predicts_in_one(monkeypatch):
    monkeypatch.setenv("MERBENCH_THREADS", "3")
    spec = merbench.ModelSpec(name="spy", accepts=("vector",), family="sklearn", build=_Spy)
    inputs, y = _data()
    fitted = fit_sklearn(spec, {}, inputs, y, PROBLEM)
    fitted.predict(inputs, len(y))
    assert SEEN == {"fit": 3, "predict": 1}


def test_random_forest_leaves_its_jobs_to_the_core_and_predicts_the_same_every_time(
    monkeypatch,
):
    monkeypatch.setenv("MERBENCH_THREADS", "2")
    forest = build_random_forest(n_estimators=50)
    assert forest.get_params()["n_jobs"] is None
    spec = merbench.ModelSpec(
        name="random-forest", accepts=("vector",), family="sklearn", build=build_random_forest
    )
    inputs, y = _data(120)
    first = fit_sklearn(spec, {"n_estimators": 60}, inputs, y, PROBLEM).predict(inputs, len(y))
    monkeypatch.setenv("MERBENCH_THREADS", "1")
    again = fit_sklearn(spec, {"n_estimators": 60}, inputs, y, PROBLEM)
    for _ in range(5):
        assert np.array_equal(again.predict(inputs, len(y)), first)
