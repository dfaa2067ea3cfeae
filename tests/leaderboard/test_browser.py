"""The leaderboard in a real browser (headless Chromium through Playwright).

Renders the site of a small real run, opens it from file:// and checks what a reader sees: no
console errors, sortable columns that sort numbers as numbers, links to candidate pages, and the
table's rank order without JavaScript. A full-page screenshot of the dataset x task page is saved
to ``$MERBENCH_ARTIFACTS/leaderboard.png`` (default: the test's temporary folder).

Needs the ``playwright`` package (in the ``test`` extra) and the system's Chromium
(``$MERBENCH_CHROMIUM``, else ``chromium`` on PATH, else ``/usr/bin/chromium``); Playwright's own
browser builds are never downloaded. Under CI (``CI=true``) a missing one is a failure; elsewhere
the tests are skipped with the reason and the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from merbench.leaderboard.pages import candidate_file
from merbench.leaderboard.render import render_site
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from merbench.results.urls import sqlite_url

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
]


def _unavailable(reason: str) -> None:
    """Fail under CI (a browser test must never vanish there), else skip saying why."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: the browser test must run in CI)")
    pytest.skip(reason)


def _chromium() -> str:
    chosen = os.environ.get("MERBENCH_CHROMIUM")
    if chosen:
        if not Path(chosen).is_file():
            _unavailable(f"MERBENCH_CHROMIUM={chosen} is not a file: point it at a Chromium binary")
        return chosen
    found = next((c for c in (shutil.which("chromium"), "/usr/bin/chromium") if c), None)
    if found is None or not Path(found).is_file():
        _unavailable(
            "No Chromium for the browser test: install Debian's package "
            "(sudo apt-get install chromium) or set MERBENCH_CHROMIUM to a Chromium binary"
        )
    return str(found)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable(
            "The browser test needs the 'playwright' package: "
            "pip install -e '.[test]' (it uses the system's Chromium, no browser download)"
        )
    executable = _chromium()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def site(install_tones, tmp_path):
    config = install_tones()
    models = ("mean", "ridge", "svr", "random-forest", "broken")
    settings = RunSettings(
        models=models,
        baselines=False,  # the table below counts the candidates asked for
        budget="smoke",
        config=config,
        out=tmp_path / "run",
        render=False,
    )
    run(settings)
    render_site([sqlite_url(tmp_path / "run")], tmp_path / "site", title="tones")
    return tmp_path / "site"


def _open(browser, url: str, *, javascript: bool = True):
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": 1400, "height": 900}
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_load_state("load")
    return page, errors


def _column(page, header: str) -> list[str]:
    index = page.locator("table.results thead th").all_inner_texts().index(header)
    cells = page.locator(f"table.results tbody tr td:nth-child({index + 1})")
    return [cells.nth(i).get_attribute("data-sort") or "" for i in range(cells.count())]


def test_site_in_a_browser(browser, site, tmp_path):
    page, errors = _open(browser, (site / "index.html").as_uri())
    assert "tones" in page.title()
    page.click("text=av-regression")
    page.wait_for_url("**/tones-av-regression.html")
    ranks = [float(v) for v in _column(page, "Rank")]
    assert ranks == sorted(ranks) and len(ranks) == 4
    page.click("table.results thead th:has-text('Params')")
    params = [float(v) for v in _column(page, "Params")]
    assert params == sorted(params) and len(set(params)) > 2  # numbers, compared as numbers
    assert (
        page.get_attribute("table.results thead th:has-text('Params')", "aria-sort") == "ascending"
    )
    page.click("table.results thead th:has-text('Params')")
    assert [float(v) for v in _column(page, "Params")] == sorted(params, reverse=True)
    page.click("table.results thead th:has-text('R² (mean)')")  # higher is better: best first
    scores = [float(v) for v in _column(page, "R² (mean)")]
    assert scores == sorted(scores, reverse=True)

    # Default against tuned: every tuned candidate, none of the baselines; gains sort as numbers.
    names = page.locator("table.tuning tbody td.candidate").all_inner_texts()
    assert sorted(names) == ["random-forest@handcrafted", "ridge@handcrafted", "svr@handcrafted"]
    page.click("table.tuning thead th:has-text('Gain')")
    gains = page.locator("table.tuning tbody tr td:nth-child(4)")
    values = [float(gains.nth(i).get_attribute("data-sort")) for i in range(gains.count())]
    assert values == sorted(values, reverse=True)

    artifacts = Path(os.environ.get("MERBENCH_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artifacts / "leaderboard.png"), full_page=True)
    assert (artifacts / "leaderboard.png").stat().st_size > 10_000

    page.click("table.results a:has-text('ridge@handcrafted')")
    page.wait_for_url("**/" + candidate_file("tones", "av-regression", "ridge@handcrafted"))
    assert page.inner_text("h1").startswith("ridge@handcrafted")
    assert page.locator("table.folds tbody tr").count() == 3
    assert page.locator("#tuning ~ figure svg polyline").count() == 3
    assert page.locator("table.params code").all_inner_texts() == ["alpha"]
    default = page.locator("table.folds thead th").all_inner_texts().index("Default R² (mean)")
    scores = page.locator(f"table.folds tbody td:nth-child({default + 1})")
    assert [float(scores.nth(i).get_attribute("data-sort")) for i in range(3)]  # one per fold
    study = page.locator("#study ~ div.study figure svg")
    assert study.count() == 1  # ridge tunes one parameter: alpha against the validation score
    assert "alpha (log scale)" in study.first.inner_html()
    assert study.first.bounding_box()["width"] > 200  # drawn, not collapsed
    assert errors == []


def test_the_index_links_the_methods_card(browser, site):
    page, errors = _open(browser, (site / "index.html").as_uri())
    page.click("a:has-text('methods card')")
    page.wait_for_url("**/methods.md")
    text = page.inner_text("body")
    assert text.startswith("# Methods: tones")
    assert "| alpha | float | 0.001 to 1000 | log |" in text
    assert errors == []


A4_WIDTH = 718
"""CSS pixels across an A4 page less 1 cm margins."""
PHONE_WIDTH = 420


def test_pages_read_without_javascript_on_paper_and_on_a_phone(browser, site):
    page, errors = _open(browser, (site / "tones-av-regression.html").as_uri(), javascript=False)
    ranks = [float(v) for v in _column(page, "Rank")]
    assert ranks == sorted(ranks)
    assert page.locator("figure.plot svg").count() == 1
    assert "broken on purpose" in page.inner_text("table.failures")
    assert errors == []
    # Nothing runs off the side: tables and wide plots scroll inside their boxes on a phone and
    # fit an A4 page in print.
    ridge = candidate_file("tones", "av-regression", "ridge@handcrafted")
    for name in ("index.html", "tones-av-regression.html", ridge, "dataset_tones.html"):
        for media, width in (("print", A4_WIDTH), ("screen", PHONE_WIDTH)):
            context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            page.emulate_media(media=media)
            page.goto((site / name).as_uri())
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, media)
            context.close()


def test_a_table_with_a_failed_fold_sorts_on_every_column(browser, install_tones, tmp_path):
    config = install_tones()
    settings = RunSettings(
        models=("ridge",), budget="smoke", config=config, out=tmp_path / "run", render=False
    )
    run(settings)
    with sqlite3.connect(tmp_path / "run" / "results.sqlite") as db:
        db.execute(
            "UPDATE cells SET status = 'failed', error = 'ran out of memory', metrics = NULL, "
            "best_params = NULL, timings = NULL, info = NULL "
            "WHERE candidate = 'ridge@handcrafted' AND task = 'av-regression' AND fold = 1"
        )
    render_site([sqlite_url(tmp_path / "run")], tmp_path / "site", title="tones")
    name = candidate_file("tones", "av-regression", "ridge@handcrafted")
    page, errors = _open(browser, (tmp_path / "site" / name).as_uri())
    headers = page.locator("table.folds thead th")
    for i in range(headers.count()):
        headers.nth(i).click()
        assert errors == [], headers.nth(i).inner_text()
    statuses = page.locator("table.folds tbody tr td:nth-child(2)")
    for _ in range(2):  # high-to-low, then low-to-high: the fold without a score stays last
        page.click("table.folds thead th:has-text('R² (mean)')")
        assert statuses.all_inner_texts() == ["done", "done", "failed"]
    assert "ran out of memory" in page.inner_text("table.folds tbody tr:last-child")
    assert errors == []
