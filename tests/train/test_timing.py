"""Cell time breakdown: exclusive phases that add up, stored with each cell, shown on its page."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from merbench.leaderboard.candidate import time_breakdown
from merbench.leaderboard.pages import candidate_file
from merbench.leaderboard.render import render_site
from merbench.results.store import Store
from merbench.results.urls import sqlite_url
from merbench.train.timing import measuring, phase, shares, tally


class FakeTime:
    """Seconds that move only when a test advances them."""

    def __init__(self) -> None:
        self.now = 100.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_nested_phases_are_exclusive_and_add_up_to_the_total() -> None:
    time = FakeTime()
    with measuring(time) as clock:
        time.advance(0.5)
        with phase("train"):
            time.advance(3.0)
            with phase("augment"):
                time.advance(2.0)
            time.advance(0.25)
        time.advance(1.0)
    # train's 5.25 s less augment's 2 s; other: 6.75 s less the 5.25 s inside train
    assert dict(clock.seconds) == {"augment": 2.0, "train": 3.25, "other": 1.5, "total": 6.75}


def test_a_phase_opened_twice_adds_up_and_depth_does_not_matter() -> None:
    time = FakeTime()
    with measuring(time) as clock:
        for seconds in (1.0, 0.5):
            with phase("validate"):
                time.advance(seconds)
        with phase("train"), phase("setup"), phase("augment"):
            time.advance(0.25)
            with phase("augment"):
                time.advance(2.0)
    assert dict(clock.seconds) == {
        "validate": 1.5,
        "augment": 2.25,
        "setup": 0.0,
        "train": 0.0,
        "other": 0.0,
        "total": 3.75,
    }


def test_a_phase_left_by_an_exception_still_counts() -> None:
    time = FakeTime()
    with pytest.raises(ValueError), measuring(time) as clock:
        with phase("fit"):
            time.advance(4.0)
            raise ValueError("fit failed")
    assert dict(clock.seconds) == {"fit": 4.0, "other": 0.0, "total": 4.0}


def test_a_tally_counts_its_block_again_beside_the_phases_and_not_in_the_total() -> None:
    time = FakeTime()
    with measuring(time) as clock:
        for epoch, seconds in ((1, 3.0), (2, 1.0), (3, 1.0)):
            with tally("first_epoch") if epoch == 1 else phase("train"), phase("train"):
                time.advance(seconds)
                with phase("augment"):
                    time.advance(0.5)
    assert dict(clock.tallies) == {"first_epoch": 3.5}  # wall time, nested phases included
    assert clock.seconds["train"] == 5.0 and clock.seconds["total"] == 6.5
    with tally("first_epoch"):  # no clock open: nothing
        time.advance(1.0)
    assert dict(clock.tallies) == {"first_epoch": 3.5}


def test_phase_without_an_open_clock_measures_nothing() -> None:
    time = FakeTime()
    with phase("train"):
        time.advance(1.0)
    assert time.reads == 0
    with measuring(time) as clock:
        pass
    assert dict(clock.seconds) == {"other": 0.0, "total": 0.0}
    with measuring() as clock:  # the default clock: time.perf_counter
        pass
    assert set(clock.seconds) == {"other", "total"} and clock.seconds["total"] >= 0


def test_shares_leave_the_total_out() -> None:
    assert shares({"train": 3.0, "validate": 1.0, "total": 4.2}) == {
        "train": 0.75,
        "validate": 0.25,
    }


def test_cells_store_their_phases_and_the_page_shows_them(evil_run, tmp_path) -> None:
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
