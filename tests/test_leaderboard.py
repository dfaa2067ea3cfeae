"""The rendered site: pages, data files, escaping of third-party text, failed-only tasks."""

from __future__ import annotations

import json

import pytest

from merbench.leaderboard.render import environment, render_site, slug
from merbench.runner import RunSettings, run
from merbench.store import sqlite_url
from tests.test_runner import TONES

EVIL = TONES.replace(
    'raise RuntimeError("this model is broken on purpose")',
    'raise RuntimeError("<script>alert(1)</script>")',
)


@pytest.fixture
def evil_run(distributions, tmp_path, monkeypatch):
    distributions.install(
        "merbench-tones", "0.1", {"tones": "merbench_tones"}, {"merbench_tones": EVIL}
    )
    (tmp_path / "data").mkdir()
    config = tmp_path / "datasets.toml"
    config.write_text(f'[datasets.tones]\npath = "{tmp_path / "data"}"\n')
    monkeypatch.chdir(tmp_path)
    run(RunSettings(models=("mean", "ridge", "broken"), budget="smoke", config=config,
                    out=tmp_path / "run", render=False))  # fmt: skip
    return tmp_path / "run"


def test_site_pages_and_data(evil_run, tmp_path):
    index = render_site([sqlite_url(evil_run)], tmp_path / "site", title="T <b>itle</b>")
    html = index.read_text()
    assert "T &lt;b&gt;itle&lt;/b&gt;" in html and "<b>itle" not in html
    assert 'href="tones-av-regression.html"' in html
    page = (tmp_path / "site" / "tones-av-regression.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert page.count('class="badge leader"') >= 1
    assert "baseline" in page
    data = json.loads((tmp_path / "site" / "results.json").read_text())
    assert data["schema"] == 1
    names = {row["candidate"] for row in data["summary"]}
    assert names == {"mean", "ridge@handcrafted", "broken@handcrafted"}
    provenance = json.loads((tmp_path / "site" / "provenance.json").read_text())
    assert provenance[0]["settings"] == {"budget": "smoke", "seed": 0, "top_k": None}
    assert any(
        p["distribution"] == "merbench-tones" for p in provenance[0]["provenance"]["plugins"]
    )
    assert (tmp_path / "site" / "style.css").exists() and (tmp_path / "site" / "sort.js").exists()


def test_a_task_where_every_cell_failed_still_renders(distributions, tmp_path, monkeypatch):
    distributions.install(
        "merbench-tones", "0.1", {"tones": "merbench_tones"}, {"merbench_tones": TONES}
    )
    (tmp_path / "data").mkdir()
    config = tmp_path / "datasets.toml"
    config.write_text(f'[datasets.tones]\npath = "{tmp_path / "data"}"\n')
    monkeypatch.chdir(tmp_path)
    settings = RunSettings(
        models=("broken",), budget="smoke", config=config, out=tmp_path / "run",
        leaderboard=tmp_path / "site",
    )  # fmt: skip
    outcome = run(settings)
    assert outcome.counts["failed"] == 3
    page = (tmp_path / "site" / "tones-av-regression.html").read_text()
    assert "broken on purpose" in page


def test_environment_is_strict():
    from jinja2 import StrictUndefined

    env = environment()
    assert env.autoescape is not False
    assert env.undefined is StrictUndefined


def test_slug():
    assert slug("synth", "av-regression") == "synth-av-regression"
    assert slug("My Data", "x/y") == "my-data-x-y"
