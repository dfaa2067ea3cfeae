"""fourq: the 4Q audio emotion dataset, 30-second clips labelled with a Russell quadrant.

Dataset checklist:

- **Annotations:** one quadrant of Russell's circumplex per clip
  (``panda_dataset_taffc_annotations.csv``): Q1 positive valence and high arousal, Q2 negative
  valence and high arousal, Q3 negative valence and low arousal, Q4 positive valence and low
  arousal. No continuous arousal or valence.
- **Size:** 900 clips, 225 per quadrant; MP3, mostly 30 s at 32 kHz, some at 22.05 or 44.1 kHz
  and a few short 16 kHz mono clips.
- **Origin:** AllMusic song samples; quadrants derived from AllMusic mood tags mapped onto
  Warriner's affective norms, then checked by hand.
- **Music:** popular music of many genres (pop/rock, jazz, country, electronic, R&B, ...).
- **Paper:** Panda, Malheiro and Paiva, "Novel audio features for music emotion recognition",
  IEEE Transactions on Affective Computing 11(4), 2020 (accepted 2018).
- **Access:** download the dataset from the MIR group of the University of Coimbra; point
  ``path`` at the folder holding ``Q1/`` .. ``Q4/`` and ``panda_dataset_taffc_*.csv``.
- **License:** for research use (see the dataset page); the clips are excerpts of copyrighted
  recordings.
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
    groups,
    read_csv,
    text,
)

if TYPE_CHECKING:
    import pandas as pd

MERBENCH_PLUGIN_API = 1

PUBLISHED_CLIPS = 900
ANNOTATIONS = "panda_dataset_taffc_annotations.csv"
METADATA = "panda_dataset_taffc_metadata.csv"
QUADRANTS = {"Q1": 1, "Q2": 2, "Q3": 3, "Q4": 4}
FIX = (
    "Point 'path' in [datasets.fourq] at the folder that contains Q1/ .. Q4/ and "
    "panda_dataset_taffc_annotations.csv."
)


def read_annotations(root: Path) -> pd.DataFrame:
    """Return every labelled clip with its metadata, without touching the audio.

    Returns:
        ``track_id`` (the AllMusic id, e.g. ``MT0000004637``), ``group`` (the artist),
        ``quadrant`` (1..4, NaN for an unknown label), ``label`` (as written, upper case),
        ``artist``, ``title``, ``genres``.

    Raises:
        DatasetError: a file is missing, unreadable or lacks a column.
    """
    root = Path(root)
    labels = read_csv(root / ANNOTATIONS, columns=["Song", "Quadrant"], fix=FIX)
    metadata = read_csv(root / METADATA, columns=["Song", "Artist", "Title"], fix=FIX)
    info = metadata.drop_duplicates("Song").set_index("Song")
    table = labels[["Song", "Quadrant"]].rename(columns={"Song": "track_id", "Quadrant": "label"})
    table["label"] = table["label"].str.upper()
    table["quadrant"] = table["label"].map(QUADRANTS).astype(float)
    table["artist"] = text(table["track_id"].map(info["Artist"]).fillna(""))
    table["title"] = text(table["track_id"].map(info["Title"]).fillna(""))
    if "GenresStr" in info:
        table["genres"] = text(table["track_id"].map(info["GenresStr"]).fillna(""))
    table.insert(1, "group", groups(table["artist"], table["track_id"]))
    return table


def load(root: Path) -> pd.DataFrame:
    """Return the track table of a local 4Q copy.

    Args:
        root: the folder holding ``Q1/`` .. ``Q4/`` and the CSV files.

    Returns:
        ``read_annotations`` with ``audio_path`` (absolute ``Q<n>/<Song>.mp3``, ``<n>`` the
        clip's quadrant).

    Raises:
        DatasetError: a file is missing, unreadable or lacks a column.
    """
    table = read_annotations(Path(root))
    folder = Path(root).resolve()
    pairs = zip(table["track_id"], table["label"], strict=True)
    table.insert(2, "audio_path", [str(folder / label / f"{t}.mp3") for t, label in pairs])
    return table


def verify(root: Path) -> list[str]:
    """Check a local 4Q copy: files, counts, labels, artists and audio headers.

    Args:
        root: the folder holding ``Q1/`` .. ``Q4/`` and the CSV files.

    Returns:
        One line per problem, each with its fix.
    """
    root = Path(root)
    try:
        table = load(root)
    except merbench.DatasetError as exc:
        return [str(exc)]
    problems = check_count(len(table), PUBLISHED_CLIPS, "labelled clips", root / ANNOTATIONS)
    problems += check_duplicates(table["track_id"], root / ANNOTATIONS)
    unknown = table[table["quadrant"].isna()]
    if len(unknown):
        pairs = zip(unknown["track_id"], unknown["label"], strict=True)
        shown = ", ".join(f"{t} ({q!r})" for t, q in pairs)
        problems.append(
            f"{root / ANNOTATIONS}: {len(unknown)} clip(s) have no quadrant Q1..Q4: {shown}; "
            "they will be skipped. Re-download the file."
        )
    no_artist = table["track_id"][table["artist"].isna()].tolist()
    if no_artist:
        problems.append(
            f"note: {root / METADATA}: {len(no_artist)} clip(s) have no artist (e.g. "
            f"{', '.join(no_artist[:5])}); each is its own group in grouped folds."
        )
    problems += _misplaced(table, root)
    known = table[table["quadrant"].notna()]
    paths = dict(zip(known["track_id"], known["audio_path"], strict=True))
    return problems + check_audio(paths, root)


def _misplaced(table: pd.DataFrame, root: Path) -> list[str]:
    """Name clips missing from their quadrant's folder but present in another one."""
    lines = []
    rows = zip(table["track_id"], table["label"], table["audio_path"], strict=True)
    for track_id, label, path in rows:
        if Path(path).is_file():
            continue
        found = [q for q in QUADRANTS if q != label and (root / q / f"{track_id}.mp3").is_file()]
        if found:
            lines.append(
                f"{root / found[0] / track_id}.mp3: labelled {label} in {ANNOTATIONS} but "
                f"stored in {found[0]}/. Move it to {label}/ or re-download the dataset."
            )
    return lines


LITERATURE = (
    merbench.PublishedResult(
        task="quadrant",
        metric="macro-F1",
        score=0.764,
        protocol="random",
        model="SVM on baseline and novel audio features",
        source="Panda, R., Malheiro, R. and Paiva, R. P. (2020), IEEE Transactions on Affective "
        "Computing 11(4)",
        note="20 repetitions of 10-fold cross-validation",
    ),
)
"""Published results on the 4Q dataset (docs/datasets.md says where each comes from)."""


@merbench.hookimpl
def merbench_datasets() -> Iterator[merbench.DatasetSpec]:
    yield merbench.DatasetSpec(
        name="fourq",
        load=load,
        verify=verify,
        tasks=("quadrant", "arousal-binary", "valence-binary"),
        label_scale=None,
        options={},
        requires_path=True,
        version="2018",
        citation="Panda, R., Malheiro, R. and Paiva, R. P. (2020). Novel audio features for "
        "music emotion recognition. IEEE Transactions on Affective Computing 11(4), 614-626. "
        "https://doi.org/10.1109/TAFFC.2018.2820691",
        license="Research use (see the dataset page); the clips are copyrighted.",
        homepage="http://mir.dei.uc.pt/downloads.html",
        source=sources.FOURQ,
        summary="900 30 s clips labelled with a Russell quadrant, 225 per quadrant.",
        literature=LITERATURE,
    )
