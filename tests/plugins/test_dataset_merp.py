"""merp: static labels from the raters' continuous series, in the Hugging Face layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from layouts import MERP, core_tracks, merp_layout, write_garbage

from merbench.cli import main
from merbench.errors import DatasetError
from merbench.testing import check_plugin
from merbench_plugins.datasets import merp


@pytest.fixture
def layout(tmp_path):
    return merp_layout(tmp_path)


def test_plugin_passes_the_contract_kit():
    assert all(check.passed for check in check_plugin(merp))


def test_load_averages_each_rater_then_the_raters(layout):
    table = merp.load(layout.root).set_index("track_id")
    assert sorted(table.index) == sorted(MERP)
    for song, (arousal, valence) in layout.labels.items():
        np.testing.assert_allclose(table.loc[song, ["arousal", "valence"]], [arousal, valence])
        assert table.loc[song, "raters"] == 3 and table.loc[song, "group"] == song
        assert table.loc[song, "audio_path"] == str(layout.audio[song].resolve())
    assert (table["arousal_std"] > 0).all()


def test_the_source_code_s_songurl_column_is_read_too(tmp_path):
    layout = merp_layout(tmp_path, song_column="songurl", audio=False)
    assert sorted(merp.load(layout.root)["track_id"]) == sorted(MERP)


def test_core_loads_av_regression_and_quadrants_on_minus_one_to_one(layout):
    tracks = core_tracks(merp, "merp", layout.root, ("av-regression", "quadrant"))
    assert not tracks.skipped and len(tracks.table) == len(MERP)


def test_verify_on_a_clean_copy_reports_only_the_count(layout):
    assert merp.verify(layout.root) == [
        f"{layout.root / merp.ANNOTATIONS}: 10 rated songs, the published dataset has 54. A "
        "partial or modified copy gives results that are not comparable with published ones; "
        "re-download the dataset if this is not intended."
    ]


def test_verify_finds_missing_corrupt_unrated_audio(layout):
    layout.audio["00_35"].unlink()
    write_garbage(layout.audio["00_91"])
    (layout.root / "audio" / "99_99.wav").write_bytes(layout.audio["01_12"].read_bytes())
    problems = "\n".join(merp.verify(layout.root))
    assert "1 of 10 audio file(s) missing: 00_35.wav." in problems
    assert "1 audio file(s) unreadable: 00_91.wav" in problems
    assert "1 audio file(s) have no ratings (99_99); they are not used." in problems


def test_series_outside_the_scale_and_empty_series_are_named(layout):
    import pandas as pd

    path = layout.root / merp.ANNOTATIONS
    table = pd.read_parquet(path)
    table.at[0, "arousals"] = [5.0, 6.0]
    table.at[1, "valences"] = []
    table.to_parquet(path)
    problems = "\n".join(merp.verify(layout.root))
    assert f"{path}: arousal is outside -1..1 for 1 track(s) (00_35)" in problems
    assert "1 rating series without numbers (song (rater): 00_35 (A2B6OA4V8YABCZ))" in problems


def test_wrong_columns_and_a_missing_or_unreadable_file_are_one_line(layout):
    import pandas as pd

    path = layout.root / merp.ANNOTATIONS
    pd.read_parquet(path).rename(columns={"arousals": "arousl"}).to_parquet(path)
    (problem,) = merp.verify(layout.root)
    assert problem.startswith(f"{path}: no arousal column ('arousals' or 'arousal').")
    path.write_bytes(b"not parquet")
    (problem,) = merp.verify(layout.root)
    assert problem.startswith(f"{path}: unreadable (")
    path.unlink()
    with pytest.raises(DatasetError, match=r"annotations_filtered.parquet: missing. Point 'path'"):
        merp.load(layout.root)


@pytest.mark.slow
def test_a_smoke_run_on_merp_renders_a_board(layout, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "datasets.toml"
    config.write_text(f"[datasets.merp]\npath = {json.dumps(str(layout.root))}\n")
    args = ["run", "--models", "ridge,cnn2d@mel,mean", "--budget", "smoke", "--config"]
    result = CliRunner().invoke(main, [*args, str(config), "--no-progress"])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "runs" / "merp" / "leaderboard" / "merp-av-regression.html").read_text()
    assert "ridge@handcrafted" in page and "cnn2d@mel" in page and "mean" in page
