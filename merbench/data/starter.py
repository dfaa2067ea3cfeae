"""What ``merbench init`` writes: a commented ``datasets.toml``, with a table guessed from a CSV.

``starter_text`` is the packaged default, or, with a dataset, the packaged default's comments
with that dataset's table first (and ``synth`` left disabled). For the ``folder`` plugin
``guess_folder`` reads the labels CSV and guesses its options: the audio column (values ending
in audio extensions), the arousal, valence and quadrant columns (by name, and by values), a
group column (artist, album...) and the label scale (the values' range snapped to a common
scale). Each guess is written with a comment saying why.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from merbench.data.config import CONFIG_NAME, PACKAGED_CONFIG
from merbench.data.config_checks import suggest_name
from merbench.errors import ConfigError
from merbench.plugin.specs import NAME_PATTERN

AUDIO_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff")
SCALES: tuple[tuple[float, float], ...] = ((0, 1), (-1, 1), (1, 5), (1, 7), (1, 9))
"""Common rating scales, from the narrowest: the labels' range snaps to the first that holds it."""
_NAMES = {
    "arousal": ("arousal", "aro", "energy"),
    "valence": ("valence", "val", "pleasure"),
    "quadrant": ("quadrant", "quad", "emotion", "emotionquadrant", "class", "label", "mood"),
    "group": ("artist", "artists", "artistname", "group", "album", "band", "performer", "singer"),
}
_QUADRANT = re.compile(r"^[qQ]?[1-4]$")
_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
_SYNTH_MARK = "# Generated music-like clips"


@dataclass(frozen=True, kw_only=True)
class FolderGuess:
    """The ``folder`` options guessed from a labels CSV, and why each was chosen."""

    options: dict[str, object]
    """The options to write, in order."""
    reasons: dict[str, str] = field(default_factory=dict)
    """A comment per option (or per group of options, keyed by the first), one line each."""
    tasks: tuple[str, ...] = ()
    """The tasks the guessed label columns give."""


def starter_text(table: str = "", *, command: str = "merbench init") -> str:
    """The text of a new ``datasets.toml``: the packaged default, with ``table`` first.

    With a table, the packaged ``synth`` table is written disabled, so a run without
    ``--datasets`` runs the new dataset only.
    """
    packaged = PACKAGED_CONFIG.read_text(encoding="utf-8")
    if not table:
        return packaged
    head, mark, rest = packaged.partition(_SYNTH_MARK)
    rest = (mark + rest).replace(
        "[datasets.synth]\nenabled = true",
        "[datasets.synth]\nenabled = false  # true runs it beside the datasets above",
        1,
    )
    return f"{head}# Written by '{command}'.\n\n{table}\n{rest}"


def dataset_table(
    name: str, plugin: str, path: str | None, guess: FolderGuess | None = None
) -> str:
    """A ``[datasets.<name>]`` table for ``plugin`` at ``path``, with guessed options."""
    lines = [f"[datasets.{name}]", f"plugin = {_toml(plugin)}"]
    lines += [f"path = {_toml(path)}"] if path is not None else []
    if guess is None:
        lines.append("# Check the copy with 'merbench verify " + name + "'.")
        return "\n".join(lines) + "\n"
    if guess.tasks:
        rest = f"; 'merbench run --tasks all' runs {', '.join(guess.tasks)}" * (
            len(guess.tasks) > 1
        )
        lines += _comment(f"Default task: {guess.tasks[0]}, from the label columns below{rest}.")
        lines.append(f"# tasks = [{', '.join(map(_toml, guess.tasks[:1]))}]")
    lines += ["", f"[datasets.{name}.options]"]
    for key, value in guess.options.items():
        lines += _comment(guess.reasons.get(key, ""))
        lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _comment(text: str) -> list[str]:
    """``text`` as comment lines of at most 80 characters, its own line breaks kept."""
    return [
        f"# {line}"
        for paragraph in text.splitlines()
        for line in textwrap.wrap(paragraph, 78, break_on_hyphens=False)
    ]


def table_name(path: Path, taken: Sequence[str] = ()) -> str:
    """A dataset name from a folder's name (``My Songs`` -> ``my-songs``)."""
    name = suggest_name(path.resolve().name)
    if not NAME_PATTERN.match(name) or name in taken:
        name = "my-songs"
    return name


def guess_folder(root: Path, labels: str = "labels.csv") -> FolderGuess:
    """Guess the ``folder`` options of a folder of audio files and its labels CSV.

    Raises:
        ConfigError: the CSV is missing or unreadable, or has no audio or label column.
    """
    path = root / labels
    header, rows, encoding = _read_rows(path)
    options: dict[str, object] = {"labels": labels}
    reasons: dict[str, str] = {}
    if encoding != "utf-8-sig":
        options["encoding"] = encoding
        reasons["encoding"] = f"the CSV is not UTF-8; it reads as {encoding}."
    columns = {name: [row.get(name, "") for row in rows] for name in header}
    audio, why = _audio_column(columns, root, path)
    options["audio_column"] = audio
    reasons["audio_column"] = why
    labels_found, tasks = _label_columns(columns, path, audio)
    for key, (column, why) in labels_found.items():
        options[key] = column
        if why:
            reasons[key] = why
    group = _named(columns, "group", exclude={audio, *(c for c, _ in labels_found.values())})
    if group:
        n_groups = len({v.strip().lower() for v in columns[group] if v.strip()})
        options["group_column"] = group
        reasons["group_column"] = (
            f"'{group}' groups tracks for grouped folds ({n_groups} groups over {len(rows)} "
            "tracks): an artist's tracks stay on one side of each split."
        )
    else:
        reasons["labels"] = (
            "No artist or album column: each track is its own group. Add group_column = "
            '"<column>" if the CSV has one, or folds may put an artist on both sides.'
        )
    if options.get("arousal_column"):
        options.update(_scale(columns, options, reasons))
    return FolderGuess(options=options, reasons=reasons, tasks=tasks)


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]], str]:
    """The CSV's header, its rows (stripped text) and the encoding that read it."""
    if not path.is_file():
        raise ConfigError(
            f"{path}: no labels CSV there. Pass the folder that holds it, or name the file "
            "with --labels FILE (relative to the folder)."
        )
    data = path.read_bytes()
    for encoding in _ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    reader = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(reader, [])]
    if not any(header):
        raise ConfigError(f"{path}: empty. Write a header line, e.g. file,arousal,valence,artist.")
    rows = [
        {name: value.strip() for name, value in zip(header, row, strict=False) if name}
        for row in reader
        if any(cell.strip() for cell in row)
    ]
    return [name for name in header if name], rows, encoding


def _audio_column(columns: Mapping[str, list[str]], root: Path, path: Path) -> tuple[str, str]:
    """The column whose values are audio files, and why."""
    best, count = "", 0
    for name, values in columns.items():
        n = sum(v.lower().endswith(AUDIO_SUFFIXES) for v in values)
        if n > count:
            best, count = name, n
    filled = [v for v in columns.get(best, []) if v]
    if not best or count * 2 < len(filled):
        raise ConfigError(
            f"{path}: no column of audio files (values ending in {', '.join(AUDIO_SUFFIXES[:4])}"
            f"...). Columns: {', '.join(columns) or 'none'}. Add a column naming each track's "
            "file relative to the folder, e.g. file = rock/song-1.mp3."
        )
    suffixes = sorted(
        {Path(v).suffix.lower() for v in filled if v.lower().endswith(AUDIO_SUFFIXES)}
    )
    found = sum((root / v).is_file() for v in filled)
    missing = "" if found == len(filled) else " Check the missing ones with 'merbench verify'."
    return best, (
        f"audio_column: '{best}' holds file names ending in {', '.join(suffixes)} ({count} of "
        f"{len(filled)} rows); {found} of those files exist in the folder.{missing}"
    )


def _label_columns(
    columns: Mapping[str, list[str]], path: Path, audio: str
) -> tuple[dict[str, tuple[str, str]], tuple[str, ...]]:
    """The arousal, valence and quadrant options, each with why, and the tasks they give."""
    arousal = _named(columns, "arousal", numeric=True)
    valence = _named(columns, "valence", numeric=True, exclude={arousal})
    quadrant = _named(columns, "quadrant", quadrants=True) or next(
        (c for c, v in columns.items() if c != audio and _is_quadrants(v, strict=True)), ""
    )
    if arousal and valence:
        found = {
            "arousal_column": (arousal, f"arousal_column, valence_column: '{arousal}' and "
                               f"'{valence}' are named so and hold numbers."),
            "valence_column": (valence, ""),
        }  # fmt: skip
        if quadrant:
            found["arousal_column"] = (
                arousal,
                found["arousal_column"][1] + f"\nThe quadrant column '{quadrant}' is not "
                "used: quadrant classes come from arousal and valence.",
            )
        return found, ("av-regression", "quadrant", "arousal-binary", "valence-binary")
    if quadrant:
        return {
            "arousal_column": ("", "No arousal and valence columns: quadrant labels only."),
            "valence_column": ("", ""),
            "quadrant_column": (quadrant, f"'{quadrant}' holds quadrants (1..4 or Q1..Q4)."),
        }, ("quadrant", "arousal-binary", "valence-binary")
    half = f" (found only '{arousal or valence}')" if arousal or valence else ""
    raise ConfigError(
        f"{path}: no label columns{half}: merbench looks for numeric columns named arousal and "
        "valence, or a column of quadrants (1..4 or Q1..Q4). Columns: "
        f"{', '.join(columns)}. Rename them, or write the table by hand (docs/datasets.md)."
    )


def _named(
    columns: Mapping[str, list[str]],
    role: str,
    *,
    numeric: bool = False,
    quadrants: bool = False,
    exclude: set[str] | None = None,
) -> str:
    """The column named like ``role`` (an exact name first, then one containing it)."""
    names = _NAMES[role]
    candidates = [c for c in columns if c and c not in (exclude or set())]
    simple = {c: re.sub(r"[^a-z0-9]", "", c.lower()) for c in candidates}
    exact = [c for c in candidates if simple[c] in names]
    partial = [c for c in candidates if any(n in simple[c] for n in names[:1])]
    partial = [c for c in partial if not re.search(r"std|sd$|var|count|n$", simple[c])]
    for column in [*exact, *partial]:
        values = [v for v in columns[column] if v]
        if numeric and not (values and all(_number(v) is not None for v in values)):
            continue
        if quadrants and not _is_quadrants(values):
            continue
        return column
    return ""


def _is_quadrants(values: Sequence[str], *, strict: bool = False) -> bool:
    """Whether the values are quadrants (``strict``: written ``Q1``..``Q4``)."""
    filled = [v for v in values if v]
    pattern = re.compile(r"^[qQ][1-4]$") if strict else _QUADRANT
    return bool(filled) and all(pattern.match(v) for v in filled)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _scale(
    columns: Mapping[str, list[str]], options: Mapping[str, object], reasons: dict[str, str]
) -> dict[str, float]:
    """``scale_low`` and ``scale_high``: the labels' range snapped to a common scale."""
    values = [
        number
        for key in ("arousal_column", "valence_column")
        for text in columns[str(options[key])]
        if (number := _number(text)) is not None
    ]
    low, high = min(values), max(values)
    snapped = next(((a, b) for a, b in SCALES if a <= low and high <= b), None)
    seen = f"The labels run from {low:g} to {high:g}"
    if snapped is None:
        snapped = (math.floor(low), math.ceil(high))
        reasons["scale_low"] = (
            f"{seen}, beyond the common scales ({', '.join(f'{a}..{b}' for a, b in SCALES)}): "
            "written as their range.\nSet scale_low and scale_high to your rating scale's ends."
        )
    else:
        reasons["scale_low"] = (
            f"{seen}: the narrowest common scale that holds them is {snapped[0]}..{snapped[1]}."
            "\nSet scale_low and scale_high to your rating scale's ends if it is another one."
        )
    return {"scale_low": float(snapped[0]), "scale_high": float(snapped[1])}


def _toml(value: object) -> str:
    """A TOML value: strings quoted, floats with a point."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def write_config(text: str, folder: Path, *, force: bool = False) -> Path:
    """Write ``text`` as ``folder/datasets.toml``; an existing file only with ``force``.

    Raises:
        ConfigError: the file exists and ``force`` is false.
    """
    target = folder / CONFIG_NAME
    if target.exists() and not force:
        raise ConfigError(
            f"{target}: already exists; merbench init leaves it as it is. Pass --force to "
            "replace it, or --print to print the new text and copy the tables you want."
        )
    target.write_text(text, encoding="utf-8")
    return target
