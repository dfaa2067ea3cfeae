"""pmemo: the real annotation files parse as published; generated copies load, verify and run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from layouts import core_tracks, pmemo_layout, reference, write_audio, write_garbage

from merbench.errors import DatasetError
from merbench.evaluation.tasks import get_task
from merbench.testing import check_plugin
from merbench_plugins.datasets import pmemo


@pytest.fixture
def layout(tmp_path):
    return pmemo_layout(tmp_path)


# --- the real annotation files ----------------------------------------------------------------


def test_reference_inner_join_keeps_the_767_annotated_clips():
    root = reference("PMEmo2019")
    table = pmemo.read_annotations(root)
    assert len(table) == 767
    assert table["track_id"].is_unique
    assert table[["arousal", "valence", "arousal_std", "valence_std"]].notna().all().all()
    assert table[["arousal", "valence"]].stack().between(0, 1).all()
    assert len(pmemo.read_metadata(root)) == 794


def test_reference_quoted_album_names_keep_their_commas_and_quotes():
    table = pmemo.read_annotations(reference("PMEmo2019")).set_index("track_id")
    assert table.loc["1", "album"] == "Def Jam Presents: Direct Deposit, Vol. 2"
    assert table.loc["1", "artist"] == "2 Chainz"
    assert table.loc["40", "album"] == 'Beauty and the Beast (From "Beauty and the Beast")'
    assert table.loc["1", "arousal"] == pytest.approx(0.4)
    assert table.loc["1", "valence"] == pytest.approx(0.575)


def test_reference_verify_notes_the_27_unannotated_clips_and_nothing_else_but_audio():
    root = reference("PMEmo2019")
    problems = pmemo.verify(root)
    assert problems[0].startswith(f"note: {root / 'metadata.csv'}: 27 clip(s) have no static")
    # The reference folder has no audio: the only other line says so.
    assert len(problems) == 2
    assert "767 of 767 audio file(s) missing" in problems[1]


def test_reference_unannotated_clips_are_all_shorter_than_15_5_seconds():
    root = reference("PMEmo2019")
    metadata = pmemo.read_metadata(root)
    annotated = set(pmemo.read_annotations(root)["track_id"])
    left_out = metadata[~metadata["track_id"].isin(annotated)]
    assert len(left_out) == 27
    assert (left_out["duration"] < 15.5).all()


# --- generated copies -------------------------------------------------------------------------


def test_plugin_passes_the_contract_kit():
    assert all(check.passed for check in check_plugin(pmemo))


def test_load_returns_annotated_clips_with_absolute_audio_paths(layout):
    table = pmemo.load(layout.root)
    assert list(table.columns[:6]) == [
        "track_id",
        "group",
        "audio_path",
        "arousal",
        "valence",
        "arousal_std",
    ]
    assert sorted(table["track_id"]) == sorted(layout.labels)
    for row in table.itertuples():
        assert Path(row.audio_path).is_absolute()
        assert Path(row.audio_path) == layout.audio[row.track_id].resolve()
        assert (row.arousal, row.valence) == pytest.approx(layout.labels[row.track_id])
        assert row.artist == layout.groups[row.track_id]
    same_artist = table[table["artist"] == "Nine Rivers"]["group"]
    assert same_artist.nunique() == 1


def test_core_accepts_the_table_for_every_task(layout):
    tracks = core_tracks(pmemo, "pmemo", layout.root, ("av-regression", "quadrant"))
    assert not tracks.skipped
    assert len(tracks.table) == len(layout.labels)
    assert tracks.targets(get_task("av-regression")).shape == (len(layout.labels), 2)
    assert set(tracks.targets(get_task("quadrant"))) <= {1, 2, 3, 4}


def test_verify_on_a_clean_copy_reports_only_counts_and_the_unannotated_clip(layout):
    problems = pmemo.verify(layout.root)
    assert len(problems) == 3
    assert "6 clips, the published dataset has 794" in problems[0]
    assert "5 annotated clips, the published dataset has 767" in problems[1]
    assert problems[2].startswith("note: ")
    assert "1 clip(s) have no static annotations (e.g. 11)" in problems[2]


def test_verify_finds_missing_corrupt_and_truncated_audio(layout):
    layout.audio["1"].unlink()
    write_garbage(layout.audio["4"])
    write_audio(layout.audio["5"], seconds=0.5)  # metadata says 2.0 s
    problems = "\n".join(pmemo.verify(layout.root))
    assert "1 of 5 audio file(s) missing: 1.mp3." in problems
    assert "1 audio file(s) unreadable: 4.mp3" in problems
    assert "much shorter than their published duration: 5.mp3 (0.5 s)" in problems


def test_verify_finds_missing_and_out_of_range_labels(layout):
    path = layout.root / "annotations" / "static_annotations.csv"
    text = path.read_text().replace("1,0.4,0.575", "1,,0.575").replace("5,0.15,0.2", "5,0.15,1.7")
    path.write_text(text)
    problems = "\n".join(pmemo.verify(layout.root))
    assert f"{path}: arousal is missing for 1 track(s) (1)" in problems
    assert f"{path}: valence is outside 0..1 for 1 track(s) (5)" in problems


def test_core_skips_the_clip_with_a_nan_label(layout):
    path = layout.root / "annotations" / "static_annotations.csv"
    path.write_text(path.read_text().replace("1,0.4,0.575", "1,,0.575"))
    tracks = core_tracks(pmemo, "pmemo", layout.root, ("av-regression",))
    assert tracks.skipped == {"1": "label 'arousal' is missing (NaN)"}


@pytest.mark.parametrize(
    "name", ["metadata.csv", "annotations/static_annotations.csv"], ids=["metadata", "static"]
)
def test_a_missing_annotation_file_is_named_with_the_fix(layout, name):
    (layout.root / name).unlink()
    with pytest.raises(DatasetError) as caught:
        pmemo.load(layout.root)
    message = str(caught.value)
    assert message.startswith(f"{layout.root / name}: missing. Point 'path' in [datasets.pmemo]")
    assert "metadata.csv, annotations/ and chorus/" in message
    assert pmemo.verify(layout.root) == [message]


def test_a_renamed_column_is_named_with_a_suggestion(layout):
    path = layout.root / "annotations" / "static_annotations.csv"
    path.write_text(path.read_text().replace("Arousal(mean)", "Arousal mean"))
    with pytest.raises(DatasetError, match=r"no column 'Arousal\(mean\)'. Did you mean"):
        pmemo.load(layout.root)


def test_missing_standard_deviations_leave_nan_spreads_and_a_verify_line(layout):
    (layout.root / "annotations" / "static_annotations_std.csv").unlink()
    table = pmemo.load(layout.root)
    assert table["arousal_std"].isna().all()
    assert any("static_annotations_std.csv: missing" in p for p in pmemo.verify(layout.root))


def test_provided_features_are_indexed_by_track_id(layout):
    folder = layout.root / "features"
    folder.mkdir()
    rows = {"musicId": [1, 4], "F0final_sma_stddev": [0.5, 0.25], "pcm_RMSenergy_sma_amean": [1, 2]}
    pd.DataFrame(rows).to_csv(folder / "static_features.csv", index=False)
    features = pmemo.provided_features(layout.root)
    assert list(features.index) == ["1", "4"]
    assert features.index.name == "track_id"
    np.testing.assert_allclose(features.loc["4"].to_numpy(), [0.25, 2.0])


def test_provided_features_missing_says_what_to_download(layout):
    with pytest.raises(DatasetError, match=r"static_features\.csv: missing\. Download"):
        pmemo.provided_features(layout.root)


def test_a_copy_without_audio_still_parses_its_annotations(tmp_path):
    layout = pmemo_layout(tmp_path, audio=False)
    assert not (layout.root / "chorus").exists()
    assert len(pmemo.read_annotations(layout.root)) == len(layout.labels)
    shutil.rmtree(layout.root / "annotations")
    with pytest.raises(DatasetError, match=r"static_annotations\.csv: missing"):
        pmemo.read_annotations(layout.root)
