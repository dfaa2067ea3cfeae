"""Split protocols side by side: grouped and random folds in one run, and the leakage gap."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from merbench.api import load_results
from merbench.errors import RunError
from merbench.leaderboard.render import render_site
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from merbench.results.protocols import _difference_ci, primary_protocol, split_by_protocol
from merbench.results.store import Store


def test_the_primary_protocol_is_grouped_then_official_then_random():
    assert primary_protocol(["random", "grouped"]) == "grouped"
    assert primary_protocol(["random", "official"]) == "official"
    assert primary_protocol(["random"]) == "random"


def test_cells_of_other_protocols_are_set_apart_and_old_cells_count_as_grouped():
    cells = pd.DataFrame(
        {
            "dataset": ["d"] * 3,
            "task": ["t"] * 3,
            "split": [None, "random", "grouped"],
        }
    )
    primary, other = split_by_protocol(cells)
    assert primary["split"].tolist() == ["grouped", "grouped"]
    assert other["split"].tolist() == ["random"]


def test_the_gap_interval_is_welchs():
    random, grouped = np.array([0.6, 0.7, 0.8]), np.array([0.3, 0.4, 0.5, 0.6])
    gap, low, high = _difference_ci(random, grouped)
    se = math.sqrt(random.var(ddof=1) / 3 + grouped.var(ddof=1) / 4)
    assert gap == pytest.approx(0.25)
    assert (high - low) / 2 / se == pytest.approx(2.57, abs=0.05)  # t(0.975) at ~4.9 df


def test_one_run_evaluates_grouped_and_random_folds_and_the_page_shows_the_gap(
    install_tones, tmp_path
):
    config = install_tones()
    settings = RunSettings(
        models=("ridge", "artist-prior"),
        baselines=False,
        split=("grouped", "random"),
        budget="smoke",
        config=config,
        out=tmp_path / "run",
        jobs=1,
    )
    outcome = run(settings)
    assert outcome.ok, outcome
    store = Store(outcome.store_url)
    cells = pd.DataFrame(store.table("cells"))
    splits = pd.DataFrame(store.table("splits"))
    store.close()
    assert cells.groupby("split").size().to_dict() == {"grouped": 6, "random": 6}
    assert sorted(splits["protocol"]) == ["grouped", "random"]
    audits = {r["protocol"]: r["audit"] for r in splits.to_dict("records")}
    assert audits["grouped"]["leakage"] == 0 and audits["random"]["leakage"] > 0
    assert splits["hash"].nunique() == 2
    again = run(settings)  # resumes: both protocols' cells are kept
    assert again.counts == {"done": 0, "failed": 0, "resumed": 12}
    index = render_site([outcome.store_url], tmp_path / "site", title="t")
    page = (index.parent / "tones-av-regression.html").read_text()
    assert "Split protocols and leakage" in page and "Leakage gap (random)" in page
    assert "artist-prior" in page
    assert "Window (s)" in page and "Hop between windows (s)" in page


def test_every_protocol_is_in_results_csv_json_and_the_terminal_summary(
    install_tones, tmp_path, monkeypatch
):
    import json

    from click.testing import CliRunner

    from merbench.cli import main

    monkeypatch.chdir(tmp_path)
    args = ["run", "-m", "ridge", "--split", "grouped,random", "--budget", "smoke"]
    args += ["--config", str(install_tones()), "--out", "run", "--leaderboard", "site"]
    result = CliRunner().invoke(main, [*args, "--no-progress"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "tones / av-regression: random folds, leakage gap = random - ranked" in result.output
    assert "r2_mean (random)" in result.output and "leakage gap [95% CI]" in result.output
    table = pd.read_csv(tmp_path / "site" / "results.csv")
    assert list(table.columns[:4]) == ["dataset", "task", "split", "candidate"]
    candidates = {"ridge@handcrafted", "mean", "artist-prior"}
    for split in ("grouped", "random"):
        rows = table[table["split"] == split]
        assert set(rows["candidate"]) == candidates and rows["r2_mean"].notna().all()
    assert table.loc[table["split"] == "random", "rank"].isna().all()  # ranked when grouped
    assert table.loc[table["split"] == "grouped", "rank"].notna().all()
    data = json.loads((tmp_path / "site" / "results.json").read_text())
    assert set(data["summary_by_split"]) == {"grouped", "random"}
    assert {r["split"] for r in data["summary"]} == {"grouped"}
    prior = {r["split"]: r for r in table[table["candidate"] == "artist-prior"].to_dict("records")}
    assert prior["random"]["r2_mean"] == pytest.approx(prior["grouped"]["r2_mean_random"])
    _the_run_result_ranks_as_the_files_do(tmp_path / "run", table, data)


def _the_run_result_ranks_as_the_files_do(run_dir, table, data):
    """``RunResult.summaries``, ``results.csv`` and ``results.json`` rank the same candidates
    under the same protocol: grouped ranks, random is summarised beside it, unranked."""
    result = load_results(run_dir)
    assert list(result.summaries) == ["grouped", "random"]
    columns = ["candidate", "rank", "tier", "is_leader", "tier_test", "r2_mean"]
    for split, summary in result.summaries.items():
        ours = summary[columns].sort_values("candidate").reset_index(drop=True)
        csv = table.loc[table["split"] == split, columns].sort_values("candidate")
        json_rows = pd.DataFrame(data["summary_by_split"][split])[columns]
        for theirs in (csv, json_rows.sort_values("candidate")):
            theirs = theirs.reset_index(drop=True)
            assert ours["candidate"].tolist() == theirs["candidate"].tolist(), split
            for column in ("rank", "tier", "is_leader", "tier_test"):
                mine, other = ours[column].tolist(), theirs[column].tolist()
                assert [_plain(v) for v in mine] == [_plain(v) for v in other], (split, column)
            assert ours["r2_mean"].to_numpy() == pytest.approx(theirs["r2_mean"].to_numpy())
    assert result.summaries["random"]["rank"].isna().all()
    assert result.summaries["grouped"]["rank"].notna().all()
    ranked = pd.DataFrame(data["summary"])
    assert sorted(result.summary["candidate"]) == sorted(ranked["candidate"])


def _plain(value):
    """A cell as one comparable value: missing is None, numbers are floats."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value if isinstance(value, str) else float(value)


def test_a_run_made_with_its_datasets_own_split_takes_the_random_protocol_beside_it(
    install_tones, tmp_path
):
    config = install_tones()
    plain = RunSettings(models=("mean",), baselines=False, budget="smoke", config=config,
                        out=tmp_path / "run", jobs=1)  # fmt: skip
    assert run(plain).counts == {"done": 3, "failed": 0, "resumed": 0}
    both = run(replace(plain, split=("grouped", "random")))
    assert both.counts == {"done": 3, "failed": 0, "resumed": 3}
    assert run(plain).counts == {"done": 0, "failed": 0, "resumed": 3}


def test_a_run_asked_for_fewer_protocols_says_what_it_was_made_with(install_tones, tmp_path):
    config = install_tones()
    both = RunSettings(models=("mean",), baselines=False, budget="smoke", config=config,
                       out=tmp_path / "run", jobs=1, split=("grouped", "random"))  # fmt: skip
    run(both)
    with pytest.raises(RunError, match=r"made with --split grouped,random; this command asks "
                       r"for --split random\. Pass --split grouped,random"):  # fmt: skip
        run(replace(both, split=("random",)))
