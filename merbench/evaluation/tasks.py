"""The task records: what each task predicts, from which labels, and how it is ranked.

A ``TaskSpec`` says what a task predicts (regression targets, classes with their names and how
they follow from arousal and valence, or tags), which label columns can give it, and which metric
ranks candidates; it reports every metric of its kind (``merbench.evaluation.scoring``). Data
loading, scoring, training, results, the contract kit and the leaderboard read these records, so
a task is added here, with its test, and nowhere else. The names agree with
``merbench.plugin.specs.TASKS``.

Functions take the record, not the name: ``get_task`` turns a name into its record where a name
is read (a run's settings and cell keys, stored rows, an exported model's ``model.json``, the
command line, a plugin's declared tasks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from merbench.errors import ConfigError, did_you_mean
from merbench.evaluation.scoring import (
    SHOWN_IN,
    MetricSpec,
    Shown,
    TaskKind,
    find_metric,
    metrics_of,
)

_INTERVAL_ENDS = ("_low", "_high", "_low_uncorrected", "_high_uncorrected")
TAG_PREFIX = "tag:"
"""The prefix of a multilabel task's label columns: ``tag:happy`` holds 0 or 1 per track."""

ClassRule = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Classes ``[N]`` int64 from high arousal and high valence, two boolean ``[N]`` arrays."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskSpec:
    """One task: what is predicted, from which label columns, and how it is ranked.

    Attributes:
        name: the task's name (``merbench.plugin.specs.Task``).
        kind: ``regression``, ``classification`` or ``multilabel``.
        summary: one line for people.
        primary: the metric column that ranks candidates.
        sources: label columns that give the targets, each group sufficient, preferred first
            (multilabel: every ``tag:<name>`` column a dataset has; the one group names them).
        targets: the regression targets, in the order of prediction columns; for a multilabel
            task, its tags, which a dataset gives: empty in ``TASK_SPECS``, filled by
            ``with_tags`` once the dataset's tag columns (or a run's stored ones) are known.
        classes: ``(label, display name)`` of each class, in the order of confusion matrices
            and class-score columns.
        rule: how the classes follow from high/low arousal and valence.
    """

    name: str
    kind: TaskKind
    summary: str
    primary: str
    sources: tuple[tuple[str, ...], ...]
    targets: tuple[str, ...] = ()
    classes: tuple[tuple[int, str], ...] = ()
    rule: ClassRule | None = None

    @property
    def hub_task(self) -> str:
        """The Hugging Face Hub's task id (pipeline tag) of a model for this task.

        ``audio-classification`` for every task: the classification tasks are that, and the Hub
        has no audio regression task; its audio models that regress emotion dimensions (arousal,
        dominance, valence from speech) are tagged ``audio-classification``, the task of audio in
        and one score per output out, so search finds them beside the emotion classifiers.
        """
        return "audio-classification"

    @property
    def is_regression(self) -> bool:
        """Whether the task predicts continuous targets."""
        return self.kind == "regression"

    @property
    def is_multilabel(self) -> bool:
        """Whether the task predicts, per tag, whether a track has it (``[N, T]`` 0/1)."""
        return self.kind == "multilabel"

    @property
    def is_classification(self) -> bool:
        """Whether the task predicts one class per track."""
        return self.kind == "classification"

    @property
    def pools_folds(self) -> bool:
        """Whether a candidate's out-of-fold predictions are scored as one pool per repeat.

        Not for a multilabel task: ROC-AUC and PR-AUC rank one model's scores, and each fold's
        model scores on its own scale (a tag-prior predicts a different constant per fold, so
        its pooled ROC-AUC falls below 0.5). Its pooled score is the mean of its folds' scores,
        and the bootstrap resamples artists within each fold.
        """
        return not self.is_multilabel

    def with_tags(self, tags: Iterable[str]) -> TaskSpec:
        """This multilabel task with its tag vocabulary: ``targets`` = ``tags``, sorted.

        Raises:
            ValueError: the task is not multilabel, or no tag is given.
        """
        vocabulary = tuple(sorted(dict.fromkeys(str(t) for t in tags)))
        if not self.is_multilabel or not vocabulary:
            raise ValueError(f"task '{self.name}' takes no tags, or none were given.")
        return replace(self, targets=vocabulary)

    def bound_to(self, columns: Iterable[str]) -> TaskSpec:
        """This task with the tags of a dataset's ``tag:<name>`` columns (multilabel, when the
        columns have any); any other task unchanged."""
        tags = tag_names(columns)
        return self.with_tags(tags) if self.is_multilabel and tags else self

    @property
    def labels(self) -> tuple[int, ...]:
        """The class labels in order (empty for regression)."""
        return tuple(label for label, _ in self.classes)

    @property
    def class_names(self) -> dict[int, str]:
        """Display names of the classes, by label."""
        return dict(self.classes)

    @property
    def class_aliases(self) -> dict[int, str]:
        """Short names of the classes, by label: a display name before its `` (`` part
        (``Q1`` for ``Q1 (A+ V+)``), as a dataset's own labels name them."""
        return {label: name.split(" (")[0] for label, name in self.classes}

    def class_of(self, text: str) -> int | None:
        """The label that ``text`` names: the label itself, or its class's short or display
        name in any case; ``None`` when it names no class of the task."""
        wanted = text.strip().casefold()
        for label, name in self.classes:
            if wanted in (str(label), name.casefold(), self.class_aliases[label].casefold()):
                return label
        return None

    @property
    def n_outputs(self) -> int:
        """Outputs of a model for this task: one per target or tag, or one score per class."""
        return len(self.classes) if self.is_classification else len(self.targets)

    @property
    def metrics(self) -> tuple[MetricSpec, ...]:
        """The metrics this task reports: every registered metric of its kind, in order."""
        return metrics_of(self.kind)

    def source(self, columns: Iterable[str]) -> tuple[str, ...] | None:
        """The first of ``sources`` whose columns are all in ``columns``, or ``None``.

        A multilabel task's source is every ``tag:<name>`` column, in tag order (``None``
        without any).
        """
        if self.is_multilabel:
            tags = tag_names(columns)
            return tuple(f"{TAG_PREFIX}{t}" for t in tags) or None
        have = set(columns)
        return next((s for s in self.sources if set(s) <= have), None)

    def metric_names(self) -> list[str]:
        """Every scalar column the task reports (top-k only when asked, so not here)."""
        return self.reported(None, "cells")

    def reported(self, columns: Iterable[str] | None, shown: Shown) -> list[str]:
        """The metric columns shown at level ``shown``, of those in ``columns`` (``None``: all).

        Plain values and means over dimensions come first, then per-dimension values, both in
        registry order, then the top-k columns present, sorted by name.
        """
        levels = SHOWN_IN[shown]
        heads = [
            m.name if m.per == "one" else f"{m.name}_mean"
            for m in self.metrics
            if m.per != "top-k" and m.shown in levels
        ]
        present = [] if columns is None else list(dict.fromkeys(columns))
        each = [
            f"{m.name}_{d}"
            for m in self.metrics
            if m.per == "dimensions" and m.shown_each in levels
            for d in self.dimensions(present)
        ]
        if columns is None:
            return [*heads, *each]
        templated = [m for m in self.metrics if m.per == "top-k" and m.shown in levels]
        tops = sorted(c for c in present if any(m.part(c) is not None for m in templated))
        return [c for c in [*heads, *each] if c in present] + tops

    def dimensions(self, columns: Sequence[str]) -> tuple[str, ...]:
        """The targets, or for a multilabel task without its tags the tags its metric columns
        among ``columns`` name (``roc_auc_<tag>``): stored cells name their tags that way."""
        if self.targets or not self.is_multilabel:
            return self.targets
        prefix = f"{self.primary.removesuffix('_mean')}_"
        found = {c.removeprefix(prefix) for c in columns if c.startswith(prefix)} - {"", "mean"}
        # A summary's interval ends (``roc_auc_sad_low``) name no tag of their own.
        ends = {f"{t}{end}" for t in found for end in _INTERVAL_ENDS} | {
            f"mean{end}" for end in _INTERVAL_ENDS
        }
        return tuple(sorted(found - ends))

    def classes_from(self, columns: Mapping[str, np.ndarray], midpoint: float) -> np.ndarray:
        """Derive the ``[N]`` int64 classes from label columns: arousal and valence, or quadrant.

        A value equal to ``midpoint`` counts as *high*.

        Raises:
            ConfigError: the task has no classes.
            ValueError: NaN labels or arrays of different shapes.
        """
        if self.rule is None:
            names = ", ".join(t.name for t in TASK_SPECS.values() if t.rule is not None)
            raise ConfigError(
                f"Unknown task '{self.name}' for classes: it has none. Choose one of: {names}."
            )
        if "arousal" in columns and "valence" in columns:
            a = np.asarray(columns["arousal"], dtype=np.float64)
            v = np.asarray(columns["valence"], dtype=np.float64)
            if a.shape != v.shape or np.isnan(a).any() or np.isnan(v).any():
                raise ValueError("arousal and valence must have the same shape and no NaN values.")
            return self.rule(a >= midpoint, v >= midpoint)
        quadrant = np.asarray(columns["quadrant"])
        # Russell's circumplex: Q1 and Q2 are high arousal, Q1 and Q4 high valence.
        return self.rule(np.isin(quadrant, (1, 2)), np.isin(quadrant, (1, 4)))


_MINUS = "\N{MINUS SIGN}"
_FROM_AROUSAL_VALENCE = ("arousal", "valence")


def _quadrant(high_arousal: np.ndarray, high_valence: np.ndarray) -> np.ndarray:
    """Quadrants of Russell's circumplex: 1 = +V +A, 2 = -V +A, 3 = -V -A, 4 = +V -A."""
    conditions = [high_valence & high_arousal, high_arousal, ~high_valence]
    return np.select(conditions, [1, 2, 3], default=4).astype(np.int64)


def _high_arousal(high_arousal: np.ndarray, high_valence: np.ndarray) -> np.ndarray:
    return high_arousal.astype(np.int64)


def _high_valence(high_arousal: np.ndarray, high_valence: np.ndarray) -> np.ndarray:
    return high_valence.astype(np.int64)


_CLASSIFICATION_SOURCES = (_FROM_AROUSAL_VALENCE, ("quadrant",))


def tag_names(columns: Iterable[str]) -> tuple[str, ...]:
    """The tags of the ``tag:<name>`` columns among ``columns``, sorted (the vocabulary)."""
    found = (str(c).removeprefix(TAG_PREFIX) for c in columns if str(c).startswith(TAG_PREFIX))
    return tuple(sorted({t for t in found if t}))


TASK_SPECS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(name="av-regression", kind="regression", primary="r2_mean",
                 summary="Arousal and valence on the dataset's own scale.",
                 sources=(_FROM_AROUSAL_VALENCE,), targets=_FROM_AROUSAL_VALENCE),
        TaskSpec(name="quadrant", kind="classification", primary="macro_f1",
                 summary="The quadrant of Russell's circumplex (valence x arousal).",
                 sources=_CLASSIFICATION_SOURCES, rule=_quadrant,
                 classes=((1, "Q1 (A+ V+)"), (2, f"Q2 (A+ V{_MINUS})"),
                          (3, f"Q3 (A{_MINUS} V{_MINUS})"), (4, f"Q4 (A{_MINUS} V+)"))),
        TaskSpec(name="arousal-binary", kind="classification", primary="macro_f1",
                 summary="High (1) or low (0) arousal.", sources=_CLASSIFICATION_SOURCES,
                 rule=_high_arousal, classes=((0, "low arousal"), (1, "high arousal"))),
        TaskSpec(name="valence-binary", kind="classification", primary="macro_f1",
                 summary="High (1) or low (0) valence.", sources=_CLASSIFICATION_SOURCES,
                 rule=_high_valence, classes=((0, "low valence"), (1, "high valence"))),
        TaskSpec(name="mood-tags", kind="multilabel", primary="roc_auc_mean",
                 summary="Which of the dataset's mood and theme tags a track has (multi-label).",
                 sources=((f"{TAG_PREFIX}<name>",),)),
    )
}  # fmt: skip
"""Every task, by name; the names are ``merbench.plugin.specs.TASKS``."""


def get_task(name: str) -> TaskSpec:
    """Return the record of task ``name``.

    Raises:
        ConfigError: unknown task, with the closest name and the allowed ones.
    """
    spec = TASK_SPECS.get(name)
    if spec is None:
        choices = ", ".join(TASK_SPECS)
        raise ConfigError(
            f"Unknown task '{name}'.{did_you_mean(name, TASK_SPECS)} Choose one of: {choices}."
        )
    return spec


def get_metric(column: str) -> MetricSpec:
    """Return the metric a column belongs to.

    Raises:
        ConfigError: no metric has such a column, with the closest and the known ones.
    """
    spec = find_metric(column)
    if spec is None:
        every = sorted({c for task in TASK_SPECS.values() for c in task.metric_names()})
        raise ConfigError(
            f"Unknown metric '{column}'.{did_you_mean(column, every)} "
            f"Choose one of: {', '.join(every)}."
        )
    return spec
