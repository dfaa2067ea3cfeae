"""Final models: a run's candidates exported (safetensors, skops, model.json, check.csv) and
predicted on any audio in a fresh process, with the refusals of files that were changed."""

from __future__ import annotations

import builtins
import json
import pickle
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from merbench.cli import main
from merbench.errors import ConfigError
from merbench.exchange import bundle
from merbench.exchange.card import CARD
from merbench.results.summaries import read_tables
from merbench.results.urls import sqlite_url
from merbench.train.calibration import AGGREGATION
from tests.helpers.exports import (
    REGRESSION,
    TOLERANCE,
    assert_reproduces_check,
    copy_model,
    dataset_root,
    manifest_of,
    one_line,
    predict_fresh,
    rewrite_manifest,
    write_clips,
)

# --- exports predicted in a fresh process ----------------------------------------------------


@pytest.mark.slow
def test_torch_regression_export_is_reproduced_by_predict(exports, run_dir, tmp_path):
    model = exports("cnn2d@mel")
    assert sorted(p.name for p in model.iterdir()) == [
        CARD,
        bundle.CHECK_CSV,
        bundle.MODEL_JSON,
        bundle.TORCH_WEIGHTS,
    ]
    manifest = manifest_of(model)
    assert manifest["weights"]["sha256"] == bundle.sha256_of(model / bundle.TORCH_WEIGHTS)
    assert manifest["candidate"] == "cnn2d@mel"
    assert manifest["task"]["targets"] == ["arousal", "valence"]
    assert manifest["dataset"]["label_scale"] == {
        "low": 1.0,
        "high": 9.0,
        "targets": ["arousal", "valence"],
    }
    assert manifest["audio"]["sample_rate"] == 16000
    assert manifest["windows"]["aggregation"] == AGGREGATION  # 5 s clips in 3 s windows
    assert len(manifest["rescaling"]["slopes"]) == 2
    assert manifest["params_chosen"]["method"] == "final-study"
    assert manifest["params_chosen"]["trials"] >= 1
    assert {"mel.n_mels", "lr"} <= set(manifest["params"])
    assert manifest["plugins"][0]["distribution"] == "merbench"
    check = pd.read_csv(model / bundle.CHECK_CSV)
    labels = read_tables([sqlite_url(run_dir)], names=("splits",))["splits"]
    assert len(check) == len(labels["audit"].iloc[0]["groups"])  # every track of the dataset

    assert_reproduces_check(model, dataset_root(run_dir), tmp_path)

    clips = write_clips(tmp_path / "clips")
    (tmp_path / "clips" / "broken.wav").write_bytes(b"RIFF this is no wave file")
    out = tmp_path / "clips.csv"
    done = predict_fresh(model, tmp_path / "clips", out=out)
    assert done.returncode == 1, done.stderr
    assert "broken.wav" in done.stderr and "1 failed" in done.stderr
    predicted = pd.read_csv(out)
    assert sorted(Path(f).name for f in predicted["file"]) == sorted(p.name for p in clips)
    values = predicted[["arousal", "valence"]].to_numpy()
    assert np.isfinite(values).all()
    assert ((values >= 1.0) & (values <= 9.0)).all()


@pytest.mark.slow
def test_sklearn_best_fold_export_is_reproduced_by_predict(exports, run_dir, tmp_path):
    model = exports("ridge@handcrafted", params="best-fold")
    manifest = manifest_of(model)
    assert manifest["weights"]["format"] == "skops"
    assert manifest["windows"]["aggregation"] == "mean of window inputs"
    assert manifest["rescaling"] is None
    cells = read_tables([sqlite_url(run_dir)], names=("cells",))["cells"]
    mine = cells[(cells["candidate"] == "ridge@handcrafted") & (cells["task"] == REGRESSION)]
    best = max(mine.to_dict("records"), key=lambda r: r["info"]["best_value"])
    chosen = manifest["params_chosen"]
    assert chosen["method"] == "best-fold"
    assert (chosen["cell"]["repeat"], chosen["cell"]["fold"]) == (best["repeat"], best["fold"])
    assert manifest["params"] == best["best_params"]

    assert_reproduces_check(model, dataset_root(run_dir), tmp_path)
    clips = write_clips(tmp_path / "clips")
    out = tmp_path / "clips.csv"
    done = predict_fresh(model, *clips, out=out)
    assert done.returncode == 0, done.stderr
    values = pd.read_csv(out)[["arousal", "valence"]].to_numpy()
    assert values.shape == (3, 2) and np.isfinite(values).all()


@pytest.mark.slow
@pytest.mark.parametrize("candidate", ["cnn2d@mel", "ridge@handcrafted"])
def test_quadrant_export_is_reproduced_by_predict(exports, run_dir, candidate, tmp_path):
    model = exports(candidate, task="quadrant")
    predicted = assert_reproduces_check(model, dataset_root(run_dir), tmp_path)
    assert set(predicted["class"]) <= {1, 2, 3, 4}
    scores = predicted.drop(columns=["file", "class"])
    picked = scores.to_numpy().argmax(axis=1) + 1
    if candidate.startswith("cnn2d"):  # mean window probabilities
        assert list(scores.columns) == ["proba_1", "proba_2", "proba_3", "proba_4"]
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
        assert (picked == predicted["class"]).all()
    else:  # a ridge classifier gives decision scores, not probabilities
        assert list(scores.columns) == ["score_1", "score_2", "score_3", "score_4"]


@pytest.mark.slow
@pytest.mark.parametrize("candidate", ["cnn2d@mel", "ridge@handcrafted"])
def test_an_export_holds_no_absolute_path(exports, run_dir, candidate):
    model = exports(candidate)
    text = (model / bundle.MODEL_JSON).read_text() + (model / bundle.CHECK_CSV).read_text()
    base = run_dir.parent.parent  # the session's temporary folder: the store, the dataset
    assert str(base) not in text and "sqlite:" not in text
    check = pd.read_csv(model / bundle.CHECK_CSV)
    root = dataset_root(run_dir)
    assert all((root / f).is_file() for f in check["file"])
    assert list(check["file"]) == [f"synth-{i:04d}.wav" for i in range(len(check))]


@pytest.mark.slow
def test_leader_is_exported_by_default(run_dir, tmp_path):
    summary = CliRunner().invoke(
        main, ["export", str(run_dir), "--task", REGRESSION, "--out", str(tmp_path / "m")]
    )
    assert summary.exit_code == 0, summary.output
    from merbench.results.summaries import summarize_store

    table = summarize_store(sqlite_url(run_dir))
    mine = table[table["task"] == REGRESSION].sort_values("rank")
    assert manifest_of(tmp_path / "m")["candidate"] == mine["candidate"].iloc[0]


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_tampered_weights_are_refused(exports, tmp_path):
    model = copy_model(exports("cnn2d@mel"), tmp_path)
    weights = model / bundle.TORCH_WEIGHTS
    data = bytearray(weights.read_bytes())
    data[-8:] = bytes(b ^ 0xFF for b in data[-8:])  # a few weights' bytes flipped
    weights.write_bytes(bytes(data))
    clip = write_clips(tmp_path / "clips")[0]
    line = one_line(
        CliRunner().invoke(
            main, ["predict", str(model), str(clip), "--out", str(tmp_path / "x.csv")]
        )
    )
    assert "model.safetensors" in line and "sha256" in line and "changed after export" in line


class _Payload:
    """Unpickling this creates ``marker``: what a malicious pickle could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("candidate", "name", "refusal"),
    [
        ("cnn2d@mel", bundle.TORCH_WEIGHTS, "not a valid safetensors file"),
        ("ridge@handcrafted", bundle.SKLEARN_WEIGHTS, "not a skops file"),
    ],
)
def test_a_pickle_as_weights_is_refused_unopened(exports, candidate, name, refusal, tmp_path):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(proof))).close()  # the payload works when unpickled
    assert proof.exists()
    model = copy_model(exports(candidate), tmp_path)
    marker = tmp_path / "marker"
    (model / name).write_bytes(pickle.dumps(_Payload(marker)))
    digest = bundle.sha256_of(model / name)  # a consistent model.json: only the format is wrong
    rewrite_manifest(model, lambda m: m["weights"].update(sha256=digest))
    clip = write_clips(tmp_path / "clips")[0]
    line = one_line(
        CliRunner().invoke(
            main, ["predict", str(model), str(clip), "--out", str(tmp_path / "x.csv")]
        )
    )
    assert name in line and refusal in line
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("plugin", "needed"),
    [
        (
            {"distribution": "merbench-absent", "version": "1.2.0"},
            "merbench-absent is not installed (needs 1.x",
        ),
        ({"distribution": "merbench", "version": "7.0.0"}, "the model needs 7.x"),
    ],
)
def test_missing_or_other_major_plugins_are_refused(exports, plugin, needed, tmp_path):
    model = copy_model(exports("ridge@handcrafted"), tmp_path)
    rewrite_manifest(model, lambda m: m["plugins"].append(dict(plugin, provides=["model x"])))
    clip = write_clips(tmp_path / "clips")[0]
    line = one_line(
        CliRunner().invoke(
            main, ["predict", str(model), str(clip), "--out", str(tmp_path / "x.csv")]
        )
    )
    assert needed in line and "model.json" in line


@pytest.mark.slow
def test_a_front_end_whose_installed_defaults_changed_is_refused(exports, tmp_path):
    model = copy_model(exports("cnn2d@mel"), tmp_path)
    recorded = json.loads((model / bundle.MODEL_JSON).read_text())["frontends"][0]
    untuned = next(k for k in recorded["defaults"] if k not in recorded["params"])

    def older(manifest):  # as if exported by a release with another default
        manifest["frontends"][0]["defaults"][untuned] = "123.0"

    rewrite_manifest(model, older)
    clip = write_clips(tmp_path / "clips")[0]
    line = one_line(
        CliRunner().invoke(
            main, ["predict", str(model), str(clip), "--out", str(tmp_path / "x.csv")]
        )
    )
    assert "front-end 'mel' was exported with other build defaults" in line
    assert f"{untuned} 123.0 -> " in line and not (tmp_path / "x.csv").exists()


def test_a_zero_validation_value_counts_for_best_fold():
    from merbench.exchange.export import _is_number

    assert _is_number(0.0) and _is_number(0) and _is_number(-0.5)
    assert not _is_number(None) and not _is_number(float("nan")) and not _is_number(True)


def test_a_skops_file_skops_cannot_load_is_one_line(tmp_path, monkeypatch):
    import skops.io
    from sklearn.linear_model import Ridge

    path = tmp_path / "model.skops"
    bundle.save_sklearn(Ridge().fit(np.eye(3), np.arange(3.0)), path, "ridge")

    def broken(data, trusted):
        raise AttributeError("'dict' object has no attribute '__dict__'")

    monkeypatch.setattr(skops.io, "loads", broken)
    with pytest.raises(ConfigError, match=r"not a valid skops file \(AttributeError"):
        bundle.load_sklearn(path)


@pytest.mark.slow
def test_predict_refuses_a_folder_without_audio_and_a_missing_path(exports, tmp_path):
    model = exports("ridge@handcrafted")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    cli = CliRunner()
    line = one_line(
        cli.invoke(
            main, ["predict", str(model), str(tmp_path / "empty"), "--out", str(tmp_path / "x.csv")]
        )
    )
    assert "empty: no audio file found" in line
    line = one_line(
        cli.invoke(
            main,
            ["predict", str(model), str(tmp_path / "gone.wav"), "--out", str(tmp_path / "x.csv")],
        )
    )
    assert "gone.wav: no such file or folder" in line
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.slow
def test_export_refuses_an_unknown_candidate_and_a_used_folder(run_dir, tmp_path):
    cli = CliRunner()
    args = ["export", str(run_dir), "--task", REGRESSION, "--out", str(tmp_path / "m")]
    line = one_line(cli.invoke(main, [*args, "--candidate", "cnn2d@mels"]))
    assert "not a candidate of the run" in line and "Did you mean 'cnn2d@mel'" in line
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file").write_text("x")
    line = one_line(cli.invoke(main, ["export", str(run_dir), "--out", str(tmp_path / "used")]))
    assert "not empty" in line
    line = one_line(cli.invoke(main, ["export", str(run_dir), "--out", str(tmp_path / "m")]))
    assert "--dataset and --task" in line  # two tasks in the run: say which


# --- the skops allow-list ----------------------------------------------------------------------


def _fitted_builtins():
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from merbench_plugins.models import classical

    rng = np.random.default_rng(0)
    x, y, classes = rng.random((30, 4)), rng.random((30, 2)), np.arange(30) % 4 + 1
    forest = partial(classical.build_random_forest, n_estimators=5)
    for build in (classical.build_ridge, classical.build_svr, forest):
        regressor = build()
        if not regressor.__sklearn_tags__().target_tags.multi_output:
            regressor = MultiOutputRegressor(regressor)
        yield make_pipeline(StandardScaler(), regressor).fit(x, y), x
        yield make_pipeline(StandardScaler(), build(task="quadrant")).fit(x, classes), x


def test_every_builtin_sklearn_model_round_trips_through_trusted_skops(tmp_path):
    for estimator, x in _fitted_builtins():
        path = tmp_path / "model.skops"
        bundle.save_sklearn(estimator, path, "builtin")
        assert bundle.skops_types(path.read_bytes()) <= bundle.TRUSTED_TYPES
        loaded = bundle.load_sklearn(path).predict(x)  # forests sum in threads: any order
        np.testing.assert_allclose(loaded, estimator.predict(x), rtol=1e-12, atol=1e-12)


def test_a_skops_file_with_an_untrusted_type_is_refused_naming_it(tmp_path):
    import skops.io
    from sklearn.neighbors import KNeighborsRegressor

    estimator = KNeighborsRegressor(n_neighbors=2).fit(np.eye(3), np.arange(3.0))
    path = tmp_path / "model.skops"
    path.write_bytes(skops.io.dumps(estimator))
    with pytest.raises(ConfigError, match=r"does not trust: .*KNeighborsRegressor"):
        bundle.load_sklearn(path)
    with pytest.raises(
        ConfigError, match=r"model 'knn' holds .*KNeighborsRegressor.*trusted_types"
    ):
        bundle.save_sklearn(estimator, tmp_path / "other.skops", "knn")


def test_a_models_own_trusted_types_let_its_estimator_export_and_load(tmp_path):
    import skops.io
    from sklearn.neighbors import KNeighborsRegressor

    estimator = KNeighborsRegressor(n_neighbors=2).fit(np.eye(3), np.arange(3.0))
    path = tmp_path / "model.skops"
    own = sorted(bundle.skops_types(skops.io.dumps(estimator)) - bundle.TRUSTED_TYPES)
    assert own  # the neighbours' types are not merbench's own
    bundle.save_sklearn(estimator, path, "knn", own)
    loaded = bundle.load_sklearn(path, own)
    np.testing.assert_array_equal(loaded.predict(np.eye(3)), estimator.predict(np.eye(3)))
    with pytest.raises(ConfigError, match="does not trust"):
        bundle.load_sklearn(path, own[1:])  # one type short: refused


@pytest.mark.parametrize("candidate", ["cnn2d@mel", "ridge@handcrafted"])
def test_every_exported_file_follows_the_umask(exports, candidate):
    import os

    from merbench.paths import umask

    folder = exports(candidate)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in folder.iterdir()}
    assert len(modes) == 4 and set(modes.values()) == {oct(0o666 & ~umask())}, modes
    assert umask() == os.umask(umask()), "umask() left the process's umask as it was"


def test_export_prints_its_phases_when_not_on_a_terminal(run_dir, tmp_path):
    out = tmp_path / "model"
    args = ["export", str(run_dir), "--candidate", "ridge@handcrafted", "--task", REGRESSION]
    result = CliRunner().invoke(main, [*args, "--params", "best-fold", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("export: ")]
    assert lines == [
        "export: loading dataset synth ...",
        "export: training ridge@handcrafted on all 40 tracks with the best fold's parameters ...",
        f"export: writing {out} ...",
    ], result.output


def test_predict_names_each_file_that_is_not_audio_in_one_line_without_decoder_noise(
    exports, tmp_path, capfd
):
    model = exports("ridge@handcrafted")
    text, junk = tmp_path / "notes.mp3", tmp_path / "junk.mp3"
    text.write_text("these are notes, not audio\n")
    junk.write_bytes(bytes(range(256)) * 20)
    out = tmp_path / "p.csv"
    result = CliRunner().invoke(
        main, ["predict", str(model), str(text), str(junk), "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[:2] == [
        f"{text}: not decodable audio (no audio stream libsndfile recognises)",
        f"{junk}: not decodable audio (no audio stream libsndfile recognises)",
    ], result.output
    assert lines[2].startswith("Predicted 0 of 2 file(s), 2 failed")
    assert "verify" not in result.output and "does not exist" not in result.output
    captured = capfd.readouterr()
    assert "Illegal Audio-MPEG-Header" not in captured.err + captured.out


@pytest.mark.parametrize(
    ("candidate", "task"),
    [
        ("ridge@handcrafted", REGRESSION),
        ("cnn2d@mel", "quadrant"),
        ("ridge@handcrafted", "quadrant"),
    ],
)
def test_load_model_predicts_as_check_csv_says(exports, run_dir, candidate, task):
    import merbench

    folder = exports(candidate, task=task)
    check = pd.read_csv(folder / bundle.CHECK_CSV).head(4)
    files = [dataset_root(run_dir) / f for f in check["file"]]
    model = merbench.load_model(folder)
    assert isinstance(model, merbench.ExportedModel)
    assert (model.candidate, model.task, model.folder) == (candidate, task, folder)
    assert model.label_scale == (1.0, 9.0)
    if task == REGRESSION:
        assert model.is_regression and model.targets == ("arousal", "valence")
        predicted = model.predict([str(f) for f in files])
        assert predicted.shape == (4, 2)
        np.testing.assert_allclose(predicted, check[["arousal", "valence"]], atol=TOLERANCE)
        assert model.predict(files[0]).shape == (1, 2)
        with pytest.raises(AttributeError, match="gives no class probabilities"):
            model.predict_proba(files)
        return
    assert list(model.classes_) == [1, 2, 3, 4] and model.class_names[1].startswith("Q1")
    assert model.predict(files).tolist() == check["class"].tolist()
    if candidate.startswith("cnn2d"):
        proba = model.predict_proba(files)
        np.testing.assert_allclose(
            proba, check[[f"proba_{k}" for k in range(1, 5)]], atol=TOLERANCE
        )
    else:  # decision scores, not probabilities
        assert not model.has_proba
        with pytest.raises(AttributeError, match="gives no class probabilities"):
            model.predict_proba(files)


def test_load_model_refuses_what_predict_refuses(exports, tmp_path):
    import merbench

    model = copy_model(exports("ridge@handcrafted"), tmp_path)
    (model / "model.skops").write_bytes(b"changed")
    with pytest.raises(ConfigError, match="sha256"):
        merbench.load_model(model)
