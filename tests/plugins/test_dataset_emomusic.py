"""emomusic: the real files and official split, and generated copies end to end."""

from __future__ import annotations

import pytest
from layouts import EMOMUSIC, core_tracks, emomusic_layout, reference, write_audio, write_garbage

from merbench.errors import DatasetError
from merbench.evaluation.cv import official_folds
from merbench.testing import check_plugin
from merbench_plugins.datasets import emomusic


@pytest.fixture
def layout(tmp_path):
    return emomusic_layout(tmp_path)


# --- the real annotation files ----------------------------------------------------------------


def test_reference_has_744_clips_with_artists_without_tabs():
    table = emomusic.read_annotations(reference("emoMusic"))
    assert len(table) == 744
    assert table["track_id"].is_unique
    assert table["artist"].notna().all()
    assert not table[["artist", "title", "genre"]].stack().str.contains("\t").any()
    assert table[["arousal", "valence"]].stack().between(1, 9).all()
    first = table.set_index("track_id").loc["2"]
    assert first["artist"] == "The New Mystikal Troubadours"
    assert (first["arousal"], first["valence"]) == (3.1, 3.0)


def test_reference_split_has_the_published_counts_and_test_is_mediaeval_evaluation():
    table = emomusic.read_annotations(reference("emoMusic"))
    assert table["split"].value_counts().to_dict() == {"train": 504, "valid": 115, "test": 125}
    test = table["split"] == "test"
    assert (table.loc[test, "mediaeval_set"] == "evaluation").all()
    assert (table.loc[~test, "mediaeval_set"] == "development").all()


def test_reference_verify_reports_only_the_missing_audio():
    problems = emomusic.verify(reference("emoMusic"))
    assert len(problems) == 1
    assert "744 of 744 audio file(s) missing" in problems[0]


# --- generated copies -------------------------------------------------------------------------


def test_plugin_passes_the_contract_kit():
    assert all(check.passed for check in check_plugin(emomusic))


def test_load_gives_labels_artists_split_and_absolute_audio_paths(layout):
    table = emomusic.load(layout.root).set_index("track_id")
    assert sorted(table.index) == sorted(EMOMUSIC)
    for track_id, (arousal, valence) in layout.labels.items():
        assert table.loc[track_id, ["arousal", "valence"]].tolist() == [arousal, valence]
        assert table.loc[track_id, "artist"] == layout.groups[track_id]
        assert table.loc[track_id, "split"] == EMOMUSIC[track_id][5]
        assert table.loc[track_id, "audio_path"] == str(layout.audio[track_id].resolve())
    assert table.loc["5", "genre"] == "Classical"
    assert table.loc["3", "mediaeval_set"] == "evaluation"


def test_official_split_reaches_the_core(layout):
    tracks = core_tracks(emomusic, "emomusic", layout.root, ("av-regression",), split="official")
    assert not tracks.skipped
    (fold,) = official_folds(tracks.table["split"].tolist())
    ids = tracks.table["track_id"].to_numpy()
    assert sorted(ids[fold.test]) == ["3", "8"]
    assert sorted(ids[fold.train]) == ["2", "4", "5", "7"]


def test_without_the_split_file_there_is_no_split_column(tmp_path):
    layout = emomusic_layout(tmp_path, split=False)
    assert "split" not in emomusic.load(layout.root)
    assert emomusic.verify(layout.root)[0].startswith(f"{layout.root / 'annotations'}")


def test_verify_on_a_clean_copy_reports_the_count_and_the_split_counts(layout):
    problems = emomusic.verify(layout.root)
    assert len(problems) == 2
    assert "6 annotated clips, the published dataset has 744" in problems[0]
    assert problems[1].startswith(f"{layout.root / emomusic.SPLIT}: train 3, valid 1, test 2;")


def test_verify_finds_clips_without_a_split_and_unknown_split_names(layout):
    path = layout.root / emomusic.SPLIT
    path.write_text(path.read_text().replace("4,train", "4,dev").replace("8,test\n", ""))
    problem = next(p for p in emomusic.verify(layout.root) if str(path) in p)
    assert "train 2, valid 1, test 1, other values dev, 1 clip(s) without a split" in problem


def test_verify_finds_missing_corrupt_short_audio_and_nan_labels(layout):
    layout.audio["2"].unlink()
    write_garbage(layout.audio["3"])
    write_audio(layout.audio["4"], seconds=0.2)
    path = layout.root / emomusic.STATIC
    path.write_text(path.read_text().replace("5,2.4,", "5,,"))
    problems = "\n".join(emomusic.verify(layout.root))
    assert "1 of 6 audio file(s) missing: 2.mp3." in problems
    assert "1 audio file(s) unreadable: 3.mp3" in problems
    assert "much shorter than the median 2.0 s: 4.mp3 (0.2 s)" in problems
    assert f"{path}: arousal is missing for 1 track(s) (5)" in problems


def test_core_skips_unreadable_audio_and_names_the_file(layout):
    write_garbage(layout.audio["3"])
    tracks = core_tracks(emomusic, "emomusic", layout.root, ("av-regression",))
    assert list(tracks.skipped) == ["3"]
    assert str(layout.audio["3"].resolve()) in tracks.skipped["3"]


@pytest.mark.parametrize("name", [emomusic.STATIC, emomusic.SONGS], ids=["static", "songs"])
def test_a_missing_annotation_file_is_named_with_the_fix(layout, name):
    (layout.root / name).unlink()
    with pytest.raises(DatasetError) as caught:
        emomusic.load(layout.root)
    assert str(caught.value) == (
        f"{layout.root / name}: missing. Point 'path' in [datasets.emomusic] at the folder that "
        "contains annotations/ and clips_45seconds/."
    )


def test_a_wrong_split_file_is_named(layout):
    (layout.root / emomusic.SPLIT).write_text("id,part\n2,train\n")
    with pytest.raises(DatasetError, match=r"jukemir_marble_split.csv: no column 'song_id'"):
        emomusic.load(layout.root)
