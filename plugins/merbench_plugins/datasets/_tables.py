"""Reading and checking the annotation tables of published MER datasets.

The published CSV files are messy in small ways: headers with leading spaces, CRLF line endings,
tabs inside quoted values, empty trailing columns, ``n/a`` for unknown values. ``read_csv`` reads
every cell as text and tidies all of that, so each dataset plugin only maps columns. The
``check_*`` functions build the problem lines of the plugins' ``verify``: each names the file
and says how to fix it.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import merbench
from merbench.errors import DatasetError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd

MISSING_VALUES = ("", "n/a", "N/A", "NA", "nan", "NaN", "None")
"""Cell values that mean "unknown" in the published tables."""
SHOWN = 5
"""How many example ids or files a problem line names."""


def read_csv(
    path: Path, *, columns: Sequence[str], fix: str, encoding: str | None = None
) -> pd.DataFrame:
    """Read a dataset CSV as text, tidy it and check that it has ``columns``.

    Every cell is a string with surrounding whitespace (spaces, tabs, ``\\r``) removed; header
    names are stripped too; columns without a header (trailing tag columns) are dropped.

    Args:
        path: the CSV file.
        columns: the columns the caller needs (after stripping).
        fix: the sentence that tells the user how to fix a missing or unreadable file.
        encoding: decode strictly with this encoding (a user's own file, whose encoding is an
            option); ``None``: UTF-8 with undecodable bytes replaced (published files).

    Returns:
        The table, all columns of dtype ``str``.

    Raises:
        DatasetError: the file is missing, a folder, unreadable or not in ``encoding``, or
            lacks one of ``columns``.
    """
    import pandas as pd

    if path.is_dir():
        raise DatasetError(f"{path}: is a folder, not a CSV file. {fix}")
    if not path.is_file():
        raise DatasetError(f"{path}: missing. {fix}")
    try:
        source: Path | io.StringIO = path if encoding is None else _decoded(path, encoding)
        table = pd.read_csv(
            source,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            encoding_errors="replace",
        )
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DatasetError(f"{path}: unreadable ({type(exc).__name__}: {exc}). {fix}") from exc
    table.columns = [str(c).strip() for c in table.columns]
    named = [c for c in table.columns if c and not c.startswith("Unnamed:")]
    table = table.loc[:, named]
    for name in named:
        table[name] = table[name].str.strip()
    for name in columns:
        if name not in table.columns:
            raise DatasetError(
                f"{path}: no column '{name}'.{did_you_mean(name, table.columns)} It has "
                f"{', '.join(table.columns)}. Re-download the file: merbench reads it as published."
            )
    return table


def _decoded(path: Path, encoding: str) -> io.StringIO:
    """The text of ``path`` in ``encoding`` (a UTF-8 byte-order mark is dropped).

    Raises:
        DatasetError: a byte sequence that is not ``encoding``, naming its line and the option.
    """
    data = path.read_bytes()
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        return io.StringIO(data.decode(codec))
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise DatasetError(
            f'{path}: not {encoding} (byte 0x{byte} on line {line}). Set encoding = "latin-1" '
            'in [datasets.<name>.options] ("cp1252" for files saved by Excel on Windows), or '
            "save the file as UTF-8."
        ) from None


def numbers(values: pd.Series) -> pd.Series:
    """Return text cells as floats; empty, ``n/a`` and other non-numbers become NaN."""
    import pandas as pd

    return pd.to_numeric(values.where(~values.isin(MISSING_VALUES)), errors="coerce").astype(float)


def text(values: pd.Series) -> pd.Series:
    """Return text cells with unknown values (empty, ``n/a``) as ``None``."""
    return values.where(~values.isin(MISSING_VALUES), None)


def groups(artists: pd.Series, track_ids: pd.Series) -> pd.Series:
    """Return grouping keys: the artist, case-folded with runs of whitespace collapsed.

    Tracks whose artist is unknown form a group of their own (their track id).
    """
    key = artists.fillna("").astype(str).str.casefold().str.split().str.join(" ")
    return key.where(key != "", track_ids.astype(str)).astype(str)


def first_existing(root: Path, *candidates: str) -> Path:
    """Return the first of ``root / candidate`` that is a file, else the first candidate."""
    for candidate in candidates:
        if (root / candidate).is_file():
            return root / candidate
    return root / candidates[0]


def _examples(items: Sequence[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _relative(path: str, where: Path) -> str:
    """Return ``path`` relative to ``where`` when it lies inside it."""
    try:
        return Path(path).relative_to(where.resolve()).as_posix()
    except ValueError:
        return path


def check_count(found: int, published: int, what: str, where: Path) -> list[str]:
    """Return a problem line when ``found`` differs from the published count."""
    if found == published:
        return []
    return [
        f"{where}: {found} {what}, the published dataset has {published}. A partial or "
        "modified copy gives results that are not comparable with published ones; "
        "re-download the dataset if this is not intended."
    ]


def check_duplicates(track_ids: pd.Series, where: Path) -> list[str]:
    """Return a problem line naming track ids that appear more than once."""
    repeated = sorted(set(track_ids[track_ids.duplicated()].astype(str)))
    if not repeated:
        return []
    return [
        f"{where}: track id(s) {_examples(repeated)} appear more than once. Keep one row per "
        "track (re-download the file)."
    ]


def check_labels(
    table: pd.DataFrame, columns: Iterable[str], low: float, high: float, where: Path
) -> list[str]:
    """Return problem lines for NaN labels and labels outside ``low..high``.

    Args:
        table: the track table (``track_id`` and the label columns).
        columns: the label columns to check.
        low: the lowest value of the scale.
        high: the highest value of the scale.
        where: the annotation file the labels come from.
    """
    problems = []
    for column in columns:
        values = table[column].to_numpy(dtype=float)
        missing = table["track_id"][np.isnan(values)].astype(str).tolist()
        if missing:
            problems.append(
                f"{where}: {column} is missing for {len(missing)} track(s) "
                f"({_examples(missing)}); they will be skipped. Fill in the values or "
                "re-download the file."
            )
        outside = table["track_id"][(values < low) | (values > high)].astype(str).tolist()
        if outside:
            problems.append(
                f"{where}: {column} is outside {low:g}..{high:g} for {len(outside)} track(s) "
                f"({_examples(outside)}); they will be skipped. Correct the values or "
                "re-download the file."
            )
    return problems


def check_audio(
    paths: Mapping[str, str],
    where: Path,
    *,
    expected_seconds: Mapping[str, float] | None = None,
) -> list[str]:
    """Return problem lines for missing, unreadable and too short audio files.

    Headers are read (``merbench.probe_audio``), nothing is decoded. A file is too short when
    it lasts less than 80 % of its expected duration, or, without expected durations, less
    than half the median duration of the files.

    Args:
        paths: ``track_id -> audio file``.
        where: the dataset folder, named at the start of each line.
        expected_seconds: ``track_id -> published duration`` where the dataset gives one.
    """
    missing: list[str] = []
    unreadable: list[str] = []
    reason = ""
    seconds: dict[str, float] = {}
    for track_id, path in paths.items():
        if not Path(path).is_file():
            missing.append(_relative(path, where))
            continue
        try:
            seconds[track_id] = merbench.probe_audio(path)["seconds"]
        except DatasetError as exc:
            unreadable.append(_relative(path, where))
            reason = reason or str(exc).removeprefix(f"{path}: ").splitlines()[0]
    problems = []
    if missing:
        problems.append(
            f"{where}: {len(missing)} of {len(paths)} audio file(s) missing: "
            f"{_examples(missing)}. Download the dataset's audio into this folder."
        )
    if unreadable:
        problems.append(
            f"{where}: {len(unreadable)} audio file(s) unreadable: {_examples(unreadable)} "
            f"(first: {reason}). Re-download them; the tracks are skipped until then."
        )
    return problems + _check_durations(seconds, paths, where, expected_seconds)


def _check_durations(
    seconds: Mapping[str, float],
    paths: Mapping[str, str],
    where: Path,
    expected_seconds: Mapping[str, float] | None,
) -> list[str]:
    if not seconds:
        return []
    median = float(np.median(list(seconds.values())))
    short = []
    for track_id, duration in seconds.items():
        expected = (expected_seconds or {}).get(track_id, float("nan"))
        limit = 0.8 * expected if np.isfinite(expected) else 0.5 * median
        if duration < limit:
            short.append(f"{_relative(paths[track_id], where)} ({duration:.1f} s)")
    if not short:
        return []
    reference = "their published duration" if expected_seconds else f"the median {median:.1f} s"
    return [
        f"{where}: {len(short)} audio file(s) much shorter than {reference}: "
        f"{_examples(short)}. They may be truncated downloads; re-download them."
    ]
