"""emomusic: the Emotion in Music database ("1000 songs"), 45-second clips with arousal and valence.

Dataset checklist:

- **Annotations:** static arousal and valence on a 1..9 scale, mean and standard deviation over
  raters (``annotations/static_annotations.csv``); 2 Hz continuous annotations in -1..1 from
  15 s on, not used here.
- **Size:** 744 clips of 45 s (1,000 songs before duplicates were removed), MP3 at 44.1 kHz.
- **Origin:** the MediaEval 2013 "Emotion in Music" task; rated by at least 10 workers each on
  Amazon Mechanical Turk. Its songs are DEAM's songs 2..1000.
- **Music:** Creative Commons music from the Free Music Archive in eight genres (blues,
  electronic, rock, classical, folk, jazz, country, pop).
- **Paper:** Soleymani, Caro, Schmidt, Sha and Yang, "1000 songs for emotional analysis of
  music", CrowdMM 2013.
- **Access:** download the clips and annotations from the dataset page; point ``path`` at the
  folder holding ``annotations/`` and ``clips_45seconds/``. The optional
  ``splits/jukemir_marble_split.csv`` (``song_id``, ``split``) is the train/valid/test split of
  the JukeMIR and MARBLE benchmarks: 504/115/125 songs, its test part is MediaEval 2013's
  evaluation set. With it, ``split = "official"`` in ``datasets.toml`` uses that split.
- **License:** the audio is under the Creative Commons licences of the Free Music Archive; the
  annotations are free for research.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import merbench
from merbench_plugins.datasets import sources
from merbench_plugins.datasets._tables import (
    check_audio,
    check_count,
    check_duplicates,
    check_labels,
    groups,
    numbers,
    read_csv,
    text,
)

if TYPE_CHECKING:
    import pandas as pd

MERBENCH_PLUGIN_API = 1

SCALE = merbench.LabelScale(low=1.0, high=9.0)
PUBLISHED_SONGS = 744
PUBLISHED_SPLIT = {"train": 504, "valid": 115, "test": 125}
STATIC = "annotations/static_annotations.csv"
SONGS = "annotations/songs_info.csv"
SPLIT = "splits/jukemir_marble_split.csv"
AUDIO = "clips_45seconds"
FIX = (
    "Point 'path' in [datasets.emomusic] at the folder that contains annotations/ and "
    "clips_45seconds/."
)
LABELS = {
    "song_id": "track_id",
    "mean_arousal": "arousal",
    "mean_valence": "valence",
    "std_arousal": "arousal_std",
    "std_valence": "valence_std",
}
INFO = {
    "song_id": "track_id",
    "Artist": "artist",
    "Song title": "title",
    "Genre": "genre",
    "Mediaeval 2013 set": "mediaeval_set",
}


def read_labels(root: Path) -> pd.DataFrame:
    """Read ``static_annotations.csv``: ``track_id``, ``arousal``, ``valence`` and their stds."""
    table = read_csv(root / STATIC, columns=list(LABELS), fix=FIX)
    table = table[list(LABELS)].rename(columns=LABELS)
    for column in list(LABELS.values())[1:]:
        table[column] = numbers(table[column])
    return table


def read_songs(root: Path) -> pd.DataFrame:
    """Read ``songs_info.csv``: ``track_id``, ``artist``, ``title``, ``genre``, Mediaeval set."""
    table = read_csv(root / SONGS, columns=list(INFO), fix=FIX)
    table = table[list(INFO)].rename(columns=INFO)
    for column in list(INFO.values())[1:]:
        table[column] = text(table[column])
    return table


def read_split(root: Path) -> pd.DataFrame | None:
    """Read the optional split file: ``track_id`` and ``split``, or ``None`` when absent."""
    if not (root / SPLIT).is_file():
        return None
    fix = f"Re-download it, or remove it to run without the official split. {FIX}"
    table = read_csv(root / SPLIT, columns=["song_id", "split"], fix=fix)
    return table[["song_id", "split"]].rename(columns={"song_id": "track_id"})


def read_annotations(root: Path) -> pd.DataFrame:
    """Return every annotated clip with its metadata and split, without touching the audio.

    Returns:
        ``track_id``, ``group`` (the artist), ``arousal``, ``valence`` (1..9), their standard
        deviations, ``artist``, ``title``, ``genre``, ``mediaeval_set`` and, when the split
        file is present, ``split`` (``train``, ``valid`` or ``test``).

    Raises:
        DatasetError: an annotation file is missing, unreadable or lacks a column.
    """
    root = Path(root)
    songs = read_songs(root).drop_duplicates("track_id")
    table = read_labels(root).merge(songs, on="track_id", how="left")
    table.insert(1, "group", groups(table["artist"], table["track_id"]))
    split = read_split(root)
    if split is not None:
        table = table.merge(split.drop_duplicates("track_id"), on="track_id", how="left")
    return table


def load(root: Path) -> pd.DataFrame:
    """Return the track table of a local emoMusic copy.

    Args:
        root: the folder holding ``annotations/`` and ``clips_45seconds/``.

    Returns:
        ``read_annotations`` with ``audio_path`` (absolute ``clips_45seconds/<song_id>.mp3``).

    Raises:
        DatasetError: an annotation file is missing, unreadable or lacks a column.
    """
    table = read_annotations(Path(root))
    folder = Path(root).resolve() / AUDIO
    table.insert(2, "audio_path", [str(folder / f"{t}.mp3") for t in table["track_id"]])
    return table


def verify(root: Path) -> list[str]:
    """Check a local emoMusic copy: files, counts, split, labels and audio headers.

    Args:
        root: the folder holding ``annotations/`` and ``clips_45seconds/``.

    Returns:
        One line per problem, each with its fix.
    """
    root = Path(root)
    try:
        table = load(root)
    except merbench.DatasetError as exc:
        return [str(exc)]
    problems = check_count(len(table), PUBLISHED_SONGS, "annotated clips", root / STATIC)
    problems += check_duplicates(table["track_id"], root / STATIC)
    no_artist = table["track_id"][table["artist"].isna()].tolist()
    if no_artist:
        problems.append(
            f"{root / SONGS}: {len(no_artist)} clip(s) have no artist (e.g. "
            f"{', '.join(no_artist[:5])}); each is its own group. Re-download songs_info.csv."
        )
    problems += _check_split(table, root)
    problems += check_labels(table, ("arousal", "valence"), SCALE.low, SCALE.high, root / STATIC)
    paths = dict(zip(table["track_id"], table["audio_path"], strict=True))
    return problems + check_audio(paths, root / AUDIO)


def _check_split(table: pd.DataFrame, root: Path) -> list[str]:
    if "split" not in table:
        return []
    counts = table["split"].value_counts().to_dict()
    if counts == PUBLISHED_SPLIT:
        return []
    found = ", ".join(f"{name} {counts.get(name, 0)}" for name in PUBLISHED_SPLIT)
    others = sorted(str(k) for k in counts if k not in PUBLISHED_SPLIT)
    unassigned = int(table["split"].isna().sum())
    return [
        f"{root / SPLIT}: {found}"
        + (f", other values {', '.join(others)}" if others else "")
        + (f", {unassigned} clip(s) without a split" if unassigned else "")
        + "; the published split has train 504, valid 115, test 125. Re-download the file."
    ]


@merbench.hookimpl
def merbench_datasets() -> Iterator[merbench.DatasetSpec]:
    yield merbench.DatasetSpec(
        name="emomusic",
        load=load,
        verify=verify,
        tasks=("av-regression", "quadrant", "arousal-binary", "valence-binary"),
        label_scale=SCALE,
        options={},
        requires_path=True,
        version="2013",
        citation="Soleymani, M., Caro, M. N., Schmidt, E. M., Sha, C.-Y. and Yang, Y.-H. "
        "(2013). 1000 songs for emotional analysis of music. In Proceedings of the 2nd ACM "
        "International Workshop on Crowdsourcing for Multimedia (CrowdMM '13), 1-6. "
        "https://doi.org/10.1145/2506364.2506365",
        license="Audio under the Creative Commons licences of the Free Music Archive; "
        "annotations free for research (see the dataset page).",
        homepage="https://cvml.unige.ch/databases/emoMusic/",
        source=sources.EMOMUSIC,
        summary="744 Creative Commons 45 s clips, static arousal and valence on 1..9; "
        "optional official split.",
    )
