"""Cell time breakdown: exclusive phases that add up, stored with each cell, shown on its page."""

from __future__ import annotations

import re
import time

import pandas as pd
import pytest

from merbench.leaderboard.candidate import time_breakdown
from merbench.leaderboard.pages import candidate_file
from merbench.leaderboard.render import render_site
from merbench.results.store import Store
from merbench.results.urls import sqlite_url
from merbench.train.timing import measuring, phase, shares
from tests.leaderboard.test_leaderboard import evil_run  # noqa: F401 (fixture)


def test_nested_phases_are_exclusive_and_add_up_to_the_total() -> None:
    started = time.perf_counter()
    with measuring() as clock:
        with phase("train"):
            time.sleep(0.03)
            with phase("augment"):
                time.sleep(0.02)
        time.sleep(0.01)
    wall = time.perf_counter() - started
    seconds = dict(clock.seconds)
    total = seconds.pop("total")
    assert seconds["augment"] == pytest.approx(0.02, abs=0.015)
    assert seconds["train"] == pytest.approx(0.03, abs=0.015)  # augment's time left out
    assert seconds["other"] == pytest.approx(0.01, abs=0.015)
    assert sum(seconds.values()) == pytest.approx(total)
    assert total == pytest.approx(wall, abs=2e-3)


def test_phase_without_an_open_clock_measures_nothing() -> None:
    with phase("train"):
        pass
    with measuring() as clock:
        pass
    assert set(clock.seconds) == {"other", "total"}


def test_shares_leave_the_total_out() -> None:
    assert shares({"train": 3.0, "validate": 1.0, "total": 4.2}) == {
        "train": 0.75,
        "validate": 0.25,
    }


def test_cells_store_their_phases_and_the_page_shows_them(evil_run, tmp_path) -> None:  # noqa: F811
    store = Store(sqlite_url(evil_run), create=False)
    try:
        rows = store.table("cells")
    finally:
        store.close()
    done = [r for r in rows if r["status"] == "done"]
    assert done
    for cell in done:
        timings = cell["timings"]
        phases = {k: v for k, v in timings.items() if k.startswith("phase_")}
        assert phases["phase_total_s"] >= timings["tune_s"]
        parts = sum(v for k, v in phases.items() if k not in ("phase_total_s", "phase_store_s"))
        assert parts == pytest.approx(phases["phase_total_s"], rel=1e-6)
        assert phases["phase_store_s"] >= 0
        if cell["candidate"].startswith("ridge"):
            assert phases["phase_fit_s"] > 0 and phases["phase_frontends_s"] > 0
    render_site([sqlite_url(evil_run)], tmp_path / "site", title="t")
    page = tmp_path / "site" / candidate_file("tones", "av-regression", "ridge@handcrafted")
    html = page.read_text()
    section = html.split('id="time"')[1].split("</table>")[0]
    shares = [float(v) for v in re.findall(r">([\d.]+) %<", section)]
    assert "<code>fit</code>" in section and sum(shares) == pytest.approx(100, abs=0.5)


def test_breakdown_sums_finished_folds_only() -> None:
    raw = pd.DataFrame(
        {
            "status": ["done", "done", "failed"],
            "timings": [
                {"phase_train_s": 8.0, "phase_validate_s": 2.0, "phase_total_s": 10.0},
                {"phase_train_s": 6.0, "phase_validate_s": 4.0, "phase_total_s": 10.0},
                {"phase_train_s": 100.0},
            ],
        }
    )
    breakdown = time_breakdown(raw)
    assert breakdown is not None
    assert breakdown["n_folds"] == 2
    assert [(r["phase"], r["seconds"]) for r in breakdown["rows"]] == [
        ("train", 14.0),
        ("validate", 6.0),
    ]
    assert breakdown["rows"][0]["share"] == pytest.approx(0.7)
    assert time_breakdown(raw.iloc[2:]) is None
