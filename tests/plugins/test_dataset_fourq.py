"""fourq: quadrant labels from the real files, and generated copies end to end."""

from __future__ import annotations

import numpy as np
import pytest
from layouts import FOURQ, core_tracks, fourq_layout, reference, write_audio, write_garbage

from merbench.errors import DatasetError
from merbench.evaluation.tasks import get_task
from merbench.testing import check_plugin
from merbench_plugins.datasets import fourq


@pytest.fixture
def layout(tmp_path):
    return fourq_layout(tmp_path)


# --- the real annotation files ----------------------------------------------------------------


def test_reference_has_900_clips_in_four_balanced_quadrants():
    table = fourq.read_annotations(reference("4Q"))
    assert len(table) == 900
    assert table["track_id"].is_unique
    assert table["quadrant"].value_counts().to_dict() == {1: 225, 2: 225, 3: 225, 4: 225}
    first = table.set_index("track_id").loc["MT0000004637"]
    assert (first["quadrant"], first["artist"]) == (3, "Charlie Poole")
    assert table["artist"].isna().sum() == 3  # three clips have no artist in the metadata


def test_reference_annotations_agree_with_the_metadata_quadrants():
    import pandas as pd

    metadata = pd.read_csv(reference("4Q") / fourq.METADATA).set_index("Song")["Quadrant"]
    table = fourq.read_annotations(reference("4Q")).set_index("track_id")
    assert (table["label"] == metadata.loc[table.index]).all()


def test_reference_verify_notes_clips_without_artist_and_missing_audio():
    problems = fourq.verify(reference("4Q"))
    assert len(problems) == 2
    assert problems[0].startswith("note: ") and "3 clip(s) have no artist" in problems[0]
    assert "900 of 900 audio file(s) missing" in problems[1]


# --- generated copies -------------------------------------------------------------------------


def test_plugin_passes_the_contract_kit():
    assert all(check.passed for check in check_plugin(fourq))


def test_load_gives_quadrants_artists_and_audio_in_the_quadrant_folders(layout):
    table = fourq.load(layout.root).set_index("track_id")
    assert sorted(table.index) == sorted(FOURQ)
    assert {"arousal", "valence"}.isdisjoint(table.columns)
    for song, quadrant in layout.labels.items():
        assert table.loc[song, "quadrant"] == quadrant
        assert table.loc[song, "audio_path"] == str(layout.audio[song].resolve())
        assert f"/Q{quadrant}/" in table.loc[song, "audio_path"]
    assert table.loc["MT0000040632", "group"] == table.loc["MT0000044741", "group"]
    assert table.loc["MT0011413068", "group"] == "MT0011413068"  # no artist: its own group


def test_core_derives_binary_classes_from_quadrants(layout):
    tracks = core_tracks(
        fourq, "fourq", layout.root, ("quadrant", "arousal-binary", "valence-binary")
    )
    assert not tracks.skipped
    quadrant = tracks.targets(get_task("quadrant"))
    np.testing.assert_array_equal(
        tracks.targets(get_task("arousal-binary")), np.isin(quadrant, (1, 2))
    )
    np.testing.assert_array_equal(
        tracks.targets(get_task("valence-binary")), np.isin(quadrant, (1, 4))
    )
    assert set(quadrant) == {1, 2, 3, 4}


def test_verify_on_a_clean_copy_reports_the_count_and_the_clip_without_artist(layout):
    problems = fourq.verify(layout.root)
    assert len(problems) == 2
    assert "8 labelled clips, the published dataset has 900" in problems[0]
    assert problems[1].startswith("note: ") and "(e.g. MT0011413068)" in problems[1]


def test_verify_finds_a_clip_in_the_wrong_quadrant_folder(layout):
    song = "MT0000040632"
    moved = layout.root / "Q2" / f"{song}.mp3"
    layout.audio[song].rename(moved)
    problems = "\n".join(fourq.verify(layout.root))
    assert f"{moved}: labelled Q1 in panda_dataset_taffc_annotations.csv but stored in Q2/" in (
        problems
    )
    assert f"1 of 8 audio file(s) missing: Q1/{song}.mp3." in problems


def test_verify_finds_corrupt_short_audio_and_unknown_labels(layout):
    write_garbage(layout.audio["MT0000011357"])
    write_audio(layout.audio["MT0000011975"], seconds=0.4)
    path = layout.root / fourq.ANNOTATIONS
    path.write_bytes(path.read_bytes().replace(b"MT0000218346,Q4", b"MT0000218346,Q5"))
    problems = "\n".join(fourq.verify(layout.root))
    assert "1 audio file(s) unreadable: Q2/MT0000011357.mp3" in problems
    assert "much shorter than the median 2.0 s: Q2/MT0000011975.mp3 (0.4 s)" in problems
    assert "1 clip(s) have no quadrant Q1..Q4: MT0000218346 ('Q5')" in problems


def test_core_skips_a_clip_with_an_unknown_quadrant(layout):
    path = layout.root / fourq.ANNOTATIONS
    path.write_bytes(path.read_bytes().replace(b"MT0000218346,Q4", b"MT0000218346,"))
    tracks = core_tracks(fourq, "fourq", layout.root, ("quadrant",))
    assert tracks.skipped == {"MT0000218346": "label 'quadrant' is missing (NaN)"}


def test_mixed_sample_rates_are_fine(layout):
    write_audio(layout.audio["MT0000004637"], rate=22050)
    assert not [p for p in fourq.verify(layout.root) if "audio" in p]


@pytest.mark.parametrize("name", [fourq.ANNOTATIONS, fourq.METADATA], ids=["labels", "metadata"])
def test_a_missing_file_is_named_with_the_fix(layout, name):
    (layout.root / name).unlink()
    with pytest.raises(DatasetError) as caught:
        fourq.load(layout.root)
    assert str(caught.value) == (
        f"{layout.root / name}: missing. Point 'path' in [datasets.fourq] at the folder that "
        "contains Q1/ .. Q4/ and panda_dataset_taffc_annotations.csv."
    )
