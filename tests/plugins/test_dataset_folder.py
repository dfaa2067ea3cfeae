"""folder: your own audio and labels CSV: columns, ids, groups, scales, errors and verify."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from layouts import core_tracks, folder_layout, quadrant_of, write_audio, write_garbage

from merbench.cli import main
from merbench.data.config import load_config
from merbench.errors import ConfigError, DatasetError
from merbench.evaluation.tasks import get_task
from merbench.pipeline.plan import plan_run
from merbench.pipeline.settings import RunSettings
from merbench.plugin.registry import load_registry
from merbench.testing import check_plugin
from merbench_plugins.datasets import folder


@pytest.fixture
def layout(tmp_path):
    return folder_layout(tmp_path)


def _rewrite(layout, change) -> None:
    """Apply ``change`` to labels.csv as a DataFrame of text cells."""
    path = layout.root / "labels.csv"
    table = change(pd.read_csv(path, dtype=str, keep_default_na=False))
    table.to_csv(path, index=False)


def test_plugin_passes_the_contract_kit():
    assert all(check.passed for check in check_plugin(folder))


def test_defaults_derive_ids_from_file_names_and_group_by_track(layout):
    table = folder.load(layout.root).set_index("track_id")
    assert sorted(table.index) == sorted(layout.labels)
    for track_id, (arousal, valence) in layout.labels.items():
        assert table.loc[track_id, ["arousal", "valence"]].tolist() == [arousal, valence]
        assert table.loc[track_id, "group"] == track_id
        assert table.loc[track_id, "audio_path"] == str(layout.audio[track_id].resolve())
    assert "arousal_raw" not in table
    assert table.loc["jazz/song-0", "artist"] == "Artist 0"  # other CSV columns are kept


def test_group_and_id_columns(layout):
    _rewrite(layout, lambda t: t.assign(key=[f"k{i}" for i in range(len(t))]))
    table = folder.load(layout.root, group_column="artist", id_column="key")
    assert table["track_id"].tolist() == [f"k{i}" for i in range(len(layout.labels))]
    assert table["group"].tolist() == list(layout.groups.values())


def test_core_runs_grouped_by_artist(layout):
    tracks = core_tracks(
        folder, "my-songs", layout.root, ("av-regression",), options={"group_column": "artist"}
    )
    assert not tracks.skipped
    assert tracks.table["group"].nunique() == 3


def test_another_scale_is_mapped_onto_1_to_9_and_kept_raw(layout):
    _rewrite(layout, lambda t: t.assign(arousal=(t["arousal"].astype(float) - 1) / 8))
    _rewrite(layout, lambda t: t.assign(valence=(t["valence"].astype(float) - 1) / 8))
    tracks = core_tracks(
        folder, "mine", layout.root, ("arousal-binary",), options={"scale_low": 0, "scale_high": 1}
    )
    table = tracks.table.set_index("track_id")
    expected = np.array([layout.labels[t] for t in table.index])
    np.testing.assert_allclose(table[["arousal", "valence"]].to_numpy(), expected)
    np.testing.assert_allclose(table["arousal_raw"], (expected[:, 0] - 1) / 8)
    np.testing.assert_array_equal(tracks.targets(get_task("arousal-binary")), expected[:, 0] >= 5)


def test_a_label_outside_the_scale_names_its_line(layout):
    _rewrite(layout, lambda t: t.assign(valence=t["valence"].where(t.index != 2, "10")))
    with pytest.raises(DatasetError) as caught:
        folder.load(layout.root)
    assert str(caught.value) == (
        f"{layout.root / 'labels.csv'}: 1 label(s) outside the scale 1..9 (line 4: valence 10). "
        "Set scale_low and scale_high in [datasets.<name>.options] to the ends of your rating "
        "scale, or correct those lines."
    )


def test_a_missing_column_names_the_csv_the_columns_and_the_option(layout):
    with pytest.raises(DatasetError) as caught:
        folder.load(layout.root, arousal_column="energy")
    assert str(caught.value) == (
        f"{layout.root / 'labels.csv'}: no column 'energy' (option arousal_column). It has "
        "file, arousal, valence, artist. Set arousal_column in [datasets.<name>.options] to one "
        'of them, or to "" for none.'
    )


def test_a_missing_labels_file_names_the_option(layout):
    with pytest.raises(DatasetError) as caught:
        folder.load(layout.root, labels="ratings.csv")
    message = str(caught.value)
    assert message.startswith(f"{layout.root / 'ratings.csv'}: missing. Write the labels CSV")
    assert "set labels in [datasets.<name>.options]" in message


def test_quadrant_only_labels(tmp_path):
    layout = folder_layout(tmp_path, quadrant=True)
    options = {"arousal_column": "", "valence_column": "", "quadrant_column": "quadrant"}
    tasks = ("quadrant", "valence-binary")
    tracks = core_tracks(folder, "mine", layout.root, tasks, options=options)
    assert {"arousal", "valence"}.isdisjoint(tracks.table.columns)
    expected = [quadrant_of(*layout.labels[t]) for t in tracks.table["track_id"]]
    np.testing.assert_array_equal(tracks.targets(get_task("quadrant")), expected)


def test_csv_columns_named_like_labels_give_way_to_the_chosen_ones(layout):
    _rewrite(layout, lambda t: t.assign(energy=t["arousal"], arousal="high", group="g"))
    table = folder.load(layout.root, arousal_column="energy")
    assert table["arousal"].tolist() == [a for a, _ in layout.labels.values()]
    assert table["group"].tolist() == table["track_id"].tolist()


def test_quadrant_column_accepts_numbers_and_names(tmp_path):
    layout = folder_layout(tmp_path, quadrant=True)
    _rewrite(layout, lambda t: t.assign(quadrant=["1", "q2", "Q3", "4", "5", "", "Q1", "x"]))
    table = folder.load(layout.root, quadrant_column="quadrant")
    assert table["quadrant"].tolist()[:4] == [1, 2, 3, 4]
    assert table["quadrant"].iloc[4:6].isna().all() and table["quadrant"].iloc[7:].isna().all()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"valence_column": ""}, "arousal_column is 'arousal' but valence_column is ''"),
        ({"arousal_column": "", "valence_column": ""}, "no label column"),
        ({"scale_low": 9.0, "scale_high": 1.0}, r"scale_low \(9\) must be below scale_high"),
        ({"audio_column": ""}, "audio_column is empty"),
        ({"scale_hi": 5.0}, "unknown option 'scale_hi'. Did you mean 'scale_high'?"),
    ],
    ids=["one-dimension", "no-labels", "scale", "no-audio", "typo"],
)
def test_options_that_cannot_work_are_config_errors(layout, options, match):
    with pytest.raises(ConfigError, match=match):
        folder.load(layout.root, **options)


def test_verify_on_a_clean_folder_is_empty(layout):
    assert folder.verify(layout.root, group_column="artist") == []


def test_verify_finds_every_kind_of_problem(layout):
    layout.audio["jazz/song-0"].unlink()
    write_garbage(layout.audio["rock/song-1"])

    def damage(table):
        table.loc[2, "arousal"] = ""
        table.loc[3, "valence"] = "12"
        table.loc[4, "file"] = ""
        return pd.concat([table, table.iloc[[5]]])

    _rewrite(layout, damage)
    problems = "\n".join(folder.verify(layout.root))
    csv = layout.root / "labels.csv"
    assert f"{csv}: track id(s) rock/song-5 appear more than once" in problems
    assert f"{csv}: no audio file on line(s) 6. Fill in the 'file' column." in problems
    assert f"{csv}: 1 label(s) outside 1..9 (line 5: valence 12)" in problems
    assert f"{csv}: arousal is missing for 1 track(s) (jazz/song-2)" in problems
    assert "audio file(s) missing: jazz/song-0.wav." in problems
    assert "1 audio file(s) unreadable: rock/song-1.mp3" in problems


def test_verify_reports_option_errors_instead_of_raising(layout):
    problems = folder.verify(layout.root, arousal_column="energy")
    assert len(problems) == 1 and "no column 'energy' (option arousal_column)" in problems[0]


def test_quadrant_only_labels_under_the_regression_task_suggest_the_quadrant_tasks(tmp_path):
    layout = folder_layout(tmp_path, quadrant=True)
    options = {"arousal_column": "", "valence_column": "", "quadrant_column": "quadrant"}
    with pytest.raises(DatasetError) as caught:
        core_tracks(folder, "mine", layout.root, ("av-regression",), options=options)
    assert str(caught.value) == (
        "dataset 'mine' (plugin 'folder'): task 'av-regression' needs arousal and valence "
        "labels; this dataset has quadrant labels only. Run its quadrant tasks instead: "
        "merbench run --datasets mine --tasks quadrant (or arousal-binary, valence-binary)."
    )


def test_a_header_only_csv_names_the_dataset_and_its_folder(layout):
    (layout.root / "labels.csv").write_text("file,arousal,valence,artist\n")
    with pytest.raises(DatasetError) as caught:
        core_tracks(folder, "mine", layout.root, ("av-regression",))
    assert str(caught.value) == (
        f"dataset 'mine' (plugin 'folder'): no tracks in {layout.root}. Check that path in "
        "[datasets.mine] points at the dataset and that its annotation file lists tracks "
        "('merbench verify mine' checks the copy)."
    )


def test_a_dataset_without_a_usable_track_says_why(layout):
    _rewrite(layout, lambda t: t.assign(file="gone/" + t["file"]))
    with pytest.raises(DatasetError) as caught:
        core_tracks(folder, "mine", layout.root, ("av-regression",))
    message = str(caught.value)
    assert message.startswith(
        f"dataset 'mine' (plugin 'folder'): none of its 8 track(s) in {layout.root} is usable "
        f"(gone/jazz/song-0: {layout.root.resolve() / 'gone/jazz/song-0.wav'}: "
    )
    assert message.endswith("Fix them; 'merbench verify mine' lists every problem.")


def _latin1_layout(root):
    """Two artists whose names differ by an accent, in a labels CSV saved as latin-1."""
    rows = [("Zoë/a.wav", "Zoë"), ("Zoë/b.wav", "Zoë"), ("Zoé/c.wav", "Zoé"), ("Zoé/d.wav", "Zoé")]
    for i, (file, _) in enumerate(rows):
        write_audio(root / file, seed=i)
    lines = [f"{f},{3 + i},{6 - i},{a}\n" for i, (f, a) in enumerate(rows)]
    text = "file,arousal,valence,artist\n" + "".join(lines)
    (root / "labels.csv").write_bytes(text.encode("latin-1"))


def test_a_latin1_csv_is_refused_with_the_encoding_to_set(tmp_path):
    _latin1_layout(tmp_path)
    with pytest.raises(DatasetError) as caught:
        folder.load(tmp_path)
    assert str(caught.value) == (
        f'{tmp_path / "labels.csv"}: not utf-8 (byte 0xeb on line 2). Set encoding = "latin-1" '
        'in [datasets.<name>.options] ("cp1252" for files saved by Excel on Windows), or save '
        "the file as UTF-8."
    )


def test_the_encoding_option_reads_a_latin1_csv(tmp_path):
    _latin1_layout(tmp_path)
    options = {"encoding": "latin-1", "group_column": "artist"}
    tracks = core_tracks(folder, "mine", tmp_path, ("av-regression",), options=options)
    assert not tracks.skipped
    assert sorted(tracks.table["group"].unique()) == ["Zoé", "Zoë"]
    assert tracks.table["track_id"].tolist() == ["Zoë/a", "Zoë/b", "Zoé/c", "Zoé/d"]


@pytest.mark.parametrize("encoding", ["utf-9", "rot13", "base64"])
def test_an_unknown_encoding_is_a_config_error(layout, encoding):
    with pytest.raises(ConfigError, match=f"encoding '{encoding}' is not a text encoding"):
        folder.load(layout.root, encoding=encoding)


def test_a_renamed_column_gets_a_suggestion(layout):
    _rewrite(layout, lambda t: t.rename(columns={"valence": "Valence"}))
    with pytest.raises(DatasetError) as caught:
        folder.load(layout.root)
    assert str(caught.value) == (
        f"{layout.root / 'labels.csv'}: no column 'valence' (option valence_column). Did you "
        "mean 'Valence'? It has file, arousal, Valence, artist. Set valence_column in "
        '[datasets.<name>.options] to one of them, or to "" for none.'
    )


def test_a_folder_named_like_the_labels_file_is_called_a_folder(layout):
    (layout.root / "labels.csv").unlink()
    (layout.root / "labels.csv").mkdir()
    with pytest.raises(DatasetError) as caught:
        folder.load(layout.root)
    message = str(caught.value)
    assert message.startswith(f"{layout.root / 'labels.csv'}: is a folder, not a CSV file. Write")
    assert "set labels in [datasets.<name>.options]" in message


def test_an_unknown_quadrant_is_named_not_called_missing(tmp_path):
    layout = folder_layout(tmp_path, quadrant=True)
    _rewrite(layout, lambda t: t.assign(quadrant=["Q5", "", *t["quadrant"][2:]]))
    options = {"arousal_column": "", "valence_column": "", "quadrant_column": "quadrant"}
    tracks = core_tracks(folder, "mine", layout.root, ("quadrant",), options=options)
    assert tracks.skipped == {
        "jazz/song-0": "quadrant 'Q5' is not one of 1, 2, 3, 4 (or Q1..Q4)",
        "rock/song-1": "label 'quadrant' is missing (NaN)",
    }


@pytest.mark.parametrize(
    ("low", "high"),
    [(1.0, float("inf")), (float("nan"), 9.0), (-1e308, 1e308), (float("-inf"), 9.0)],
    ids=["inf", "nan", "huge", "minus-inf"],
)
def test_a_scale_that_is_not_finite_is_refused(layout, low, high):
    with pytest.raises(ConfigError, match="must be finite numbers"):
        folder.load(layout.root, scale_low=low, scale_high=high)


def test_labels_that_are_all_equal_are_refused_naming_the_dataset_and_column(layout):
    _rewrite(layout, lambda t: t.assign(valence="5"))
    with pytest.raises(DatasetError) as caught:
        core_tracks(folder, "mine", layout.root, ("av-regression",))
    assert str(caught.value).startswith(
        "dataset 'mine' (plugin 'folder'): every usable track has valence = 5, so task "
        "'av-regression' has nothing to predict."
    )
    with pytest.raises(DatasetError, match="every usable track is of class"):
        core_tracks(folder, "mine", layout.root, ("valence-binary",))
    assert len(core_tracks(folder, "mine", layout.root, ("arousal-binary",)).table) == 8


def test_a_fold_whose_test_tracks_share_one_value_is_refused(layout):
    from types import SimpleNamespace

    from merbench.data.splits import make_split
    from merbench.evaluation.budgets import get_budget

    artist_0 = [i for i in range(8) if i % 3 == 0]  # one artist: one grouped test fold of three
    _rewrite(layout, lambda t: t.assign(valence=t["valence"].where(~t.index.isin(artist_0), "5")))
    tracks = core_tracks(folder, "mine", layout.root, ("av-regression",),
                         options={"group_column": "artist"})  # fmt: skip
    budget = replace(get_budget("smoke"), outer_folds=3, repeats=1)
    dataset = SimpleNamespace(name="mine", plugin="folder", split="grouped")
    with pytest.raises(DatasetError, match=r"test track\(s\) of repeat 0 fold \d all have valence"):
        make_split(tracks, get_task("av-regression"), dataset, budget, 0)


def test_an_option_error_through_the_core_names_the_dataset_s_table(layout):
    _rewrite(layout, lambda t: t.assign(valence=t["valence"].where(t.index != 2, "10")))
    with pytest.raises(DatasetError, match=r"in \[datasets\.mine\.options\] to the ends"):
        core_tracks(folder, "mine", layout.root, ("av-regression",))


def test_a_dataset_too_small_for_its_folds_is_refused_before_any_cell(tmp_path):
    from types import SimpleNamespace

    from merbench.data.splits import make_split
    from merbench.evaluation.budgets import get_budget

    layout = folder_layout(tmp_path, n_tracks=2)
    tracks = core_tracks(folder, "two", layout.root, ("av-regression",))
    dataset = SimpleNamespace(name="two", plugin="folder", split="grouped")
    with pytest.raises(DatasetError) as caught:
        make_split(tracks, get_task("av-regression"), dataset, get_budget("smoke"), 0)
    assert str(caught.value) == (
        "dataset 'two' has 2 usable track(s): fold 0 of repeat 0 would train on 1 and test on 1, "
        "and a fold needs at least 4 tracks to train and tune on. Add tracks, or use fewer folds "
        "(--set outer_folds=N)."
    )


def _quadrant_only(tmp_path, table: str = "") -> Path:
    """A datasets.toml declaring a folder of quadrant labels only as 'mine'."""
    layout = folder_layout(tmp_path, n_tracks=12, quadrant=True)
    path = tmp_path / "datasets.toml"
    path.write_text(
        f'[datasets.mine]\nplugin = "folder"\npath = {json.dumps(str(layout.root))}\n{table}'
        '[datasets.mine.options]\narousal_column = ""\nvalence_column = ""\n'
        'quadrant_column = "quadrant"\n'
    )
    return path


def test_a_quadrant_only_folder_runs_and_verifies_its_quadrant_task_by_default(tmp_path):
    config = _quadrant_only(tmp_path)
    registry = load_registry()
    plan = plan_run(RunSettings(models=("majority",), config=config), registry)
    assert plan.tasks == {"mine": ("quadrant",)}
    every = plan_run(RunSettings(models=("majority",), tasks=("all",), config=config), registry)
    assert every.tasks == {"mine": ("quadrant", "arousal-binary", "valence-binary")}
    result = CliRunner().invoke(main, ["verify", "mine", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "mine: 12 usable track(s), 0 problem(s) (tasks: quadrant)." in result.output


def test_the_tasks_key_chooses_a_dataset_s_default_tasks(tmp_path):
    config = _quadrant_only(tmp_path, 'tasks = ["valence-binary", "quadrant"]\n')
    plan = plan_run(RunSettings(models=("majority",), config=config), load_registry())
    assert plan.tasks == {"mine": ("valence-binary", "quadrant")}


@pytest.mark.parametrize(
    ("tasks", "match"),
    [
        ('["quadrnt"]', r"unknown task 'quadrnt'\. Did you mean 'quadrant'\? Tasks: "),
        (
            '["av-regression"]',
            r"task 'av-regression' needs labels this dataset does not have: plugin "
            r"'folder' with these options gives quadrant, arousal-binary, valence-binary\.",
        ),
        ("[]", r"'tasks' must name at least one task"),
    ],
)
def test_a_bad_tasks_key_is_one_config_error(tmp_path, tasks, match):
    config = _quadrant_only(tmp_path, f"tasks = {tasks}\n")
    with pytest.raises(ConfigError, match=r"\[datasets\.mine\]: " + match):
        load_config(config, load_registry().datasets)
