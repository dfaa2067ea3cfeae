"""folder: your own audio files and a CSV of labels, as a merbench dataset.

Dataset checklist:

- **Annotations:** whatever your CSV holds: arousal and valence on a scale you declare
  (``scale_low`` .. ``scale_high``, 1..9 by default) and/or a quadrant (1..4 or ``Q1``..``Q4``).
- **Size:** your files, in any format soundfile reads (WAV, FLAC, OGG, MP3, ...).
- **Origin:** yours.
- **Music:** yours.
- **Paper:** none; cite your own data.
- **Access:** local: ``path`` is the folder, ``labels`` the CSV (relative to it, UTF-8 unless
  ``encoding`` says otherwise), and the ``*_column`` options name the CSV's columns.
- **License:** yours; merbench only reads the files.

Labels are mapped linearly from ``scale_low .. scale_high`` onto merbench's 1..9 scale for this
plugin (the spec declares 1..9, whatever the options), so high/low and quadrant classes split at
the middle of *your* scale. With the default scale the values are unchanged; otherwise the
original values are kept in ``arousal_raw`` and ``valence_raw``. A value outside the declared
scale stops loading with an error naming its CSV line: it almost always means the scale options
do not match the data.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

import merbench
from merbench.errors import ConfigError, did_you_mean
from merbench_plugins.datasets._tables import (
    check_audio,
    check_duplicates,
    check_labels,
    numbers,
    read_csv,
    text,
)

if TYPE_CHECKING:
    import pandas as pd

MERBENCH_PLUGIN_API = 1

SCALE = merbench.LabelScale(low=1.0, high=9.0)
OPTIONS_TABLE = "[datasets.<name>.options]"
RESERVED = ("track_id", "group", "audio_path", "line", "arousal", "valence", "quadrant")


@dataclass(frozen=True, kw_only=True, slots=True)
class FolderOptions:
    """The options of a ``folder`` dataset; an empty column name means "none"."""

    labels: str = "labels.csv"
    audio_column: str = "file"
    arousal_column: str = "arousal"
    valence_column: str = "valence"
    quadrant_column: str = ""
    group_column: str = ""
    id_column: str = ""
    scale_low: float = 1.0
    scale_high: float = 9.0
    encoding: str = "utf-8"

    def check(self) -> None:
        """Raise ``ConfigError`` for options that cannot work together."""
        where = f"folder: {OPTIONS_TABLE}"
        if not self.audio_column:
            raise ConfigError(f"{where}: audio_column is empty. Name the CSV's audio column.")
        if bool(self.arousal_column) != bool(self.valence_column):
            raise ConfigError(
                f"{where}: arousal_column is '{self.arousal_column}' but valence_column is "
                f"'{self.valence_column}'. Name both columns, or set both to \"\"."
            )
        if not self.arousal_column and not self.quadrant_column:
            raise ConfigError(
                f"{where}: no label column. Set arousal_column and valence_column, or "
                "quadrant_column."
            )
        if not _is_encoding(self.encoding):
            raise ConfigError(
                f"{where}: encoding '{self.encoding}' is not a text encoding Python knows. Use "
                'e.g. "utf-8" (the default), "latin-1" or "cp1252".'
            )
        ends = (self.scale_low, self.scale_high, self.scale_high - self.scale_low)
        if not all(math.isfinite(x) for x in ends):
            raise ConfigError(
                f"{where}: scale_low ({self.scale_low:g}) and scale_high ({self.scale_high:g}) "
                "must be finite numbers, not too large to subtract. Set them to the ends of your "
                "rating scale, e.g. 1 and 9."
            )
        if not self.scale_low < self.scale_high:
            raise ConfigError(
                f"{where}: scale_low ({self.scale_low:g}) must be below scale_high "
                f"({self.scale_high:g}). Set them to the ends of your rating scale."
            )


def _is_encoding(name: str) -> bool:
    """Whether ``name`` is a codec that decodes bytes to text (not ``rot13`` or ``base64``)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return False
    return bool(getattr(info, "_is_text_encoding", True))


def read_labels(root: Path, options: FolderOptions) -> pd.DataFrame:
    """Read the labels CSV into a track table with labels on their original scale.

    Returns:
        ``track_id``, ``group``, ``audio_path`` (absolute), ``line`` (the CSV line number),
        and ``arousal``, ``valence`` and/or ``quadrant`` (NaN where a cell is empty or not a
        number or quadrant; ``quadrant_raw`` keeps the cell's text); the CSV's other columns
        follow unchanged, except those named like these (the options choose which CSV columns
        fill them).

    Raises:
        ConfigError: the options do not work together.
        DatasetError: the CSV is missing, unreadable or lacks a named column.
    """
    options.check()
    path = Path(root) / options.labels
    named = {
        "audio_column": options.audio_column,
        "arousal_column": options.arousal_column,
        "valence_column": options.valence_column,
        "quadrant_column": options.quadrant_column,
        "group_column": options.group_column,
        "id_column": options.id_column,
    }
    fix = _missing_csv_fix(Path(root), options)
    table = read_csv(path, columns=[], fix=fix, encoding=options.encoding)
    for option, column in named.items():
        if column and column not in table.columns:
            raise merbench.DatasetError(
                f"{path}: no column '{column}' (option {option})."
                f"{did_you_mean(column, table.columns)} It has "
                f"{', '.join(table.columns)}. Set {option} in {OPTIONS_TABLE} to one of them"
                + ("." if option == "audio_column" else ', or to "" for none.')
            )
    return _track_table(Path(root), table, options)


def _missing_csv_fix(root: Path, options: FolderOptions) -> str:
    return (
        f"Write the labels CSV there, or set labels in {OPTIONS_TABLE} to its path relative "
        f"to {root} (now '{options.labels}')."
    )


def _track_table(root: Path, table: pd.DataFrame, options: FolderOptions) -> pd.DataFrame:
    files = table[options.audio_column]
    ids = table[options.id_column] if options.id_column else files.map(_id_from_file)
    # CSV columns named like the track table's own are replaced by the ones the options select.
    out = table.drop(columns=[c for c in table.columns if c in RESERVED])
    out.insert(0, "track_id", ids.astype(str))
    groups = text(table[options.group_column]) if options.group_column else None
    out.insert(1, "group", ids if groups is None else groups.fillna(ids))
    folder = root.resolve()
    out.insert(2, "audio_path", [str(folder / f) if f else "" for f in files])
    out.insert(3, "line", np.arange(len(table)) + 2)
    if options.arousal_column:
        out["arousal"] = numbers(table[options.arousal_column])
        out["valence"] = numbers(table[options.valence_column])
    if options.quadrant_column:
        raw = table[options.quadrant_column].str.upper().str.removeprefix("Q")
        out["quadrant"] = numbers(raw).where(lambda q: q.isin([1, 2, 3, 4]))
        out["quadrant_raw"] = text(table[options.quadrant_column])  # for messages on bad cells
    return out


def _id_from_file(file: str) -> str:
    """The track id of a file: its path relative to the folder, without the extension."""
    path = PurePosixPath(file.replace("\\", "/"))
    return str(path.with_suffix("")) if path.suffix else str(path)


def _outside(table: pd.DataFrame, options: FolderOptions) -> list[str]:
    """Describe label cells outside the declared scale: ``line N: arousal 12``."""
    if "arousal" not in table:
        return []
    found = []
    for column in ("arousal", "valence"):
        values = table[column]
        bad = (values < options.scale_low) | (values > options.scale_high)
        pairs = zip(table["line"][bad], values[bad], strict=True)
        found += [f"line {n}: {column} {v:g}" for n, v in pairs]
    return found


def _rescaled(table: pd.DataFrame, options: FolderOptions) -> pd.DataFrame:
    low, high = options.scale_low, options.scale_high
    if "arousal" not in table or (low, high) == (SCALE.low, SCALE.high):
        return table
    table = table.assign(arousal_raw=table["arousal"], valence_raw=table["valence"])
    for column in ("arousal", "valence"):
        unit = (table[column] - low) / (high - low)
        table[column] = SCALE.low + unit * (SCALE.high - SCALE.low)
    return table


def load(root: Path, **options: Any) -> pd.DataFrame:
    """Return the track table of a folder of audio files and a labels CSV.

    Args:
        root: the folder; audio paths in the CSV are relative to it.
        **options: the ``FolderOptions`` fields (``labels``, ``audio_column``,
            ``arousal_column``, ``valence_column``, ``quadrant_column``, ``group_column``,
            ``id_column``, ``scale_low``, ``scale_high``, ``encoding``).

    Returns:
        ``read_labels`` with arousal and valence mapped onto 1..9.

    Raises:
        ConfigError: an unknown option, or options that do not work together.
        DatasetError: the CSV is missing, not in ``encoding`` or lacks a column, or a label is
            outside the scale.
    """
    settings = _options(options)
    table = read_labels(Path(root), settings)
    outside = _outside(table, settings)
    if outside:
        path = Path(root) / settings.labels
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        shown = "; ".join(outside[:5]) + more
        raise merbench.DatasetError(
            f"{path}: {len(outside)} label(s) outside the scale {settings.scale_low:g}.."
            f"{settings.scale_high:g} ({shown}). Set scale_low and scale_high in "
            f"{OPTIONS_TABLE} to the ends of your rating scale, or correct those lines."
        )
    return _rescaled(table, settings)


def _options(options: dict[str, Any]) -> FolderOptions:
    known = asdict(FolderOptions())
    for name in options.keys() - known.keys():
        raise ConfigError(
            f"folder: unknown option '{name}'.{did_you_mean(name, known)} "
            f"Options: {', '.join(known)}."
        )
    merged = known | options
    merged["scale_low"] = float(merged["scale_low"])
    merged["scale_high"] = float(merged["scale_high"])
    return FolderOptions(**merged)


def verify(root: Path, **options: Any) -> list[str]:
    """Check a folder dataset: the CSV and its columns, ids, labels and audio headers.

    Args:
        root: the folder.
        **options: as for ``load``.

    Returns:
        One line per problem, each with its fix.
    """
    settings = _options(options)
    path = Path(root) / settings.labels
    try:
        table = read_labels(Path(root), settings)
    except (merbench.DatasetError, ConfigError) as exc:
        return [str(exc)]
    problems = check_duplicates(table["track_id"], path)
    empty = table["line"][table["audio_path"] == ""].astype(str).tolist()
    if empty:
        problems.append(
            f"{path}: no audio file on line(s) {', '.join(empty[:5])}. Fill in the "
            f"'{settings.audio_column}' column."
        )
    outside = _outside(table, settings)
    if outside:
        problems.append(
            f"{path}: {len(outside)} label(s) outside {settings.scale_low:g}.."
            f"{settings.scale_high:g} ({'; '.join(outside[:5])}). Set scale_low and scale_high "
            f"in {OPTIONS_TABLE} to your rating scale, or correct those lines."
        )
    labels = [c for c in ("arousal", "valence", "quadrant") if c in table]
    problems += check_labels(table, labels, -np.inf, np.inf, path)
    usable = table[table["audio_path"] != ""]
    paths = dict(zip(usable["track_id"], usable["audio_path"], strict=True))
    return problems + check_audio(paths, Path(root))


def label_tasks(**options: Any) -> tuple[str, ...]:
    """The tasks the label columns named in ``options`` give: arousal and valence give every
    task (the quadrant from them), a quadrant column alone the quadrant and binary tasks."""
    settings = asdict(FolderOptions()) | options  # no checks: load and verify report them
    if settings["arousal_column"] and settings["valence_column"]:
        return ("av-regression", "quadrant", "arousal-binary", "valence-binary")
    if settings["quadrant_column"]:
        return ("quadrant", "arousal-binary", "valence-binary")
    return ()


@merbench.hookimpl
def merbench_datasets() -> Iterator[merbench.DatasetSpec]:
    yield merbench.DatasetSpec(
        name="folder",
        load=load,
        verify=verify,
        label_tasks=label_tasks,
        tasks=("av-regression", "quadrant", "arousal-binary", "valence-binary"),
        label_scale=SCALE,
        options=asdict(FolderOptions()),
        requires_path=True,
        version="1",
        citation="",
        license="",
        homepage="",
        summary="Your own audio files and a CSV of labels (arousal/valence and/or quadrant).",
    )
