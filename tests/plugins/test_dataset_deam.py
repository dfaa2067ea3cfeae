"""deam: the swapped 2013 labels, the real files' quirks, and generated copies end to end."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from layouts import DEAM, core_tracks, deam_layout, reference, write_audio, write_garbage

from merbench.errors import DatasetError
from merbench.testing import check_plugin
from merbench_plugins.datasets import deam

FIRST_FILE = "static_annotations_averaged_songs_1_2000.csv"


@pytest.fixture
def layout(tmp_path):
    return deam_layout(tmp_path)


# --- the real annotation files ----------------------------------------------------------------


def test_reference_has_the_1802_published_songs_with_artists():
    table = deam.read_annotations(reference("DEAM"))
    assert len(table) == 1802
    assert table["track_id"].is_unique
    assert table["edition"].value_counts().to_dict() == {"2014": 1000, "2013": 744, "2015": 58}
    assert table["artist"].notna().all()
    assert table[["arousal", "valence"]].stack().between(1, 9).all()
    assert not table["artist"].str.contains("\t").any()


def test_reference_2015_file_with_its_odd_header_parses():
    table = deam.read_annotations(reference("DEAM")).set_index("track_id")
    assert table.loc["2001", ["valence", "arousal"]].tolist() == [3.2, 6.6]
    assert table.loc["2001", "artist"] == "Creepoid"


def _emomusic_static():
    table = pd.read_csv(reference("emoMusic") / "annotations" / "static_annotations.csv")
    return table.assign(track_id=table["song_id"].astype(str)).set_index("track_id")


def _emomusic_continuous(dimension: str) -> pd.Series:
    path = reference("emoMusic") / "annotations" / f"{dimension}_cont_average.csv"
    table = pd.read_csv(path)
    return table.set_index(table["song_id"].astype(str)).drop(columns="song_id").mean(axis=1)


def _overlap(fix: bool) -> pd.DataFrame:
    """DEAM's songs 2..1000 beside emoMusic's ratings of the same songs."""
    table = deam.read_annotations(reference("DEAM"), fix_swapped_2013=fix).set_index("track_id")
    emo = _emomusic_static()
    table = table.loc[table.index.intersection(emo.index)]
    return table.join(emo).assign(
        cont_arousal=_emomusic_continuous("arousal"), cont_valence=_emomusic_continuous("valence")
    )


def test_reference_2013_songs_are_swapped_and_the_fix_swaps_them_back():
    fixed, raw = _overlap(fix=True), _overlap(fix=False)
    assert len(fixed) == 744
    # emoMusic's static ratings of the same songs: identical up to rounding after the fix.
    assert np.corrcoef(fixed["arousal"], fixed["mean_arousal"])[0, 1] > 0.999
    assert np.corrcoef(fixed["valence"], fixed["mean_valence"])[0, 1] > 0.999
    assert np.corrcoef(raw["arousal"], raw["mean_arousal"])[0, 1] < 0.65
    assert (fixed["arousal"] - fixed["mean_arousal"]).abs().median() < 0.01
    # emoMusic's continuous (per-second) ratings, averaged over time: an independent check.
    assert np.corrcoef(fixed["arousal"], fixed["cont_arousal"])[0, 1] > 0.95
    assert np.corrcoef(fixed["valence"], fixed["cont_valence"])[0, 1] > 0.94
    assert np.corrcoef(raw["arousal"], raw["cont_arousal"])[0, 1] < 0.6
    assert np.corrcoef(raw["valence"], raw["cont_valence"])[0, 1] < 0.6


def test_reference_standard_deviations_are_swapped_with_the_means():
    fixed = _overlap(fix=True)
    # DEAM's deviations are population ones of ~10 raters, emoMusic's sample ones: sqrt(9/10).
    ratio = (fixed["arousal_std"] / fixed["std_arousal"]).median()
    assert ratio == pytest.approx(np.sqrt(0.9), abs=0.005)
    assert np.corrcoef(fixed["arousal_std"], fixed["std_arousal"])[0, 1] > 0.99


def test_reference_verify_notes_the_swap():
    root = reference("DEAM")
    problems = deam.verify(root)
    assert problems[0].startswith("note: ")
    assert "arousal and valence of the 744 songs with ids up to 1000 are swapped" in problems[0]
    assert len(problems) == 2
    assert "1802 of 1802 audio file(s) missing" in problems[1]


# --- generated copies -------------------------------------------------------------------------


def test_plugin_passes_the_contract_kit():
    assert all(check.passed for check in check_plugin(deam))


def test_load_gives_true_labels_artists_and_absolute_audio_paths(layout):
    table = deam.load(layout.root).set_index("track_id")
    assert sorted(table.index) == sorted(DEAM)
    for track_id, (arousal, valence) in layout.labels.items():
        assert table.loc[track_id, ["arousal", "valence"]].tolist() == [arousal, valence]
        assert table.loc[track_id, "artist"] == layout.groups[track_id]
        assert table.loc[track_id, "audio_path"] == str(layout.audio[track_id].resolve())
    assert table.loc["2", ["arousal_std", "valence_std"]].tolist() == [0.94, 0.63]
    assert table.loc["1001", ["arousal_std", "valence_std"]].tolist() == [0.63, 0.94]
    assert table.loc["2", "title"] == "Tonight  A Century"
    assert table.loc["3", "group"] == table.loc["5", "group"] == "kevin mc"


def test_without_the_fix_songs_up_to_1000_keep_the_published_swap(layout):
    table = deam.load(layout.root, fix_swapped_2013=False).set_index("track_id")
    for track_id, (arousal, valence) in layout.labels.items():
        expected = [valence, arousal] if int(track_id) <= 1000 else [arousal, valence]
        assert table.loc[track_id, ["arousal", "valence"]].tolist() == expected
        # Every song of the 1..2000 file has arousal_std 0.63 as published, the rest 0.8.
        assert table.loc[track_id, "arousal_std"] == (0.63 if int(track_id) <= 2000 else 0.8)


def test_core_accepts_the_table_and_the_option(layout):
    tracks = core_tracks(deam, "deam", layout.root, ("av-regression",))
    assert not tracks.skipped
    assert len(tracks.table) == len(DEAM)
    raw = core_tracks(
        deam, "deam", layout.root, ("valence-binary",), options={"fix_swapped_2013": False}
    )
    assert raw.table.set_index("track_id").loc["2", "arousal"] == layout.labels["2"][1]


def test_verify_on_a_clean_copy_reports_the_count_and_the_swap_note(layout):
    problems = deam.verify(layout.root)
    assert len(problems) == 2
    assert "7 annotated songs, the published dataset has 1802" in problems[0]
    assert problems[1].startswith("note: ")
    assert "(fix_swapped_2013 = true)" in problems[1]


def test_verify_warns_when_the_fix_is_off(layout):
    problems = deam.verify(layout.root, fix_swapped_2013=False)
    swap = [p for p in problems if "swapped" in p]
    assert len(swap) == 1
    assert not swap[0].startswith("note:")
    assert "Set fix_swapped_2013 = true" in swap[0]


def test_verify_finds_missing_corrupt_and_short_audio(layout):
    layout.audio["3"].unlink()
    write_garbage(layout.audio["1001"])
    write_audio(layout.audio["2002"], seconds=0.3)
    problems = "\n".join(deam.verify(layout.root))
    assert f"{layout.root / 'MEMD_audio'}: 1 of 7 audio file(s) missing: 3.mp3." in problems
    assert "1 audio file(s) unreadable: 1001.mp3" in problems
    assert "much shorter than the median 2.0 s: 2002.mp3 (0.3 s)" in problems


def test_verify_finds_nan_labels_and_duplicate_ids(layout):
    path = layout.root / "annotations" / FIRST_FILE
    text = path.read_bytes().replace(b"1001,4.4,", b"1001,,") + b"3,3.3,0.94,3.5,0.63\r\n"
    path.write_bytes(text)
    problems = "\n".join(deam.verify(layout.root))
    assert "valence is missing for 1 track(s) (1001)" in problems
    assert "track id(s) 3 appear more than once" in problems


def test_the_unpacked_annotation_folders_are_found(layout):
    nested = layout.root / deam.SONG_LEVEL
    nested.mkdir(parents=True)
    for name in deam.STATIC_FILES:
        shutil.move(layout.root / "annotations" / name, nested / name)
    assert len(deam.load(layout.root)) == len(DEAM)


@pytest.mark.parametrize(
    "name",
    [f"annotations/{FIRST_FILE}", "metadata/metadata_2014.csv"],
    ids=["annotations", "metadata"],
)
def test_a_missing_file_is_named_with_the_fix(layout, name):
    (layout.root / name).unlink()
    with pytest.raises(DatasetError) as caught:
        deam.load(layout.root)
    assert str(caught.value).startswith(f"{layout.root / name}: missing. Point 'path' in")
    assert "metadata/ and MEMD_audio/" in str(caught.value)
    assert deam.verify(layout.root) == [str(caught.value)]


def test_a_missing_column_lists_the_columns_present(layout):
    path = layout.root / "metadata" / "metadata_2015.csv"
    path.write_text(path.read_text().replace("artist", "band", 1))
    with pytest.raises(DatasetError, match=r"metadata_2015.csv: no column 'artist'. It has id, ti"):
        deam.load(layout.root)
