"""Tracks: a dataset plugin's table checked, cleaned of bad tracks, and turned into targets.

Bad tracks (a missing or unreadable audio file, a NaN or out-of-range label) are skipped and
recorded (``on_bad_tracks = "skip"``, the default) or stop the run before any training
(``"fail"``). Either way the message names the file and the fix.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from merbench.data.config import DatasetConfig
from merbench.errors import DatasetError, MerbenchError
from merbench.evaluation.tasks import TAG_PREFIX, TASK_SPECS, TaskSpec
from merbench.plugin.specs import DatasetSpec, LabelScale

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("track_id", "group", "audio_path")
REGRESSION_TARGETS = TASK_SPECS["av-regression"].targets
"""The regression targets (``TaskSpec.targets`` of ``av-regression``)."""
LABEL_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(c for spec in TASK_SPECS.values() for s in spec.sources for c in s)
)
"""Every label column a task can read, in a fixed order (``TaskSpec.sources``)."""
_QUADRANTS = TASK_SPECS["quadrant"].labels


@dataclass(frozen=True, kw_only=True)
class Tracks:
    """The usable tracks of one configured dataset.

    Attributes:
        name: the dataset's name in ``datasets.toml``.
        spec: the dataset plugin's record.
        table: one row per usable track (``track_id``, ``group``, ``audio_path``, labels).
        skipped: ``track_id -> reason`` for every track left out.
        parts: for a transfer pair's tracks (``merbench.data.transfer``), the two datasets'
            own tracks its table stacks, in order; empty for one dataset.
    """

    name: str
    spec: DatasetSpec
    table: pd.DataFrame
    skipped: dict[str, str] = field(default_factory=dict)
    parts: tuple[Tracks, ...] = ()

    @property
    def scale(self) -> LabelScale:
        """The label scale (``0..1`` when the plugin declares none)."""
        return self.spec.label_scale or LabelScale(low=0.0, high=1.0)

    def fingerprint(self) -> str:
        """A hash of the track list, audio files and labels: the key of derived caches.

        Computed once per ``Tracks`` (it reads every file's size and time): a run loads its
        tracks once, and every cell of it asks for the key of its cached features.
        """
        cached: str | None = self.__dict__.get("_fingerprint")
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        for row in self.table.itertuples(index=False):
            path = Path(str(row.audio_path))
            stat = path.stat() if path.exists() else None
            stamp = f"{stat.st_size}:{stat.st_mtime_ns}" if stat else "-"
            digest.update(f"{row.track_id}|{path}|{stamp}\n".encode())
        value = digest.hexdigest()[:20]
        object.__setattr__(self, "_fingerprint", value)  # a frozen record, filled in once
        return value

    def targets(self, task: TaskSpec) -> np.ndarray:
        """Return the targets of ``task``: ``[N, D]`` float (``TaskSpec.targets``), ``[N, T]``
        0/1 float (the ``tag:<name>`` columns, in tag order) or ``[N]`` int.

        They come from the first of the task's label sources the table has: classes from
        arousal and valence when present, else from quadrant labels.
        """
        columns = list(task.source(self.table.columns) or task.sources[0])
        if not task.is_classification:
            return self.table[columns].to_numpy(dtype=np.float64)
        values = {c: self.table[c].to_numpy(dtype=np.float64) for c in columns}
        return task.classes_from(values, self.scale.midpoint)


def load_tracks(
    config: DatasetConfig,
    spec: DatasetSpec,
    tasks: Sequence[TaskSpec],
    *,
    check_audio: Callable[[str], object] | None = None,
) -> Tracks:
    """Load one configured dataset through its plugin and keep the usable tracks.

    Args:
        config: the dataset's ``datasets.toml`` entry.
        spec: its plugin's record.
        tasks: the tasks the run asks of it (decides which labels must be present).
        check_audio: called with each audio path; raises ``DatasetError`` for unusable audio.

    Raises:
        DatasetError: the plugin fails, required columns are missing, track ids repeat, a
            bad track is found while ``on_bad_tracks = "fail"``, or no track is usable.
    """
    where = f"dataset '{config.name}' (plugin '{spec.name}')"
    check_scale(where, spec.label_scale)
    try:
        table = spec.loader(config.path, **dict(config.options))
    except MerbenchError as exc:
        raise named_error(exc, config.name) from exc.__cause__
    except Exception as exc:
        raise DatasetError(
            f"{where}: loading failed ({type(exc).__name__}: {exc}). "
            f"Run 'merbench verify {config.name}' to check the local copy."
        ) from exc
    table = _check_columns(where, table, tasks, dataset=config.name)
    problems = _bad_tracks(table, tasks, spec.label_scale, check_audio)
    if problems and config.on_bad_tracks == "fail":
        first = "; ".join(f"{t}: {r}" for t, r in list(problems.items())[:3])
        raise DatasetError(
            f"{where}: {len(problems)} unusable track(s) ({first}). Fix them, or set "
            f'on_bad_tracks = "skip" in [datasets.{config.name}] to leave them out.'
        )
    for track_id, reason in problems.items():
        log.warning("%s: skipped track %s: %s", where, track_id, reason)
    kept = table[~table["track_id"].isin(list(problems))].reset_index(drop=True)
    if kept.empty:
        raise DatasetError(_no_tracks(where, config, problems))
    tracks = Tracks(name=config.name, spec=spec, table=kept, skipped=problems)
    for task in tasks:
        check_variance(where, tracks, task)
    return tracks


def named_error(exc: MerbenchError, name: str) -> MerbenchError:
    """A plugin's error with the dataset's name in place of the ``<name>`` it could not know
    (``[datasets.<name>.options]`` becomes ``[datasets.pmemo.options]``)."""
    text = str(exc)
    if "<name>" not in text:
        return exc
    return type(exc)(text.replace("[datasets.<name>", f"[datasets.{name}"))


def check_scale(where: str, scale: LabelScale | None) -> None:
    """Refuse a label scale whose ends are not finite, not ordered, or too far apart to
    subtract: every label mapped onto it would become one value.

    Raises:
        DatasetError: the scale, named with the dataset.
    """
    if scale is None:
        return
    low, high = float(scale.low), float(scale.high)
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(high - low)) or not (
        low < high
    ):
        raise DatasetError(
            f"{where}: label scale {low:g}..{high:g} is not a range of finite numbers with low "
            "below high. Set the ends of the rating scale (e.g. scale_low = 1, scale_high = 9)."
        )


def check_variance(where: str, tracks: Tracks, task: TaskSpec) -> None:
    """Refuse a task whose targets do not vary over the dataset's usable tracks: every model,
    the trivial one included, would score as perfect.

    Raises:
        DatasetError: the label column (or the one class) that does not vary.
    """
    if task.source(tracks.table.columns) is None:
        return  # the task's labels are missing: checked with the columns
    targets = tracks.targets(task)
    if task.is_multilabel:
        if not (targets.min(axis=0) < targets.max(axis=0)).any():
            raise DatasetError(
                f"{where}: no tag varies over the usable tracks (each is on every track or on "
                f"none), so task '{task.name}' has nothing to predict. Check the tag columns."
            )
        return
    if task.is_regression:
        columns = list(task.source(tracks.table.columns) or task.sources[0])
        for d, column in enumerate(columns[: targets.shape[1]]):
            values = targets[:, d]
            if np.ptp(values) == 0:
                raise DatasetError(
                    f"{where}: every usable track has {column} = {values[0]:g}, so task "
                    f"'{task.name}' has nothing to predict. Check the '{column}' labels (and "
                    "the label scale), or leave out the task."
                )
    elif len(np.unique(targets)) < 2:
        name = task.class_names.get(int(targets[0]), str(targets[0]))
        raise DatasetError(
            f"{where}: every usable track is of class {name}, so task '{task.name}' has "
            "nothing to predict. Check the labels, or leave out the task."
        )


def _no_tracks(where: str, config: DatasetConfig, problems: dict[str, str]) -> str:
    """Say that a dataset has no track at all, or none that is usable, and what to do."""
    source = config.path if config.path is not None else f"plugin '{config.plugin}'"
    if not problems:
        return (
            f"{where}: no tracks in {source}. Check that path in [datasets.{config.name}] "
            "points at the dataset and that its annotation file lists tracks "
            f"('merbench verify {config.name}' checks the copy)."
        )
    first = "; ".join(f"{t}: {r}" for t, r in list(problems.items())[:3])
    return (
        f"{where}: none of its {len(problems)} track(s) in {source} is usable ({first}). "
        f"Fix them; 'merbench verify {config.name}' lists every problem."
    )


def _check_columns(
    where: str, table: Any, tasks: Sequence[TaskSpec], *, dataset: str
) -> pd.DataFrame:
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise DatasetError(f"{where}: load() returned {type(table).__name__}, not a DataFrame.")
    needed = list(REQUIRED_COLUMNS)
    for task in tasks:
        needed += [] if task.source(table.columns) else list(task.sources[0])
    missing = [c for c in dict.fromkeys(needed) if c not in table.columns]
    if missing:
        raise DatasetError(_missing_columns(where, dataset, table, missing))
    duplicated = table["track_id"][table["track_id"].duplicated()].astype(str).tolist()
    if duplicated:
        raise DatasetError(
            f"{where}: track id(s) {', '.join(duplicated[:5])} appear more than once. "
            "Remove the duplicate rows from the dataset's annotation file."
        )
    table = pd.DataFrame(table).copy()
    table["track_id"] = table["track_id"].astype(str)
    cleaned: pd.DataFrame = table
    # A track without a known artist or album is its own group (documented in docs/protocol.md).
    cleaned["group"] = cleaned["group"].where(cleaned["group"].notna(), cleaned["track_id"])
    cleaned["group"] = cleaned["group"].astype(str)
    return cleaned


def _missing_columns(where: str, dataset: str, table: pd.DataFrame, missing: list[str]) -> str:
    """Say which task the labels of a dataset do fit, or else that the plugin is at fault."""
    if set(missing) <= set(REGRESSION_TARGETS) and "quadrant" in table:
        return (
            f"{where}: task 'av-regression' needs arousal and valence labels; this dataset has "
            f"quadrant labels only. Run its quadrant tasks instead: merbench run --datasets "
            f"{dataset} --tasks quadrant (or arousal-binary, valence-binary)."
        )
    return (
        f"{where}: the track table lacks column(s) {', '.join(missing)}; it has "
        f"{', '.join(map(str, table.columns))}. The plugin must return them."
    )


def _bad_tracks(
    table: pd.DataFrame,
    tasks: Sequence[TaskSpec],
    scale: LabelScale | None,
    check_audio: Callable[[str], object] | None,
) -> dict[str, str]:
    read = {c for t in tasks for c in t.source(table.columns) or ()}
    label_columns = [c for c in LABEL_COLUMNS if c in read]
    tag_problems = _tag_problems(table, sorted(c for c in read if c.startswith(TAG_PREFIX)))
    problems: dict[str, str] = {}
    for position, row in enumerate(table.itertuples(index=False)):
        reason = tag_problems[position] or _label_problem(row, label_columns, scale)
        if not reason and check_audio is not None:
            try:
                check_audio(str(row.audio_path))
            except DatasetError as exc:
                reason = str(exc)
        if reason:
            problems[str(row.track_id)] = reason
    return problems


def _tag_problems(table: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """Per row, what is wrong with its ``tag:<name>`` values (each must be 0 or 1), or ``""``."""
    import pandas as pd

    out = [""] * len(table)
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
        for position in np.flatnonzero(~np.isin(values, (0.0, 1.0))):
            shown = "missing (NaN)" if np.isnan(values[position]) else f"{values[position]:g}"
            out[position] = out[position] or f"tag '{column}' is {shown}; it must be 0 or 1"
    return out


def _label_problem(row: Any, columns: Sequence[str], scale: LabelScale | None) -> str:
    for column in columns:
        value = float(getattr(row, column))
        # A plugin may keep a label cell's text (``quadrant_raw``) when it could not read it.
        raw = getattr(row, f"{column}_raw", None) if column == "quadrant" else None
        text = raw if isinstance(raw, str) and raw else ""
        if column == "quadrant" and (text or np.isfinite(value)) and value not in _QUADRANTS:
            allowed = ", ".join(map(str, _QUADRANTS))
            return f"quadrant '{text or f'{value:g}'}' is not one of {allowed} (or Q1..Q4)"
        if not np.isfinite(value):
            return f"label '{column}' is missing (NaN)"
        if column != "quadrant" and scale and not scale.low <= value <= scale.high:
            return f"{column} {value:g} is outside the scale {scale.low:g}..{scale.high:g}"
    return ""
