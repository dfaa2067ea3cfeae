"""The transfer page: a matrix per task and candidate, every name escaped."""

from __future__ import annotations

import pandas as pd

from merbench.leaderboard.collect import Collected
from merbench.leaderboard.render import environment
from merbench.leaderboard.transfer import transfer_page

EVIL = "<script>alert(1)</script>"


def _entry(source, target, ccc, **more):
    return {
        "task": "av-regression", "candidate": f"ridge@{EVIL}", "source": source,
        "target": target, "is_diagonal": source == target, "metric": "ccc_mean",
        "n_test": 10, "ccc_mean": ccc, "pearson_mean": ccc, "r2_standardised_mean": ccc,
        "n_removed": 0, "tier": 1, "is_column_best": source == target,
    } | more  # fmt: skip


def test_the_matrix_page_shows_scores_drops_and_removed_songs_escaped():
    matrix = pd.DataFrame(
        [
            _entry("a", "a", 0.7),
            _entry("b", "a", 0.4, drop=0.3, drop_low=0.1, drop_high=0.5, tier=2, n_removed=2),
            _entry("b", "b", 0.6),
        ]
    )
    audit = {
        "protocol": "transfer", "source": "b", "target": "a", "n_train": 12, "n_tracks": 10,
        "n_removed": 2, "removed": {EVIL: "metadata", "t2": "fingerprint"},
        "fingerprints": True, "scales": {"a": [1, 9], "b": [0, 1]},
    }  # fmt: skip
    collected = Collected(
        runs=[], cells=pd.DataFrame(), trials=pd.DataFrame(), predictions=pd.DataFrame(),
        splits={("b>a", "av-regression"): {"hash": "x", "audit": audit, "run_index": 0}},
        skipped=pd.DataFrame(), duplicates=[], split_conflicts=[],
    )  # fmt: skip
    page = transfer_page(matrix, collected)
    (section,) = page["sections"]
    assert section["datasets"] == ["a", "b"]
    assert [c is None for c in section["grid"][0]["cells"]] == [False, True]  # no a -> b entry
    html = (
        environment()
        .get_template("transfer.html")
        .render(page=page, title="t", version="0", runs=[])
    )
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "drop 0.300 [0.100, 0.500]" in html
    assert "tier 2" in html and "in-domain" in html
    text = " ".join(html.split())
    assert (
        "labels 0..1 mapped onto \N{MINUS SIGN}1..1; quadrants and high/low classes split at 0.5"
        in text
    )
    row = html[html.index("<td>b</td><td>a</td>") :]
    assert [c.split("<")[0] for c in row.split('<td class="num">')[1:6]] == [
        "12",
        "10",
        "2",
        "1",
        "1",
    ]
    assert transfer_page(pd.DataFrame(), collected) is None
