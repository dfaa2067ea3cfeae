"""An exported model as a scikit-learn-style estimator: ``merbench.load_model(folder)``.

It wraps the ``Predictor`` that ``merbench predict`` uses (``merbench.exchange.inference``): the
same reading of the folder (format version, plugins, sha256, no code executed), the same checks
of parameters, front-end weights and defaults, and the same predictions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from merbench.exchange.inference import Predictor

Paths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
"""One audio file, or several."""


@dataclass(frozen=True)
class ExportedModel:
    """An exported model: ``predict(paths)``, ``predict_proba(paths)`` and what it predicts.

    A file that cannot be decoded raises ``merbench.DatasetError`` naming it.
    """

    predictor: Predictor

    @property
    def folder(self) -> Path:
        """The export folder."""
        return self.predictor.folder

    @property
    def candidate(self) -> str:
        """The candidate exported, e.g. ``cnn2d@mel``."""
        return str(self.predictor.manifest["candidate"])

    @property
    def task(self) -> str:
        """The task's name, e.g. ``av-regression`` or ``quadrant``."""
        return self.predictor.task.name

    @property
    def is_regression(self) -> bool:
        """Whether ``predict`` gives targets (else class labels, or tag probabilities)."""
        return self.predictor.task.is_regression

    @property
    def is_multilabel(self) -> bool:
        """Whether ``predict`` gives each tag's probability."""
        return self.predictor.task.is_multilabel

    @property
    def targets(self) -> tuple[str, ...]:
        """The regression targets or the tags, the columns of ``predict`` (empty for
        classification)."""
        return tuple(self.predictor.task.targets)

    @property
    def classes_(self) -> np.ndarray:
        """The class labels, the columns of ``predict_proba`` (empty for regression)."""
        return np.asarray(self.predictor.task.labels, dtype=np.int64)

    @property
    def class_names(self) -> dict[int, str]:
        """Each class label's name (``{1: "Q1 (A+ V+)", ...}``)."""
        return dict(self.predictor.task.class_names)

    @property
    def label_scale(self) -> tuple[float, float]:
        """The dataset's label scale ``(low, high)``, the scale of regression predictions."""
        scale = self.predictor.manifest["dataset"]["label_scale"]
        return float(scale["low"]), float(scale["high"])

    @property
    def has_proba(self) -> bool:
        """Whether the model gives class probabilities (``predict_proba``)."""
        return self.predictor.manifest.get("class_scores") == "probabilities"

    def _rows(self, paths: Paths) -> np.ndarray:
        files = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        rows = [self.predictor.predict(Path(f)) for f in files]
        return np.asarray(rows, dtype=np.float64).reshape(len(files), -1)

    def predict(self, paths: Paths) -> np.ndarray:
        """Predict audio files.

        Returns:
            Regression: ``[N, targets]`` floats on the dataset's scale (``targets`` order).
            Multilabel: ``[N, tags]`` probabilities (``targets`` order).
            Classification: ``[N]`` int class labels.

        Raises:
            DatasetError: a file cannot be decoded.
        """
        rows = self._rows(paths)
        if not self.predictor.task.is_classification:
            return rows
        return rows[:, -1].astype(np.int64)

    def predict_proba(self, paths: Paths) -> np.ndarray:
        """Class probabilities ``[N, classes]`` (``classes_`` order).

        Raises:
            AttributeError: a regression model, or one with decision scores, not probabilities.
            DatasetError: a file cannot be decoded.
        """
        if self.is_multilabel:
            raise AttributeError(
                f"{self.folder}: {self.candidate} is a multilabel model; predict gives each "
                "tag's probability."
            )
        if not self.has_proba:
            kind = "a regression model" if self.is_regression else "its class scores are not"
            raise AttributeError(
                f"{self.folder}: {self.candidate} gives no class probabilities ({kind}"
                f"{' probabilities' if not self.is_regression else ''})."
            )
        return self._rows(paths)[:, :-1]

    def __repr__(self) -> str:
        return f"ExportedModel({self.candidate!r}, task={self.task!r}, folder={str(self.folder)!r})"
