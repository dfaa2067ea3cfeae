"""mtg-moodtheme: the mood/theme subset of MTG-Jamendo, full tracks tagged with 56 moods and themes.

Dataset checklist:

- **Annotations:** mood and theme tags given by the uploading artists (``mood/theme---happy``),
  several per track, as tab-separated fields after the fixed columns of
  ``data/autotagging_moodtheme.tsv``; 59 tags there, 56 of which the official splits keep
  (``ambiental``, ``horror`` and ``mellow`` are dropped from every split). No arousal or valence.
- **Size:** 18,486 tracks in the subset, 17,982 of them in each of the five official splits
  (split-0: 9,949 train, 3,802 validation, 4,231 test); full-length MP3 (320 kbps, or a lower
  bitrate mono ``.low.mp3`` copy), 30 s to several minutes long.
- **Origin:** Jamendo, music released under Creative Commons licences; tags cleaned and kept
  when at least 50 artists use them (Bogdanov et al. 2019).
- **Music:** independent music of every genre, much of it production music (film, corporate,
  background).
- **Paper:** Bogdanov, Won, Tovstogan, Porter and Serra, "The MTG-Jamendo Dataset for Automatic
  Music Tagging", Machine Learning for Music Discovery Workshop, ICML 2019.
- **Access:** clone github.com/MTG/mtg-jamendo-dataset (the ``data/`` folder) and download the
  audio with its ``scripts/download/download.py --dataset autotagging_moodtheme`` into
  ``audio/`` beside ``data/``; point ``path`` at the folder holding both.
- **License:** the metadata is CC BY-NC-SA 4.0; each audio file has its own Creative Commons
  licence (``audio_licenses.txt``), many of them non-commercial.

Each track is one row with a ``tag:<name>`` column (0 or 1) per tag of the splits' vocabulary,
``group`` = its artist, and ``split`` = ``train``, ``valid`` or ``test`` in the official split
chosen by the option ``official_split`` (used when ``split = "official"``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import merbench
from merbench_plugins.datasets import sources
from merbench_plugins.datasets._tables import check_audio, check_count, check_duplicates

if TYPE_CHECKING:
    import pandas as pd

MERBENCH_PLUGIN_API = 1

PUBLISHED_TRACKS = 18486
PUBLISHED_TAGS = 56
ANNOTATIONS = "data/autotagging_moodtheme.tsv"
SPLIT_FILE = "data/splits/split-{index}/autotagging_moodtheme-{part}.tsv"
PARTS = {"train": "train", "validation": "valid", "test": "test"}
"""The official split files' parts and the ``split`` values they give."""
COLUMNS = ("TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS")
TAG_PREFIX = "mood/theme---"
AUDIO = {"full": ".mp3", "low": ".low.mp3"}
SPLITS = range(5)
FIX = (
    "Point 'path' in [datasets.<name>] at the folder that contains data/ (from "
    "github.com/MTG/mtg-jamendo-dataset) and audio/."
)


@dataclass(frozen=True)
class Row:
    """One line of an MTG-Jamendo TSV file: the fixed fields and the tags after them."""

    track_id: str
    artist_id: str
    album_id: str
    path: str
    duration: float
    tags: tuple[str, ...]


def read_tsv(path: Path) -> list[Row]:
    """Read one MTG-Jamendo TSV file (the subset's or a split's).

    Args:
        path: the file.

    Returns:
        Its rows, tags without the ``mood/theme---`` prefix.

    Raises:
        DatasetError: the file is missing, its header is not the published one, or a line has
            fewer fields than the header or an unreadable duration.
    """
    if not path.is_file():
        raise merbench.DatasetError(f"{path}: missing. {FIX}")
    lines = path.read_text(encoding="utf-8").splitlines()
    header = tuple(lines[0].rstrip("\r").split("\t")) if lines else ()
    if header[: len(COLUMNS)] != COLUMNS:
        raise merbench.DatasetError(
            f"{path}: the header is {', '.join(header) or 'empty'}; an MTG-Jamendo file starts "
            f"with {', '.join(COLUMNS)}. Re-download it from github.com/MTG/mtg-jamendo-dataset."
        )
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split("\t")
        if fields == [""]:
            continue
        try:
            duration = float(fields[4])
        except (IndexError, ValueError):
            raise merbench.DatasetError(
                f"{path}, line {number}: expected {len(COLUMNS)} or more tab-separated fields "
                "with a duration in seconds. Re-download the file."
            ) from None
        tags = tuple(t.strip().removeprefix(TAG_PREFIX) for t in fields[5:] if t.strip())
        rows.append(Row(fields[0], fields[1], fields[2], fields[3], duration, tags))
    return rows


def read_splits(root: Path, index: int) -> dict[str, list[Row]]:
    """The rows of official split ``index``, by part (``train``, ``valid``, ``test``).

    Raises:
        DatasetError: a split file is missing or unreadable.
    """
    return {
        value: read_tsv(root / SPLIT_FILE.format(index=index, part=part))
        for part, value in PARTS.items()
    }


def _check_options(official_split: int, audio: str) -> None:
    if official_split not in SPLITS:
        raise merbench.ConfigError(
            f"[datasets.<name>.options]: official_split = {official_split!r}; MTG-Jamendo has "
            "splits 0 to 4. Write official_split = 0 (the split MediaEval used)."
        )
    if audio not in AUDIO:
        raise merbench.ConfigError(
            f'[datasets.<name>.options]: audio = {audio!r}; choose "full" (320 kbps MP3) or '
            '"low" (the .low.mp3 mono copies).'
        )


def read_annotations(root: Path, official_split: int = 0) -> pd.DataFrame:
    """Return every track of the official splits with its tags, without touching the audio.

    The vocabulary is the splits' tags (56 in the published data), sorted; a track of the
    subset outside the splits (its tags were all dropped) is left out.

    Returns:
        ``track_id`` (``track_0000948``), ``group`` (the artist id), ``album``, ``path``
        (relative, ``48/948.mp3``), ``duration`` (seconds), ``split`` and one ``tag:<name>``
        column per tag (0 or 1).

    Raises:
        DatasetError: a file is missing or unreadable.
    """
    import pandas as pd

    root = Path(root)
    subset = {row.track_id: row for row in read_tsv(root / ANNOTATIONS)}
    parts = read_splits(root, official_split)
    vocabulary = sorted({t for rows in parts.values() for row in rows for t in row.tags})
    records = []
    for split, rows in parts.items():
        for row in rows:
            known = subset.get(row.track_id, row)
            tags = set(row.tags)
            records.append(
                {
                    "track_id": row.track_id,
                    "group": known.artist_id,
                    "album": known.album_id,
                    "path": known.path,
                    "duration": known.duration,
                    "split": split,
                }
                | {f"tag:{t}": int(t in tags) for t in vocabulary}
            )
    return pd.DataFrame.from_records(records)


def load(root: Path, official_split: int = 0, audio: str = "full") -> pd.DataFrame:
    """Return the track table of a local MTG-Jamendo mood/theme copy.

    Args:
        root: the folder holding ``data/`` and ``audio/`` (or, for the low-quality copies as
            ``merbench download`` unpacks them, ``audio-low/``).
        official_split: which of the five official splits gives the ``split`` column.
        audio: ``full`` (``audio/NN/<id>.mp3``) or ``low`` (``audio-low/NN/<id>.low.mp3``, else
            ``audio/NN/<id>.low.mp3``).

    Returns:
        ``read_annotations`` with ``audio_path`` (absolute).

    Raises:
        ConfigError: an option outside its values.
        DatasetError: a file is missing or unreadable.
    """
    _check_options(official_split, audio)
    table = read_annotations(Path(root), official_split)
    folder = audio_folder(Path(root), audio).resolve()
    suffix = AUDIO[audio]
    paths = [str(folder / p.removesuffix(".mp3")) + suffix for p in table["path"]]
    table.insert(2, "audio_path", paths)
    return table


def audio_folder(root: Path, audio: str) -> Path:
    """The audio folder of a copy: ``audio-low/`` for the low-quality copies where it exists
    (the official archives unpack there), else ``audio/``."""
    low = root / "audio-low"
    return low if audio == "low" and low.is_dir() else root / "audio"


def verify(root: Path, official_split: int = 0, audio: str = "full") -> list[str]:
    """Check a local MTG-Jamendo mood/theme copy: files, columns, tags, splits and audio.

    Args:
        root: the folder holding ``data/`` and ``audio/``.
        official_split: the official split to check beside the subset file.
        audio: which audio files to check (``full`` or ``low``).

    Returns:
        One line per problem, each with its fix.
    """
    root = Path(root)
    try:
        _check_options(official_split, audio)
        subset = read_tsv(root / ANNOTATIONS)
        parts = read_splits(root, official_split)
    except merbench.MerbenchError as exc:
        return [str(exc).replace("<name>", "mtg-moodtheme")]
    import pandas as pd

    ids = pd.Series([row.track_id for row in subset], dtype=str)
    problems = check_count(len(subset), PUBLISHED_TRACKS, "tracks", root / ANNOTATIONS)
    problems += check_duplicates(ids, root / ANNOTATIONS)
    problems += _check_tags(root, subset, parts, official_split)
    problems += _check_overlap(root, parts, official_split)
    table = load(root, official_split, audio)
    paths = dict(zip(table["track_id"], table["audio_path"], strict=True))
    durations = dict(zip(table["track_id"], table["duration"], strict=True))
    return problems + check_audio(paths, audio_folder(root, audio), expected_seconds=durations)


def _check_tags(
    root: Path, subset: Sequence[Row], parts: dict[str, list[Row]], index: int
) -> list[str]:
    """Tags outside the subset's vocabulary, and a split vocabulary of another size."""
    known = {t for row in subset for t in row.tags}
    problems = []
    for part, rows in parts.items():
        where = root / SPLIT_FILE.format(index=index, part=_file_part(part))
        unknown = sorted({t for row in rows for t in row.tags} - known)
        if unknown:
            problems.append(
                f"{where}: tag(s) {', '.join(unknown[:5])} are not in {ANNOTATIONS}'s vocabulary. "
                "Re-download both files from the same commit of the dataset repository."
            )
    vocabulary = {t for rows in parts.values() for row in rows for t in row.tags}
    if len(vocabulary) != PUBLISHED_TAGS:
        problems.append(
            f"{root / SPLIT_FILE.format(index=index, part='*')}: {len(vocabulary)} tags, the "
            f"published splits have {PUBLISHED_TAGS}. Scores over another vocabulary are not "
            "comparable with published ones; re-download the split files."
        )
    return problems


def _check_overlap(root: Path, parts: dict[str, list[Row]], index: int) -> list[str]:
    """Tracks in two parts of one split, and artists on both sides of train and test."""
    problems = []
    names = list(parts)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            both = sorted({r.track_id for r in parts[first]} & {r.track_id for r in parts[second]})
            if both:
                problems.append(
                    f"{root / SPLIT_FILE.format(index=index, part=_file_part(second))}: "
                    f"{len(both)} track(s) also in the {_file_part(first)} part "
                    f"({', '.join(both[:5])}). Re-download the split files."
                )
    train = {r.artist_id for part in ("train", "valid") for r in parts[part]}
    shared = sorted(train & {r.artist_id for r in parts["test"]})
    if shared:
        problems.append(
            f"note: {root / SPLIT_FILE.format(index=index, part='test')}: {len(shared)} "
            f"artist(s) also in the training parts ({', '.join(shared[:5])}); the published "
            "splits keep artists apart, so this copy's official scores are not comparable."
        )
    return problems


def _file_part(value: str) -> str:
    return next(part for part, v in PARTS.items() if v == value)


def _result(
    metric: str, score: float, model: str, source: str, note: str
) -> merbench.PublishedResult:
    return merbench.PublishedResult(
        task="mood-tags",
        metric=metric,
        score=score,
        protocol="official",
        model=model,
        source=source,
        note=note,
    )


_ME19 = (
    "Bogdanov, Porter, Tovstogan and Won (2019), MediaEval 2019 Emotion and Theme Recognition "
    "in Music, results.md of github.com/multimediaeval/2019-Emotion-and-Theme-Recognition-in-"
    "Music-Task"
)
_SPLIT0 = "official split-0 test set (4,231 tracks), 56 tags"
LITERATURE = (
    _result("ROC-AUC (macro)", 0.772913, "CP-JKU 3_avg_ensemble: ensemble of frequency-aware "
            "ResNets (Koutini et al.), the 2019 winner", _ME19, _SPLIT0),
    _result("PR-AUC (macro)", 0.154609, "CP-JKU 3_avg_ensemble: ensemble of frequency-aware "
            "ResNets (Koutini et al.), the 2019 winner", _ME19, _SPLIT0),
    _result("ROC-AUC (macro)", 0.725821, "VGG-ish CNN on mel spectrograms (the task's baseline)",
            _ME19, _SPLIT0),
    _result("PR-AUC (macro)", 0.107734, "VGG-ish CNN on mel spectrograms (the task's baseline)",
            _ME19, _SPLIT0),
    _result("PR-AUC (macro)", 0.031924, "Popular-tag baseline (no audio)",
            "Bogdanov et al. (2019), results/mediaeval/baseline_popular_results.tsv of "
            "github.com/MTG/mtg-jamendo-dataset",
            f"{_SPLIT0}; its ROC-AUC is 0.5, the chance level"),
)  # fmt: skip
"""Published results on the mood/theme subset (docs/datasets.md says where each comes from)."""


@merbench.hookimpl
def merbench_datasets() -> Iterator[merbench.DatasetSpec]:
    yield merbench.DatasetSpec(
        name="mtg-moodtheme",
        load=load,
        verify=verify,
        tasks=("mood-tags",),
        label_scale=None,
        options={"official_split": 0, "audio": "full"},
        requires_path=True,
        version="1.0",
        citation="Bogdanov, D., Won, M., Tovstogan, P., Porter, A. and Serra, X. (2019). The "
        "MTG-Jamendo Dataset for Automatic Music Tagging. Machine Learning for Music Discovery "
        "Workshop, ICML 2019. http://hdl.handle.net/10230/42015",
        license="Metadata CC BY-NC-SA 4.0; audio under each track's Creative Commons licence "
        "(audio_licenses.txt).",
        homepage="https://github.com/MTG/mtg-jamendo-dataset",
        source=sources.MTG_MOODTHEME,
        summary="18,486 full Jamendo tracks tagged with 56 moods and themes (multi-label).",
        literature=LITERATURE,
    )
