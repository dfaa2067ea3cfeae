"""What 'merbench init' writes: the packaged default, and a folder's table guessed from its CSV."""

from __future__ import annotations

import tomllib

import pytest

from merbench.data.config import PACKAGED_CONFIG
from merbench.data.starter import dataset_table, guess_folder, starter_text, table_name
from merbench.errors import ConfigError
from tests.helpers.songs import my_songs


def _options(root, **kwargs):
    text = dataset_table("mine", "folder", str(root), guess_folder(root, **kwargs))
    return tomllib.loads(text)["datasets"]["mine"]["options"], text


def test_the_plain_file_is_the_packaged_default():
    assert starter_text() == PACKAGED_CONFIG.read_text()


def test_a_table_comes_first_and_synth_is_left_out_of_plain_runs(tmp_path):
    text = starter_text('[datasets.mine]\nplugin = "folder"\npath = "x"\n')
    document = tomllib.loads(text)
    assert list(document["datasets"]) == ["mine", "synth"]
    assert document["datasets"]["synth"]["enabled"] is False
    assert text.index("[datasets.mine]") < text.index("[datasets.synth]")


def test_mp3_like_names_arousal_valence_and_artist_columns_are_guessed(tmp_path):
    root = my_songs(tmp_path / "My Songs")
    options, text = _options(root)
    assert options == {
        "labels": "labels.csv",
        "audio_column": "File",
        "arousal_column": "Arousal",
        "valence_column": "Valence",
        "group_column": "Artist",
        "scale_low": 1.0,
        "scale_high": 9.0,
    }
    comments = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    assert "# audio_column: 'File' holds file names ending in .wav" in text
    assert "(40 of 40 rows); 40 of those files exist in the folder." in comments
    assert "'Artist' groups tracks for grouped folds (8 groups over 40 tracks)" in comments
    assert "the narrowest common scale that holds them is 1..9" in comments
    assert "# Default task: av-regression" in text
    assert table_name(root) == "my-songs"


@pytest.mark.parametrize(
    ("scale", "snapped"),
    [((0.0, 1.0), (0.0, 1.0)), ((-1.0, 1.0), (-1.0, 1.0)), ((1.0, 5.0), (1.0, 5.0)),
     ((1.0, 7.0), (1.0, 7.0)), ((0.0, 100.0), (0.0, 100.0))],
)  # fmt: skip
def test_the_scale_snaps_to_the_narrowest_common_one_holding_the_labels(tmp_path, scale, snapped):
    options, text = _options(my_songs(tmp_path, n_tracks=12, scale=scale))
    low, high = options["scale_low"], options["scale_high"]
    if snapped == (0.0, 100.0):  # no common scale: the labels' range, to whole numbers
        assert 0 <= low < high <= 100 and "beyond the common scales" in text
    else:
        assert (low, high) == snapped


def test_quadrant_only_labels_are_guessed_from_an_emotion_column(tmp_path):
    root = my_songs(tmp_path, header=("path", "emotion", "artist"), n_tracks=12, quadrants=True)
    options, text = _options(root)
    assert options["quadrant_column"] == "emotion"
    assert options["arousal_column"] == options["valence_column"] == ""
    assert "scale_low" not in options
    assert "# Default task: quadrant" in text


def test_a_quadrant_column_is_found_by_its_values_whatever_its_name(tmp_path):
    root = my_songs(tmp_path, header=("path", "q", "who"), n_tracks=12, quadrants=True)
    options, _ = _options(root)
    assert options["quadrant_column"] == "q" and "group_column" not in options


def test_a_csv_without_audio_or_labels_is_one_error_listing_its_columns(tmp_path):
    (tmp_path / "labels.csv").write_text("id,arousal,valence\n1,2,3\n")
    with pytest.raises(ConfigError, match=r"no column of audio files .* Columns: id, arousal"):
        guess_folder(tmp_path)
    (tmp_path / "labels.csv").write_text("file,mood\na.mp3,happy\n")
    with pytest.raises(ConfigError, match=r"no label columns: merbench looks for .* file, mood"):
        guess_folder(tmp_path)
    with pytest.raises(ConfigError, match=r"other.csv: no labels CSV there\..*--labels FILE"):
        guess_folder(tmp_path, "other.csv")
