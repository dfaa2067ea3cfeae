"""`merbench init`: a datasets.toml in the working folder, from nothing or from a folder's CSV."""

from __future__ import annotations

import tomllib

import pytest
from click.testing import CliRunner

from merbench.cli import main
from merbench.data.config import PACKAGED_CONFIG
from tests.helpers.songs import my_songs


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _merbench(*args):
    return CliRunner().invoke(main, list(args))


def test_init_writes_the_commented_default_and_never_over_a_file_without_force(here):
    result = _merbench("init")
    assert result.exit_code == 0, result.output
    written = here / "datasets.toml"
    assert written.read_text() == PACKAGED_CONFIG.read_text()
    written.write_text("# mine\n")
    again = _merbench("init")
    assert again.exit_code == 2
    assert "already exists; merbench init leaves it as it is. Pass --force" in again.output
    assert written.read_text() == "# mine\n"
    assert _merbench("init", "--force").exit_code == 0
    assert written.read_text() == PACKAGED_CONFIG.read_text()


def test_a_folder_of_songs_is_declared_verified_and_named_by_its_folder(here):
    my_songs(here / "My Songs")
    result = _merbench("init", "--dataset", "folder", "My Songs")
    assert result.exit_code == 0, result.output
    assert "merbench verify my-songs && merbench run --budget smoke" in result.output
    table = tomllib.loads((here / "datasets.toml").read_text())["datasets"]["my-songs"]
    assert table["path"] == "My Songs" and table["options"]["group_column"] == "Artist"
    verified = _merbench("verify", "my-songs")
    assert verified.exit_code == 0, verified.output
    assert "my-songs: 40 usable track(s), 0 problem(s) (tasks: av-regression)." in verified.output


def test_quadrant_labels_under_another_csv_name_verify_as_the_quadrant_task(here):
    root = my_songs(here / "q", header=("file", "quadrant", "artist"), n_tracks=12, quadrants=True)
    (root / "labels.csv").rename(root / "annotations.csv")
    result = _merbench("init", "--dataset", "folder", "q", "--labels", "annotations.csv",
                       "--name", "quads")  # fmt: skip
    assert result.exit_code == 0, result.output
    verified = _merbench("verify", "quads")
    assert "quads: 12 usable track(s), 0 problem(s) (tasks: quadrant)." in verified.output


def test_without_a_datasets_toml_an_unknown_dataset_points_at_merbench_init(here):
    result = _merbench("verify", "my-songs")
    assert result.exit_code == 2
    assert "no datasets.toml in this folder" in result.output
    assert "merbench init --dataset folder PATH" in result.output
    assert "Add a [datasets.my-songs] table" not in result.output


def test_init_refuses_an_unknown_plugin_and_a_missing_path_in_one_line(here):
    unknown = _merbench("init", "--dataset", "foldr", "x")
    assert unknown.exit_code == 2 and "Did you mean 'folder'?" in unknown.output
    no_path = _merbench("init", "--dataset", "pmemo")
    assert no_path.exit_code == 2 and "give the folder of your copy" in no_path.output
    assert not (here / "datasets.toml").exists()


def test_print_writes_nothing(here):
    my_songs(here / "songs", n_tracks=8)
    result = _merbench("init", "--dataset", "folder", "songs", "--print")
    assert result.exit_code == 0 and "[datasets.songs.options]" in result.output
    assert not (here / "datasets.toml").exists()
