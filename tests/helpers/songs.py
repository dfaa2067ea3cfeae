"""A researcher's own folder: tone "songs" and a labels CSV with columns named their way."""

from __future__ import annotations

import csv
from pathlib import Path

from merbench.testing import write_tone_dataset


def my_songs(
    folder: Path,
    *,
    header: tuple[str, ...] = ("File", "Arousal", "Valence", "Artist"),
    n_tracks: int = 40,
    scale: tuple[float, float] = (1.0, 9.0),
    quadrants: bool = False,
) -> Path:
    """Write ``n_tracks`` WAV tones in ``folder/audio`` and ``folder/labels.csv``.

    The CSV's columns are ``header``: the file (relative to ``folder``), then arousal and
    valence on ``scale`` (or, with ``quadrants``, one quadrant ``Q1``..``Q4``), then the artist.
    """
    rows = write_tone_dataset(folder / "audio", n_tracks=n_tracks, n_groups=8)
    low, high = scale
    with (folder / "labels.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row in rows:
            arousal, valence = (float(row[k]) for k in ("arousal", "valence"))  # type: ignore[arg-type]
            audio = Path(str(row["audio_path"])).relative_to(folder).as_posix()
            if quadrants:
                quadrant = 1 if arousal >= 5 and valence >= 5 else 2 if arousal >= 5 else 3
                quadrant = 4 if arousal < 5 and valence >= 5 else quadrant
                labels = [f"Q{quadrant}"]
            else:
                labels = [round(low + (x - 1) / 8 * (high - low), 3) for x in (arousal, valence)]
            writer.writerow([audio, *labels, str(row["group"]).replace("group", "Artist")])
    return folder
