"""pmemo: the PMEmo 2019 dataset, chorus clips of popular songs with static arousal and valence.

Dataset checklist:

- **Annotations:** static (clip-level) arousal and valence on a 0..1 scale, the mean and the
  standard deviation over raters (``annotations/static_annotations.csv`` and
  ``static_annotations_std.csv``); dynamic 2 Hz annotations from 15.5 s on, not used here.
- **Size:** 794 chorus clips in ``metadata.csv``, 767 of them with static annotations (the 27
  others are shorter than 15.5 s); MP3, about 1.3 GB with the rest of the release.
- **Origin:** choruses of songs from Billboard Hot 100, iTunes and UK Top 40 charts, chosen by
  hand; rated by 457 subjects, with simultaneous electrodermal activity.
- **Music:** Western popular music (pop, hip hop, rock, R&B, ...).
- **Paper:** Zhang, Zhang, Li, Yang and Sun, "The PMEmo Dataset for Music Emotion
  Recognition", ICMR 2018.
- **Access:** download the 2019 version from the dataset page; point ``path`` at the
  ``PMEmo2019`` folder (``metadata.csv``, ``annotations/``, ``chorus/``).
- **License:** made available to the research community for research use; the clips are
  excerpts of copyrighted recordings.

The pre-computed audio features of the release (``features/static_features.csv``: 6,373
ComParE functionals per clip) are not part of the track table; ``provided_features`` reads them.
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

SCALE = merbench.LabelScale(low=0.0, high=1.0)
PUBLISHED_CLIPS = 794
PUBLISHED_ANNOTATED = 767
METADATA = "metadata.csv"
STATIC = "annotations/static_annotations.csv"
STATIC_STD = "annotations/static_annotations_std.csv"
FEATURES = "features/static_features.csv"
AUDIO = "chorus"
FIX = (
    "Point 'path' in [datasets.pmemo] at the folder that contains metadata.csv, annotations/ "
    "and chorus/ (the PMEmo2019 folder of the download)."
)
LABELS = {"Arousal(mean)": "arousal", "Valence(mean)": "valence"}
SPREADS = {"Arousal(std)": "arousal_std", "Valence(std)": "valence_std"}


def read_metadata(root: Path) -> pd.DataFrame:
    """Read ``metadata.csv``: one row per clip, annotated or not.

    Returns:
        ``track_id``, ``group`` (the artist), ``title``, ``artist``, ``album``, ``file`` (the
        MP3 file name) and ``duration`` (seconds).

    Raises:
        DatasetError: the file is missing, unreadable or lacks a column.
    """
    import pandas as pd

    columns = ["musicId", "fileName", "title", "artist", "album", "duration"]
    table = read_csv(root / METADATA, columns=columns, fix=FIX)
    ids = table["musicId"]
    files = table["fileName"].where(table["fileName"] != "", ids + ".mp3")
    return pd.DataFrame(
        {
            "track_id": ids,
            "group": groups(text(table["artist"]), ids),
            "title": text(table["title"]),
            "artist": text(table["artist"]),
            "album": text(table["album"]),
            "file": files,
            "duration": numbers(table["duration"]),
        }
    )


def read_labels(root: Path) -> pd.DataFrame:
    """Read the static annotations and, when present, their standard deviations.

    Returns:
        ``track_id``, ``arousal``, ``valence`` (0..1) and ``arousal_std``, ``valence_std``.

    Raises:
        DatasetError: a file is missing, unreadable or lacks a column (the standard
            deviations may be absent: their columns are then NaN).
    """
    table = read_csv(root / STATIC, columns=["musicId", *LABELS], fix=FIX)
    labels = table.rename(columns={"musicId": "track_id", **LABELS})
    labels = labels[["track_id", *LABELS.values()]]
    for column in LABELS.values():
        labels[column] = numbers(labels[column])
    if not (root / STATIC_STD).is_file():
        return labels.assign(**{column: float("nan") for column in SPREADS.values()})
    spread = read_csv(root / STATIC_STD, columns=["musicId", *SPREADS], fix=FIX)
    spread = spread.rename(columns={"musicId": "track_id", **SPREADS})
    for column in SPREADS.values():
        spread[column] = numbers(spread[column])
    return labels.merge(spread[["track_id", *SPREADS.values()]], on="track_id", how="left")


def read_annotations(root: Path) -> pd.DataFrame:
    """Return the annotated clips with their metadata, without touching the audio.

    Clips without static annotations are left out (an inner join of ``metadata.csv`` and
    ``static_annotations.csv``): 27 clips in the published dataset.

    Returns:
        ``track_id``, ``group``, ``arousal``, ``valence``, ``arousal_std``, ``valence_std``,
        ``title``, ``artist``, ``album``, ``file``, ``duration``.

    Raises:
        DatasetError: an annotation file is missing, unreadable or lacks a column.
    """
    joined = read_labels(root).merge(read_metadata(root), on="track_id", how="inner")
    first = ["track_id", "group", "arousal", "valence", "arousal_std", "valence_std"]
    return joined[first + [c for c in joined.columns if c not in first]]


def load(root: Path) -> pd.DataFrame:
    """Return the track table of a local PMEmo 2019 copy.

    Args:
        root: the ``PMEmo2019`` folder.

    Returns:
        ``read_annotations`` with ``audio_path`` (absolute ``chorus/<musicId>.mp3``) after
        ``group``.

    Raises:
        DatasetError: an annotation file is missing, unreadable or lacks a column.
    """
    table = read_annotations(Path(root))
    folder = Path(root).resolve() / AUDIO
    table.insert(2, "audio_path", [str(folder / name) for name in table["file"]])
    return table


def provided_features(root: Path) -> pd.DataFrame:
    """Return the features the dataset provides, one row per clip.

    ``features/static_features.csv`` holds 6,373 ComParE functionals (openSMILE) per clip,
    the features of the dataset paper's baselines.

    Args:
        root: the ``PMEmo2019`` folder.

    Returns:
        Float features indexed by ``track_id`` (the ``musicId`` as text).

    Raises:
        DatasetError: the file is missing or unreadable.
    """
    import pandas as pd

    path = Path(root) / FEATURES
    if not path.is_file():
        raise merbench.DatasetError(
            f"{path}: missing. Download the features folder of the PMEmo 2019 release into "
            f"{Path(root)}."
        )
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise merbench.DatasetError(f"{path}: unreadable ({exc}). Re-download it.") from exc
    table.columns = [str(c).strip() for c in table.columns]
    index = table.iloc[:, 0].astype(str).rename("track_id")
    return table.iloc[:, 1:].astype(float).set_index(index)


def verify(root: Path) -> list[str]:
    """Check a local PMEmo 2019 copy: files, counts, labels and audio headers.

    Args:
        root: the ``PMEmo2019`` folder.

    Returns:
        One line per problem, each with its fix; a line starting with ``note:`` is
        information about the published data, not a problem of the copy.
    """
    root = Path(root)
    try:
        metadata = read_metadata(root)
        labels = read_labels(root)
        table = load(root)
    except merbench.DatasetError as exc:
        return [str(exc)]
    problems = check_count(len(metadata), PUBLISHED_CLIPS, "clips", root / METADATA)
    problems += check_count(len(table), PUBLISHED_ANNOTATED, "annotated clips", root / STATIC)
    problems += check_duplicates(metadata["track_id"], root / METADATA)
    problems += check_duplicates(labels["track_id"], root / STATIC)
    problems += _unmatched(metadata, labels, root)
    if not (root / STATIC_STD).is_file():
        problems.append(
            f"{root / STATIC_STD}: missing, so label spreads are unknown. Re-download the "
            "annotations folder."
        )
    problems += check_labels(table, LABELS.values(), SCALE.low, SCALE.high, root / STATIC)
    durations = dict(zip(table["track_id"], table["duration"], strict=True))
    paths = dict(zip(table["track_id"], table["audio_path"], strict=True))
    return problems + check_audio(paths, root / AUDIO, expected_seconds=durations)


def _unmatched(metadata: pd.DataFrame, labels: pd.DataFrame, root: Path) -> list[str]:
    unannotated = sorted(set(metadata["track_id"]) - set(labels["track_id"]), key=_number)
    orphans = sorted(set(labels["track_id"]) - set(metadata["track_id"]), key=_number)
    lines = []
    if unannotated:
        lines.append(
            f"note: {root / METADATA}: {len(unannotated)} clip(s) have no static annotations "
            f"(e.g. {', '.join(unannotated[:5])}) and are left out; the published dataset "
            f"has {PUBLISHED_CLIPS - PUBLISHED_ANNOTATED} such clips (shorter than 15.5 s)."
        )
    if orphans:
        lines.append(
            f"{root / STATIC}: {len(orphans)} annotated clip(s) are not in metadata.csv "
            f"(e.g. {', '.join(orphans[:5])}) and are left out. Re-download metadata.csv."
        )
    return lines


def _number(track_id: str) -> tuple[int, str]:
    return (int(track_id), "") if track_id.isdigit() else (0, track_id)


ZHANG_2018 = "Zhang, K., Zhang, H., Li, S., Yang, C. and Sun, L. (2018), ICMR '18, Table 5"
OPENSMILE = "6,373 openSMILE (ComParE) static features"
ZHANG_NOTE = "11-fold cross-validation; labels on 0..1, as merbench's"


def _zhang(metric: str, score: float, model: str) -> merbench.PublishedResult:
    """One result of the dataset paper's static regression baselines."""
    return merbench.PublishedResult(
        task="av-regression",
        metric=metric,
        score=score,
        protocol="unknown",
        model=f"{model} on {OPENSMILE}",
        source=ZHANG_2018,
        note=ZHANG_NOTE,
    )


def _berardinis(metric: str, score: float) -> merbench.PublishedResult:
    """A result of de Berardinis et al. (2020), whose test artists are unseen in training."""
    return merbench.PublishedResult(
        task="av-regression",
        metric=metric,
        score=score,
        protocol="grouped",
        model="CNN on spectrograms",
        source="de Berardinis, J., Cangelosi, A. and Coutinho, E. (2020), ISMIR 2020, "
        "as quoted by Chowdhury et al. (2021)",
        note="artist-exclusive split",
    )


LITERATURE = (
    _zhang("RMSE (arousal)", 0.102, "SVR (RBF kernel)"),
    _zhang("Pearson r (arousal)", 0.764, "SVR (RBF kernel)"),
    _zhang("RMSE (valence)", 0.124, "SVR (RBF kernel)"),
    _zhang("Pearson r (valence)", 0.638, "SVR (RBF kernel)"),
    _zhang("RMSE (arousal)", 0.111, "Linear regression"),
    _zhang("Pearson r (arousal)", 0.719, "Linear regression"),
    _zhang("RMSE (valence)", 0.136, "Linear regression"),
    _zhang("Pearson r (valence)", 0.546, "Linear regression"),
    _berardinis("R² (arousal)", 0.61),
    _berardinis("R² (valence)", 0.41),
)
"""Published results on PMEmo's static labels (docs/datasets.md says where each comes from)."""


@merbench.hookimpl
def merbench_datasets() -> Iterator[merbench.DatasetSpec]:
    yield merbench.DatasetSpec(
        name="pmemo",
        load=load,
        verify=verify,
        tasks=("av-regression", "quadrant", "arousal-binary", "valence-binary"),
        label_scale=SCALE,
        options={},
        requires_path=True,
        version="2019",
        citation="Zhang, K., Zhang, H., Li, S., Yang, C. and Sun, L. (2018). The PMEmo Dataset "
        "for Music Emotion Recognition. In Proceedings of the 2018 ACM International "
        "Conference on Multimedia Retrieval (ICMR '18), 135-142. "
        "https://doi.org/10.1145/3206025.3206037",
        license="Research use (see the dataset page); the audio clips are copyrighted.",
        homepage="https://github.com/HuiZhangDB/PMEmo",
        source=sources.PMEMO,
        summary="794 pop-song choruses (767 annotated), static arousal and valence on 0..1.",
        literature=LITERATURE,
    )
