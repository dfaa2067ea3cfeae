"""A file of per-track predictions made outside merbench: read, and checked against a run's folds.

The file is a CSV with one row per test track of every outer fold: ``track_id``, ``repeat``,
``fold`` and the task's predictions, on the dataset's own label scale for regression (one column
per target, ``TaskSpec.targets``: ``arousal``, ``valence``) or, for classification, ``class`` (one
of ``TaskSpec.labels``, or its class's name in any case: ``Q1`` or ``q1`` for quadrant 1, as the
dataset's labels name it) and optionally a score per class (``proba_<label>``, higher is more
likely; used for top-k accuracy); for a multilabel task, one column per tag (``TaskSpec.targets``:
the dataset's tags), each track's probability or any score that ranks tracks (higher is more
likely). A file that does not match is refused with one line naming it,
what is wrong, its first offending lines and the fix. Numbers are parsed by Python's ``float``,
so a value written with ``repr`` reads back as the same double.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from merbench.csvfiles import restore
from merbench.errors import ConfigError
from merbench.evaluation.tasks import TaskSpec

KEY = ("track_id", "repeat", "fold")
"""The columns that place a prediction: which track, in which fold of which repeat."""
PROBA_PREFIX = "proba_"
SHOWN = 3
"""How many offending lines a message quotes."""
FOLDS = "'merbench folds RUN --out folds.csv' lists the run's folds"
Folds = Mapping[tuple[int, int], frozenset[str]]
"""The test tracks of each ``(repeat, fold)`` of a run's split."""


def value_columns(spec: TaskSpec) -> list[str]:
    """The prediction columns a task needs: its regression targets or tags, or ``class``."""
    return ["class"] if spec.is_classification else list(spec.targets)


def proba_columns(spec: TaskSpec) -> list[str]:
    """The optional class-score columns of a classification task, in ``labels`` order."""
    return [f"{PROBA_PREFIX}{label}" for label in spec.labels]


def read_predictions(path: Path, spec: TaskSpec) -> pd.DataFrame:
    """Read a predictions file and check its columns and values.

    Returns:
        One row per line of the file: ``line`` (its line number), ``track_id`` (text),
        ``repeat`` and ``fold`` (int), the prediction columns (float; ``class`` int) and the
        class scores when given (float).

    Raises:
        ConfigError: an unreadable or empty file, wrong columns, or values that are missing,
            not finite, not whole numbers where they must be, or not a class of the task.
    """
    frame = _read_csv(path)
    _check_columns(path, list(frame.columns), spec)
    if frame.empty:
        raise ConfigError(
            f"{path}: no rows under the header. Write one row per test track of every fold "
            f"({FOLDS})."
        )
    frame.insert(0, "line", np.arange(2, len(frame) + 2))
    return _check_values(path, frame, spec)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        frame = frame.rename(columns=restore).map(restore)  # as merbench folds wrote them
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file. Pass the CSV of predictions to score.") from None
    except pd.errors.EmptyDataError:
        raise ConfigError(
            f"{path}: the file is empty. Write a header ({', '.join(KEY)} and the predictions) "
            "and one row per test track."
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(
            f"{path}: not a readable CSV file ({reason}). Write comma-separated UTF-8 text with "
            "one header line."
        ) from None
    frame.columns = pd.Index([str(c).strip() for c in frame.columns])
    stripped: pd.DataFrame = frame.apply(lambda column: column.str.strip())
    return stripped


def _check_columns(path: Path, columns: Sequence[str], spec: TaskSpec) -> None:
    required = [*KEY, *value_columns(spec)]
    optional = proba_columns(spec)
    problems = [f"no column '{c}'" for c in required if c not in columns]
    for column in [c for c in columns if c not in required and c not in optional]:
        close = difflib.get_close_matches(column, [*required, *optional], n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        if column.startswith("Unnamed:"):
            hint = " (an unnamed column: write the file without its index)"
        problems.append(f"unexpected column '{column}'{hint}")
    given = [c for c in optional if c in columns]
    if given and len(given) < len(optional):
        problems.append(f"class scores for some classes only ({', '.join(given)})")
    if problems:
        wanted = ", ".join(required)
        if optional:
            wanted += f", and optionally one score per class: {', '.join(optional)}"
        raise ConfigError(
            f"{path}: wrong columns for task '{spec.name}': {'; '.join(problems)}. "
            f"Write the columns {wanted}."
        )


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _check_values(path: Path, frame: pd.DataFrame, spec: TaskSpec) -> pd.DataFrame:
    _refuse(path, frame, frame["track_id"] == "", "rows without a track_id", "track_id", "Give "
            "every row the track_id of a test track.")  # fmt: skip
    numeric = [c for c in frame.columns if c not in ("line", "track_id", "class")]
    out = frame[["line", "track_id"]].copy()
    for column in numeric:
        values = frame[column].map(_number).astype(np.float64)
        bad = ~np.isfinite(values)
        _refuse(path, frame, bad, f"empty, NaN, infinite or non-numeric values in '{column}'",
                column, "Every row needs a finite number in every column: predict every "
                "test track, or fix the model's NaN outputs.")  # fmt: skip
        out[column] = values
    for column in ("repeat", "fold"):
        fraction = out[column] != np.round(out[column])
        _refuse(path, frame, fraction, f"values in '{column}' that are not whole numbers", column,
                f"Write '{column}' as an integer.")  # fmt: skip
        out[column] = out[column].astype(np.int64)
    if spec.is_classification:
        out["class"] = _classes(path, frame, spec)
    return out


def _classes(path: Path, frame: pd.DataFrame, spec: TaskSpec) -> pd.Series:
    """The ``class`` column as labels: each a label (``1``, ``1.0``) or a class's name in any
    case (``Q1``, ``q1``, ``Q1 (A+ V+)``, ``high arousal``)."""
    values = frame["class"].map(_number).astype(np.float64)
    fraction = np.isfinite(values) & (values != np.round(values))
    _refuse(path, frame, fraction, "values in 'class' that are not whole numbers", "class",
            "Write 'class' as an integer label or a class name.")  # fmt: skip
    named = frame["class"].map(lambda text: spec.class_of(str(text)))
    labels = named.where(named.notna(), values.where(values.isin(spec.labels)))
    names = ", ".join(f"{label} or {spec.class_aliases[label]}" for label in spec.labels)
    _refuse(path, frame, labels.isna(), f"classes that task '{spec.name}' does not have",
            "class", f"Write each class as its label or its name (any case): {names}.")  # fmt: skip
    return labels.astype(np.int64)


PLAUSIBLE_WIDTHS = 5
"""How many widths of the label scale a regression prediction may lie outside it, in a score
file or from an exported model. A linear model extrapolates on audio unlike its training set (a
ridge fitted on a 1..9 scale gives 18 for a pure tone); an edited scaler gives hundreds, and a
value such as 1e308 overflows every score."""


def plausible_range(low: float, high: float) -> tuple[float, float]:
    """The values a regression prediction may take for labels spanning ``low..high``: that span
    widened by ``PLAUSIBLE_WIDTHS`` times itself on each side (by that many units when it is
    empty)."""
    width = PLAUSIBLE_WIDTHS * ((high - low) or 1.0)
    return low - width, high + width


def check_range(path: Path, frame: pd.DataFrame, spec: TaskSpec, y: np.ndarray) -> None:
    """Refuse regression predictions far outside the scale of the dataset's labels.

    A target's plausible range is the span of its labels widened by ``PLAUSIBLE_WIDTHS`` times
    that span on each side: -39..49 for labels spanning 1..9. A prediction beyond it is no
    estimate of the label but a unit or scaling error, or a number whose scores overflow (1e308
    gives an R\u00b2 of minus infinity).

    Args:
        path: the file, for messages.
        frame: ``read_predictions`` rows.
        spec: the task.
        y: the dataset's targets ``[N, D]``, in ``spec.targets`` order.

    Raises:
        ConfigError: a prediction outside its target's plausible range (the first offending
            lines, the range, and how far outside the farthest one is).
    """
    if not spec.is_regression:
        return
    for d, column in enumerate(spec.targets):
        labels = y[:, d][np.isfinite(y[:, d])]
        if labels.size == 0:
            continue
        low, high = float(labels.min()), float(labels.max())
        lo, hi = plausible_range(low, high)
        values = frame[column].to_numpy(dtype=np.float64)
        beyond = np.maximum(lo - values, values - hi)
        bad = beyond > 0
        if bad.any():
            far = float(beyond.max())
            what = f"predictions outside the plausible range of '{column}' [{lo:.4g}, {hi:.4g}]"
            fix = (
                f"The labels of '{column}' span {low:.4g}..{high:.4g}; the range is that span "
                f"widened by {PLAUSIBLE_WIDTHS} times itself on each side, and a prediction is "
                f"up to {far:.4g} beyond it: predict on the dataset's own scale."
            )
            _refuse(path, frame, bad, what, column, fix)


def check_against_folds(
    path: Path, frame: pd.DataFrame, folds: Folds, tracks: Collection[str]
) -> None:
    """Refuse predictions that do not cover exactly the test tracks of every fold, once each.

    Args:
        path: the file, for messages.
        frame: ``read_predictions`` rows.
        folds: the test tracks of each ``(repeat, fold)`` of the run's split.
        tracks: every track of the split.

    Raises:
        ConfigError: duplicate rows, a repeat or fold the run does not have, unknown tracks, a
            track predicted in a fold that trains on it, or test tracks without a prediction.
    """
    pairs = list(zip(frame["repeat"], frame["fold"], strict=True))
    _refuse(path, frame, frame.duplicated(list(KEY), keep=False),
            "rows that predict the same track in the same fold more than once", None,
            "Keep one row per track_id, repeat and fold.")  # fmt: skip
    repeats = sorted({r for r, _ in folds})
    n_folds = max(f for _, f in folds) + 1
    _refuse(path, frame, np.array([p not in folds for p in pairs]),
            "repeats or folds the run does not have", None, f"The run has repeat "
            f"{_span(repeats)} and fold {_span(range(n_folds))}; {FOLDS}.")  # fmt: skip
    _refuse(path, frame, ~frame["track_id"].isin(set(tracks)),
            "tracks that are not in the run's folds", None, f"Use the track_id values of the "
            f"run's folds ({FOLDS}); tracks the run left out cannot be scored.")  # fmt: skip
    is_test = [t in folds[p] for t, p in zip(frame["track_id"], pairs, strict=True)]
    _refuse(path, frame, ~np.array(is_test),
            "tracks predicted in a fold that trains on them", None, "Predict each track only "
            "in the folds where it is a test track (part 'test' of 'merbench folds').")  # fmt: skip
    predicted = set(zip(frame["repeat"], frame["fold"], frame["track_id"], strict=True))
    missing = [
        f"track '{track}' repeat {repeat} fold {fold}"
        for (repeat, fold), test in folds.items()
        for track in sorted(test)
        if (repeat, fold, track) not in predicted
    ]
    if missing:
        raise ConfigError(
            f"{path}: {len(missing)} test track(s) without a prediction ({_first(missing)}). "
            f"Predict every test track of every fold ({FOLDS})."
        )


def _refuse(
    path: Path,
    frame: pd.DataFrame,
    bad: pd.Series | np.ndarray,
    what: str,
    column: str | None,
    fix: str,
) -> None:
    """Raise one line naming the first offending lines, when any row is ``bad``.

    Lines show the offending value of ``column``, else the row's track, repeat and fold.
    """
    rows = frame[np.asarray(bad, dtype=bool)]
    if rows.empty:
        return
    if column is not None:
        shown = [f"line {r['line']}: {column} {r[column]!r}" for r in rows.to_dict("records")]
    else:
        shown = [
            f"line {r['line']}: track '{r['track_id']}' repeat {r['repeat']} fold {r['fold']}"
            for r in rows.to_dict("records")
        ]
    raise ConfigError(f"{path}: {len(rows)} row(s) with {what} ({_first(shown)}). {fix}")


def _first(items: Sequence[str]) -> str:
    """The first ``SHOWN`` items, and how many more there are."""
    text = "; ".join(items[:SHOWN])
    return text + (f"; and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _span(values: Collection[int]) -> str:
    ordered = sorted(values)
    return str(ordered[0]) if len(ordered) == 1 else f"{ordered[0]} to {ordered[-1]}"
