"""End to end: --split transfer over two generated datasets of two studios, one song in both."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from click.testing import CliRunner

import merbench
from merbench.cli import main
from merbench.pipeline.executors.dask_tasks import dask_run, run_one_cell
from merbench.plugin.registry import load_registry
from merbench.results.schema import key_of
from merbench.results.store import Store
from merbench.results.urls import sqlite_url
from tests.data.test_songs import _fpcalc

STUDIOS_TOML = """
[datasets.studio-a]
plugin = "synth"
[datasets.studio-a.options]
n_clips = {n_clips}
seconds = 4.0
seed = 1
n_artists = 8
house = 1.0

[datasets.studio-b-source]
plugin = "synth"
enabled = false
[datasets.studio-b-source.options]
n_clips = {n_clips}
seconds = 4.0
seed = 2
n_artists = 8
house = 1.0

[datasets.studio-b]
plugin = "folder"
path = "{folder}"
"""


def _studios(tmp_path, n_clips: int = 48):
    """Two synth sets of two studios; the second as a folder of its clips, with one clip of the
    first planted in it (as another artist's song, without artist or title to match by)."""
    from merbench_plugins.datasets import synth

    a = synth.load(n_clips=n_clips, seconds=4.0, seed=1, n_artists=8, house=1.0)
    b = synth.load(n_clips=n_clips, seconds=4.0, seed=2, n_artists=8, house=1.0)
    folder = tmp_path / "studio-b"
    folder.mkdir()
    rows = []
    for row in b.itertuples():
        shutil.copyfile(row.audio_path, folder / f"{row.track_id}.wav")
        rows.append([f"{row.track_id}.wav", row.arousal, row.valence, row.group])
    planted = a.iloc[0]
    shutil.copyfile(planted.audio_path, folder / "planted.wav")
    rows.append(["planted.wav", planted.arousal, planted.valence, "someone-else"])
    with open(folder / "labels.csv", "w", newline="") as out:
        csv.writer(out).writerows([["file", "arousal", "valence", "artist"], *rows])
    config = tmp_path / "datasets.toml"
    config.write_text(STUDIOS_TOML.format(n_clips=n_clips, folder=folder))
    return config


@pytest.mark.slow
def test_transfer_matrix_shows_the_studio_drop_and_removes_the_planted_song(tmp_path, monkeypatch):
    _fpcalc()
    monkeypatch.chdir(tmp_path)
    config = _studios(tmp_path)
    result = CliRunner().invoke(
        main,
        [
            "run", "--models", "ridge,cnn2d@mel", "--no-baselines", "--budget", "smoke",
            "--datasets", "studio-a,studio-b", "--split", "transfer", "--config", str(config),
            "--name", "studios", "--jobs", "1",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (
        "studio-a -> studio-b: left out 1 track(s) of studio-b that are songs of studio-a" in said
    )
    # the terminal shows each candidate's matrix beside the page's
    assert "transfer / av-regression / ridge@handcrafted" in said
    assert "drop = in-domain - transferred" in said and said.count("in-domain") >= 4
    site = tmp_path / "runs" / "studios" / "leaderboard"
    data = json.loads((site / "results.json").read_text())
    matrix = {(r["candidate"], r["source"], r["target"]): r for r in data["transfer"]}
    assert {c for c, _, _ in matrix} == {"ridge@handcrafted", "cnn2d@mel"}
    planted = matrix[("ridge@handcrafted", "studio-a", "studio-b")]
    assert (planted["n_removed"], planted["removed_by_fingerprint"]) == (1, 1), planted
    assert planted["n_test"] == 48  # the folder's 49 tracks less the planted one
    back = matrix[("ridge@handcrafted", "studio-b", "studio-a")]  # the song is in both ways
    assert (back["n_removed"], back["n_test"]) == (1, 47)
    # Trained in one studio, ridge loses score in the other: its standardised R² falls both ways,
    # and its CCC falls (paired, on the same tracks) by a margin the bootstrap tells from 0
    drops = []
    for source, target in (("studio-a", "studio-b"), ("studio-b", "studio-a")):
        own = matrix[("ridge@handcrafted", target, target)]
        moved = matrix[("ridge@handcrafted", source, target)]
        assert own["is_diagonal"] and not moved["is_diagonal"]
        assert moved["drop_low"] <= moved["drop"] <= moved["drop_high"]
        assert moved["r2_standardised_mean"] < own["r2_standardised_mean"] - 0.1
        drops.append(moved)
    assert sum(m["drop"] for m in drops) / 2 > 0.05
    assert max(m["drop_low"] for m in drops) > 0
    page = (site / "transfer.html").read_text()
    assert "trained on ↓ · tested on →" in page and "cnn2d@mel" in page
    assert "planted" in page  # the removed song's id
    assert "transfer.html" in (site / "index.html").read_text()
    # The pairs are not datasets: no page of theirs, no rank of theirs
    assert not list(site.glob("studio-a>*")) and not list(site.glob("*studio-a-studio-b*"))
    assert {p["dataset"] for p in data["pages"]} == {"studio-a", "studio-b"}
    with open(site / "results.csv") as rows:
        splits = {(r["dataset"], r["split"]) for r in csv.DictReader(rows)}
    assert ("studio-a>studio-b", "transfer") in splits and ("studio-b", "grouped") in splits
    # A second command resumes: every cell is done, nothing runs again
    again = CliRunner().invoke(
        main,
        [
            "run", "--models", "ridge,cnn2d@mel", "--no-baselines", "--budget", "smoke",
            "--datasets", "studio-a,studio-b", "--split", "transfer", "--config", str(config),
            "--name", "studios", "--jobs", "1",
        ],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads((site / "results.json").read_text())["transfer"] == data["transfer"]
    # The Python API's run result carries the same matrix
    loaded = merbench.load_results(tmp_path / "runs" / "studios").summaries["transfer"]
    assert len(loaded) == len(data["transfer"]) == 8  # 2 candidates x 2 x 2 datasets
    # A Dask worker builds a transfer cell from the stored run alone, as the run did
    store = Store(sqlite_url(tmp_path / "runs" / "studios"))
    record = dask_run(store, load_registry())
    cell = next(
        c
        for c in store.table("cells")
        if c["split"] == "transfer" and c["candidate"] == "ridge@handcrafted"
    )
    store.close()
    outcome = run_one_cell(key_of(cell), record)
    assert outcome.status == "done", outcome.reason
    assert outcome.result.metrics["ccc_mean"] == pytest.approx(cell["metrics"]["ccc_mean"])
