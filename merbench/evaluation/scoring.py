"""The metric records: how each metric is computed, and what merbench knows about it.

A ``MetricSpec`` says how one metric is computed on a test fold, which task kinds report it, its
direction, range, chance level, page label and where it is shown (page tables, results files, or
per-cell results only). Scoring, results, tuning and the leaderboard read these records, so a
metric is added here, with its test, and nowhere else; ``merbench.evaluation.tasks`` says which
tasks report it (every task of its kinds).

Light on purpose: scikit-learn is imported by the metric functions when they run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Direction = Literal["maximize", "minimize"]
TaskKind = Literal["regression", "classification", "multilabel"]
Shown = Literal["table", "files", "cells"]
"""Where a metric appears: page tables and results files, results files only, or per cell only."""
Expansion = Literal["one", "dimensions", "top-k"]
"""How a metric names its values: ``name``; ``name_<dim>`` and ``name_mean``; ``name`` with ``{k}``
replaced by the requested k."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Scoring:
    """The predictions of one test fold and what the metrics may need beside them.

    Attributes:
        y_true: ``[N, D]`` float targets (regression), ``[N]`` int classes, or ``[N, T]`` 0/1
            tags (multilabel).
        y_pred: predictions, the same shape (multilabel: each tag's probability or score).
        dims: names of the ``D`` regression targets, e.g. ``("arousal", "valence")``, or of the
            ``T`` tags of a multilabel task.
        labels: every class of a classification task, in order.
        proba: class scores ``[N, C]``, columns in ``labels`` order (top-k).
        top_k: the k of top-k accuracy, when asked for.
        y_train: the training fold's classes ``[N_train]`` (majority-class chance level).
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    dims: tuple[str, ...] = ()
    labels: tuple[int, ...] = ()
    proba: np.ndarray | None = None
    top_k: int | None = None
    y_train: np.ndarray | None = None


Compute = Callable[[Scoring], float | list[float] | None]
"""A metric function: one value, one per dimension (``dimensions``), or ``None`` when the fold
lacks what it needs (probabilities, a training fold)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MetricSpec:
    """One metric (or family of metric columns) and everything merbench knows about it.

    Attributes:
        name: the column name; the prefix of ``name_<dim>`` columns (``dimensions``); a template
            with ``{k}`` (``top-k``).
        label: its name on pages; ``{k}`` is replaced for ``top-k`` metrics.
        direction: whether higher (``maximize``) or lower (``minimize``) is better.
        bounds: the range its values can take, ``(low, high)``, infinite where open.
        kinds: the task kinds that report it.
        compute: the function giving its value(s) on one fold.
        per: how it names its values (``Expansion``).
        shown: where its value (or its mean over dimensions) appears.
        shown_each: where its per-dimension values appear (``dimensions`` only).
        chance: the score of an uninformed prediction: a constant, the name of the metric that
            holds it per fold (``{k}`` replaced; per dimension, its column of the same
            dimension: ``prevalence_<tag>`` for ``pr_auc_<tag>``), or ``None`` when it depends
            on the data.
        hub_id: the Hugging Face Hub's id of the metric (``huggingface.co/metrics``), as model
            cards name it in ``model-index``; ``None`` where the Hub has none.
        hub_config: the Hub metric's configuration that gives this metric (``macro`` F1).
    """

    name: str
    label: str
    direction: Direction
    bounds: tuple[float, float]
    kinds: tuple[TaskKind, ...]
    compute: Compute
    per: Expansion = "one"
    shown: Shown = "table"
    shown_each: Shown = "cells"
    chance: float | str | None = None
    hub_id: str | None = None
    hub_config: str | None = None

    def values(self, scoring: Scoring) -> dict[str, float]:
        """Compute this metric on one fold, as ``column -> value`` (empty when not applicable)."""
        value = self.compute(scoring)
        if value is None:
            return {}
        if isinstance(value, list):
            # NaN marks a dimension the fold cannot score (a tag with no positive test track):
            # it is left out, and the mean is over the dimensions that were scored.
            pairs = zip(scoring.dims, value, strict=True)
            out = {f"{self.name}_{d}": v for d, v in pairs if not math.isnan(v)}
            scored = [v for v in value if not math.isnan(v)]
            out[f"{self.name}_mean"] = float(np.mean(scored)) if scored else math.nan
            return out
        return {self.name.format(k=scoring.top_k): value}

    def part(self, column: str) -> str | None:
        """Return what ``column`` adds to ``name`` (a dimension, ``mean``, k), or ``None``.

        ``""`` means ``column`` is this metric's plain name.
        """
        if self.per == "top-k":
            match = re.fullmatch(re.escape(self.name).replace(r"\{k\}", r"(\d+)"), column)
            return match[1] if match else None
        if column == self.name:
            return ""
        prefix = f"{self.name}_"
        is_dimension = self.per == "dimensions" and column.startswith(prefix)
        return column.removeprefix(prefix) if is_dimension and column != prefix else None

    def label_of(self, column: str) -> str:
        """The page label of one of this metric's columns, e.g. ``R² (mean)``, ``Top-3 acc.``."""
        part = self.part(column) or ""
        if self.per == "top-k":
            return self.label.format(k=part)
        if part == "mean":
            return f"{self.label} (mean)"
        return f"{self.label} {part}" if part else self.label


# --- metric functions -------------------------------------------------------------------------


def _ccc_pearson(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    """Return Lin's CCC and Pearson r of two ``[N]`` arrays, with population moments.

    CCC = 2 cov / (var_true + var_pred + (mean_true - mean_pred)²). Pearson r is defined as 0.0
    when either array is constant (no linear association can be measured); CCC of a constant
    prediction is 0.0 naturally, and 1.0 in the one 0/0 case, two identical constant arrays.
    """
    true_dev = y_true - y_true.mean()
    pred_dev = y_pred - y_pred.mean()
    cov = float(np.mean(true_dev * pred_dev))
    var_true = float(np.mean(true_dev**2))
    var_pred = float(np.mean(pred_dev**2))
    bias = float(y_true.mean() - y_pred.mean())
    denominator = var_true + var_pred + bias**2
    ccc = 2.0 * cov / denominator if denominator > 0 else 1.0
    spread = np.sqrt(var_true * var_pred)
    pearson = float(np.clip(cov / spread, -1.0, 1.0)) if spread > 0 else 0.0
    return ccc, pearson


def _r2(s: Scoring) -> list[float]:
    from sklearn.metrics import r2_score

    return [float(v) for v in r2_score(s.y_true, s.y_pred, multioutput="raw_values")]


def _rmse(s: Scoring) -> list[float]:
    from sklearn.metrics import root_mean_squared_error

    return [float(v) for v in root_mean_squared_error(s.y_true, s.y_pred, multioutput="raw_values")]


def _ccc(s: Scoring) -> list[float]:
    return [_ccc_pearson(s.y_true[:, c], s.y_pred[:, c])[0] for c in range(s.y_true.shape[1])]


def _pearson(s: Scoring) -> list[float]:
    return [_ccc_pearson(s.y_true[:, c], s.y_pred[:, c])[1] for c in range(s.y_true.shape[1])]


def _macro_f1(s: Scoring) -> float:
    """Macro-F1 over all ``labels``; an undefined F1 (a class never true nor predicted) is 0."""
    from sklearn.metrics import f1_score

    labels = list(s.labels)
    return float(f1_score(s.y_true, s.y_pred, labels=labels, average="macro", zero_division=0))


def _balanced_accuracy(s: Scoring) -> float:
    """Mean recall over the classes present in ``y_true``.

    Same value as ``sklearn.metrics.balanced_accuracy_score``, without its warning when a test
    fold lacks a class that was predicted.
    """
    from sklearn.metrics import confusion_matrix

    confusion = confusion_matrix(s.y_true, s.y_pred, labels=list(s.labels))
    support = confusion.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(confusion)[present] / support[present]))


def _accuracy(s: Scoring) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(s.y_true, s.y_pred))


def _mcc(s: Scoring) -> float:
    """Matthews correlation coefficient (multiclass: Gorodkin's R_K); 0 where undefined."""
    from sklearn.metrics import matthews_corrcoef

    if np.unique(np.concatenate([s.y_true, s.y_pred])).size < 2:
        return 0.0  # one class in truth and prediction: undefined, and scikit-learn warns
    return float(matthews_corrcoef(s.y_true, s.y_pred))


def majority_chance(y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Return the test accuracy of always answering the training set's most frequent class.

    A chance level that respects class imbalance; ties go to the smallest class label.

    Args:
        y_train: training classes, ``[N_train]``.
        y_test: test classes, ``[N_test]``.

    Raises:
        ValueError: an empty array.
    """
    train = np.asarray(y_train).ravel()
    test = np.asarray(y_test).ravel()
    if train.size == 0 or test.size == 0:
        raise ValueError("y_train and y_test must not be empty.")
    classes, counts = np.unique(train, return_counts=True)
    return float(np.mean(test == classes[np.argmax(counts)]))


def _majority_chance(s: Scoring) -> float | None:
    return None if s.y_train is None else majority_chance(s.y_train, s.y_true)


def _top_k_accuracy(s: Scoring) -> float | None:
    """Top-k accuracy of the class scores, when both k and scores are given."""
    from sklearn.metrics import top_k_accuracy_score

    if s.top_k is None or s.proba is None:
        return None
    k, labels = s.top_k, s.labels
    if not 1 <= k < len(labels):
        raise ValueError(f"top_k must be between 1 and {len(labels) - 1}, got {k}.")
    scores = np.asarray(s.proba, dtype=np.float64)
    if scores.shape != (len(s.y_true), len(labels)):
        raise ValueError(
            f"proba must have shape [{len(s.y_true)}, {len(labels)}], got {scores.shape}."
        )
    # scikit-learn wants the positive class's column alone in the binary case.
    scores = scores[:, 1] if len(labels) == 2 else scores
    return float(top_k_accuracy_score(s.y_true, scores, k=k, labels=list(labels)))


def _top_k_chance(s: Scoring) -> float | None:
    """The top-k accuracy of a random ranking: ``k / classes``."""
    return None if s.top_k is None or s.proba is None else s.top_k / len(s.labels)


def _tag_columns(s: Scoring) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per tag, its ``(truth, score)`` columns; ``None`` where the fold cannot score the tag
    (every test track has it, or none has)."""
    true = np.asarray(s.y_true, dtype=np.float64)
    pred = np.asarray(s.y_pred, dtype=np.float64)
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    for t in range(true.shape[1]):
        positives = int(true[:, t].sum())
        out.append(None if positives in (0, len(true)) else (true[:, t], pred[:, t]))
    return out


def _roc_auc(s: Scoring) -> list[float]:
    """ROC-AUC per tag (NaN for a tag the fold cannot score); its mean is the macro ROC-AUC."""
    from sklearn.metrics import roc_auc_score

    return [math.nan if c is None else float(roc_auc_score(*c)) for c in _tag_columns(s)]


def _pr_auc(s: Scoring) -> list[float]:
    """Average precision per tag (PR-AUC; NaN for a tag the fold cannot score)."""
    from sklearn.metrics import average_precision_score

    return [math.nan if c is None else float(average_precision_score(*c)) for c in _tag_columns(s)]


def _tag_prevalence(s: Scoring) -> list[float]:
    """Each scored tag's share of positive test tracks: the PR-AUC of an uninformed score."""
    return [math.nan if c is None else float(c[0].mean()) for c in _tag_columns(s)]


# --- the registries ---------------------------------------------------------------------------

SHOWN_IN: dict[Shown, tuple[Shown, ...]] = {
    "table": ("table",),
    "files": ("table", "files"),
    "cells": ("table", "files", "cells"),
}
"""The levels of ``MetricSpec.shown`` that appear at each level."""

_UNIT = (0.0, 1.0)
_CORRELATION = (-1.0, 1.0)

METRIC_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(name="r2", label="R²", direction="maximize", bounds=(-math.inf, 1.0),
               kinds=("regression",), compute=_r2, per="dimensions", shown_each="table",
               chance=0.0, hub_id="r_squared"),
    MetricSpec(name="ccc", label="CCC", direction="maximize", bounds=_CORRELATION,
               kinds=("regression",), compute=_ccc, per="dimensions", shown_each="files",
               chance=0.0),
    MetricSpec(name="pearson", label="Pearson r", direction="maximize", bounds=_CORRELATION,
               kinds=("regression",), compute=_pearson, per="dimensions", chance=0.0,
               hub_id="pearsonr"),
    MetricSpec(name="rmse", label="RMSE", direction="minimize", bounds=(0.0, math.inf),
               kinds=("regression",), compute=_rmse, per="dimensions", shown_each="files"),
    MetricSpec(name="macro_f1", label="Macro-F1", direction="maximize", bounds=_UNIT,
               kinds=("classification",), compute=_macro_f1, hub_id="f1", hub_config="macro"),
    MetricSpec(name="balanced_accuracy", label="Balanced acc.", direction="maximize",
               bounds=_UNIT, kinds=("classification",), compute=_balanced_accuracy),
    MetricSpec(name="accuracy", label="Accuracy", direction="maximize", bounds=_UNIT,
               kinds=("classification",), compute=_accuracy, chance="majority_chance",
               hub_id="accuracy"),
    MetricSpec(name="majority_chance", label="Majority-class acc.", direction="maximize",
               bounds=_UNIT, kinds=("classification",), compute=_majority_chance),
    MetricSpec(name="mcc", label="MCC", direction="maximize", bounds=_CORRELATION,
               kinds=("classification",), compute=_mcc, chance=0.0, hub_id="matthews_correlation"),
    MetricSpec(name="top{k}_accuracy", label="Top-{k} acc.", direction="maximize",
               bounds=_UNIT, kinds=("classification",), compute=_top_k_accuracy, per="top-k",
               chance="top{k}_chance"),
    MetricSpec(name="top{k}_chance", label="Top-{k} chance", direction="maximize",
               bounds=_UNIT, kinds=("classification",), compute=_top_k_chance, per="top-k"),
    MetricSpec(name="roc_auc", label="ROC-AUC", direction="maximize", bounds=_UNIT,
               kinds=("multilabel",), compute=_roc_auc, per="dimensions", shown_each="files",
               chance=0.5, hub_id="roc_auc", hub_config="macro"),
    MetricSpec(name="pr_auc", label="PR-AUC", direction="maximize", bounds=_UNIT,
               kinds=("multilabel",), compute=_pr_auc, per="dimensions", shown_each="files",
               chance="prevalence"),
    MetricSpec(name="prevalence", label="Tag prevalence", direction="maximize", bounds=_UNIT,
               kinds=("multilabel",), compute=_tag_prevalence, per="dimensions",
               shown_each="files"),
)  # fmt: skip
"""Every metric, in the order of results files and page tables. Chance levels (``*_chance``) are
reference values, not scores; they sort like the scores they accompany."""


def metrics_of(kind: TaskKind) -> tuple[MetricSpec, ...]:
    """The metrics that tasks of ``kind`` report, in registry order."""
    return tuple(m for m in METRIC_SPECS if kind in m.kinds)


def find_metric(column: str) -> MetricSpec | None:
    """Return the metric a column belongs to (``r2_valence`` -> ``r2``), or ``None``."""
    exact = next((m for m in METRIC_SPECS if m.per == "one" and m.name == column), None)
    return exact or next((m for m in METRIC_SPECS if m.part(column) is not None), None)


def metric_label(column: str) -> str:
    """The page label of a metric column (the column itself when it is no metric's)."""
    spec = find_metric(column)
    return column if spec is None else spec.label_of(column)


def is_chance_level(column: str) -> bool:
    """Whether a metric column holds a chance level (``majority_chance``, ``top3_chance``): the
    score of an uninformed prediction, a reference beside a model's scores and not one of them."""
    chances = {m.chance for m in METRIC_SPECS if isinstance(m.chance, str)}
    spec = find_metric(column)
    return spec is not None and spec.name in chances


def hub_metric(column: str) -> tuple[str, str | None]:
    """The Hub's metric id and configuration of a metric column (``r2_valence`` ->
    ``("r_squared", None)``, ``macro_f1`` -> ``("f1", "macro")``); merbench's column name where
    the Hub has no id for the metric (CCC, RMSE, balanced accuracy)."""
    spec = find_metric(column)
    if spec is None or spec.hub_id is None:
        return column, None
    return spec.hub_id, spec.hub_config


def metric_bounds(column: str) -> tuple[float, float]:
    """The range a metric column's values can take (unbounded when it is no metric's)."""
    spec = find_metric(column)
    return (-math.inf, math.inf) if spec is None else spec.bounds
