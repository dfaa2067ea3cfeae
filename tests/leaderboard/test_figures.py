"""Study plots of a candidate page: importance, each parameter against the score, escaping."""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

from merbench.leaderboard.figures.studies import study_section
from merbench.leaderboard.pages import candidate_file
from merbench.leaderboard.render import environment, render_site
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from merbench.results.urls import sqlite_url

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script>"
SPACE = {
    "lr": FloatDistribution(1e-4, 1e-1, log=True),
    "depth": IntDistribution(1, 4),
    "kernel": CategoricalDistribution(["3x3", "5x5"]),
}


def _trials(n_per_fold: int, *, states=None, folds=2) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """Trials whose score rises with lr and ignores the rest; cells that stored their space."""
    rows = []
    for fold in range(folds):
        for number in range(n_per_fold):
            lr = 10 ** (-4 + 3 * number / max(n_per_fold - 1, 1))
            params = {"lr": lr, "depth": 1 + number % 4, "kernel": ["3x3", "5x5"][number % 2]}
            state = (states or {}).get(number, "complete")
            rows.append(
                {
                    "uid": f"0:{fold}",
                    "number": number,
                    "state": state,
                    "value": 0.1 * number + 0.01 * fold,
                    "params": params,
                }
            )
    space = {k: json.loads(distribution_to_json(v)) for k, v in SPACE.items()}
    cells = pd.DataFrame(
        {"uid": [f"0:{f}" for f in range(folds)], "info": [{"search_space": space}] * folds}
    )
    fold_rows = [{"uid": f"0:{f}", "label": f"fold {f}"} for f in range(folds)]
    return pd.DataFrame(rows), cells, fold_rows


def _texts(plot) -> list[str]:
    return [s["text"] for s in plot.shapes if s["kind"] == "text"]


def test_importance_and_one_plot_per_parameter_with_the_right_axes():
    trials, cells, folds = _trials(10)
    study = study_section(trials, cells, folds, "page", "R² (mean)")
    assert study["note"] is None
    importance = study["importance"]
    labels = _texts(importance)
    assert labels.index("lr") < labels.index("depth")  # sorted by importance: lr drives the score
    bars = [s for s in importance.shapes if s["kind"] == "polygon"]
    assert bars[0]["tip"].startswith("lr: ") and "(mean of 2)" in bars[0]["tip"]
    assert [p.id for p in study["params"]] == ["param-0-page", "param-1-page", "param-2-page"]
    depth, kernel, lr = study["params"]  # sorted by name
    assert "lr (log scale)" in _texts(lr) and {"0.001", "0.01"} <= set(_texts(lr))
    assert {"3x3", "5x5"} <= set(_texts(kernel)) and "kernel" in _texts(kernel)
    assert {"1", "2", "3", "4"} <= set(_texts(depth)) and "2.5" not in _texts(depth)
    assert "validation R² (mean)" in _texts(lr)
    dots = [s for s in lr.shapes if s["kind"] == "circle"]
    assert len(dots) == 20 and {d["fill"] for d in dots} == {"#0072b2", "#e69f00"}  # per fold
    again = study_section(trials, cells, folds, "page", "R² (mean)")["importance"]
    assert again.shapes == importance.shapes  # a fixed seed: the same plot on every render


def test_fewer_than_two_completed_trials_give_a_note():
    trials, cells, folds = _trials(3, states={1: "pruned", 2: "failed"}, folds=1)
    study = study_section(trials, cells, folds, "page")
    assert study["importance"] is None and study["params"] == []
    assert study["note"] == "1 completed trial: the study plots need at least 2."


def test_equal_scores_give_plots_and_a_note_instead_of_importance():
    trials, cells, folds = _trials(10)
    trials["value"] = 0.5
    study = study_section(trials, cells, folds, "page")
    assert study["importance"] is None and len(study["params"]) == 3
    assert study["note"].startswith("No parameter importance")


def test_fewer_trials_than_fanova_needs_give_the_parameter_plots_and_one_line_why():
    trials, cells, folds = _trials(4)
    study = study_section(trials, cells, folds, "page")
    assert study["importance"] is None and len(study["params"]) == 3
    assert study["note"] == (
        "No importance plot: fANOVA needs at least 10 completed trials in an outer fold to say "
        "which hyperparameter matters; these folds have at most 4 (raise the budget's trials, "
        "e.g. --set trials=10)."
    )
    assert study_section(*_trials(10), "page")["importance"] is not None


def test_untuned_candidates_have_no_study_section():
    trials = pd.DataFrame(
        {"uid": ["0:0"], "number": [0], "state": ["complete"], "value": [0.2], "params": [{}]}
    )
    assert study_section(trials, pd.DataFrame(), [{"uid": "0:0", "label": "fold 0"}], "p") is None


def test_a_store_without_search_spaces_infers_the_distributions():
    trials, _, folds = _trials(10)
    study = study_section(trials, pd.DataFrame(), folds, "page")
    depth, kernel, lr = study["params"]
    assert "lr (log scale)" not in _texts(lr)  # no stored space: a linear range of the values
    assert {"3x3", "5x5"} <= set(_texts(kernel)) and study["importance"] is not None
    assert "2.5" not in _texts(depth)  # whole numbers seen: an integer axis


@pytest.fixture
def tuned_run(install_tones, tmp_path):
    config = install_tones()
    settings = RunSettings(
        models=("mean", "ridge"), budget="smoke", config=config, out=tmp_path / "run", render=False
    )
    run(settings)
    return tmp_path / "run"


def test_study_plots_on_a_tuned_candidate_page_escape_a_hostile_parameter_name(tuned_run, tmp_path):
    with sqlite3.connect(tuned_run / "results.sqlite") as db:
        for cell_id, params in db.execute("SELECT cell_id, params FROM trials").fetchall():
            renamed = {EVIL if k == "alpha" else k: v for k, v in json.loads(params).items()}
            db.execute(
                "UPDATE trials SET params = ? WHERE cell_id = ? AND params = ?",
                (json.dumps(renamed), cell_id, params),
            )
        for cell_id, info in db.execute("SELECT id, info FROM cells").fetchall():
            info = json.loads(info)
            info["search_space"] = {
                EVIL if k == "alpha" else k: v for k, v in info["search_space"].items()
            }
            db.execute("UPDATE cells SET info = ? WHERE id = ?", (json.dumps(info), cell_id))
    render_site([sqlite_url(tuned_run)], tmp_path / "site")
    page = tmp_path / "site" / candidate_file("tones", "av-regression", "ridge@handcrafted")
    html = page.read_text()
    assert 'id="study"' in html and "Hyperparameters against the validation score" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    stem = page.stem
    plot = ET.parse(tmp_path / "site" / "plots" / f"param-0-{stem}.svg").getroot()
    texts = [t.text for t in plot.iter(f"{SVG}text")]
    assert f"{EVIL} (log scale)" in texts  # ridge's alpha is log-uniform
    assert len(plot.findall(f"{SVG}circle")) >= 4  # two completed trials in each of 3 folds
    baseline = (tmp_path / "site" / candidate_file("tones", "av-regression", "mean")).read_text()
    assert 'id="study"' not in baseline


def test_the_svg_macro_escapes_names_in_the_importance_plot():
    trials, cells, folds = _trials(10)
    trials["params"] = [
        {EVIL if k == "lr" else k: v for k, v in p.items()} for p in trials["params"]
    ]
    cells["info"] = [{"search_space": {}}] * len(cells)
    study = study_section(trials, cells, folds, "page")
    svg = environment().get_template("_svg.html").module.svg(study["importance"])
    assert "&lt;script&gt;" in svg and "<script>" not in svg
    assert ET.fromstring(str(svg)).tag == f"{SVG}svg"
