"""mtg-moodtheme: generated copies of the MTG-Jamendo layout, through the plugin and the core."""

from __future__ import annotations

import re

import numpy as np
import pytest
from layouts import MTG_TAGS, core_tracks, mtg_moodtheme_layout, write_garbage

from merbench.errors import ConfigError, DatasetError
from merbench.evaluation.tasks import get_task
from merbench.testing import check_plugin
from merbench_plugins.datasets import mtg_moodtheme as mtg

SPLIT0 = "data/splits/split-0/autotagging_moodtheme-{}.tsv"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return mtg_moodtheme_layout(tmp_path_factory.mktemp("mtg"))


@pytest.fixture
def layout(tmp_path):
    return mtg_moodtheme_layout(tmp_path, n_tracks=20)


def _edit(path, old: str, new: str) -> None:
    text = path.read_bytes().decode()
    assert old in text
    path.write_bytes(text.replace(old, new, 1).encode())


def test_plugin_passes_the_contract_kit():
    assert all(check.passed for check in check_plugin(mtg))


def test_load_gives_one_column_per_tag_of_the_splits_the_artist_and_the_split(pristine):
    table = mtg.load(pristine.root).set_index("track_id")
    assert sorted(table.index) == sorted(pristine.labels)  # the horror-only track is in no split
    assert [c for c in table if c.startswith("tag:")] == [f"tag:{t}" for t in MTG_TAGS]
    for track, tags in pristine.labels.items():
        row = table.loc[track]
        assert {t for t in MTG_TAGS if row[f"tag:{t}"] == 1} == set(tags)
        assert row["group"] == pristine.groups[track]
        assert row["audio_path"] == str(pristine.audio[track].resolve())
    assert table["split"].value_counts().to_dict() == {"train": 18, "valid": 6, "test": 6}
    assert table.loc["track_0001000", "duration"] == 2.0


def test_low_quality_audio_and_another_split_are_options(pristine):
    low = mtg.load(pristine.root, audio="low")
    assert low["audio_path"].str.endswith(".low.mp3").all()
    with pytest.raises(DatasetError, match=r"split-3/autotagging_moodtheme-train\.tsv: missing"):
        mtg.load(pristine.root, official_split=3)
    with pytest.raises(ConfigError, match="official_split = 7; MTG-Jamendo has splits 0 to 4"):
        mtg.load(pristine.root, official_split=7)
    with pytest.raises(ConfigError, match="audio = 'best'; choose \"full\""):
        mtg.load(pristine.root, audio="best")


def test_core_reads_the_tags_as_a_multilabel_target(pristine):
    tracks = core_tracks(mtg, "mtg", pristine.root, ("mood-tags",))
    assert not tracks.skipped
    task = get_task("mood-tags").bound_to(tracks.table.columns)
    assert task.targets == MTG_TAGS
    targets = tracks.targets(task)
    assert targets.shape == (30, len(MTG_TAGS)) and set(np.unique(targets)) == {0.0, 1.0}
    happy = tracks.table["tag:happy"].to_numpy()
    np.testing.assert_array_equal(targets[:, MTG_TAGS.index("happy")], happy)


def test_core_skips_a_track_whose_tag_value_is_not_0_or_1(pristine, monkeypatch):
    real = mtg.load

    def broken(*args, **kwargs):
        table = real(*args, **kwargs)
        table["tag:sad"] = table["tag:sad"].astype(float)
        table.loc[0, "tag:sad"] = 0.5
        return table

    monkeypatch.setattr(mtg, "load", broken)
    tracks = core_tracks(mtg, "mtg", pristine.root, ("mood-tags",))
    assert tracks.skipped == {"track_0001000": "tag 'tag:sad' is 0.5; it must be 0 or 1"}


def test_verify_on_a_clean_copy_reports_the_sizes_of_the_published_data(pristine):
    problems = mtg.verify(pristine.root)
    assert len(problems) == 2
    assert "autotagging_moodtheme.tsv: 31 tracks, the published dataset has 18486" in problems[0]
    assert "5 tags, the published splits have 56" in problems[1]


def test_verify_finds_unknown_tags_overlapping_splits_shared_artists_and_bad_audio(layout):
    root = layout.root
    _edit(root / SPLIT0.format("test"), "mood/theme---happy", "mood/theme---hapy")
    test_line = (root / SPLIT0.format("test")).read_bytes().decode().splitlines()[1]
    with (root / SPLIT0.format("validation")).open("ab") as stream:
        stream.write(f"{test_line}\r\n".encode())
    write_garbage(layout.audio["track_0001037"])
    layout.audio["track_0001074"].unlink()
    problems = "\n".join(mtg.verify(root))
    assert re.search(
        r"autotagging_moodtheme-test\.tsv: tag\(s\) hapy are not in .*vocabulary", problems
    )
    assert "autotagging_moodtheme-test.tsv: 1 track(s) also in the validation part" in problems
    assert "note: " in problems and "1 artist(s) also in the training parts" in problems
    assert "1 of 20 audio file(s) missing: 74/1074.mp3" in problems
    assert "1 audio file(s) unreadable: 37/1037.mp3" in problems


def test_a_wrong_header_or_a_missing_file_is_one_line_with_the_fix(layout):
    path = layout.root / mtg.ANNOTATIONS
    _edit(path, "TRACK_ID\tARTIST_ID", "TRACK\tARTIST_ID")
    (problem,) = mtg.verify(layout.root)
    assert problem.startswith(f"{path}: the header is TRACK, ARTIST_ID")
    assert problem.endswith("Re-download it from github.com/MTG/mtg-jamendo-dataset.")
    path.unlink()
    with pytest.raises(DatasetError) as caught:
        mtg.load(layout.root)
    assert str(caught.value) == (
        f"{path}: missing. Point 'path' in [datasets.<name>] at the folder that contains data/ "
        "(from github.com/MTG/mtg-jamendo-dataset) and audio/."
    )
    assert mtg.verify(layout.root)[0].startswith(f"{path}: missing. Point 'path' in "
                                                 "[datasets.mtg-moodtheme]")  # fmt: skip


def test_official_split_gives_one_fold_of_train_and_validation_against_test(pristine):
    from merbench.data.config import DatasetConfig
    from merbench.data.splits import make_split
    from merbench.evaluation.budgets import get_budget

    tracks = core_tracks(mtg, "mtg", pristine.root, ("mood-tags",), split="official")
    task = get_task("mood-tags").bound_to(tracks.table.columns)
    config = DatasetConfig(
        name="mtg", plugin="mtg-moodtheme", path=pristine.root, options={}, split="official"
    )
    (fold,) = make_split(tracks, task, config, get_budget("smoke"), 0).folds
    splits = tracks.table["split"].to_numpy()
    assert set(splits[fold.test]) == {"test"} and set(splits[fold.train]) == {"train", "valid"}
    grouped = make_split(tracks, task, config, get_budget("smoke"), 0, "grouped").folds
    groups = tracks.table["group"].to_numpy()
    for f in grouped:
        assert not set(groups[f.train]) & set(groups[f.test])


@pytest.mark.slow
def test_a_smoke_run_renders_per_tag_scores_beside_the_tag_prior(pristine, tmp_path):
    import merbench

    config = tmp_path / "datasets.toml"
    config.write_text(f'[datasets.mtg]\nplugin = "mtg-moodtheme"\npath = "{pristine.root}"\n')
    result = merbench.run(
        ["ridge", "cnn2d@mel"], datasets="mtg", budget="smoke", config=config, out=tmp_path / "r"
    )
    cells = result.cells
    assert set(cells["status"]) == {"done"} and set(cells["task"]) == {"mood-tags"}
    assert {"ridge@handcrafted", "cnn2d@mel", "tag-prior"} <= set(cells["candidate"])
    prior = cells[cells["candidate"] == "tag-prior"]
    assert (prior["roc_auc_mean"] == 0.5).all()
    np.testing.assert_allclose(prior["pr_auc_mean"], prior["prevalence_mean"])
    summary = result.summary.set_index("candidate")
    assert summary.loc["tag-prior", "rank_value"] == pytest.approx(0.5)  # folds are not pooled
    predictions = result.predictions
    assert set(predictions["target"]) == set(MTG_TAGS)
    assert predictions["y_pred"].between(0, 1).all()
    site = result.site.parent
    page = (site / "mtg-mood-tags.html").read_text()
    assert 'id="tags"' in page and "Prevalence (PR-AUC chance)" in page
    for tag in MTG_TAGS:
        assert f'data-sort="{tag}">{tag}</th>' in page
    assert (
        "tag-prior" in page and "CP-JKU 3_avg_ensemble" in (site / "dataset_mtg.html").read_text()
    )
    candidate = next(site.glob("mtg-mood-tags_ridge-handcrafted_*.html")).read_text()
    assert "Per tag" in candidate and "ROC-AUC" in candidate
    header = (site / "results.csv").read_text().splitlines()[0]
    assert all(f'"roc_auc_{t}"' in header and f'"prevalence_{t}"' in header for t in MTG_TAGS)
    _export_and_predict(result.run_dir, tmp_path, pristine)
    _score_outside_predictions(result.run_dir, tmp_path)


def _export_and_predict(run_dir, tmp_path, pristine):
    """The exported ridge predicts each tag's probability, as check.csv has it."""
    import json

    import pandas as pd
    from click.testing import CliRunner

    import merbench
    from merbench.cli import main

    out = tmp_path / "ridge-export"
    args = ["export", str(run_dir), "--candidate", "ridge@handcrafted", "--params", "best-fold"]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "model.json").read_text())
    assert manifest["task"]["kind"] == "multilabel"
    assert manifest["task"]["targets"] == list(MTG_TAGS)
    check = pd.read_csv(out / "check.csv").set_index("track_id")
    assert list(check.columns) == ["file", *MTG_TAGS]
    model = merbench.load_model(out)
    assert model.is_multilabel and model.targets == MTG_TAGS
    tracks = ["track_0001000", "track_0001037"]
    predicted = model.predict([pristine.audio[t] for t in tracks])
    assert predicted.shape == (2, len(MTG_TAGS)) and ((predicted >= 0) & (predicted <= 1)).all()
    np.testing.assert_allclose(predicted, check.loc[tracks, list(MTG_TAGS)], atol=1e-6)
    with pytest.raises(AttributeError, match="multilabel model; predict gives each tag"):
        model.predict_proba([pristine.audio[tracks[0]]])


def _score_outside_predictions(run_dir, tmp_path):
    """``merbench score`` takes one score column per tag and scores it as the cells are."""
    import pandas as pd
    from click.testing import CliRunner

    import merbench
    from merbench.cli import main

    runner = CliRunner()
    folds_csv, predictions = tmp_path / "folds.csv", tmp_path / "outside.csv"
    result = runner.invoke(main, ["folds", str(run_dir), "--out", str(folds_csv)])
    assert result.exit_code == 0, result.output
    folds = pd.read_csv(folds_csv)
    rows = folds[folds["part"] == "test"][["track_id", "repeat", "fold"]].copy()
    for tag in MTG_TAGS:
        rows[tag] = 0.25  # a constant score: chance
    rows.drop(columns=["sad"]).to_csv(predictions, index=False)
    args = ["score", str(predictions), "--run", str(run_dir), "--name", "constant"]
    refused = runner.invoke(main, args)
    assert refused.exit_code != 0 and "no column 'sad'" in refused.output
    rows.to_csv(predictions, index=False)
    stored = runner.invoke(main, args)
    assert stored.exit_code == 0, stored.output
    cells = merbench.load_results(run_dir).cells
    constant = cells[cells["candidate"] == "constant"]
    assert len(constant) == 3 and (constant["roc_auc_mean"] == 0.5).all()


def test_low_quality_copies_are_read_where_merbench_download_unpacks_them(tmp_path):
    layout = mtg_moodtheme_layout(tmp_path, n_tracks=10)
    for track_id, path in layout.audio.items():
        low = layout.root / "audio-low" / path.parent.name / f"{path.stem}.low.mp3"
        low.parent.mkdir(parents=True, exist_ok=True)
        path.rename(low)
        layout.audio[track_id] = low
    table = mtg.load(layout.root, audio="low")
    assert {str(p) for p in table["audio_path"]} == {
        str(p.resolve()) for p in layout.audio.values()
    }
    spec = next(iter(mtg.merbench_datasets()))
    assert spec.source is not None and dict(spec.source.options) == {"audio": "low"}
    assert dict(spec.source.variants["full"].options) == {"audio": "full"}
