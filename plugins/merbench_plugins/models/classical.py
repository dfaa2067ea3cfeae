"""Classical baselines on feature vectors: ridge, RBF support vector machines, random forests.

Hand-crafted features with a kernel machine are the long-standing reference of music emotion
recognition (e.g. SVR-RBF on PMEmo's openSMILE features, Zhang et al. 2018): a deep model has to
beat these, under the same folds, to earn its place. The core standardises the inputs inside
the pipeline and fits one regressor per dimension where the estimator needs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import merbench
from merbench.space import FloatDistribution, IntDistribution

MERBENCH_PLUGIN_API = 1

REGRESSION = "av-regression"
MULTILABEL = "mood-tags"
CLASS_TASKS = ("av-regression", "quadrant", "arousal-binary", "valence-binary")
ALL_TASKS = (*CLASS_TASKS, MULTILABEL)


def build_ridge(*, task: str = REGRESSION, alpha: float = 1.0) -> object:
    """Ridge regression, a ridge classifier for classification tasks, or for tags (which need
    probabilities) its probabilistic twin: L2-regularised logistic regression, ``C = 1 / alpha``
    (the core fits one per tag)."""
    from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier

    if task == REGRESSION:
        return Ridge(alpha=alpha)
    if task == MULTILABEL:
        return LogisticRegression(C=1.0 / alpha, class_weight="balanced", max_iter=1000)
    return RidgeClassifier(alpha=alpha, class_weight="balanced")


def build_svr(
    *, task: str = REGRESSION, c: float = 1.0, gamma: float = 0.01, epsilon: float = 0.1
) -> object:
    """An RBF support vector regressor (or classifier); ``gamma`` is per standardised feature."""
    from sklearn.svm import SVC, SVR

    if task == REGRESSION:
        return SVR(kernel="rbf", C=c, gamma=gamma, epsilon=epsilon)
    return SVC(kernel="rbf", C=c, gamma=gamma, class_weight="balanced")


def build_random_forest(
    *,
    task: str = REGRESSION,
    n_estimators: int = 200,
    max_features: float = 0.3,
    min_samples_leaf: int = 2,
) -> object:
    """A random forest; ``max_features`` is the share of features tried at each split (for
    tags, one classifier per tag, fitted by the core)."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    common = {
        "n_estimators": n_estimators,
        "max_features": max_features,
        "min_samples_leaf": min_samples_leaf,
        "random_state": 0,
        # n_jobs=None: the core fits the trees in the cell's threads and predicts in one, so a
        # forest's predictions are the same in every run (merbench.train.fit.fit_sklearn).
    }
    if task == REGRESSION:
        return RandomForestRegressor(**common)
    return RandomForestClassifier(**common, class_weight="balanced")


@merbench.hookimpl
def merbench_models() -> Iterator[merbench.ModelSpec]:
    yield merbench.ModelSpec(
        name="ridge",
        accepts=("vector",),
        family="sklearn",
        build=build_ridge,
        search_space={"alpha": FloatDistribution(1e-3, 1e3, log=True)},
        default_frontends=("handcrafted",),
        tasks=ALL_TASKS,
        summary="L2-regularised linear model on standardised features.",
    )
    yield merbench.ModelSpec(
        name="svr",
        accepts=("vector",),
        family="sklearn",
        build=build_svr,
        search_space={
            "c": FloatDistribution(1e-2, 1e2, log=True),
            "gamma": FloatDistribution(1e-4, 1e-1, log=True),
            "epsilon": FloatDistribution(1e-3, 1.0, log=True),
        },
        default_frontends=("handcrafted",),
        tasks=CLASS_TASKS,  # no probabilities per tag without an inner Platt fit
        summary="Support vector machine with an RBF kernel (SVR for regression, SVC otherwise).",
    )
    yield merbench.ModelSpec(
        name="random-forest",
        accepts=("vector",),
        family="sklearn",
        build=build_random_forest,
        search_space={
            "max_features": FloatDistribution(0.05, 1.0),
            "min_samples_leaf": IntDistribution(1, 10),
        },
        default_frontends=("handcrafted",),
        tasks=ALL_TASKS,
        summary="Random forest of 200 trees on features.",
    )
