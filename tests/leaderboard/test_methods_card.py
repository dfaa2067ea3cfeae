"""The methods card (methods.md): the real values of a smoke run, escaping, missing records."""

from __future__ import annotations

import json
import sqlite3

import pytest
import yaml
from click.testing import CliRunner
from markupsafe import Markup

from merbench import markdown as md
from merbench.cli import main
from merbench.evaluation.budgets import BUDGETS
from merbench.leaderboard.eval_results import eval_results_file, write_eval_results
from merbench.leaderboard.methods import markdown_text
from merbench.leaderboard.render import render_site
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from merbench.results.urls import sqlite_url
from tests.helpers.plugins import TONES
from tests.helpers.stores import _predictions_of

EVIL = "<script>alert(1)</script>"


@pytest.fixture
def smoke_run(install_tones, tmp_path):
    """A smoke run of the tones plugin (dataset version set to hostile text) with two candidates."""
    source = TONES.replace(
        'options={"n_tracks": 24})', f'options={{"n_tracks": 24}}, version="{EVIL}|x")'
    )
    config = install_tones(source)
    settings = RunSettings(
        models=("mean", "ridge"), budget="smoke", config=config, out=tmp_path / "run", render=False
    )
    run(settings)
    return tmp_path / "run"


def _stored(run_dir):
    """The first ridge cell's info, the run's provenance and the splits, read from the store."""
    with sqlite3.connect(run_dir / "results.sqlite") as db:
        info = json.loads(
            db.execute(
                "SELECT info FROM cells WHERE candidate = 'ridge@handcrafted' ORDER BY fold"
            ).fetchone()[0]
        )
        provenance = json.loads(db.execute("SELECT provenance FROM runs").fetchone()[0])
        splits = db.execute("SELECT task, hash FROM splits").fetchall()
    return info, provenance, splits


def test_the_card_names_the_real_values_of_a_smoke_run(smoke_run, tmp_path):
    render_site([sqlite_url(smoke_run)], tmp_path / "site", title="T <b>itle</b>")
    card = (tmp_path / "site" / "methods.md").read_text()
    info, provenance, splits = _stored(smoke_run)
    smoke = BUDGETS["smoke"]

    assert card.startswith("# Methods: T &lt;b&gt;itle&lt;/b&gt;\n")
    assert 'href="methods.md"' in (tmp_path / "site" / "index.html").read_text()
    budget = [smoke.name, smoke.outer_folds, smoke.repeats, smoke.trials, smoke.epochs]
    row = "| tones | " + " | ".join(map(str, [*budget, smoke.patience, smoke.batch_size])) + " |"
    assert row in card  # the tuning budget
    window = f"| tones | av-regression | {info['sample_rate']} | {info['window_s']:g} | "
    assert window + f"{info['hop_s']:g} | whole clip | all | mean of window inputs |" in card
    for task, digest in splits:  # every stored split with its folds and manifest hash
        assert f"| tones | {task} | grouped | ranks | {smoke.outer_folds} | 1 |" in card
        assert digest in card
    assert f"{smoke.valid_fraction:g} of the outer training part's groups" in card
    decoder = provenance["libraries"]["soundfile"]
    assert f"decoded with soundfile {decoder}, resampled with soxr" in card
    assert "| alpha | float | 0.001 to 1000 | log |" in card  # ridge's search space
    assert "### mean (sklearn)\n\nNothing to tune" in card
    fixed = ", ".join(
        f"{k.replace('_', chr(92) + '_')} = {v}" for k, v in info["frontends"][0]["params"].items()
    )
    assert f"| handcrafted | vector | no | {fixed} | none |" in card
    assert "Files (SHA-256)" not in card  # no front-end with its own rate or weights
    assert "pruner MedianPruner (n\\_startup\\_trials = 2, n\\_warmup\\_steps = 2)" in card
    assert f"{info['study']['startup_trials']} random start-up trial(s)" in card
    assert "| MCC or R² | tones / av-regression: R² (mean) |" in card
    assert "| 1 | ridge@handcrafted |" in card and "| 2 | mean (baseline) |" in card
    # A dataset version with HTML and a table separator renders as text in one cell.
    assert "| tones | &lt;script&gt;alert(1)&lt;/script&gt;\\|x | 24 |" in card
    assert "<script" not in card


def test_a_store_without_the_newer_records_says_what_is_missing(smoke_run, tmp_path):
    with sqlite3.connect(smoke_run / "results.sqlite") as db:
        for cell_id, info in db.execute("SELECT id, info FROM cells").fetchall():
            old = {k: v for k, v in json.loads(info).items() if k not in ("study", "frontends")}
            db.execute("UPDATE cells SET info = ? WHERE id = ?", (json.dumps(old), cell_id))
        provenance = json.loads(db.execute("SELECT provenance FROM runs").fetchone()[0])
        del provenance["audio"]
        db.execute("UPDATE runs SET provenance = ?", (json.dumps(provenance),))
    render_site([sqlite_url(smoke_run)], tmp_path / "site")
    card = (tmp_path / "site" / "methods.md").read_text()
    assert "- tones: decoder and resampler not recorded by the run." in card
    assert "- Study: sampler and pruner not recorded by the run." in card
    assert "No candidate used a front-end." in card


def test_an_external_entry_is_described_as_one_and_its_name_escaped(smoke_run, tmp_path):
    frame = _predictions_of(smoke_run, "ridge@handcrafted", "av-regression")
    frame.to_csv(tmp_path / "mine.csv", index=False)
    args = ["score", str(tmp_path / "mine.csv"), "--run", str(smoke_run), "--name", EVIL]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    render_site([sqlite_url(smoke_run)], tmp_path / "site")
    card = (tmp_path / "site" / "methods.md").read_text()
    _, _, splits = _stored(smoke_run)
    name = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"### {name} (external entry)\n\nPredictions made outside merbench (mine.csv)" in card
    assert f"manifest SHA-256 {splits[0][1]}" in card and f"| {name} (external) |" in card
    assert "<script" not in card
    [external] = [
        f
        for f in write_eval_results([sqlite_url(smoke_run)], tmp_path / "evals")
        if f.name == eval_results_file("tones", EVIL)
    ]
    assert yaml.safe_load(external.read_text())["model-index"][0]["name"] == EVIL


def test_the_methods_card_escapes_as_the_model_card_does():
    value = "<b>weight_decay</b> | [x](y)"
    assert markdown_text(value) == md.text(value)
    assert markdown_text(Markup("<i>a macro</i>")) == "<i>a macro</i>"  # passes as it is
