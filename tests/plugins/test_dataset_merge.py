"""merge: the MERGE layout, its options and official splits, and its overlap with 4Q."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from layouts import (
    MERGE,
    MERGE_BIMODAL,
    MERGE_MATCHES_4Q,
    MERGE_NEAR_4Q,
    core_tracks,
    merge_layout,
    reference,
    write_garbage,
)

from merbench.cli import main
from merbench.data.matching import near_misses, overlap_line, shared_songs
from merbench.errors import ConfigError, DatasetError
from merbench.evaluation.cv import official_folds
from merbench.evaluation.tasks import get_task
from merbench.testing import check_plugin
from merbench_plugins.datasets import fourq, merge


@pytest.fixture
def layout(tmp_path):
    return merge_layout(tmp_path, bimodal=True)


def _split_path(layout, part: str, frame: str = "70_15_15", kind: str = "audio"):
    folder = layout.root / f"MERGE_{kind.capitalize()}_Complete" / "tvt_dataframes"
    return folder / f"tvt_{frame}" / f"tvt_{frame}_{part}_{kind}_complete.csv"


def test_plugin_passes_the_contract_kit():
    assert all(check.passed for check in check_plugin(merge))


def test_load_gives_quadrants_av_artists_split_and_audio(layout):
    table = merge.load(layout.root).set_index("track_id")
    assert sorted(table.index) == sorted(MERGE)
    for song, (artist, title, quadrant, arousal, valence, part, _) in MERGE.items():
        row = table.loc[song]
        assert (row["quadrant"], row["arousal"], row["valence"]) == (quadrant, arousal, valence)
        assert row["title"] == title and (row["artist"] == artist or not artist)
        assert row["split"] == {"validate": "valid"}.get(part, part)
        assert row["audio_path"] == str(layout.audio[song].resolve())
        assert f"/MERGE_Audio_Complete/Q{quadrant}/{song}.mp3" in row["audio_path"]
    assert table.loc["A007", "group"] == table.loc["A008", "group"] == "nobody known"
    assert table.loc["A009", "group"] == "A009"  # no artist: its own group


def test_path_may_name_the_set_folder_itself(layout):
    table = merge.load(layout.root / "MERGE_Audio_Complete")
    assert sorted(table["track_id"]) == sorted(MERGE)


def test_the_40_30_30_frame_and_the_bimodal_set(layout):
    table = merge.load(layout.root, frame="40-30-30").set_index("track_id")
    assert table.loc["A001", "split"] == "test" and table.loc["A002", "split"] == "train"
    bimodal = merge.load(layout.root, set="bimodal").set_index("track_id")
    assert sorted(bimodal.index) == sorted(MERGE_BIMODAL)
    assert bimodal.loc["A001", "audio_path"].endswith("/MERGE_Bimodal_Complete/audio/Q4/A001.mp3")
    assert bimodal.loc["A004", "split"] == "test"


def test_bad_option_values_and_a_missing_set_are_named(layout):
    with pytest.raises(ConfigError, match=r"set = 'lyrics' is not one of audio, bimodal"):
        merge.load(layout.root, set="lyrics")
    with pytest.raises(ConfigError, match=r"frame = '50-25-25' is not one of 70-15-15, 40-30-30"):
        merge.load(layout.root, frame="50-25-25")
    with pytest.raises(DatasetError) as caught:
        merge.load(layout.root, balanced=True)
    assert str(caught.value).startswith(
        f"{layout.root / 'MERGE_Audio_Balanced' / 'merge_audio_balanced_metadata.csv'}: missing. "
        "Point 'path' in [datasets.merge] at the folder that contains MERGE_Audio_Balanced/"
    )


def test_official_split_reaches_the_core(layout):
    tracks = core_tracks(merge, "merge", layout.root, ("quadrant",), split="official")
    assert not tracks.skipped
    (fold,) = official_folds(tracks.table["split"].tolist())
    ids = tracks.table["track_id"].to_numpy()
    assert sorted(ids[fold.test]) == sorted(k for k, v in MERGE.items() if v[5] == "test")


def test_core_gives_av_regression_on_the_0_1_scale(layout):
    tracks = core_tracks(merge, "merge", layout.root, ("av-regression", "arousal-binary"))
    assert not tracks.skipped
    binary = tracks.targets(get_task("arousal-binary"))
    quadrant = tracks.table["quadrant"].to_numpy()
    assert (binary == (quadrant <= 2)).all()  # the A/V values agree with the quadrants


def test_verify_on_a_clean_copy_reports_only_the_count(layout):
    problems = merge.verify(layout.root)
    assert problems == [
        f"{layout.root / 'MERGE_Audio_Complete' / 'merge_audio_complete_metadata.csv'}: 12 "
        "labelled clips, the published dataset has 3554. A partial or modified copy gives "
        "results that are not comparable with published ones; re-download the dataset if this "
        "is not intended."
    ]


def test_verify_finds_unknown_and_overlapping_split_songs_and_bad_files(layout):
    test = _split_path(layout, "test")
    test.write_text(test.read_text() + "A999,Q1\nA001,Q4\n")
    write_garbage(layout.audio["A002"])
    layout.audio["A003"].unlink()
    values = layout.root / "MERGE_Audio_Complete" / "merge_audio_complete_av_values.csv"
    values.write_text(values.read_text().replace("A005,0.88", "A005,8.8"))
    problems = "\n".join(merge.verify(layout.root))
    assert f"{test}: 1 clip(s) not in the metadata: A999." in problems
    assert "1 clip(s) in more than one of tvt_70_15_15_test_audio_complete.csv, " in problems
    assert "(e.g. A001): a test clip would also be trained on." in problems
    assert "1 audio file(s) unreadable: Q4/A002.mp3" in problems
    assert "1 of 12 audio file(s) missing: Q4/A003.mp3." in problems
    assert f"{values}: arousal is outside 0..1 for 1 track(s) (A005)" in problems


def test_verify_names_clips_in_no_split_file_and_a_missing_part(layout):
    train = _split_path(layout, "train")
    train.write_text(train.read_text().replace("A007,Q2\n", ""))
    assert any(
        "1 clip(s) in no tvt_70_15_15 file (e.g. A007)" in p for p in merge.verify(layout.root)
    )
    train.unlink()
    (problem,) = merge.verify(layout.root)
    assert problem.startswith(f"{train.parent}: no train file (tvt_70_15_15_train_")


def test_wrong_columns_and_unreadable_csv_are_one_line(layout):
    values = layout.root / "MERGE_Audio_Complete" / "merge_audio_complete_av_values.csv"
    values.write_text("Song,A,V\nA001,0.1,0.2\n")
    (problem,) = merge.verify(layout.root)
    assert problem.startswith(f"{values}: no column 'Arousal'.")
    values.write_bytes(b'Song,Arousal,Valence\n"A001,0.1\n')
    (problem,) = merge.verify(layout.root)
    assert problem.startswith(f"{values}: unreadable (")


def test_literature_is_the_published_bimodal_f1():
    scores = {(r.task, r.protocol, r.score) for r in merge.LITERATURE}
    assert scores == {("quadrant", "official", 0.8174), ("quadrant", "official", 0.7921)}


# --- the overlap with 4Q ------------------------------------------------------------------------


def test_merge_songs_are_matched_against_the_real_4q_metadata(layout):
    fourq_table = fourq.read_annotations(reference("4Q"))
    table = merge.load(layout.root)
    pairs = shared_songs(table, fourq_table)
    assert dict(pairs) == MERGE_MATCHES_4Q
    misses = {(m.a, m.b) for m in near_misses(table, fourq_table)}
    assert set(MERGE_NEAR_4Q.items()) <= misses
    assert not misses & set(MERGE_MATCHES_4Q.items())
    line = overlap_line("merge", table, "fourq", fourq_table)
    assert line is not None and line.startswith(
        "note: merge shares 6 song(s) with fourq (same artist and title), e.g. A001 = "
        "MT0002846256, A002 = MT0000348553, A003 = MT0000336135."
    )
    assert "'Dismember - Carnal Tombs' ~ 'Dismember - Carnal Tomb'" in line


def _config(tmp_path, tables: dict[str, Path], extra: str = "") -> Path:
    lines = [
        f"[datasets.{name}]\npath = {json.dumps(str(path))}\n" for name, path in tables.items()
    ]
    path = tmp_path / "datasets.toml"
    path.write_text("\n".join(lines) + extra)
    return path


def test_merbench_verify_notes_the_songs_merge_shares_with_a_declared_4q(layout, tmp_path):
    config = _config(tmp_path, {"merge": layout.root, "fourq": reference("4Q")})
    result = CliRunner().invoke(main, ["verify", "merge", "--config", str(config)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # the table wraps long lines
    assert "note: merge shares 6 song(s) with fourq (same artist and title), e.g. A001 =" in output
    assert "merge: 12 usable track(s), 2 problem(s) (tasks: quadrant)." in output


@pytest.mark.slow
def test_a_smoke_run_on_merge_renders_a_board(layout, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path, {"merge": layout.root})
    args = ["run", "--models", "ridge,cnn2d@mel,majority", "--budget", "smoke", "--config"]
    result = CliRunner().invoke(main, [*args, str(config), "--no-progress"])
    assert result.exit_code == 0, result.output
    page = tmp_path / "runs" / "merge" / "leaderboard" / "merge-quadrant.html"
    text = page.read_text()
    assert "ridge@handcrafted" in text and "cnn2d@mel" in text and "majority" in text
    literature = (page.parent / "dataset_merge.html").read_text()
    assert "arXiv:2407.06060v3" in literature and "0.8174" in literature


def test_verify_reads_the_bimodal_set_s_own_files_and_audio_folder(layout):
    folder = layout.root / "MERGE_Bimodal_Complete"
    assert merge.verify(layout.root, set="bimodal", frame="40-30-30") == [
        f"{folder / 'merge_bimodal_complete_metadata.csv'}: 6 labelled clips, the published "
        "dataset has 2216. A partial or modified copy gives results that are not comparable "
        "with published ones; re-download the dataset if this is not intended."
    ]
    (folder / "audio" / "Q4" / "A001.mp3").unlink()
    problems = merge.verify(layout.root, set="bimodal")
    assert f"{folder / 'audio'}: 1 of 6 audio file(s) missing: Q4/A001.mp3." in problems[-1]
