"""The model card of an export (README.md), read back offline with huggingface_hub's own
parsers, and ``--push-to-hub`` with the Hub's API replaced: nothing touches the network."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi, ModelCard, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results

from merbench.cli import main
from merbench.exchange.card import CARD, _Facts
from merbench.results.summaries import summarize_store
from merbench.results.urls import sqlite_url
from tests.helpers.exports import REGRESSION, manifest_of


def _row(run_dir: Path, candidate: str, task: str) -> dict:
    table = summarize_store(sqlite_url(run_dir))
    mine = table[(table["candidate"] == candidate) & (table["task"] == task)]
    return mine.iloc[0].to_dict()


def _by_column(card) -> dict:
    return {r.metric_args["column"]: r for r in card.data.eval_results}


@pytest.mark.slow
def test_a_quadrant_export_has_a_card_the_hub_reads(exports, run_dir):
    model = exports("ridge@handcrafted", task="quadrant", params="best-fold")
    card = ModelCard.load(model / CARD)  # a local file: parsed, not fetched
    data = card.data
    assert data.library_name == "merbench" and data.pipeline_tag == "audio-classification"
    assert data.model_name == "ridge@handcrafted" and data.datasets == ["synth"]
    assert data.base_model is None  # no pretrained encoder
    results = _by_column(card)
    row = _row(run_dir, "ridge@handcrafted", "quadrant")
    assert results["accuracy"].metric_type == "accuracy"
    assert results["macro_f1"].metric_type == "f1" and results["macro_f1"].metric_config == "macro"
    assert results["mcc"].metric_value == pytest.approx(row["mcc"])
    assert results["mcc"].metric_args["ci_low"] == pytest.approx(row["mcc_low"])
    assert not [c for c in results if c.endswith("_chance")]  # a reference, not a score
    first = card.data.eval_results[0]
    assert first.task_type == "audio-classification" and first.dataset_type == "synth"
    assert first.dataset_args["protocol"] == "grouped" and first.verified is False
    assert first.dataset_args["outer_folds"] == row["n_folds"]
    text = card.text
    assert "artist-grouped k-fold cross-validation" in text and "outer folds" in text
    assert f"{row['majority_chance']:.3f} (chance level)" in text
    assert "baseline `majority`" in text
    # the same metadata through the other two offline readers of the Hub's library
    meta = metadata_load(model / CARD)
    assert meta is not None
    name, parsed = model_index_to_eval_results(meta["model-index"])
    assert name == "ridge@handcrafted" and len(parsed) == len(card.data.eval_results)


@pytest.mark.slow
def test_a_regression_card_names_the_hub_task_and_the_protocol(exports, run_dir):
    model = exports("ridge@handcrafted", params="best-fold")
    card = ModelCard.load(model / CARD)
    results = _by_column(card)
    assert card.data.pipeline_tag == "audio-classification"  # the Hub has no audio regression
    assert results["r2_mean"].metric_type == "r_squared"
    assert results["r2_valence"].metric_name == "R² valence"
    row = _row(run_dir, "ridge@handcrafted", REGRESSION)
    assert results["r2_mean"].metric_value == pytest.approx(row["r2_mean"])
    split = results["r2_mean"].dataset_split
    assert split.startswith(f"grouped {row['n_folds']}-fold cross-validation")
    assert "baseline `mean`" in card.text
    assert manifest_of(model)["candidate"] in card.text


def test_the_card_names_each_pretrained_encoder_and_its_licence_source():
    manifest = {
        "candidate": "mlp@mert",
        "dataset": {"name": "deam", "n_tracks": 10},
        "task": {"name": REGRESSION},
        "run": {"split": "grouped"},
        "params": {"lr": 0.001},
        "frontends": [
            {"name": "mert", "weights": {"model_id": "m-a-p/MERT-v0", "revision": "abc"}},
            {"name": "mel"},
        ],
    }
    run = {"provenance": {"datasets": {"deam": {"license": "CC BY-NC-SA 4.0 <i>"}}}}
    facts = _Facts(manifest, run)
    assert facts.base_models == ["m-a-p/MERT-v0"]
    text = facts.licence_text()
    assert "CC BY-NC-SA 4.0 &lt;i&gt;" in text  # plugin text stays text
    assert "`m-a-p/MERT-v0` (revision `abc`)" in text
    assert "<https://huggingface.co/m-a-p/MERT-v0>" in text


@pytest.mark.slow
def test_push_to_hub_uploads_the_export_folder(run_dir, tmp_path, monkeypatch):
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        files = sorted(p.name for p in Path(kwargs["folder_path"]).iterdir())
        calls.append(("upload_folder", kwargs, files))

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    out = tmp_path / "model"
    args = ["export", str(run_dir), "--candidate", "ridge@handcrafted", "--task", REGRESSION]
    args += ["--params", "best-fold", "--out", str(out), "--push-to-hub", "me/mer-ridge"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "Pushed to https://huggingface.co/me/mer-ridge" in result.output
    (_, repo, create), (_, upload, files) = calls
    assert repo == "me/mer-ridge" and create == {
        "repo_type": "model",
        "private": False,
        "exist_ok": True,
    }
    assert upload["repo_id"] == "me/mer-ridge" and Path(upload["folder_path"]) == out
    assert upload["repo_type"] == "model"
    assert files == sorted([CARD, "check.csv", "model.json", "model.skops"])


def test_push_to_hub_refuses_a_bad_repo_id_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(HfApi, "create_repo", lambda *a, **k: pytest.fail("no upload"))
    args = ["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(main, [*args, "--push-to-hub", "no-owner"])
    assert result.exit_code == 2 and "--push-to-hub 'no-owner': give OWNER/NAME" in result.output


def test_a_failed_upload_is_one_line_and_keeps_the_folder(tmp_path, monkeypatch):
    from merbench.errors import RunError
    from merbench.exchange.hub import push_to_hub

    def refuse(self, repo_id, **kwargs):
        raise OSError("401 Unauthorized\nmore")

    monkeypatch.setattr(HfApi, "create_repo", refuse)
    with pytest.raises(RunError, match=r"me/x: 401 Unauthorized The model stays in"):
        push_to_hub(tmp_path, "me/x")
