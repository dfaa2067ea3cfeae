"""Fitting: the one training loop every torch model shares, and the scikit-learn fit path.

The core, not the plugins, owns devices, seeds, optimisation, early stopping and target scaling,
so every candidate is trained under the same protocol. Regression targets are standardised for
training and predictions are returned on the dataset's own scale.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from merbench.data.windows import Inputs, per_track
from merbench.errors import CellError
from merbench.evaluation.budgets import Budget
from merbench.evaluation.metrics import compute_metrics, metric_direction
from merbench.evaluation.tasks import TaskSpec
from merbench.plugin.specs import FrontEndSpec, ModelSpec
from merbench.plugin.torch_space import Precision

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

Report = Callable[[int, float], None]
"""Called after every epoch with ``(epoch, validation score)``; may raise ``TrialPruned``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """What is being learnt: the task, its classes, the budget and the audio rate."""

    task: TaskSpec
    labels: tuple[int, ...]
    budget: Budget
    sample_rate: int
    top_k: int | None = None
    precision: Precision = "fp32"

    @property
    def is_regression(self) -> bool:
        """Whether the task predicts continuous targets (``TaskSpec.is_regression``)."""
        return self.task.is_regression

    @property
    def is_multilabel(self) -> bool:
        """Whether the task predicts per-tag probabilities (``TaskSpec.is_multilabel``)."""
        return self.task.is_multilabel

    @property
    def n_outputs(self) -> int:
        """One output per regression target or tag, or one score per class of ``labels``."""
        return len(self.task.targets) if not self.task.is_classification else len(self.labels)


@dataclass(frozen=True, kw_only=True, slots=True)
class Trainable:
    """A trainable front-end to run inside the model graph on one waveform input."""

    spec: FrontEndSpec
    params: Mapping[str, Any]


@dataclass(kw_only=True)
class Fitted:
    """A fitted model: ``predict(inputs, n)`` gives ``n`` labels on the dataset's scale.

    ``inputs`` are per-track arrays or a ``Feed`` of windows; the prediction of a track whose
    windows are given is the aggregate of its windows' (``merbench.data.windows``).
    """

    predict: Callable[[Inputs, int], np.ndarray]
    best_epoch: int
    n_params: int
    history: list[float]
    scores: Callable[[Inputs, int], np.ndarray] | None = None
    """Class scores ``[N, C]`` in ``Problem.labels`` order (classification; for top-k)."""
    valid_score: float | None = None
    """The score (to maximise) of the kept weights on the validation tracks, when the fit
    early-stopped on them: a trial's value without predicting them again."""
    valid_windows: tuple[np.ndarray, np.ndarray] | None = None
    """Regression fits that early-stopped: the kept epoch's check, window by window: the
    predictions on the dataset's scale ``[M, D]`` and the validation track of each ``[M]``."""
    model: Any = None
    """The fitted network (torch) or estimator (scikit-learn), for ``merbench export``."""
    target_scaler: TargetScaler | None = None
    """How regression targets were standardised for the fit (``None``: classification)."""


class NonFiniteLoss(CellError):
    """The training loss became NaN or infinite (the trial is ended, not the run)."""


def pick_device() -> str:
    """Return ``"cuda"`` when a CUDA device is available, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def describe_device(device: str) -> str:
    """Name the device a cell ran on, for its record: ``cpu``, or the CUDA device in use.

    E.g. ``cuda:0 (NVIDIA H100 80GB HBM3)``, with ``CUDA_VISIBLE_DEVICES=<entry>`` added when the
    process sees only some of the machine's devices (``merbench run --jobs`` gives each process
    one), so that the cells of different processes name different devices.
    """
    if not device.startswith("cuda"):
        return device
    import torch

    index = torch.device(device).index
    index = torch.cuda.current_device() if index is None else index
    about = torch.cuda.get_device_name(index)
    listed = [name.strip() for name in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    if index < len(listed) and listed[index]:
        about += f", CUDA_VISIBLE_DEVICES={listed[index]}"
    return f"cuda:{index} ({about})"


class TargetScaler:
    """Standardise regression targets with training statistics, and undo it."""

    def __init__(self, y: np.ndarray) -> None:
        self.mean = y.mean(axis=0)
        self.std = np.where(y.std(axis=0) > 1e-12, y.std(axis=0), 1.0)

    def forward(self, y: np.ndarray) -> np.ndarray:
        return np.asarray((y - self.mean) / self.std)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z * self.std + self.mean)


def score(problem: Problem, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The task's primary metric, as a value to maximise."""
    name = problem.task.primary
    labels = problem.labels or None
    value = float(compute_metrics(problem.task, y_true, y_pred, labels=labels)[name])
    return value if metric_direction(name) == "maximize" else -value


# --- scikit-learn -----------------------------------------------------------------------------


def _as_matrix(inputs: Inputs, n: int) -> np.ndarray:
    """Flatten and join vector inputs into ``[N, D]`` (``[N, 1]`` zeros when there are none).

    A ``Feed`` of windows gives one row per track: the mean of its windows' inputs.
    """
    arrays = per_track(inputs)
    if not arrays:
        return np.zeros((n, 1))
    return np.concatenate([np.asarray(x).reshape(len(x), -1) for x in arrays], axis=1)


def build_estimator(model: ModelSpec, params: Mapping[str, Any], problem: Problem) -> Any:
    """Build the model's estimator, standardised inputs first, one per target if needed.

    A multilabel task fits one binary classifier per tag (scikit-learn's one-vs-rest, which
    predicts a constant for a tag the training part never or always has), unless the estimator
    takes a ``[N, T]`` 0/1 target itself (a baseline declaring multi-output target tags).
    """
    import inspect

    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    kwargs = dict(params)
    if "task" in inspect.signature(model.builder).parameters:
        kwargs["task"] = problem.task.name
    estimator = model.builder(**kwargs)
    multi_output = estimator.__sklearn_tags__().target_tags.multi_output
    if problem.is_regression and not multi_output:
        estimator = MultiOutputRegressor(estimator)
    if problem.is_multilabel and not multi_output:
        estimator = OneVsRestClassifier(estimator)
    if model.accepts:
        return make_pipeline(StandardScaler(), estimator)
    return estimator


def fit_sklearn(
    model: ModelSpec,
    params: Mapping[str, Any],
    inputs: Inputs,
    y: np.ndarray,
    problem: Problem,
) -> Fitted:
    """Fit a scikit-learn model on standardised targets (regression), class labels, or 0/1
    tags (multilabel: it predicts each tag's probability).

    Each track is one sample: a ``Feed`` of windows is pooled into the mean of its windows'
    inputs, so the fit costs the same whatever the clips' length.
    """
    from joblib import parallel_config

    estimator = build_estimator(model, params, problem)
    scaler = TargetScaler(y) if problem.is_regression else None
    target = scaler.forward(y) if scaler else y
    # An estimator left at n_jobs=None (random-forest's trees, one-vs-rest's tags) fits in the
    # cell's threads; what it fits does not depend on their number. Predictions run in one
    # thread: a forest's threads add their trees' outputs in the order they finish, so its
    # last bits would differ from one run to the next.
    with warnings.catch_warnings(), parallel_config("threading", n_jobs=thread_count()):
        # One-vs-rest says so when a tag is on no (or every) training track; it then predicts
        # that constant, which is the right answer and no reason to stop.
        warnings.filterwarnings("ignore", message="Label .* is present in all training")
        estimator.fit(
            _as_matrix(inputs, len(y)), target.astype(np.int64) if problem.is_multilabel else target
        )

    def predict(test_inputs: Inputs, n: int) -> np.ndarray:
        x = _as_matrix(test_inputs, n)
        with parallel_config(n_jobs=1):
            if problem.is_multilabel:
                return tag_probabilities(estimator, x, problem.n_outputs)
            prediction = np.asarray(estimator.predict(x))
        return scaler.inverse(prediction) if scaler else prediction

    def scores(test_inputs: Inputs, n: int) -> np.ndarray:
        with parallel_config(n_jobs=1):
            return _class_scores(estimator, _as_matrix(test_inputs, n), problem.labels)

    return Fitted(
        predict=predict,
        best_epoch=0,
        n_params=_count_sklearn(estimator),
        history=[],
        scores=scores if problem.task.is_classification else None,
        model=estimator,
        target_scaler=scaler,
    )


def thread_count() -> int:
    """The threads a cell computes with: the run's stored count (``MERBENCH_THREADS``), else
    ``OMP_NUM_THREADS``, else every core this process may use."""
    for name in ("MERBENCH_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return max(1, int(value))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def tag_probabilities(estimator: Any, x: np.ndarray, n_tags: int) -> np.ndarray:
    """Each tag's probability ``[N, T]`` from a fitted multilabel estimator.

    One-vs-rest gives ``[N, T]``; a multi-output classifier gives one ``[N, classes]`` array
    per tag, whose class-1 column is taken (0 for a tag it never saw); an estimator without
    ``predict_proba`` gives its ``[N, T]`` predictions.
    """
    if not hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict(x), dtype=np.float64).reshape(len(x), n_tags)
    raw = estimator.predict_proba(x)
    if not isinstance(raw, list):
        return np.asarray(raw, dtype=np.float64).reshape(len(x), n_tags)
    classes = getattr(estimator, "classes_", None)
    classes = [[0, 1]] * n_tags if classes is None else classes
    columns = []
    for proba, seen in zip(raw, classes, strict=True):
        known = np.asarray(seen).tolist()
        columns.append(proba[:, known.index(1)] if 1 in known else np.zeros(len(x)))
    return np.stack(columns, axis=1).astype(np.float64)


def _class_scores(estimator: Any, x: np.ndarray, labels: tuple[int, ...]) -> np.ndarray:
    """Probabilities (or decision scores) in ``labels`` order; unseen classes score lowest."""
    if hasattr(estimator, "predict_proba"):
        raw = np.asarray(estimator.predict_proba(x), dtype=np.float64)
    else:
        raw = np.asarray(estimator.decision_function(x), dtype=np.float64)
        if raw.ndim == 1:  # binary decision function: the score of the second class
            raw = np.stack([-raw, raw], axis=1)
    out = np.full((len(x), len(labels)), -np.inf if raw.min() < 0 else 0.0)
    for column, label in enumerate(estimator.classes_):
        out[:, labels.index(int(label))] = raw[:, column]
    return out


def _count_sklearn(estimator: Any) -> int:
    """Count fitted coefficients, support vectors or tree nodes: a rough size figure."""
    total = 0
    for attr in ("coef_", "intercept_", "dual_coef_", "support_vectors_", "constant_"):
        for part in _walk(estimator):
            value = getattr(part, attr, None)
            if value is not None:
                total += int(np.size(value))
    for part in _walk(estimator):
        for tree in getattr(part, "estimators_", []) or []:
            total += int(getattr(getattr(tree, "tree_", None), "node_count", 0))
    return total


def _walk(estimator: Any) -> list[Any]:
    parts = [estimator]
    parts += [step for _, step in getattr(estimator, "steps", [])]
    for part in list(parts):
        parts += list(getattr(part, "estimators_", []) or [])
    return parts
