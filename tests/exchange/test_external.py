"""Bring your own predictions: a run's folds exported, external predictions checked, scored,
stored beside the candidates and marked on the leaderboard."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from merbench.cli import main
from merbench.errors import ConfigError
from merbench.evaluation.tasks import get_task
from merbench.exchange.external import FOLD_COLUMNS, check_name
from merbench.leaderboard.pages import candidate_file, task_file
from merbench.leaderboard.render import render_site
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from merbench.results.schema import cells as cells_table
from merbench.results.schema import runs
from merbench.results.store import Store
from merbench.results.summaries import summarize_store
from merbench.results.urls import sqlite_url
from tests.helpers.plugins import SYNTH_TOML
from tests.helpers.stores import _predictions_of, _tables

EVIL = "<script>alert(1)</script>"
REGRESSION = "av-regression"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A smoke run on a small synth set: two tasks, two repeats of three grouped folds."""
    root = tmp_path_factory.mktemp("external")
    config = root / "datasets.toml"
    config.write_text(SYNTH_TOML.format(n_clips=48, seconds=3.0))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MERBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        patch.setenv("MERBENCH_JOBS", "1")
        settings = RunSettings(
            models=("mean", "ridge", "majority"),
            tasks=(REGRESSION, "quadrant"),
            budget="smoke",
            budget_overrides="repeats=2",
            config=config,
            out=root / "run",
            render=False,
        )
        assert run(settings).ok
    return root / "run"


@pytest.fixture
def cli():
    return CliRunner()


def _score(cli, run_dir, frame, path, name, *extra):
    frame.to_csv(path, index=False)
    return cli.invoke(main, ["score", str(path), "--run", str(run_dir), "--name", name, *extra])


def _cells_of(run_dir, candidate, task):
    cells = _tables(run_dir)["cells"]
    mine = cells[(cells["candidate"] == candidate) & (cells["task"] == task)]
    return mine.set_index(["repeat", "fold"]).sort_index()


def _one_line(result):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_folds_lists_every_track_of_every_fold_with_the_stored_hash(cli, run_dir, tmp_path):
    out = tmp_path / "folds.csv"
    result = cli.invoke(main, ["folds", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    folds = pd.read_csv(out, dtype={"track_id": str, "group": str})
    assert list(folds.columns) == list(FOLD_COLUMNS)
    splits = _tables(run_dir)["splits"].to_dict("records")
    assert {(s["dataset"], s["task"]) for s in splits} == {
        ("synth", REGRESSION),
        ("synth", "quadrant"),
    }
    for split in splits:
        mine = folds[(folds["task"] == split["task"]) & (folds["split"] == split["protocol"])]
        assert set(mine["manifest_hash"]) == {split["hash"]}
        groups = split["audit"]["groups"]
        assert dict(zip(mine["track_id"], mine["group"], strict=True)) == groups
        for repeat, per_repeat in split["manifest"].items():
            for number, tested in enumerate(per_repeat):
                fold = mine[(mine["repeat"] == int(repeat)) & (mine["fold"] == number)]
                assert sorted(fold.loc[fold["part"] == "test", "track_id"]) == tested
                assert set(fold["track_id"]) == set(groups)  # every track, train or test
                parts = fold.groupby("part")["group"].agg(set)
                assert not parts["train"] & parts["test"]  # grouped: no artist on both sides
        tests = mine[mine["part"] == "test"]
        assert sorted(tests["repeat"].unique()) == [0, 1]
        assert (tests.groupby("repeat")["track_id"].nunique() == len(groups)).all()
        assert not tests.duplicated(["repeat", "track_id"]).any()


@pytest.mark.parametrize(
    ("candidate", "task"),
    [("ridge@handcrafted", REGRESSION), ("mean", REGRESSION), ("ridge@handcrafted", "quadrant")],
)
def test_a_candidate_s_own_predictions_score_exactly_like_it(
    cli, run_dir, tmp_path, candidate, task
):
    name = "copy of " + candidate.replace("@", " with ")
    frame = _predictions_of(run_dir, candidate, task)
    result = _score(cli, run_dir, frame, tmp_path / "preds.csv", name, "--task", task)
    assert result.exit_code == 0, result.output
    assert "Stored external entry" in result.output
    original, copy = _cells_of(run_dir, candidate, task), _cells_of(run_dir, name, task)
    assert list(copy.index) == list(original.index) and len(copy) == 6
    for index in original.index:
        assert copy.loc[index, "metrics"] == original.loc[index, "metrics"]  # to the last bit
        assert copy.loc[index, "status"] == "done"
    [split] = [s for s in _tables(run_dir)["splits"].to_dict("records") if s["task"] == task]
    info = copy["info"].iloc[0]
    assert info["external"] is True and info["manifest_hash"] == split["hash"]
    assert info["source"] == "preds.csv"
    summary = summarize_store(sqlite_url(run_dir)).set_index(["task", "candidate"])
    reported = get_task(task).reported(summary.columns, "files")
    metrics = [f"{m}{end}" for m in reported for end in ("", "_low", "_high")]
    pd.testing.assert_series_equal(
        summary.loc[(task, name), metrics], summary.loc[(task, candidate), metrics],
        check_names=False,
    )  # fmt: skip


def test_an_external_entry_takes_part_in_the_paired_tiers(cli, run_dir, tmp_path):
    frame = _predictions_of(run_dir, "mean", REGRESSION)
    result = _score(cli, run_dir, frame, tmp_path / "p.csv", "baseline twin", "--task", REGRESSION)
    assert result.exit_code == 0, result.output
    summary = summarize_store(sqlite_url(run_dir))
    rows = summary[summary["task"] == REGRESSION].set_index("candidate")
    twin, mean = rows.loc["baseline twin"], rows.loc["mean"]
    assert twin["tier_test"] == "permutation" and twin["tier"] == mean["tier"] == "worse"
    for field in ("diff_vs_leader", "diff_low_uncorrected", "diff_high_uncorrected", "boot_groups"):
        assert twin[field] == mean[field], field


def _drop_row(frame):
    return frame.drop(index=4)


def _unknown_track(frame):
    frame.loc[3, "track_id"] = "no-such-track"
    return frame


def _training_fold(frame):
    frame.loc[3, "fold"] = (frame.loc[3, "fold"] + 1) % 3
    return frame


def _duplicate(frame):
    return pd.concat([frame, frame.iloc[[3]]], ignore_index=True)


def _nan(frame):
    frame.loc[3, "valence"] = float("nan")
    return frame


def _text(frame):
    frame["arousal"] = frame["arousal"].astype(object)
    frame.loc[3, "arousal"] = "high"
    return frame


def _unknown_fold(frame):
    frame.loc[3, "fold"] = 7
    return frame


def _half_repeat(frame):
    frame["repeat"] = frame["repeat"].astype(float)
    frame.loc[3, "repeat"] = 0.5
    return frame


REFUSALS = {
    "missing track": (_drop_row, "test track(s) without a prediction (track '", None),
    "unknown track": (_unknown_track, "tracks that are not in the run's folds", 5),
    "training fold": (_training_fold, "predicted in a fold that trains on them", 5),
    "duplicate": (_duplicate, "the same track in the same fold more than once", 5),
    "nan": (_nan, "NaN, infinite or non-numeric values in 'valence' (line 5: valence ''", 5),
    "text": (_text, "non-numeric values in 'arousal' (line 5: arousal 'high'", 5),
    "unknown fold": (_unknown_fold, "repeats or folds the run does not have", 5),
    "half repeat": (_half_repeat, "values in 'repeat' that are not whole numbers", 5),
    "missing column": (lambda f: f.drop(columns="valence"), "no column 'valence'", None),
    "misspelt column": (
        lambda f: f.rename(columns={"valence": "Valence"}),
        "unexpected column 'Valence' (did you mean 'valence'?)",
        None,
    ),
    "index column": (
        lambda f: f.set_index("track_id").reset_index(names="Unnamed: 0"),
        "write the file without its index",
        None,
    ),
    "no rows": (lambda f: f.iloc[:0], "no rows under the header", None),
}


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_a_file_that_does_not_match_the_folds_is_refused_in_one_line(cli, run_dir, tmp_path, kind):
    change, expected, line = REFUSALS[kind]
    frame = change(_predictions_of(run_dir, "ridge@handcrafted", REGRESSION))
    path = tmp_path / "bad.csv"
    message = _one_line(_score(cli, run_dir, frame, path, f"bad {kind}", "--task", REGRESSION))
    assert message.startswith(f"Error: {path}: "), message
    assert expected in message
    if line is not None:
        assert f"(line {line}:" in message
    assert _cells_of(run_dir, f"bad {kind}", REGRESSION).empty  # nothing stored


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda f: f.assign(**{"class": 9}), "classes that task 'quadrant' does not have"),
        (lambda f: f.assign(proba_1=0.5), "class scores for some classes only (proba_1)"),
        (lambda f: f.assign(**{"class": 1.5}), "values in 'class' that are not whole numbers"),
    ],
)
def test_bad_classes_are_refused(cli, run_dir, tmp_path, change, expected):
    frame = change(_predictions_of(run_dir, "ridge@handcrafted", "quadrant"))
    path = tmp_path / "classes.csv"
    message = _one_line(_score(cli, run_dir, frame, path, "bad classes", "--task", "quadrant"))
    assert message.startswith(f"Error: {path}: ") and expected in message


def test_class_scores_give_top_k_accuracy_when_the_run_asks_for_it(cli, run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    store = Store(sqlite_url(copy), create=False)
    try:
        settings = store.read_run()["settings"] | {"top_k": 2}
        store.transact(lambda conn: conn.execute(runs.update().values(settings=settings)))
    finally:
        store.close()
    frame = _predictions_of(copy, "ridge@handcrafted", "quadrant")
    truth = _predictions_of(copy, "ridge@handcrafted", "quadrant", value="y_true")
    frame = frame.merge(truth, on=["track_id", "repeat", "fold"], suffixes=("", "_true"))
    labels = np.array([1, 2, 3, 4])
    predicted = frame["class"].to_numpy()[:, None]
    # The predicted class scores highest, then the next label up (3 after 4), then the rest.
    frame[[f"proba_{label}" for label in labels]] = 1 / (1 + np.abs(labels - predicted)) + (
        0.01 * labels
    )
    second = np.where(frame["class"] < 4, frame["class"] + 1, 3)
    frame["hit"] = (frame["class_true"] == frame["class"]) | (frame["class_true"] == second)
    expected = frame.groupby(["repeat", "fold"])["hit"].mean()
    scored = frame.drop(columns=["class_true", "hit"])
    result = _score(cli, copy, scored, tmp_path / "p.csv", "with scores", "--task", "quadrant")
    assert result.exit_code == 0, result.output
    cells = _cells_of(copy, "with scores", "quadrant")
    original = _cells_of(copy, "ridge@handcrafted", "quadrant")
    for index in original.index:
        metrics = cells.loc[index, "metrics"]
        assert metrics["top2_accuracy"] == pytest.approx(expected.loc[index])
        assert metrics["top2_chance"] == 0.5
        assert metrics["macro_f1"] == original.loc[index, "metrics"]["macro_f1"]


def test_names_and_options_are_checked(cli, run_dir, tmp_path):
    frame = _predictions_of(run_dir, "mean", REGRESSION)
    path = tmp_path / "p.csv"
    for name in ("ridge@handcrafted", "svr@handcrafted", "mean", "majority:mixup"):
        taken = _one_line(_score(cli, run_dir, frame, path, name, "--task", REGRESSION))
        assert f"--name {name!r}: the name could be a candidate's" in taken
    store = Store(sqlite_url(run_dir), create=False)
    try:  # a candidate of a model this machine does not have
        with pytest.raises(ConfigError, match="the name belongs to a candidate of this run"):
            check_name(store, "mean", models=())
    finally:
        store.close()
    assert "is empty" in _one_line(_score(cli, run_dir, frame, path, " ", "--task", REGRESSION))
    which = _one_line(_score(cli, run_dir, frame, path, "x"))
    assert "several datasets and tasks (synth/av-regression, synth/quadrant)" in which
    typo = _one_line(_score(cli, run_dir, frame, path, "x", "--task", "quadrnt"))
    assert "--task 'quadrnt': the run has no folds for it. Did you mean 'quadrant'?" in typo
    missing = _one_line(cli.invoke(main, ["folds", str(tmp_path), "--out", str(path)]))
    assert "no results.sqlite here" in missing


def test_scoring_again_under_the_same_name_is_refused_without_replace(cli, run_dir, tmp_path):
    frame = _predictions_of(run_dir, "mean", REGRESSION)
    first = _score(cli, run_dir, frame, tmp_path / "p.csv", "twice", "--task", REGRESSION)
    assert first.exit_code == 0, first.output
    before = _cells_of(run_dir, "twice", REGRESSION)
    frame = _predictions_of(run_dir, "ridge@handcrafted", REGRESSION)
    refused = _one_line(
        _score(cli, run_dir, frame, tmp_path / "q.csv", "twice", "--task", REGRESSION)
    )
    assert (
        f"--name 'twice': the run already has an external entry of that name on "
        f"synth/{REGRESSION} (grouped) (6 fold(s), scored from p.csv). Pass --replace"
    ) in refused
    after = _cells_of(run_dir, "twice", REGRESSION)
    assert list(after["metrics"]) == list(before["metrics"])


def test_scoring_again_under_the_same_name_replaces_the_entry(cli, run_dir, tmp_path):
    for candidate in ("mean", "ridge@handcrafted"):
        frame = _predictions_of(run_dir, candidate, REGRESSION)
        args = ("--task", REGRESSION, "--replace")
        result = _score(cli, run_dir, frame, tmp_path / "p.csv", "again", *args)
        assert result.exit_code == 0, result.output
    again, ridge = (
        _cells_of(run_dir, "again", REGRESSION),
        _cells_of(run_dir, "ridge@handcrafted", REGRESSION),
    )
    assert len(again) == 6 and list(again["metrics"]) == list(ridge["metrics"])
    store = Store(sqlite_url(run_dir), create=False)
    try:
        ids = set(again["id"])
        n_predictions = sum(p["cell_id"] in ids for p in store.table("predictions"))
    finally:
        store.close()
    assert n_predictions == 48 * 2 * 2  # tracks x repeats x targets, none left from before


def test_the_leaderboard_marks_the_external_entry_and_escapes_its_name(cli, run_dir, tmp_path):
    frame = _predictions_of(run_dir, "ridge@handcrafted", REGRESSION)
    result = _score(cli, run_dir, frame, tmp_path / "mine.csv", EVIL, "--task", REGRESSION)
    assert result.exit_code == 0, result.output
    site = tmp_path / "site"
    render_site([sqlite_url(run_dir)], site, title="T")
    for page in site.glob("*.html"):
        assert EVIL not in page.read_text(), page.name
    [split] = [s for s in _tables(run_dir)["splits"].to_dict("records") if s["task"] == REGRESSION]
    task_page = (site / task_file("synth", REGRESSION)).read_text()
    rows = [line for line in task_page.splitlines() if '<td class="name"' in line]
    row = next(line for line in rows if "&lt;script&gt;alert(1)" in line)
    assert 'class="tag external"' in row and f"folds {split['hash'][:12]}" in row
    assert "mine.csv" in row
    candidate_page = (site / candidate_file("synth", REGRESSION, EVIL)).read_text()
    assert "predictions made outside merbench" in candidate_page
    assert split["hash"][:16] in candidate_page
    ridge_page = (site / candidate_file("synth", REGRESSION, "ridge@handcrafted")).read_text()
    assert 'class="tag external"' not in ridge_page
    summary = pd.read_csv(site / "results.csv")
    marks = dict(zip(summary["candidate"], summary["is_external"], strict=True))
    assert marks[EVIL] and not marks["ridge@handcrafted"]
    cells = json.loads((site / "results.json").read_text())["cells"]
    external = {c["candidate"] for c in cells if c["is_external"]}  # other tests add theirs
    assert EVIL in external and not external & {"ridge@handcrafted", "mean"}


@pytest.mark.parametrize("command", ["folds", "score"])
def test_help_of_the_commands(cli, command):
    result = cli.invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def _huge_everywhere(frame):
    return frame.assign(arousal=1e308, valence=1e308)


def _huge_once(frame):
    frame.loc[3, "valence"] = -1e308
    return frame


@pytest.mark.parametrize("change", [_huge_everywhere, _huge_once])
def test_predictions_far_outside_the_label_scale_are_refused(cli, run_dir, tmp_path, change):
    frame = change(_predictions_of(run_dir, "ridge@handcrafted", REGRESSION))
    path = tmp_path / "huge.csv"
    message = _one_line(_score(cli, run_dir, frame, path, "huge", "--task", REGRESSION))
    assert message.startswith(f"Error: {path}: ") and "outside the plausible range" in message
    assert "1e+308" in message and "beyond it" in message
    assert _cells_of(run_dir, "huge", REGRESSION).empty


def test_predictions_a_little_outside_the_labels_are_scored(cli, run_dir, tmp_path):
    frame = _predictions_of(run_dir, "ridge@handcrafted", REGRESSION)
    y = _predictions_of(run_dir, "ridge@handcrafted", REGRESSION, value="y_true")
    frame.loc[3, "valence"] = y["valence"].max() + 4 * (y["valence"].max() - y["valence"].min())
    result = _score(cli, run_dir, frame, tmp_path / "wide.csv", "wide", "--task", REGRESSION)
    assert result.exit_code == 0, result.output


def test_a_stored_non_finite_score_shows_as_failed_and_breaks_no_command(cli, run_dir, tmp_path):
    """A store written before predictions were range-checked (or by another tool) may hold an
    infinite score: every reader survives it and shows that cell as failed."""
    broken = tmp_path / "run"
    shutil.copytree(run_dir, broken)
    store = Store(sqlite_url(broken), create=False)
    try:
        [cell] = [
            c
            for c in store.table("cells")
            if c["candidate"] == "ridge@handcrafted"
            and c["task"] == REGRESSION
            and (c["repeat"], c["fold"]) == (0, 1)
        ]
        bad = {"r2": float("-inf"), "rmse": float("inf"), "ccc": float("nan")}
        metrics = {
            k: next((v for prefix, v in bad.items() if k.startswith(prefix)), value)
            for k, value in cell["metrics"].items()
        }
        assert metrics["r2_mean"] == float("-inf")
        with store.engine.begin() as conn:
            conn.execute(cells_table.update().where(cells_table.c.id == cell["id"]).values(
                metrics=metrics))  # fmt: skip
    finally:
        store.close()
    summary = summarize_store(sqlite_url(broken))
    rows = summary[(summary["candidate"] == "ridge@handcrafted") & (summary["task"] == REGRESSION)]
    assert len(rows) == 1 and np.isfinite(rows["r2_mean"]).all()
    for args in (
        ["leaderboard", str(broken), "--out", str(tmp_path / "site")],
        ["leaderboard", str(broken), "--out", str(tmp_path / "yaml"), "--format", "eval-results"],
        ["status", str(broken)],
    ):
        result = cli.invoke(main, args)
        assert result.exit_code in (0, 1) and result.exception is None, (args, result.output)
        assert "Traceback" not in result.output
    status = cli.invoke(main, ["status", str(broken)]).output
    assert "not finite" in status and "ridge@handcrafted" in status
    frame = _predictions_of(run_dir, "mean", REGRESSION)
    again = _score(cli, broken, frame, tmp_path / "p.csv", "after", "--task", REGRESSION)
    assert again.exit_code == 0, again.output
    page = (tmp_path / "site" / task_file("synth", REGRESSION)).read_text()
    assert "its r2_mean is not finite (-inf)" in page  # the cell's failure, with its reason
    assert not re.search(r">\s*[-+]?(inf|infinity|nan)\s*<", page, re.IGNORECASE)  # no score
    model = str(tmp_path / "model")
    export = ["export", str(broken), "--task", REGRESSION, "--candidate", "ridge@handcrafted"]
    exported = cli.invoke(main, [*export, "--out", model])
    assert exported.exit_code == 0, exported.output


def _classes_file(path, classes):
    rows = [f"t{i},0,0,{c}" for i, c in enumerate(classes)]
    path.write_text("track_id,repeat,fold,class\n" + "\n".join(rows) + "\n")
    return path


def test_classes_may_be_written_as_the_datasets_class_names(tmp_path):
    from merbench.evaluation.tasks import get_task
    from merbench.exchange.predictions import read_predictions

    path = _classes_file(tmp_path / "p.csv", ["Q1", "q2", " Q3 ", "4", "2.0", "q1 (a+ v+)"])
    frame = read_predictions(path, get_task("quadrant"))
    assert frame["class"].tolist() == [1, 2, 3, 4, 2, 1]
    binary = _classes_file(tmp_path / "b.csv", ["High arousal", "low arousal", "1"])
    assert read_predictions(binary, get_task("arousal-binary"))["class"].tolist() == [1, 0, 1]


def test_an_unknown_class_name_is_refused_naming_the_accepted_values(tmp_path):
    from merbench.evaluation.tasks import get_task
    from merbench.exchange.predictions import read_predictions

    path = _classes_file(tmp_path / "p.csv", ["Q1", "Q5", "happy"])
    with pytest.raises(ConfigError) as refused:
        read_predictions(path, get_task("quadrant"))
    assert str(refused.value) == (
        f"{path}: 2 row(s) with classes that task 'quadrant' does not have (line 3: class 'Q5'; "
        "line 4: class 'happy'). Write each class as its label or its name (any case): 1 or Q1, "
        "2 or Q2, 3 or Q3, 4 or Q4."
    )
