"""deam: the MediaEval Database for Emotional Analysis in Music, static arousal and valence.

Dataset checklist:

- **Annotations:** static (song-level) arousal and valence on a 1..9 scale, mean and standard
  deviation over raters (``static_annotations_averaged_songs_1_2000.csv`` and
  ``static_annotations_averaged_songs_2000_2058.csv``); 2 Hz dynamic annotations, not used here.
- **Size:** 1,802 songs: 1,744 45-second excerpts (ids 2..2000, the 2013 and 2014 editions)
  and 58 full songs (ids 2001..2058, 2015); MP3.
- **Origin:** the "Emotion in Music" task of MediaEval 2013-2015; rated mostly by workers on
  Amazon Mechanical Turk.
- **Music:** Creative Commons music from the Free Music Archive, Jamendo and MedleyDB: rock,
  pop, electronic, classical, jazz, blues, folk and more.
- **Paper:** Aljanaki, Yang and Soleymani, "Developing a benchmark for emotional analysis of
  music", PLOS ONE 12(3), 2017.
- **Access:** download the annotations, metadata and audio from the dataset page; point
  ``path`` at the folder holding ``annotations/``, ``metadata/`` and ``MEMD_audio/``.
- **License:** the audio is under the Creative Commons licences of its sources; the annotations
  are free for research.

Known quirk: in ``static_annotations_averaged_songs_1_2000.csv`` the arousal and valence columns
of songs 2..1000 (the 2013 edition) are swapped. With ``fix_swapped_2013`` (default) they are
swapped back; ``docs/datasets.md`` gives the evidence.
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
    first_existing,
    groups,
    numbers,
    read_csv,
    text,
)

if TYPE_CHECKING:
    import pandas as pd

MERBENCH_PLUGIN_API = 1

SCALE = merbench.LabelScale(low=1.0, high=9.0)
PUBLISHED_SONGS = 1802
LAST_SWAPPED_ID = 1000
"""Songs up to this id (the 2013 edition) have arousal and valence swapped in the 1..2000 file."""
SONG_LEVEL = "annotations/annotations averaged per song/song_level"
STATIC_FILES = (
    "static_annotations_averaged_songs_1_2000.csv",
    "static_annotations_averaged_songs_2000_2058.csv",
)
METADATA = {
    "2013": ("metadata/metadata_2013.csv", "song_id"),
    "2014": ("metadata/metadata_2014.csv", "Id"),
    "2015": ("metadata/metadata_2015.csv", "id"),
}
AUDIO = "MEMD_audio"
FIX = (
    "Point 'path' in [datasets.deam] at the folder that contains annotations/ (or the "
    "unpacked DEAM_Annotations), metadata/ and MEMD_audio/."
)
LABELS = {
    "song_id": "track_id",
    "arousal_mean": "arousal",
    "valence_mean": "valence",
    "arousal_std": "arousal_std",
    "valence_std": "valence_std",
}


def static_path(root: Path, name: str) -> Path:
    """Return where a static annotation file is: ``annotations/`` or the unpacked layout."""
    return first_existing(root, f"annotations/{name}", f"{SONG_LEVEL}/{name}")


def _read_static(path: Path) -> pd.DataFrame:
    table = read_csv(path, columns=list(LABELS), fix=FIX)
    table = table[list(LABELS)].rename(columns=LABELS)
    for column in list(LABELS.values())[1:]:
        table[column] = numbers(table[column])
    return table


def swap_2013(table: pd.DataFrame) -> pd.DataFrame:
    """Swap arousal and valence (means and deviations) of songs with ids up to 1000."""
    ids = numbers(table["track_id"])
    rows = ids <= LAST_SWAPPED_ID
    fixed = table.copy()
    for a, v in (("arousal", "valence"), ("arousal_std", "valence_std")):
        fixed.loc[rows, [a, v]] = table.loc[rows, [v, a]].to_numpy()
    return fixed


def read_labels(root: Path, *, fix_swapped_2013: bool = True) -> pd.DataFrame:
    """Read both static annotation files.

    Args:
        root: the DEAM folder.
        fix_swapped_2013: swap arousal and valence back for songs 2..1000.

    Returns:
        ``track_id``, ``arousal``, ``valence``, ``arousal_std``, ``valence_std`` (1..9).

    Raises:
        DatasetError: a file is missing, unreadable or lacks a column.
    """
    import pandas as pd

    first, second = (_read_static(static_path(root, name)) for name in STATIC_FILES)
    if fix_swapped_2013:
        first = swap_2013(first)
    return pd.concat([first, second], ignore_index=True)


def read_metadata(root: Path) -> pd.DataFrame:
    """Read the three metadata files (2013, 2014, 2015 editions).

    Returns:
        ``track_id``, ``artist``, ``title``, ``genre`` and ``edition`` (the year).

    Raises:
        DatasetError: a file is missing, unreadable or lacks a column.
    """
    import pandas as pd

    parts = []
    for edition, (name, id_column) in METADATA.items():
        table = read_csv(root / name, columns=[id_column, "artist", "title", "Genre"], fix=FIX)
        part = pd.DataFrame(
            {
                "track_id": table[id_column],
                "artist": text(table["artist"]),
                "title": text(table["title"]),
                "genre": text(table["Genre"]),
                "edition": edition,
            }
        )
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def read_annotations(root: Path, *, fix_swapped_2013: bool = True) -> pd.DataFrame:
    """Return every annotated song with its metadata, without touching the audio.

    Args:
        root: the DEAM folder.
        fix_swapped_2013: swap arousal and valence back for songs 2..1000.

    Returns:
        ``track_id``, ``group`` (the artist), the labels and standard deviations, ``artist``,
        ``title``, ``genre``, ``edition``.

    Raises:
        DatasetError: an annotation or metadata file is missing, unreadable or lacks a column.
    """
    root = Path(root)
    labels = read_labels(root, fix_swapped_2013=fix_swapped_2013)
    metadata = read_metadata(root).drop_duplicates("track_id")
    table = labels.merge(metadata, on="track_id", how="left")
    table.insert(1, "group", groups(table["artist"], table["track_id"]))
    return table


def load(root: Path, *, fix_swapped_2013: bool = True) -> pd.DataFrame:
    """Return the track table of a local DEAM copy.

    Args:
        root: the DEAM folder.
        fix_swapped_2013: swap arousal and valence back for songs 2..1000, whose columns are
            swapped in ``static_annotations_averaged_songs_1_2000.csv``.

    Returns:
        ``read_annotations`` with ``audio_path`` (absolute ``MEMD_audio/<song_id>.mp3``).

    Raises:
        DatasetError: an annotation or metadata file is missing, unreadable or lacks a column.
    """
    table = read_annotations(Path(root), fix_swapped_2013=fix_swapped_2013)
    folder = Path(root).resolve() / AUDIO
    table.insert(2, "audio_path", [str(folder / f"{t}.mp3") for t in table["track_id"]])
    return table


def verify(root: Path, *, fix_swapped_2013: bool = True) -> list[str]:
    """Check a local DEAM copy: files, counts, labels, metadata and audio headers.

    Args:
        root: the DEAM folder.
        fix_swapped_2013: as for ``load``.

    Returns:
        One line per problem, each with its fix; a line starting with ``note:`` is
        information about the published data, not a problem of the copy.
    """
    root = Path(root)
    try:
        table = load(root, fix_swapped_2013=fix_swapped_2013)
    except merbench.DatasetError as exc:
        return [str(exc)]
    first = static_path(root, STATIC_FILES[0])
    problems = check_count(len(table), PUBLISHED_SONGS, "annotated songs", first.parent)
    problems += check_duplicates(table["track_id"], first.parent)
    problems += _swap_note(table, first, fix_swapped_2013)
    no_artist = table["track_id"][table["artist"].isna()].tolist()
    if no_artist:
        problems.append(
            f"{root / 'metadata'}: {len(no_artist)} song(s) have no artist (e.g. "
            f"{', '.join(no_artist[:5])}); each is its own group in grouped folds. "
            "Re-download the metadata files."
        )
    problems += check_labels(table, ("arousal", "valence"), SCALE.low, SCALE.high, first.parent)
    paths = dict(zip(table["track_id"], table["audio_path"], strict=True))
    return problems + check_audio(paths, root / AUDIO)


def _swap_note(table: pd.DataFrame, path: Path, fixed: bool) -> list[str]:
    count = int((numbers(table["track_id"]) <= LAST_SWAPPED_ID).sum())
    if not count:
        return []
    if fixed:
        return [
            f"note: {path}: arousal and valence of the {count} songs with ids up to "
            f"{LAST_SWAPPED_ID} are swapped in this file; merbench swaps them back "
            "(fix_swapped_2013 = true). See docs/datasets.md for the evidence."
        ]
    return [
        f"{path}: arousal and valence of the {count} songs with ids up to {LAST_SWAPPED_ID} "
        "are swapped in this file and fix_swapped_2013 = false keeps them so. Set "
        "fix_swapped_2013 = true unless you reproduce results made with the swapped labels."
    ]


@merbench.hookimpl
def merbench_datasets() -> Iterator[merbench.DatasetSpec]:
    yield merbench.DatasetSpec(
        name="deam",
        load=load,
        verify=verify,
        tasks=("av-regression", "quadrant", "arousal-binary", "valence-binary"),
        label_scale=SCALE,
        options={"fix_swapped_2013": True},
        requires_path=True,
        version="2017",
        citation="Aljanaki, A., Yang, Y.-H. and Soleymani, M. (2017). Developing a benchmark "
        "for emotional analysis of music. PLOS ONE 12(3): e0173392. "
        "https://doi.org/10.1371/journal.pone.0173392",
        license="Audio under the Creative Commons licences of its sources; annotations free "
        "for research (see the dataset page).",
        homepage="https://cvml.unige.ch/databases/DEAM/",
        source=sources.DEAM,
        summary="1,802 Creative Commons songs and excerpts, static arousal and valence on 1..9.",
    )
