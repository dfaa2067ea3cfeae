"""merge: MERGE, the audio and bimodal (audio + lyrics) sets extending 4Q, 30-second clips.

Dataset checklist:

- **Annotations:** a Russell quadrant per clip (``merge_<set>_<variant>_metadata.csv``, column
  ``Quadrant``) and an arousal and valence value per clip (``..._av_values.csv``, columns
  ``Arousal``, ``Valence``), both derived from AllMusic mood tags (Warriner's norms), as in 4Q.
- **Size:** audio complete 3,554 clips, audio balanced 3,232, bimodal complete 2,216, bimodal
  balanced 2,000 (lyrics-only sets are not audio and are not read); 30 s MP3 excerpts.
- **Origin:** AllMusic song samples (ids ``MT...``) and private collections (``A...``), built
  semi-automatically from 4Q's method and extending its 900 clips.
- **Music:** popular music of many genres.
- **Paper:** Louro, Redinho, Santos, Malheiro, Panda and Paiva, "MERGE - A Bimodal Audio-Lyrics
  Dataset for Static Music Emotion Recognition", arXiv:2407.06060 (2024).
- **Access:** Zenodo record 13939205 (v1.1.0); unzip ``MERGE_Audio_Complete.zip`` (and any other
  set) into one folder and point ``path`` at it (or at one ``MERGE_<Set>_<Variant>/`` folder).
  Each set folder holds the metadata and A/V CSVs, the audio (``Q1/`` .. ``Q4/``, or
  ``audio/Q1/`` .. for a bimodal set) and ``tvt_dataframes/tvt_70_15_15/`` and
  ``tvt_40_30_30/`` with ``..._{train,validate,test}_<set>_<variant>.csv``, whose tracks
  ``split = "official"`` uses.
- **License:** see the Zenodo record; the clips are excerpts of copyrighted recordings.

docs/datasets.md says where each layout fact comes from and which ones the loader tolerates
variants of.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import merbench
from merbench.errors import ConfigError, DatasetError
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

SCALE = merbench.LabelScale(low=0.0, high=1.0)
SETS = ("audio", "bimodal")
FRAMES = ("70-15-15", "40-30-30")
PUBLISHED = {
    ("audio", False): 3554,
    ("audio", True): 3232,
    ("bimodal", False): 2216,
    ("bimodal", True): 2000,
}
QUADRANTS = {"Q1": 1, "Q2": 2, "Q3": 3, "Q4": 4}
PARTS = {"train": "train", "validate": "valid", "test": "test"}
"""Split file part -> the core's split value."""
ID_COLUMNS = ("Song", "Audio_Song")
"""Audio sets name the clip ``Song``; bimodal sets ``Audio_Song`` (beside ``Lyric_Song``)."""


def subset_name(set_: str, balanced: bool) -> str:
    """``MERGE_Audio_Complete``, ``MERGE_Bimodal_Balanced``, ..."""
    return f"MERGE_{set_.capitalize()}_{'Balanced' if balanced else 'Complete'}"


def _fix(set_: str, balanced: bool) -> str:
    name = subset_name(set_, balanced)
    return (
        f"Point 'path' in [datasets.merge] at the folder that contains {name}/ (unzip "
        f"{name}.zip from Zenodo record 13939205 there), or at {name}/ itself."
    )


def _check_options(set_: str, frame: str) -> None:
    if set_ not in SETS:
        raise ConfigError(
            f"[datasets.merge.options]: set = {set_!r} is not one of {', '.join(SETS)}. "
            'Write set = "audio" or set = "bimodal".'
        )
    if frame not in FRAMES:
        raise ConfigError(
            f"[datasets.merge.options]: frame = {frame!r} is not one of {', '.join(FRAMES)}. "
            'Write frame = "70-15-15" or frame = "40-30-30".'
        )


def subset_folder(root: Path, set_: str, balanced: bool) -> Path:
    """The set's folder: ``root/MERGE_<Set>_<Variant>``, or ``root`` when it is that folder."""
    root = Path(root)
    stem = subset_name(set_, balanced).lower()
    if (root / f"{stem}_metadata.csv").is_file():
        return root
    return root / subset_name(set_, balanced)


def _id_column(table: pd.DataFrame, path: Path) -> str:
    for column in ID_COLUMNS:
        if column in table.columns:
            return column
    raise DatasetError(
        f"{path}: no column 'Song' or 'Audio_Song'. It has {', '.join(table.columns)}. "
        "Re-download the file: merbench reads it as published."
    )


def _read(path: Path, columns: list[str], fix: str) -> pd.DataFrame:
    """Read a MERGE CSV with its clip id column renamed to ``track_id``."""
    table = read_csv(path, columns=columns, fix=fix)
    return table.rename(columns={_id_column(table, path): "track_id"})


def read_split(folder: Path, frame: str, fix: str) -> pd.DataFrame | None:
    """Read one frame's train/validate/test files: ``track_id``, ``split``, ``split_file`` (path).

    Returns ``None`` when the frame's folder is absent. ``tvt_70_15_15/`` is the folder name
    of the v1.1.0 archives; ``tvt_701515/`` (without underscores) is accepted too.
    """
    import pandas as pd

    base = folder / "tvt_dataframes"
    digits = frame.replace("-", "_")
    where = next(
        (
            base / f"tvt_{d}"
            for d in (digits, frame.replace("-", ""))
            if (base / f"tvt_{d}").is_dir()
        ),
        None,
    )
    if where is None:
        return None
    parts = []
    for part, value in PARTS.items():
        files = sorted(where.glob(f"*_{part}_*.csv")) or sorted(where.glob(f"*{part}*.csv"))
        if not files:
            raise DatasetError(
                f"{where}: no {part} file (tvt_{digits}_{part}_<set>_<variant>.csv). "
                f"Re-download the set, or remove {where.name}/ to use grouped folds. {fix}"
            )
        table = _read(files[0], [], fix)[["track_id"]]
        table["split"] = value
        table["split_file"] = str(files[0])
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def read_annotations(
    root: Path, *, set: str = "audio", balanced: bool = False, frame: str = "70-15-15"
) -> pd.DataFrame:
    """Return every labelled clip of one MERGE set, without touching the audio.

    Args:
        root: the folder holding ``MERGE_<Set>_<Variant>/`` (or that folder).
        set: ``"audio"`` or ``"bimodal"`` (the bimodal set's audio).
        balanced: the balanced variant (equal quadrants) instead of the complete one.
        frame: the split files ``split`` comes from: ``"70-15-15"`` or ``"40-30-30"``.

    Returns:
        ``track_id`` (the audio clip id), ``group`` (the artist), ``quadrant`` (1..4, NaN for an
        unknown label), ``label`` (as written), ``arousal``, ``valence`` (0..1), ``artist``,
        ``title``, and ``split`` (``train``, ``valid``, ``test``; NaN for a clip in no split
        file) when the frame's split files are present.

    Raises:
        ConfigError: an option value that does not exist.
        DatasetError: a file is missing, unreadable or lacks a column.
    """
    _check_options(set, frame)
    folder = subset_folder(root, set, balanced)
    fix = _fix(set, balanced)
    stem = subset_name(set, balanced).lower()
    info = _read(folder / f"{stem}_metadata.csv", ["Quadrant", "Artist", "Title"], fix)
    values = _read(folder / f"{stem}_av_values.csv", ["Arousal", "Valence"], fix)
    table = info[["track_id", "Quadrant", "Artist", "Title"]].rename(
        columns={"Quadrant": "label", "Artist": "artist", "Title": "title"}
    )
    table["label"] = table["label"].str.upper()
    table["quadrant"] = table["label"].map(QUADRANTS).astype(float)
    values = values.drop_duplicates("track_id").set_index("track_id")
    for column in ("arousal", "valence"):
        table[column] = table["track_id"].map(numbers(values[column.capitalize()]))
    for column in ("artist", "title"):
        table[column] = text(table[column])
    table.insert(1, "group", groups(table["artist"], table["track_id"]))
    split = read_split(folder, frame, fix)
    if split is not None:
        first = split.drop_duplicates("track_id").set_index("track_id")["split"]
        table["split"] = table["track_id"].map(first)
    return table


def audio_folder(root: Path, set_: str, balanced: bool) -> Path:
    """``Q1/`` .. ``Q4/`` lie in the set's folder (audio sets) or in its ``audio/`` (bimodal)."""
    folder = subset_folder(root, set_, balanced).resolve()
    return folder / "audio" if set_ == "bimodal" else folder


def load(
    root: Path, *, set: str = "audio", balanced: bool = False, frame: str = "70-15-15"
) -> pd.DataFrame:
    """Return the track table of a local MERGE copy.

    Args:
        root: the folder holding ``MERGE_<Set>_<Variant>/`` (or that folder).
        set: ``"audio"`` or ``"bimodal"``.
        balanced: the balanced variant instead of the complete one.
        frame: the official split's frame, ``"70-15-15"`` or ``"40-30-30"``.

    Returns:
        ``read_annotations`` with ``audio_path`` (absolute ``Q<n>/<Song>.mp3``).

    Raises:
        ConfigError: an option value that does not exist.
        DatasetError: a file is missing, unreadable or lacks a column.
    """
    table = read_annotations(root, set=set, balanced=balanced, frame=frame)
    folder = audio_folder(root, set, balanced)
    pairs = zip(table["track_id"], table["label"].fillna(""), strict=True)
    table.insert(2, "audio_path", [str(folder / label / f"{t}.mp3") for t, label in pairs])
    return table


def verify(
    root: Path, *, set: str = "audio", balanced: bool = False, frame: str = "70-15-15"
) -> list[str]:
    """Check a local MERGE set: files, counts, labels, split files and audio headers.

    Returns:
        One line per problem, each with its fix.
    """
    try:
        table = load(root, set=set, balanced=balanced, frame=frame)
    except (DatasetError, ConfigError) as exc:
        return [str(exc)]
    folder = subset_folder(root, set, balanced)
    stem = subset_name(set, balanced).lower()
    metadata, values = folder / f"{stem}_metadata.csv", folder / f"{stem}_av_values.csv"
    problems = check_count(len(table), PUBLISHED[(set, balanced)], "labelled clips", metadata)
    problems += check_duplicates(table["track_id"], metadata)
    unknown = table[table["quadrant"].isna()]
    if len(unknown):
        pairs = zip(unknown["track_id"], unknown["label"], strict=True)
        shown = ", ".join(f"{t} ({q!r})" for t, q in pairs)
        problems.append(
            f"{metadata}: {len(unknown)} clip(s) have no quadrant Q1..Q4: {shown}; they will "
            "be skipped. Re-download the file."
        )
    problems += check_labels(table, ("arousal", "valence"), SCALE.low, SCALE.high, values)
    problems += _check_split(table, read_split(folder, frame, _fix(set, balanced)), folder, frame)
    known = table[table["quadrant"].notna()]
    paths = dict(zip(known["track_id"], known["audio_path"], strict=True))
    return problems + check_audio(paths, audio_folder(root, set, balanced))


def _check_split(
    table: pd.DataFrame, split: pd.DataFrame | None, folder: Path, frame: str
) -> list[str]:
    """Split files naming unknown clips, clips in two parts, clips in no part."""
    if split is None:
        return []
    where = folder / "tvt_dataframes"
    problems = []
    unknown = split[~split["track_id"].isin(table["track_id"])]
    for name, rows in unknown.groupby("split_file", sort=True):
        ids = rows["track_id"].tolist()
        problems.append(
            f"{name}: {len(ids)} clip(s) not in the metadata: {', '.join(ids[:5])}. "
            "Re-download the set: the split files and the metadata come from different versions."
        )
    parts = split.drop_duplicates(["track_id", "split"]).groupby("track_id")["split_file"]
    twice = parts.agg(list)[parts.size() > 1]
    if len(twice):
        files = sorted({Path(f).name for names in twice for f in names})
        problems.append(
            f"{where}: {len(twice)} clip(s) in more than one of {', '.join(files)} (e.g. "
            f"{', '.join(twice.index[:5])}): a test clip would also be trained on. Re-download "
            "the split files."
        )
    missing = table["track_id"][table["split"].isna()].tolist()
    if missing:
        problems.append(
            f"{where}: {len(missing)} clip(s) in no tvt_{frame.replace('-', '_')} file (e.g. "
            f'{", ".join(missing[:5])}); split = "official" leaves them out. Re-download the set.'
        )
    return problems


LITERATURE = (
    merbench.PublishedResult(
        task="quadrant",
        metric="F1-score",
        score=0.8174,
        protocol="official",
        model="bimodal (audio + lyrics) deep neural network",
        source="Louro, P. L. et al. (2024), MERGE - A Bimodal Audio-Lyrics Dataset for Static "
        "Music Emotion Recognition, arXiv:2407.06060v3, abstract",
        note="best bimodal result on MERGE's fixed train-validation-test splits; uses lyrics, "
        "which merbench's audio candidates do not",
    ),
    merbench.PublishedResult(
        task="quadrant",
        metric="F1-score",
        score=0.7921,
        protocol="official",
        model="bimodal (audio + lyrics) deep neural network",
        source="Louro, P. L. et al. (2024), MERGE - A Bimodal Dataset for Static Music Emotion "
        "Recognition, arXiv:2407.06060v1, abstract",
        note="the first version's best bimodal result on the fixed splits; uses lyrics",
    ),
)
"""Published results on MERGE (docs/datasets.md says where each comes from)."""


@merbench.hookimpl
def merbench_datasets() -> Iterator[merbench.DatasetSpec]:
    yield merbench.DatasetSpec(
        name="merge",
        load=load,
        verify=verify,
        tasks=("quadrant", "av-regression", "arousal-binary", "valence-binary"),
        label_scale=SCALE,
        options={"set": "audio", "balanced": False, "frame": "70-15-15"},
        requires_path=True,
        version="1.1.0",
        citation="Louro, P. L., Redinho, H., Santos, R., Malheiro, R., Panda, R. and Paiva, R. P. "
        "(2024). MERGE - A Bimodal Audio-Lyrics Dataset for Static Music Emotion Recognition. "
        "arXiv:2407.06060. Dataset: https://doi.org/10.5281/zenodo.13939205",
        license="See the Zenodo record; the clips are excerpts of copyrighted recordings.",
        homepage="https://zenodo.org/records/13939205",
        source=sources.MERGE,
        summary="3,554 30 s clips (audio set; bimodal set 2,216) with a Russell quadrant and "
        "arousal and valence in 0..1; official 70-15-15 and 40-30-30 splits.",
        literature=LITERATURE,
    )
