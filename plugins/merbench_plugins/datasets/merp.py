"""merp: MERP, 54 full-length songs with continuous arousal and valence from 277 raters.

Dataset checklist:

- **Annotations:** continuous arousal and valence at 10 Hz on -1..1, one series per rater and
  song (``annotations_filtered.parquet``: quality-filtered, each rater rescaled to -1..1 and
  Savitzky-Golay smoothed, the version the paper used; ``annotations_raw.parquet`` unused).
  merbench's static label of a song is the mean over its raters of each rater's mean rating.
  Rater profiles (age, gender, country, training, ...) are not used.
- **Size:** 54 full-length songs (31 to 298 s), WAV.
- **Origin:** Amazon Mechanical Turk; 452 participants, 277 kept after cleaning.
- **Music:** 50 Creative Commons songs from the Free Music Archive chosen to cover the four
  quadrants, and 4 DEAM songs used as anchors for quality filtering.
- **Paper:** Koh, Cheuk, Heung, Agres and Herremans, "MERP: A Music Dataset with Emotion
  Ratings and Raters' Profile Information", Sensors 23(1), 382, 2023.
- **Access:** the Hugging Face dataset ``amaai-lab/MERP``; point ``path`` at the folder holding
  ``annotations_filtered.parquet`` and ``audio/<song_id>.wav``. Reading Parquet needs pyarrow
  (``pip install "merbench[parquet]"``).
- **License:** CC BY 4.0 (annotations); the audio is under its Free Music Archive licences.

With 54 songs, each song is its own group: 5 grouped folds test about 11 songs each. The songs'
artists are not in the annotations, so two songs of one artist may fall on both sides of a fold.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import merbench
from merbench.errors import DatasetError, did_you_mean
from merbench_plugins.datasets import sources
from merbench_plugins.datasets._tables import check_audio, check_count, check_labels

if TYPE_CHECKING:
    import pandas as pd

MERBENCH_PLUGIN_API = 1

SCALE = merbench.LabelScale(low=-1.0, high=1.0)
PUBLISHED_SONGS = 54
ANNOTATIONS = "annotations_filtered.parquet"
AUDIO = "audio"
COLUMNS = {
    "song": ("song_id", "songurl"),
    "rater": ("workerid", "worker_id", "WorkerId"),
    "arousal": ("arousals", "arousal"),
    "valence": ("valences", "valence"),
}
"""Each column merbench needs and the names it accepts, the first the dataset card's."""
FIX = (
    "Point 'path' in [datasets.merp] at the folder that contains annotations_filtered.parquet "
    "and audio/ (the Hugging Face dataset amaai-lab/MERP)."
)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def read_ratings(root: Path) -> pd.DataFrame:
    """Read the per-rater series: ``song_id``, ``rater``, ``arousal``, ``valence`` (each the
    rater's mean over the song, NaN for an empty series).

    Raises:
        DatasetError: the file is missing or unreadable, pyarrow is absent, or a column is.
    """
    import pandas as pd

    path = Path(root) / ANNOTATIONS
    if not path.is_file():
        raise DatasetError(f"{path}: missing. {FIX}")
    try:
        raw = pd.read_parquet(path)
    except ImportError as exc:
        raise DatasetError(
            f"{path}: reading Parquet needs pyarrow, which is not installed. Run "
            "'pip install \"merbench[parquet]\"' (or 'pip install pyarrow')."
        ) from exc
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable ({type(exc).__name__}: {exc}). {FIX}") from exc
    names = {need: _column(raw, path, need, accepted) for need, accepted in COLUMNS.items()}
    return pd.DataFrame(
        {
            "song_id": raw[names["song"]].astype(str).str.strip(),
            "rater": raw[names["rater"]].astype(str),
            "arousal": [_mean(v) for v in raw[names["arousal"]]],
            "valence": [_mean(v) for v in raw[names["valence"]]],
        }
    )


def _column(raw: pd.DataFrame, path: Path, need: str, accepted: tuple[str, ...]) -> str:
    for name in accepted:
        if name in raw.columns:
            return name
    found = [str(c) for c in raw.columns]
    raise DatasetError(
        f"{path}: no {need} column ({' or '.join(repr(a) for a in accepted)})."
        f"{did_you_mean(accepted[0], found)} It has {', '.join(found)}. Re-download the file "
        "from amaai-lab/MERP: merbench reads it as published."
    )


def _mean(value: Any) -> float:
    """The mean of one rating series: a list or array, a number, or text of numbers."""
    if isinstance(value, str):
        numbers = [float(n) for n in _NUMBER.findall(value)]
    elif value is None:
        numbers = []
    else:
        numbers = np.asarray(value, dtype=float).ravel().tolist()
    finite = [n for n in numbers if np.isfinite(n)]
    return float(np.mean(finite)) if finite else float("nan")


def read_annotations(root: Path) -> pd.DataFrame:
    """Return one row per song with its static labels, without touching the audio.

    Returns:
        ``track_id`` (the song id, e.g. ``00_35`` or ``deam_115``), ``group`` (the song),
        ``arousal``, ``valence`` (-1..1: the mean over raters of each rater's mean),
        ``arousal_std``, ``valence_std`` (across raters) and ``raters``.

    Raises:
        DatasetError: the annotation file is missing, unreadable or lacks a column.
    """
    ratings = read_ratings(root).dropna(subset=["arousal", "valence"], how="all")
    by_song = ratings.groupby("song_id", sort=True)
    table = by_song[["arousal", "valence"]].mean()
    table[["arousal_std", "valence_std"]] = by_song[["arousal", "valence"]].std(ddof=1).to_numpy()
    table["raters"] = by_song["rater"].nunique()
    table = table.reset_index().rename(columns={"song_id": "track_id"})
    table.insert(1, "group", table["track_id"])
    return table


def load(root: Path) -> pd.DataFrame:
    """Return the track table of a local MERP copy.

    Args:
        root: the folder holding ``annotations_filtered.parquet`` and ``audio/``.

    Returns:
        ``read_annotations`` with ``audio_path`` (absolute ``audio/<song_id>.wav``).

    Raises:
        DatasetError: the annotation file is missing, unreadable or lacks a column.
    """
    table = read_annotations(Path(root))
    folder = Path(root).resolve() / AUDIO
    table.insert(2, "audio_path", [str(folder / f"{t}.wav") for t in table["track_id"]])
    return table


def verify(root: Path) -> list[str]:
    """Check a local MERP copy: the annotations, the song count, labels and audio headers.

    Returns:
        One line per problem, each with its fix.
    """
    root = Path(root)
    try:
        ratings = read_ratings(root)
        table = load(root)
    except DatasetError as exc:
        return [str(exc)]
    where = root / ANNOTATIONS
    problems = check_count(len(table), PUBLISHED_SONGS, "rated songs", where)
    empty = ratings[ratings[["arousal", "valence"]].isna().any(axis=1)]
    if len(empty):
        shown = ", ".join(
            f"{s} ({r})" for s, r in zip(empty["song_id"], empty["rater"], strict=True)
        )
        problems.append(
            f"{where}: {len(empty)} rating series without numbers (song (rater): {shown[:200]}); "
            "they are left out of the means. Re-download the file."
        )
    problems += check_labels(table, ("arousal", "valence"), SCALE.low, SCALE.high, where)
    audio = root / AUDIO
    if audio.is_dir():
        rated = set(table["track_id"])
        unrated = sorted(p.stem for p in audio.glob("*.wav") if p.stem not in rated)
        if unrated:
            problems.append(
                f"note: {audio}: {len(unrated)} audio file(s) have no ratings "
                f"({', '.join(unrated[:5])}); they are not used."
            )
    paths = dict(zip(table["track_id"], table["audio_path"], strict=True))
    return problems + check_audio(paths, audio)


@merbench.hookimpl
def merbench_datasets() -> Iterator[merbench.DatasetSpec]:
    yield merbench.DatasetSpec(
        name="merp",
        load=load,
        verify=verify,
        tasks=("av-regression", "quadrant", "arousal-binary", "valence-binary"),
        label_scale=SCALE,
        options={},
        requires_path=True,
        version="2023",
        citation="Koh, E. Y., Cheuk, K. W., Heung, K. Y., Agres, K. R. and Herremans, D. "
        "(2023). MERP: A Music Dataset with Emotion Ratings and Raters' Profile Information. "
        "Sensors 23(1), 382. https://doi.org/10.3390/s23010382",
        license="CC BY 4.0 (annotations); audio under its Free Music Archive licences.",
        homepage="https://huggingface.co/datasets/amaai-lab/MERP",
        source=sources.MERP,
        summary="54 full-length songs, static arousal and valence in -1..1 averaged from "
        "continuous ratings of 277 raters.",
    )
