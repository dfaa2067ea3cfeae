"""The rendered site: pages and links, escaping, plots, data files, merging, failed-only tasks."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from merbench.cli import main
from merbench.leaderboard.eval_results import eval_results_file, write_eval_results
from merbench.leaderboard.figures.svg import nice_ticks
from merbench.leaderboard.pages import candidate_file, slug
from merbench.leaderboard.ranks import compare_ranks, nemenyi_cd, not_different
from merbench.leaderboard.render import environment, render_site
from merbench.pipeline.runner import run as run_core
from merbench.pipeline.settings import RunSettings
from merbench.results.schema import cells
from merbench.results.store import Store
from merbench.results.summaries import summarize
from merbench.results.urls import sqlite_url
from tests.helpers.plugins import EVIL
from tests.helpers.stores import SETTINGS, fake_store

SVG = "{http://www.w3.org/2000/svg}svg"


# --- a real run on the tones plugin -----------------------------------------------------------


def run(settings, **kwargs):
    """Run like ``merbench run``: the core's run, then the site the CLI renders."""
    outcome = run_core(settings, **kwargs)
    if settings.render:
        render_site([outcome.store_url], outcome.site_dir, title=outcome.name)
    return outcome


@pytest.fixture
def site(evil_run, tmp_path):
    render_site([sqlite_url(evil_run)], tmp_path / "out", title="T <b>itle</b>")
    return tmp_path / "out"


class Links(HTMLParser):
    """Collects href/src attributes and the text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


def links(path: Path) -> list[str]:
    parser = Links()
    parser.feed(path.read_text())
    return parser.links


def ridge_page(site: Path) -> Path:
    return site / candidate_file("tones", "av-regression", "ridge@handcrafted")


def test_pages_exist_and_every_link_resolves(site):
    index = site / "index.html"
    assert 'href="tones-av-regression.html"' in index.read_text()
    assert "this page also ranks the candidates across them" in index.read_text()
    dataset = (site / "dataset_tones.html").read_text()
    assert dataset.count("not recorded by the run") == 2  # licence and citation, said so
    assert "dataset_tones.html" in links(index)
    assert "methods.md" in links(index) and (site / "methods.md").exists()
    task_links = links(site / "tones-av-regression.html")
    for candidate in ("mean", "ridge@handcrafted", "broken@handcrafted"):
        assert candidate_file("tones", "av-regression", candidate) in task_links
    assert "tones-av-regression.html" in links(ridge_page(site))
    pages = list(site.glob("*.html"))
    assert len(pages) == 1 + 1 + 1 + 3  # index, dataset, task, three candidates
    for page in pages:
        for link in links(page):
            assert not link.startswith(("http:", "https:", "//")), (page.name, link)
            target = link.split("#")[0]
            assert not target or (site / target).exists(), (page.name, link)


def test_third_party_text_renders_as_text(site):
    index = (site / "index.html").read_text()
    assert "T &lt;b&gt;itle&lt;/b&gt;" in index and "<b>itle" not in index
    for page in [site / "tones-av-regression.html", *site.glob("tones-av-regression_broken*")]:
        html = page.read_text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, page.name
        assert "<script>alert" not in html
        assert html.count("<script") == 1  # sort.js only


def test_task_page_ranks_marks_and_plots(site):
    page = (site / "tones-av-regression.html").read_text()
    assert page.count('class="badge leader"') == 2  # the legend and the leader's row
    assert 'class="baseline' in page and 'class="tag baseline"' in page
    assert "Augmentation" in page and '<td class="aug muted screen-only">none</td>' in page
    assert "No candidate on this page used an augmentation policy" in page
    for header in ("Params", "Fit / fold", "Tuning / fold", "Inference / clip"):
        assert header in page
    assert "Failed, skipped or unfinished" in page and "3 of 3" in page
    rows = re.findall(r'<td class="name" data-sort="([^"]+)"', page)
    assert rows == ["ridge@handcrafted", "mean"]  # rank order, without JavaScript
    plot = ET.parse(site / "plots" / "ci-tones-av-regression.svg").getroot()
    assert plot.tag == SVG
    labels = [t.text for t in plot.iter("{http://www.w3.org/2000/svg}text")]
    assert "ridge@handcrafted" in labels and "mean" in labels


def test_every_plot_is_valid_svg_inline_and_on_disk(site):
    files = list((site / "plots").glob("*.svg"))
    assert len(files) >= 5  # ci, tuning, two scatter plots, labels
    for path in files:
        assert ET.parse(path).getroot().tag == SVG, path.name
    for page in site.glob("*.html"):
        for inline in re.findall(r"<svg.*?</svg>", page.read_text(), flags=re.DOTALL):
            assert ET.fromstring(inline).tag == SVG, page.name


def test_candidate_page_has_folds_params_tuning_and_predictions(site):
    html = ridge_page(site).read_text()
    assert len(re.findall(r"<td data-sort=\"\d+\">fold \d</td>", html)) == 3
    assert "Best hyperparameters" in html and "<code>alpha</code>" in html
    assert "merbench" in html and "Plugins" in html
    parts = html.split('<table class="components">')[1].split("</table>")[0]
    cells = re.findall(r"<td>(?:<code>)?([^<]+)(?:</code>)?</td>", parts)
    assert cells == [
        *("model", "ridge", "classical", "merbench", "0.1.0"),
        *("front-end", "handcrafted", "handcrafted", "merbench", "0.1.0"),
    ]
    stem = ridge_page(site).stem
    tuning = ET.parse(site / "plots" / f"tuning-{stem}.svg").getroot()
    assert len(tuning.findall("{http://www.w3.org/2000/svg}polyline")) == 3  # one per fold
    for target in ("arousal", "valence"):
        scatter = ET.parse(site / "plots" / f"scatter-{target}-{stem}.svg").getroot()
        dots = scatter.findall("{http://www.w3.org/2000/svg}circle")
        assert len([d for d in dots if d.get("opacity")]) == 24  # each track in one test fold
        legend = [t.text for t in scatter.iter("{http://www.w3.org/2000/svg}text")]
        assert legend[-3:] == ["fold 0", "fold 1", "fold 2"]
    baseline = (site / candidate_file("tones", "av-regression", "mean")).read_text()
    assert "no hyperparameters to tune" in baseline and 'id="tuning"' not in baseline


def test_results_files_follow_the_documented_schema(site):
    data = json.loads((site / "results.json").read_text())
    assert data["schema"] == 1 and set(data) == {
        "schema",
        "merbench",
        "pages",
        "summary",
        "summary_by_split",
        "cells",
        "rank_comparison",
        "skipped_tracks",
    }
    [page] = data["pages"]
    assert page["file"] == "tones-av-regression.html" and page["leader"] == "ridge@handcrafted"
    assert {r["candidate"] for r in data["summary"]} == {
        "mean",
        "ridge@handcrafted",
        "broken@handcrafted",
    }
    ridge = next(r for r in data["summary"] if r["candidate"] == "ridge@handcrafted")
    assert ridge["model"] == "ridge" and ridge["frontends"] == "handcrafted"
    assert ridge["augmentation"] == "none" and ridge["r2_mean_low"] < ridge["r2_mean"]
    assert {c["run"] for c in data["cells"]} == {"tones"} and len(data["cells"]) == 9
    with (site / "results.csv").open() as f:
        header = next(csv.reader(f))
    assert header[:7] == ["dataset", "task", "split", "candidate", "model", "frontends",
                          "augmentation"]  # fmt: skip
    assert {"rank", "tier", "r2_mean", "r2_mean_low", "fit_s", "per_clip_ms"} <= set(header)
    provenance = json.loads((site / "provenance.json").read_text())
    assert provenance["runs"][0]["settings"].items() >= SETTINGS.items()
    assert any(
        p["distribution"] == "merbench-tones"
        for p in provenance["runs"][0]["provenance"]["plugins"]
    )
    assert provenance["merge"]["duplicates"] == [] and provenance["merge"]["stores"] == 1
    assert (site / "style.css").exists() and (site / "sort.js").exists()


def test_eval_results_yaml_per_candidate_has_the_sites_values(site, evil_run, tmp_path):
    out = tmp_path / "evals"
    args = ["leaderboard", str(evil_run), "--out", str(out), "--format", "eval-results"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "2 model-index file(s)" in result.output and not (out / "index.html").exists()
    names = ["mean", "ridge@handcrafted"]  # broken@handcrafted finished no fold
    assert sorted(p.name for p in out.glob("*.yaml")) == [
        eval_results_file("tones", n) for n in names
    ]
    data = json.loads((site / "results.json").read_text())
    page = data["pages"][0]
    row = next(r for r in data["summary"] if r["candidate"] == "ridge@handcrafted")
    card = yaml.safe_load((out / eval_results_file("tones", "ridge@handcrafted")).read_text())
    [entry] = card["model-index"]
    assert entry["name"] == "ridge@handcrafted"
    [result] = entry["results"]
    assert result["task"] == {
        "type": "audio-classification",
        "name": "av-regression: Arousal and valence on the dataset's own scale.",
    }
    dataset = result["dataset"]
    assert dataset["name"] == "tones" and dataset["split"].startswith("grouped 3-fold cross-valid")
    assert dataset["args"]["protocol"] == "grouped" and dataset["args"]["outer_folds"] == 3
    assert dataset["args"]["manifest_sha256"] == page["split_hash"]
    assert dataset["args"]["task"] == "av-regression"
    metrics = {m["args"]["column"]: m for m in result["metrics"]}
    assert {"r2_mean", "ccc_mean", "rmse_mean", "r2_arousal", "r2_valence"} <= set(metrics)
    assert metrics["r2_valence"]["type"] == "r_squared"
    assert metrics["ccc_mean"]["type"] == "ccc_mean"  # the Hub has no CCC
    for column in metrics:
        assert metrics[column]["value"] == pytest.approx(row[column]), column
        assert metrics[column]["args"]["ci_low"] == pytest.approx(row[f"{column}_low"]), column
        assert metrics[column]["args"]["ci_high"] == pytest.approx(row[f"{column}_high"]), column
        assert metrics[column]["args"]["folds"] == 3 and metrics[column]["verified"] is False
    assert metrics["r2_mean"]["name"] == "R² (mean)"


def test_eval_results_use_the_hubs_ids_and_leave_chance_levels_out(tmp_path):
    from huggingface_hub import ModelCardData
    from huggingface_hub.repocard_data import model_index_to_eval_results

    url = fake_store(tmp_path / "q", {"a": 0.6, "majority": 0.3}, task="quadrant")
    [*_, path] = write_eval_results([url], tmp_path / "evals")
    index = yaml.safe_load(path.read_text())["model-index"]
    [result] = index[0]["results"]
    assert result["task"]["type"] == "audio-classification"
    columns = [m["args"]["column"] for m in result["metrics"]]
    assert "accuracy" in columns and not [c for c in columns if c.endswith("_chance")]
    by_column = {m["args"]["column"]: m for m in result["metrics"]}
    assert by_column["macro_f1"]["type"] == "f1" and by_column["macro_f1"]["config"] == "macro"
    assert by_column["mcc"]["type"] == "matthews_correlation"
    name, parsed = model_index_to_eval_results(index)  # the Hub's own parser reads it back
    assert name == index[0]["name"] and {r.task_type for r in parsed} == {"audio-classification"}
    assert {r.metric_type for r in parsed} >= {"accuracy", "f1", "matthews_correlation"}
    ModelCardData(model_name=name, eval_results=parsed).to_dict()  # and writes it again


def test_eval_results_quote_names_that_yaml_would_read_otherwise(tmp_path):
    names = ["cnn2d@mel:gain+mixup", f"x@{EVIL}", "yes", "1e3"]
    url = fake_store(tmp_path / "a", dict.fromkeys(names, 0.5))
    files = write_eval_results([url], tmp_path / "evals")
    loaded = {yaml.safe_load(f.read_text())["model-index"][0]["name"] for f in files}
    assert loaded == set(names)  # each name round-trips as the same string


def test_a_task_where_every_cell_failed_still_renders(install_tones, tmp_path):
    config = install_tones()
    settings = RunSettings(
        models=("broken",),
        baselines=False,
        budget="smoke",
        config=config,
        out=tmp_path / "run",
        leaderboard=tmp_path / "site",
    )
    outcome = run(settings)
    assert outcome.counts["failed"] == 3
    page = (tmp_path / "site" / "tones-av-regression.html").read_text()
    assert "broken on purpose" in page and "No candidate finished a fold" in page
    index = (tmp_path / "site" / "index.html").read_text()
    assert "no finished candidate" in index
    candidate = tmp_path / "site" / candidate_file("tones", "av-regression", "broken@handcrafted")
    assert "no finished fold" in candidate.read_text()


# --- stores written directly: merging, names, classification, dataset metadata ----------------


def test_candidate_names_become_distinct_safe_file_names(tmp_path):
    names = ["cnn2d@mel", "cnn2d-mel", "cnn2d@mel:gain+mixup", f"x@{EVIL}", "../../etc"]
    files = {candidate_file("d", "av-regression", n) for n in names}
    assert len(files) == len(names)
    assert all(re.fullmatch(r"[a-z0-9_-]+\.html", f) for f in files)
    url = fake_store(tmp_path / "a", {"cnn2d@mel:gain+mixup": 0.5, "cnn2d-mel": 1.0, "mean": 3})
    render_site([url], tmp_path / "site")
    page = (tmp_path / "site" / "data-av-regression.html").read_text()
    assert '<td class="aug screen-only">gain+mixup</td>' in page
    assert (
        tmp_path / "site" / candidate_file("data", "av-regression", "cnn2d@mel:gain+mixup")
    ).exists()
    candidate = tmp_path / "site" / candidate_file("data", "av-regression", "cnn2d-mel")
    html = candidate.read_text()
    assert "augmentation <strong>none</strong>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 1.0" in html and "<script>alert" not in html
    assert "<code>mel.n_mels</code>" in html


def test_augmentation_policies_and_the_plugin_behind_each_part(tmp_path):
    plugins = [
        {"name": "cnn1d", "distribution": "merbench", "version": "0.1.0",
         "records": ["model:cnn1d"]},
        {"name": "spectral", "distribution": "merbench", "version": "0.1.0",
         "records": ["frontend:raw", "frontend:mel"]},
        {"name": EVIL, "distribution": "merbench-aug", "version": "0.2.0",
         "records": ["augmentation:gain", "augmentation:mixup"]},
    ]  # fmt: skip
    names = {"cnn1d@raw:gain+mixup": 0.5, "cnn1d@raw+mel:mixup": 0.6, "cnn1d@raw": 0.7}
    url = fake_store(
        tmp_path / "a",
        names | {"cnn1d@raw:<i>x</i>": 1.0},
        provenance={"merbench": "0.1.0", "plugins": plugins},
        failed=("cnn1d@raw:<i>x</i>",),
    )
    render_site([url], tmp_path / "site")
    page = (tmp_path / "site" / "data-av-regression.html").read_text()
    policies = page.split('<table class="policies">')[1].split("</table>")[0]
    assert re.findall(r"<tr>\s*<td><code>([^<]+)</code></td>", policies) == [
        "&lt;i&gt;x&lt;/i&gt;",  # failed candidates' policies are listed too
        "gain+mixup",
        "mixup",
    ]
    assert "(&lt;script&gt;alert(1)&lt;/script&gt;, merbench-aug 0.2.0)" in policies
    assert "<i>x" not in page and "<script>alert" not in page
    # Names wrap after their separators, and stay escaped.
    parts = "".join(f'<span class="part">{p}</span>' for p in ("cnn1d@", "raw:", "gain+", "mixup"))
    assert f">{parts}</a>" in page
    breakable = environment().filters["breakable"]
    assert str(breakable("a@<b>+c")) == "".join(
        f'<span class="part">{p}</span>' for p in ("a@", "&lt;b&gt;+", "c")
    )
    candidate = tmp_path / "site" / candidate_file("data", "av-regression", "cnn1d@raw+mel:mixup")
    html = candidate.read_text()
    parts = html.split('<table class="components">')[1].split("</table>")[0]
    assert re.findall(r"<tr><td>([a-z-]+)</td><td><code>([^<]+)</code>", parts) == [
        ("model", "cnn1d"),
        ("front-end", "raw"),
        ("front-end", "mel"),
        ("augmentation", "mixup"),
    ]
    assert parts.count("merbench-aug") == 1 and "&lt;script&gt;" in parts


def test_runs_merge_keeping_the_latest_finished_cell(tmp_path):
    first = fake_store(tmp_path / "a", {"ridge": 0.5, "mean": 3.0}, name="first")
    second = fake_store(tmp_path / "b", {"ridge": 2.0, "svr": 1.0}, name="second")
    store = Store(first)  # the first run's copies finished later
    with store.engine.begin() as conn:
        conn.execute(sa.update(cells).values(finished_at="2099-01-01T00:00:00+00:00"))
    store.close()
    render_site([first, second], tmp_path / "site")
    provenance = json.loads((tmp_path / "site" / "provenance.json").read_text())
    duplicates = provenance["merge"]["duplicates"]
    assert [d["candidate"] for d in duplicates] == ["ridge"] * 3
    assert {d["kept"]["run"] for d in duplicates} == {"first"}
    assert {d["dropped"][0]["run"] for d in duplicates} == {"second"}
    data = json.loads((tmp_path / "site" / "results.json").read_text())
    assert {c["candidate"] for c in data["cells"]} == {"ridge", "mean", "svr"}
    assert len(data["cells"]) == 9
    assert "appeared in more than one run" in (tmp_path / "site" / "index.html").read_text()


def test_a_finished_cell_beats_a_later_failure(tmp_path):
    done = fake_store(tmp_path / "a", {"ridge": 0.5}, name="done")
    failed = fake_store(tmp_path / "b", {"ridge": 0.5}, name="failed", failed=("ridge",))
    render_site([done, failed], tmp_path / "site")
    data = json.loads((tmp_path / "site" / "results.json").read_text())
    assert {(c["status"], c["run"]) for c in data["cells"]} == {("done", "done")}


def test_runs_with_other_folds_are_flagged(tmp_path):
    first = fake_store(tmp_path / "a", {"ridge": 0.5, "mean": 3.0}, name="first")
    second = fake_store(tmp_path / "b", {"svr": 1.0}, name="second", split="other")
    render_site([first, second], tmp_path / "site")
    provenance = json.loads((tmp_path / "site" / "provenance.json").read_text())
    assert provenance["merge"]["split_conflicts"] == [
        {"dataset": "data", "task": "av-regression", "run_index": 1}
    ]
    page = (tmp_path / "site" / "data-av-regression.html").read_text()
    assert "used different outer folds" in page and "abc123" in page
    assert "differ between runs" in (tmp_path / "site" / "index.html").read_text()


def test_classification_pages_show_a_confusion_matrix(tmp_path):
    url = fake_store(tmp_path / "a", {"svr": 0, "majority": 0}, task="quadrant")
    render_site([url], tmp_path / "site")
    html = (tmp_path / "site" / candidate_file("data", "quadrant", "svr")).read_text()
    matrix = html.split('<table class="confusion">')[1].split("</table>")[0]
    counts = [int(c) for c in re.findall(r'<td class="num heat-\d[^"]*"[^>]*>(\d+)</td>', matrix)]
    assert len(counts) == 16 and sum(counts) == 48  # 3 folds x 16 tracks
    assert "Q2 (A+ V\N{MINUS SIGN})" in matrix and "scatter-" not in html


def test_dataset_page_shows_metadata_counts_and_skipped_tracks(tmp_path):
    provenance = {
        "merbench": "0.1.0",
        "datasets": {
            "data": {
                "citation": f"Doe (2020). {EVIL}",
                "license": "CC BY 4.0",
                "homepage": "javascript:alert(1)",
                "label_scale": [1, 9],
            }
        },
    }
    url = fake_store(
        tmp_path / "a",
        {"ridge": 0.5},
        provenance=provenance,
        skipped={"t99": f"unreadable audio {EVIL}", "t98": "NaN arousal"},
    )
    render_site([url], tmp_path / "site")
    html = (tmp_path / "site" / "dataset_data.html").read_text()
    assert "Doe (2020). &lt;script&gt;" in html and "CC BY 4.0" in html
    assert "javascript:" not in html and "Homepage" not in html
    assert "from 1 to 9" in html and "2 skipped tracks" in html
    assert "unreadable audio &lt;script&gt;" in html and "NaN arousal" in html
    assert "none (0 %)" in html and "abc123" in html
    plot = ET.parse(tmp_path / "site" / "plots" / "labels-dataset_data.svg").getroot()
    assert [t.text for t in plot.iter("{http://www.w3.org/2000/svg}text")].count("Q1") == 1


def test_index_compares_mean_ranks_across_pages(tmp_path):
    a = fake_store(tmp_path / "a", {"ridge": 0.3, "svr": 1.0, "mean": 3.0})
    b = fake_store(tmp_path / "b", {"ridge": 0.3, "svr": 1.0, "mean": 3.0}, task="quadrant")
    render_site([a, b], tmp_path / "site")
    index = (tmp_path / "site" / "index.html").read_text()
    assert "Mean rank across comparisons" not in index and "Tiers side by side" in index
    assert "too few to rank candidates across them" in index and "about 10 datasets" in index
    assert "data / av-regression" in index and "data / quadrant" in index
    assert "36 tracks</span>" in index and "None" not in index  # no group count recorded
    assert not (tmp_path / "site" / "plots" / "ranks.svg").exists()
    assert json.loads((tmp_path / "site" / "results.json").read_text())["rank_comparison"] is None


def test_index_ranks_across_pages_from_ten_datasets(tmp_path):
    scores = {"ridge": 0.3, "svr": 1.0, "mean": 3.0}
    stores = [fake_store(tmp_path / f"s{i}", scores, dataset=f"data{i}") for i in range(10)]
    render_site(stores, tmp_path / "site")
    index = (tmp_path / "site" / "index.html").read_text()
    assert "Mean rank across comparisons" in index and "critical difference" in index
    assert ET.parse(tmp_path / "site" / "plots" / "ranks.svg").getroot().tag == SVG
    ranks = json.loads((tmp_path / "site" / "results.json").read_text())["rank_comparison"]
    assert ranks["candidates"][0] == {"candidate": "ridge", "mean_rank": 1.0}


def test_rank_statistics():
    # Demšar (2006), table 5: q_0.05 = 2.343 for three classifiers.
    assert nemenyi_cd(3, 1) == pytest.approx(2.343 * np.sqrt(2), abs=1e-3)
    assert not_different(np.array([1.0, 1.5, 2.9, 3.0]), 1.0) == ((0, 1), (2, 3))
    import pandas as pd

    rows = [("p", "av-regression", c, v) for c, v in [("a", 0.9), ("b", 0.5)]]
    rows += [("q", "av-regression", c, v) for c, v in [("a", 0.1), ("b", 0.6), ("c", 0.2)]]
    summary = pd.DataFrame(rows, columns=["dataset", "task", "candidate", "r2_mean"])
    summary = summary.assign(status="done", primary="r2_mean")
    assert compare_ranks(summary) is None  # two datasets: too few to rank across
    comparison = compare_ranks(summary, min_datasets=2)
    assert comparison is not None
    assert comparison.candidates == ("a", "b") and comparison.mean_ranks == (1.5, 1.5)
    assert comparison.left_out == (("c", 1),) and comparison.friedman_p is None
    assert compare_ranks(summary[summary["dataset"] == "p"], min_datasets=1) is None
    assert compare_ranks(summarize(pd.DataFrame())) is None


def test_environment_is_strict():
    from jinja2 import StrictUndefined

    env = environment()
    assert env.autoescape is not False
    assert env.undefined is StrictUndefined


def test_slug_and_ticks():
    assert slug("synth", "av-regression") == "synth-av-regression"
    assert slug("My Data", "x/y") == "my-data-x-y"
    assert nice_ticks(0.52, 0.87, 6) == [0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85]


def test_intervals_past_a_metric_s_range_are_cut_there():
    from merbench.leaderboard.figures.plots import CiRow, ci_plot

    rows = [
        CiRow(name="a", mean=0.8, low=0.5, high=1.3, tier="leader", folds=(0.6, 0.9)),
        CiRow(name="b", mean=0.4, low=0.2, high=0.6, tier="worse"),
    ]
    plot = ci_plot(rows, plot_id="p", metric="F1", higher_is_better=True, bounds=(0.0, 1.0))
    texts = [s["text"] for s in plot.shapes if s["kind"] == "text"]
    assert "interval runs past the axis" in texts and "1.3" not in " ".join(texts)
    bars = [s for s in plot.shapes if s["kind"] == "line" and s["tip"].startswith("95 % CI")]
    assert [b["tip"] for b in bars] == ["95 % CI [0.500, 1.300]", "95 % CI [0.200, 0.600]"]
    assert bars[0]["x2"] == max(s["x"] for s in plot.shapes if s["kind"] == "text" and
                                s["text"] == "1.0")  # fmt: skip
    arrows = [s for s in plot.shapes if s["kind"] == "path"]
    assert len(arrows) == 2  # the cut end and its legend entry
    uncut = ci_plot(rows[1:], plot_id="q", metric="F1", higher_is_better=True, bounds=(0, 1))
    assert not any(s["kind"] == "path" for s in uncut.shapes)


def test_rendering_again_removes_the_pages_of_candidates_no_longer_in_the_run(tmp_path):
    site = tmp_path / "site"
    render_site([fake_store(tmp_path / "a", {"ridge": 0.5, "svr": 1.0, "mean": 3})], site)
    svr_page = site / candidate_file("data", "av-regression", "svr")
    assert svr_page.exists()
    notes = site / "notes.txt"
    notes.write_text("mine")
    (site / "plots" / "mine.svg").write_text("<svg/>")
    render_site([fake_store(tmp_path / "b", {"ridge": 0.5, "mean": 3})], site)
    assert not svr_page.exists()
    assert not [p for p in (site / "plots").iterdir() if "svr" in p.name]
    assert (site / candidate_file("data", "av-regression", "ridge")).exists()
    assert notes.read_text() == "mine" and (site / "plots" / "mine.svg").exists()
    written = json.loads((site / ".merbench-site.json").read_text())["files"]
    assert "index.html" in written and "notes.txt" not in written
    assert all((site / name).is_file() for name in written)


def test_a_site_listing_files_outside_it_deletes_nothing_there(tmp_path):
    site = tmp_path / "site"
    outside = tmp_path / "keep.html"
    outside.write_text("keep")
    site.mkdir()
    listing = {"schema": 1, "files": ["../keep.html", str(outside)]}
    (site / ".merbench-site.json").write_text(json.dumps(listing))
    render_site([fake_store(tmp_path / "a", {"ridge": 0.5, "mean": 3})], site)
    assert outside.read_text() == "keep"
