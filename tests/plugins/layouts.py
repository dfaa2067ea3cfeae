"""Builders of each dataset's published folder layout, with tiny generated audio.

Each builder writes, under a folder, the files a user's download has (same names, headers and
quirks: CRLF endings, padded headers, tabs inside quoted values, trailing empty columns) for a
handful of invented tracks, and short tones as the audio. The annotation values and names are
made up; only the formats follow the real files.

``reference(name)`` gives the real annotation files (no audio) from the folder named by
``MERBENCH_REFERENCE_DATA``, or skips the test when it is not set.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile

from merbench.testing import tone

SAMPLE_RATE = 8000
SECONDS = 2.0
REFERENCE_VARIABLE = "MERBENCH_REFERENCE_DATA"


@dataclass
class Layout:
    """A generated dataset copy.

    Attributes:
        root: the folder to point ``path`` at.
        labels: ``track_id -> (arousal, valence)`` as the dataset means them (true values),
            or ``track_id -> quadrant`` for 4Q.
        audio: ``track_id -> audio file``.
        groups: ``track_id -> artist``.
    """

    root: Path
    labels: dict[str, tuple[float, float]] | dict[str, int]
    audio: dict[str, Path] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)


def reference(name: str) -> Path:
    """Return the real annotation files of dataset folder ``name``, or skip the test."""
    folder = os.environ.get(REFERENCE_VARIABLE)
    if not folder:
        pytest.skip(
            f"{REFERENCE_VARIABLE} is not set: the real annotation files of {name} are not "
            "available (CI sets it)."
        )
    path = Path(folder) / name
    if not path.is_dir():
        pytest.fail(f"{REFERENCE_VARIABLE}={folder} has no folder '{name}'.")
    return path


def write_audio(path: Path, seconds: float = SECONDS, *, seed: int = 0, rate: int = SAMPLE_RATE):
    """Write a tone; MP3 or WAV by the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = tone(seconds, rate, frequency=220.0 * (1 + seed % 5), seed=seed)
    soundfile.write(path, audio, rate, format="MP3" if path.suffix == ".mp3" else "WAV")
    return path


def write_garbage(path: Path) -> Path:
    """Overwrite a file with bytes no decoder reads."""
    path.write_bytes(b"this is not audio " * 64)
    return path


def write_rows(
    path: Path,
    header: list[str],
    rows: list[list[object]],
    *,
    newline: str = "\n",
    quoting: int = csv.QUOTE_MINIMAL,
    quote_header: bool = False,
) -> Path:
    """Write a CSV with the given line ending; ``quoting`` applies to the rows (and the header
    when ``quote_header``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    header_quoting = quoting if quote_header else csv.QUOTE_MINIMAL
    csv.writer(buffer, lineterminator=newline, quoting=header_quoting).writerow(header)
    csv.writer(buffer, lineterminator=newline, quoting=quoting).writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return path


# --- PMEmo 2019 ---------------------------------------------------------------------------------

PMEMO = {  # musicId: (title, artist, album, arousal, valence); None: no static annotations
    "1": ("Deep Water", "Lake Trio", "Songs, Vol. 2", 0.4, 0.575),
    "4": ("Run (feat. Echo)", "Nine Rivers", "Quiet Mode", 0.2625, 0.2875),
    "5": ("No Sleep", "Nine Rivers", "Quiet Mode", 0.15, 0.2),
    "40": ("Beauty", "Ana Gray", 'Beauty (From "The Film")', 0.8, 0.7),
    "118": ("Millions", "Nel", "Blood, Sweat & 3 Years", 0.65, 0.55),
    "11": ("Short One", "Lake Trio", "Songs, Vol. 2", None, None),
}


def pmemo_layout(folder: Path, *, audio: bool = True) -> Layout:
    """The ``PMEmo2019`` folder: ``metadata.csv``, ``annotations/``, ``chorus/``."""
    root = folder / "PMEmo2019"
    meta, static, spread, layout = [], [], [], Layout(root=root, labels={})
    for i, (music_id, (title, artist, album, arousal, valence)) in enumerate(PMEMO.items()):
        seconds = SECONDS if arousal is not None else 1.0
        meta.append([music_id, f"{music_id}.mp3", title, artist, album, seconds, "02:35", "03:05"])
        if audio:
            layout.audio[music_id] = write_audio(
                root / "chorus" / f"{music_id}.mp3", seconds, seed=i
            )
        if arousal is None:
            continue
        static.append([music_id, arousal, valence])
        spread.append([music_id, 0.15 + i / 100, 0.16 + i / 100])
        layout.labels[music_id] = (arousal, valence)
        layout.groups[music_id] = artist
    header = ["musicId", "fileName", "title", "artist", "album", "duration"]
    write_rows(root / "metadata.csv", [*header, "chorus_start_time", "chorus_end_time"], meta)
    notes = root / "annotations"
    write_rows(
        notes / "static_annotations.csv", ["musicId", "Arousal(mean)", "Valence(mean)"], static
    )
    write_rows(
        notes / "static_annotations_std.csv", ["musicId", "Arousal(std)", "Valence(std)"], spread
    )
    return layout


# --- DEAM -----------------------------------------------------------------------------------------

DEAM = {  # song_id: (artist, title, arousal, valence) as the songs really are
    "2": ("The Night Troubadours", "Tonight  A Century", 3.0, 3.1),
    "3": ("Kevin Mc", "DD Groove", 3.3, 3.5),
    "5": ("Kevin Mc", "Slow Burn", 6.8, 4.2),
    "1001": ("The Rope River Band", "Weatherman", 5.2, 4.4),
    "1002": ("Kidney Brothers (The Numbers)", "Wolf", 6.1, 3.9),
    "2001": ("Creep Oak", "Old Tree", 6.6, 3.2),
    "2002": ("Amar L", "Spring Day 1", 5.2, 6.4),
}
SWAPPED_UP_TO = 1000
STATS = ("mean", "std", "max_mean", "max_std", "min_mean", "min_std")


def deam_layout(folder: Path, *, audio: bool = True) -> Layout:
    """The DEAM folder: ``annotations/``, ``metadata/``, ``MEMD_audio/``.

    As in the published file, ``static_annotations_averaged_songs_1_2000.csv`` holds the
    arousal of songs up to id 1000 in its valence columns and their valence in the arousal ones.
    """
    root = folder / "DEAM"
    layout = Layout(root=root, labels={k: (v[2], v[3]) for k, v in DEAM.items()})
    layout.groups = {k: v[0] for k, v in DEAM.items()}
    first, second = [], []
    for song_id, (_, _, arousal, valence) in DEAM.items():
        # (valence column, arousal column) of the 1..2000 file: swapped up to id 1000.
        shown = (arousal, valence) if int(song_id) <= SWAPPED_UP_TO else (valence, arousal)
        if int(song_id) <= 2000:
            first.append([song_id, shown[0], 0.94, shown[1], 0.63])
        else:
            second.append(
                [song_id, valence, 0.98, 5.0, 1.41, 2.2, 0.98, arousal, 0.8, 8.6, 0.49, 3.4, 1.02]
            )
    notes = root / "annotations"
    header = ["song_id", " valence_mean", " valence_std", " arousal_mean", " arousal_std"]
    write_rows(
        notes / "static_annotations_averaged_songs_1_2000.csv", header, first, newline="\r\n"
    )
    header = ["song_id", *(f" {d}_{s}" for d in ("valence", "arousal") for s in STATS)]
    header[3] = " valence_ max_mean"
    write_rows(
        notes / "static_annotations_averaged_songs_2000_2058.csv",
        header,
        second,
        newline="\r\n",
    )
    _deam_metadata(root / "metadata")
    if audio:
        for i, song_id in enumerate(DEAM):
            layout.audio[song_id] = write_audio(root / "MEMD_audio" / f"{song_id}.mp3", seed=i)
    return layout


def _deam_metadata(folder: Path) -> None:
    rows = DEAM
    old = [
        [int(k), f"\t{k}.mp3", f"{a}\t", f"\t{t}\t", "\tBlues\t"]
        for k, (a, t, *_) in rows.items()
        if int(k) <= 1000
    ]
    write_rows(
        folder / "metadata_2013.csv",
        ["song_id", "album", "artist", "title", "Genre"],
        old,
        quoting=csv.QUOTE_NONNUMERIC,
    )
    tags = ["indie", "rock", "Avant-Garde", "", "best of 2006"]
    mid = [
        [k, a, "Live on WFMU's Show - December 11 2013", t, "Blues-Rock", *tags, *[""] * 95]
        for k, (a, t, *_) in rows.items()
        if 1000 < int(k) <= 2000
    ]
    write_rows(
        folder / "metadata_2014.csv", ["Id", "artist", "album", "title", "Genre", *[""] * 100], mid
    )
    new = [[k, t, a, "n/a", "Rock", *[""] * 14] for k, (a, t, *_) in rows.items() if int(k) > 2000]
    write_rows(
        folder / "metadata_2015.csv", ["id", "title", "artist", "album", "Genre", *[""] * 14], new
    )


# --- emoMusic -------------------------------------------------------------------------------------

EMOMUSIC = {  # song_id: (artist, title, genre, arousal, valence, split)
    "2": ("The Night Troubadours", "Tonight  A Century", "Blues", 3.1, 3.0, "valid"),
    "3": ("Kevin Mc", "DD Groove", "Blues", 3.5, 3.3, "test"),
    "4": ("Kevin Mc", "Slow Burn", "Blues", 5.7, 5.5, "train"),
    "5": ("Ana Gray", "Waltz", "Classical", 2.4, 6.1, "train"),
    "7": ("Ana Gray", "Nocturne", "Classical", 2.0, 4.3, "train"),
    "8": ("Jazz Cats", "Swing", "Jazz", 6.9, 7.2, "test"),
}


EMOMUSIC_INFO = (
    "song_id,file_name,Artist,Song title,start of the segment (min.sec),"
    "end of the segment (min.sec),Genre,Mediaeval 2013 set"
).split(",")


def emomusic_layout(folder: Path, *, audio: bool = True, split: bool = True) -> Layout:
    """The emoMusic folder: ``annotations/``, ``clips_45seconds/`` and, optionally, ``splits/``."""
    root = folder / "emoMusic"
    layout = Layout(root=root, labels={k: (v[3], v[4]) for k, v in EMOMUSIC.items()})
    layout.groups = {k: v[0] for k, v in EMOMUSIC.items()}
    static = [[k, a, 0.99443, v, 0.66667] for k, (_, _, _, a, v, _) in EMOMUSIC.items()]
    header = ["song_id", "mean_arousal", "std_arousal", "mean_valence", "std_valence"]
    write_rows(root / "annotations" / "static_annotations.csv", header, static)
    info = []
    for k, (artist, title, genre, _, _, part) in EMOMUSIC.items():
        padded = [
            f"\t{k}.mp3",
            f"{artist}\t",
            f"\t{title}\t",
            "\t0.48\t",
            "\t1.33\t",
            f"\t{genre}\t",
        ]
        info.append([int(k), *padded, "evaluation" if part == "test" else "development"])
    songs = root / "annotations" / "songs_info.csv"
    write_rows(songs, EMOMUSIC_INFO, info, quoting=csv.QUOTE_NONNUMERIC, quote_header=True)
    if split:
        rows = [[k, v[5]] for k, v in EMOMUSIC.items()]
        write_rows(root / "splits" / "jukemir_marble_split.csv", ["song_id", "split"], rows)
    if audio:
        for i, song_id in enumerate(EMOMUSIC):
            layout.audio[song_id] = write_audio(root / "clips_45seconds" / f"{song_id}.mp3", seed=i)
    return layout


# --- 4Q -------------------------------------------------------------------------------------------

FOURQ = {  # Song: (artist, title, quadrant)
    "MT0000004637": ("Charlie P", "Bulldog Down", 3),
    "MT0000011357": ("Dismemb", "Reborn", 2),
    "MT0000011975": ("Curse of the Vampire", "Meltdown", 2),
    "MT0000040632": ("Gipsy Queens", "Flamencos", 1),
    "MT0000044741": ("Gipsy Queens", "Bamboleo", 1),
    "MT0000218346": ("Steven H", "Spectrum", 4),
    "MT0011413068": ("", "Untitled", 4),
    "MT0000414517": ("Charlie P", "Sad Waltz", 3),
}
FOURQ_METADATA = (
    "Song,Artist,Title,Quadrant,PQuad,MoodsTotal,Moods,MoodsFoundStr,MoodsStr,MoodsStrSplit,"
    "Genres,GenresStr,Sample,SampleURL"
).split(",")
FOURQ_MOODS = [0.666666666666667, 3, 3, "circular; greasy", "Circular; Greasy", "Circular; Greasy"]
FOURQ_GENRES = [2, "Country; International", 1, "http://example.org/playback.mp3?c=x=&f=J"]


def fourq_layout(folder: Path, *, audio: bool = True) -> Layout:
    """The 4Q folder: ``Q1/`` .. ``Q4/`` and ``panda_dataset_taffc_*.csv`` (CRLF).

    The first clip is a 16 kHz file, the others 8 kHz, as the real set mixes sample rates.
    """
    root = folder / "4Q"
    layout = Layout(root=root, labels={k: v[2] for k, v in FOURQ.items()})
    layout.groups = {k: v[0] for k, v in FOURQ.items()}
    rows = [[k, f"Q{q}"] for k, (_, _, q) in FOURQ.items()]
    labels = root / "panda_dataset_taffc_annotations.csv"
    write_rows(labels, ["Song", "Quadrant"], rows, newline="\r\n")
    meta = [[k, a, t, f"Q{q}", *FOURQ_MOODS, *FOURQ_GENRES] for k, (a, t, q) in FOURQ.items()]
    options = {"newline": "\r\n", "quoting": csv.QUOTE_NONNUMERIC, "quote_header": True}
    write_rows(root / "panda_dataset_taffc_metadata.csv", FOURQ_METADATA, meta, **options)
    if audio:
        for i, (song, (_, _, q)) in enumerate(FOURQ.items()):
            rate = 16000 if i == 0 else SAMPLE_RATE
            layout.audio[song] = write_audio(root / f"Q{q}" / f"{song}.mp3", seed=i, rate=rate)
    return layout


# --- folder ---------------------------------------------------------------------------------------


def quadrant_of(arousal: float, valence: float, midpoint: float = 5.0) -> int:
    """Russell quadrant: 1 (+V +A), 2 (-V +A), 3 (-V -A), 4 (+V -A)."""
    if arousal >= midpoint:
        return 1 if valence >= midpoint else 2
    return 4 if valence >= midpoint else 3


def folder_layout(folder: Path, *, n_tracks: int = 8, quadrant: bool = False) -> Layout:
    """A folder of WAV and MP3 files in subfolders and a ``labels.csv``.

    Columns: ``file`` (relative path), ``arousal``, ``valence`` (1..9), ``artist`` and, with
    ``quadrant``, ``quadrant`` (``Q1``..``Q4``).
    """
    root = folder / "my-songs"
    rng = np.random.default_rng(0)
    layout = Layout(root=root, labels={})
    rows = []
    for i in range(n_tracks):
        name = f"{'rock' if i % 2 else 'jazz'}/song-{i}.{'mp3' if i % 3 else 'wav'}"
        arousal, valence = (float(x) for x in np.round(rng.uniform(1, 9, 2), 2))
        artist = f"Artist {i % 3}"
        track_id = name.rsplit(".", 1)[0]
        layout.labels[track_id] = (arousal, valence)
        layout.groups[track_id] = artist
        layout.audio[track_id] = write_audio(root / name, seed=i)
        extra = [f"Q{quadrant_of(arousal, valence)}"] if quadrant else []
        rows.append([name, arousal, valence, artist, *extra])
    header = ["file", "arousal", "valence", "artist", *(["quadrant"] if quadrant else [])]
    write_rows(root / "labels.csv", header, rows)
    return layout


# --- the core's view ------------------------------------------------------------------------------


def core_tracks(plugin, name: str, root: Path, tasks: tuple[str, ...], **settings):
    """Load a layout the way a run does: ``datasets.toml`` text, registry, ``load_tracks``.

    ``settings`` are the table's ``split`` or ``on_bad_tracks`` keys and, under ``options``,
    the plugin options. Audio files are checked with ``merbench.data.decoding.probe``.
    """
    from merbench.data.config import parse_config
    from merbench.data.decoding import probe
    from merbench.data.tracks import load_tracks
    from merbench.evaluation.tasks import get_task
    from merbench.plugin.registry import load_registry

    registry = load_registry(plugins=[plugin], entry_points=False, strict=True)
    options = settings.pop("options", {})
    (plugin_name,) = registry.datasets
    lines = [f"[datasets.{name}]", f'plugin = "{plugin_name}"', f"path = {json.dumps(str(root))}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    lines += [f"[datasets.{name}.options]"] if options else []
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    config = parse_config("\n".join(lines) + "\n", registry.datasets).get(name)
    specs = [get_task(t) for t in tasks]
    return load_tracks(config, registry.dataset(config.plugin), specs, check_audio=probe)


# --- MERGE ----------------------------------------------------------------------------------------

MERGE = {  # Song: (artist, title, quadrant, arousal, valence, 70-15-15 part, 40-30-30 part)
    # 4Q clips MERGE kept under their AllMusic ids, written as 4Q writes them
    "MT0005331755": ("*NSYNC", "It's Gonna Be Me", 1, 0.81, 0.77, "train", "train"),
    "MT0009897495": ("John Lennon", "Crippled Inside", 1, 0.66, 0.71, "train", "validate"),
    # 4Q songs under new ids and spelled differently: the matcher must still pair them
    "A001": ("Celine Dion", "Miracle", 4, 0.32, 0.74, "train", "test"),
    "A002": ("Kingston Trio", "Scotch and Soda", 4, 0.28, 0.66, "validate", "train"),
    "A003": ("Dean Martin feat. The Band", "Volare", 4, 0.41, 0.83, "train", "validate"),
    "A004": ("Laurie Anderson", "O Superman", 3, 0.22, 0.31, "test", "test"),
    # near misses of 4Q songs: not the same key, named as near misses
    "A005": ("Dismember", "Carnal Tombs", 2, 0.88, 0.18, "train", "train"),
    "A006": ("Buddy Guy", "Mesin' with the Kid", 1, 0.72, 0.61, "train", "test"),
    # songs 4Q does not have
    "A007": ("Nobody Known", "Unheard Song", 2, 0.74, 0.21, "train", "train"),
    "A008": ("Nobody Known", "Second Song", 3, 0.19, 0.27, "validate", "validate"),
    "A009": ("", "Untitled", 2, 0.66, 0.35, "test", "train"),
    "MT0099999999": ("Other Artist", "Other", 3, 0.35, 0.12, "train", "test"),
}
MERGE_MATCHES_4Q = {  # MERGE Song -> the 4Q Song it is
    "MT0005331755": "MT0005331755",
    "MT0009897495": "MT0009897495",
    "A001": "MT0002846256",
    "A002": "MT0000348553",
    "A003": "MT0000336135",
    "A004": "MT0008493270",
}
MERGE_NEAR_4Q = {"A005": "MT0002960683", "A006": "MT0007147603"}
MERGE_METADATA = (
    "Song,Quadrant,AllMusic Id,AllMusic Extraction Date,Artist,Title,Relevance,Year,LowestYear,"
    "Duration,Moods,MoodsAll,MoodsAllWeights,Genres,GenreWeights,Themes,ThemeWeights,Styles,"
    "StyleWeights,AppearancesTrackIDs,AppearancesAlbumIDs,Sample,SampleURL,ActualYear,"
    "num_Genres,num_MoodsAll"
).split(",")
MERGE_BIMODAL = ("MT0005331755", "A001", "A004", "A005", "A007", "A009")
"""The clips of the generated bimodal set (``L``-prefixed lyric ids beside them)."""


def merge_layout(folder: Path, *, audio: bool = True, bimodal: bool = False) -> Layout:
    """A folder holding ``MERGE_Audio_Complete/`` (and with ``bimodal`` ``MERGE_Bimodal_Complete/``)
    as the Zenodo archives unzip: the metadata and A/V CSVs, ``Q1/`` .. ``Q4/`` (bimodal:
    ``audio/Q1/`` ..) and ``tvt_dataframes/tvt_70_15_15/`` and ``tvt_40_30_30/``."""
    layout = Layout(root=folder / "MERGE", labels={k: v[2] for k, v in MERGE.items()})
    layout.groups = {k: v[0] for k, v in MERGE.items()}
    _merge_set(layout, "audio", list(MERGE), audio=audio)
    if bimodal:
        _merge_set(layout, "bimodal", list(MERGE_BIMODAL), audio=audio)
    return layout


def _merge_set(layout: Layout, kind: str, songs: list[str], *, audio: bool) -> None:
    name = f"MERGE_{kind.capitalize()}_Complete"
    stem, root = name.lower(), layout.root / name
    ids = ["Audio_Song", "Lyric_Song"] if kind == "bimodal" else ["Song"]

    def key(song: str) -> list[str]:
        return [song, "L" + song.removeprefix("MT")[-3:]] if kind == "bimodal" else [song]

    filler = [""] * (len(MERGE_METADATA) - 6)
    meta = [
        [
            *key(s),
            f"Q{MERGE[s][2]}",
            s if s.startswith("MT") else "",
            "2016-05-01",
            MERGE[s][0],
            MERGE[s][1],
            *filler,
        ]
        for s in songs
    ]
    header = [*ids, *MERGE_METADATA[1:]]
    write_rows(root / f"{stem}_metadata.csv", header, meta)
    values = [[*key(s), MERGE[s][3], MERGE[s][4]] for s in songs]
    write_rows(root / f"{stem}_av_values.csv", [*ids, "Arousal", "Valence"], values)
    for column, frame in ((5, "70_15_15"), (6, "40_30_30")):
        for part in ("train", "validate", "test"):
            rows = [[*key(s), f"Q{MERGE[s][2]}"] for s in songs if MERGE[s][column] == part]
            path = (
                root / "tvt_dataframes" / f"tvt_{frame}" / f"tvt_{frame}_{part}_{kind}_complete.csv"
            )
            write_rows(path, [*ids, "Quadrant"], rows)
    if audio:
        base = root / "audio" if kind == "bimodal" else root
        for i, song in enumerate(songs):
            path = base / f"Q{MERGE[song][2]}" / f"{song}.mp3"
            layout.audio.setdefault(song, write_audio(path, seed=i))


# --- MERP -----------------------------------------------------------------------------------------

MERP = {  # song_id: (arousal, valence) around which the raters' series are drawn
    "00_35": (0.6, 0.5),
    "00_91": (-0.4, 0.3),
    "01_12": (0.3, -0.6),
    "02_54": (-0.5, -0.4),
    "03_08": (0.7, -0.2),
    "04_77": (-0.2, 0.6),
    "05_40": (0.1, 0.2),
    "06_13": (-0.6, -0.1),
    "deam_115": (0.4, 0.4),
    "deam_343": (-0.3, -0.5),
}
MERP_RATERS = ("A15XZ36IPGYY2N", "A2B6OA4V8YABCZ", "A2DXYZSG2E7HT0")


def merp_layout(folder: Path, *, audio: bool = True, song_column: str = "song_id") -> Layout:
    """The Hugging Face ``amaai-lab/MERP`` folder: ``annotations_filtered.parquet`` (one row per
    rater and song: ``workerid``, ``batch``, the song id, the 10 Hz ``arousals`` and ``valences``
    series) and ``audio/<song_id>.wav``. ``labels`` are the exact means merbench should give."""
    import pandas as pd

    root = folder / "MERP"
    rng = np.random.default_rng(7)
    layout = Layout(root=root, labels={})
    rows = []
    for i, (song, (arousal, valence)) in enumerate(MERP.items()):
        means = []
        for rater in MERP_RATERS:
            length = int(rng.integers(15, 25))
            a = np.clip(arousal + rng.normal(0, 0.1, length), -1, 1)
            v = np.clip(valence + rng.normal(0, 0.1, length), -1, 1)
            rows.append(
                {
                    "workerid": rater,
                    "batch": "4",
                    song_column: song,
                    "arousals": a.tolist(),
                    "valences": v.tolist(),
                }
            )
            means.append((a.mean(), v.mean()))
        layout.labels[song] = tuple(float(x) for x in np.mean(means, axis=0))
        layout.groups[song] = song
        if audio:
            layout.audio[song] = write_audio(root / "audio" / f"{song}.wav", seed=i)
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(root / "annotations_filtered.parquet")
    return layout


# --- MTG-Jamendo mood/theme ---------------------------------------------------------------------

MTG_TAGS = ("calm", "energetic", "film", "happy", "sad")
"""The fixture's split vocabulary; ``horror`` is in the subset file only, as the real splits drop
three of the subset's tags."""
MTG_HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS"


def mtg_moodtheme_layout(folder: Path, *, n_tracks: int = 30, audio: bool = True) -> Layout:
    """An MTG-Jamendo clone: ``data/autotagging_moodtheme.tsv``, ``data/splits/split-0/`` and
    ``audio/NN/<id>.mp3`` (CRLF TSV files, tags as extra tab-separated fields).

    Tracks of 10 artists; ``happy`` follows the tone's pitch and ``energetic`` its pulse, the
    other tags are drawn at random; every track has at least one tag. Artists 0-5 train, 6-7
    validate, 8-9 test, and one more track, tagged ``horror`` only, is in no split.
    ``labels`` maps each track to its tags.
    """
    root = folder / "mtg-jamendo"
    rng = np.random.default_rng(0)
    layout = Layout(root=root, labels={})
    lines: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    everything = []
    for i in range(n_tracks):
        number = 1000 + 37 * i
        track_id, artist = f"track_{number:07d}", f"artist_{i % 10:06d}"
        pitch, pulse = i % 3, (i // 3) % 2
        tags = {t for t in ("calm", "film", "sad") if rng.random() < 0.35}
        tags |= {"happy"} if pitch == 2 else set()
        tags |= {"energetic"} if pulse else set()
        tags = tags or {"calm"}
        path = f"{number % 100:02d}/{number}.mp3"
        fields = [track_id, artist, f"album_{i % 10:06d}", path, "2.0"]
        line = "\t".join(fields + [f"mood/theme---{t}" for t in sorted(tags)])
        part = "train" if i % 10 < 6 else "validation" if i % 10 < 8 else "test"
        lines[part].append(line)
        everything.append(line)
        layout.labels[track_id] = tuple(sorted(tags))
        layout.groups[track_id] = artist
        if audio:
            wave = tone(SECONDS, SAMPLE_RATE, frequency=220.0 * (1 + pitch), pulse_hz=4.0 * pulse)
            target = root / "audio" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(target, wave, SAMPLE_RATE, format="MP3")
            layout.audio[track_id] = target
    everything.append(
        "track_0000999\tartist_000099\talbum_000099\t99/999.mp3\t2.0\tmood/theme---horror"
    )
    _write_tsv(root / "data" / "autotagging_moodtheme.tsv", everything)
    for part, rows in lines.items():
        _write_tsv(root / "data" / "splits" / "split-0" / f"autotagging_moodtheme-{part}.tsv", rows)
    return layout


def _write_tsv(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\r\n".join([MTG_HEADER, *lines]) + "\r\n", encoding="utf-8", newline="")
