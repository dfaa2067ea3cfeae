"""Published results: a dataset plugin lists them, the registry checks them, pages show them."""

from __future__ import annotations

import dataclasses
import math
import types

import pytest

import merbench
from merbench.data.config import Config, DatasetConfig
from merbench.leaderboard.render import render_site
from merbench.pipeline.provenance import _datasets
from merbench.plugin.registry import load_registry
from merbench.plugin.specs import SPLIT_PROTOCOLS, TASKS
from merbench_plugins.datasets import (
    deam,
    emomusic,
    folder,
    fourq,
    merge,
    merp,
    mtg_moodtheme,
    pmemo,
    synth,
)
from tests.helpers.plugins import EVIL
from tests.helpers.stores import fake_store

RESULT = merbench.PublishedResult(
    task="av-regression",
    metric="R² (arousal)",
    score=0.61,
    protocol="grouped",
    model="CNN",
    source="Doe (2020), Table 2",
)


def dataset_plugin(literature):
    """A plugin module whose one dataset lists ``literature``."""
    module = types.ModuleType("lit_plugin")
    module.MERBENCH_PLUGIN_API = 1

    @merbench.hookimpl
    def merbench_datasets():
        yield merbench.DatasetSpec(
            name="lit", load=lambda root: None, tasks=("av-regression",), literature=literature
        )

    module.merbench_datasets = merbench_datasets
    return module


def test_a_valid_literature_is_kept():
    registry = load_registry(plugins=[dataset_plugin((RESULT,))], entry_points=False)
    assert registry.failures == []
    assert registry.dataset("lit").literature == (RESULT,)


@pytest.mark.parametrize(
    ("literature", "message"),
    [
        ([RESULT], "literature is a list; use a tuple of merbench.PublishedResult."),
        (({"score": 0.6},), "literature[0] is a dict, expected merbench.PublishedResult."),
        (
            (RESULT, dataclasses.replace(RESULT, protocol="shuffled")),
            "literature[1] protocol 'shuffled' is not one of grouped, random, official, unknown",
        ),
        ((dataclasses.replace(RESULT, task="emotion"),), "literature[0] task 'emotion' is not"),
        (
            (dataclasses.replace(RESULT, score="0.61"),),
            "literature[0] score '0.61' is not a finite number.",
        ),
        (
            (dataclasses.replace(RESULT, score=math.nan),),
            "literature[0] score nan is not a finite number.",
        ),
        (
            (dataclasses.replace(RESULT, source=" "),),
            "literature[0] source ' ' is not a non-empty string.",
        ),
        ((dataclasses.replace(RESULT, note=None),), "literature[0] note None is not a string."),
    ],
)
def test_a_wrong_literature_is_refused(literature, message):
    registry = load_registry(plugins=[dataset_plugin(literature)], entry_points=False)
    assert registry.datasets == {}
    (failure,) = registry.failures
    assert f"dataset 'lit': {message}" in failure.message
    assert failure.message.endswith("Skipped.")


FIRST_PARTY = (deam, emomusic, folder, fourq, merge, merp, mtg_moodtheme, pmemo, synth)


def test_first_party_literature_is_well_formed():
    registry = load_registry(plugins=list(FIRST_PARTY), entry_points=False)
    assert registry.failures == []
    for spec in registry.datasets.values():
        for result in spec.literature:
            assert result.task in spec.tasks and result.protocol in SPLIT_PROTOCOLS
            assert result.task in TASKS and "(20" in result.source  # a year in the citation
    literature = {name: spec.literature for name, spec in registry.datasets.items()}
    assert {name for name, results in literature.items() if results} == {
        "pmemo",
        "fourq",
        "merge",
        "mtg-moodtheme",
    }
    assert sorted(r.score for r in literature["merge"]) == [0.7921, 0.8174]
    assert {(r.task, r.protocol) for r in literature["merge"]} == {("quadrant", "official")}
    assert {(r.metric, r.score) for r in literature["mtg-moodtheme"][:2]} == {
        ("ROC-AUC (macro)", 0.772913),
        ("PR-AUC (macro)", 0.154609),
    }
    assert {r.protocol for r in literature["mtg-moodtheme"]} == {"official"}
    assert [r.score for r in literature["fourq"]] == [0.764]
    assert {r.protocol for r in literature["fourq"]} == {"random"}
    grouped = {r.metric: r.score for r in literature["pmemo"] if r.protocol == "grouped"}
    assert grouped == {"R² (arousal)": 0.61, "R² (valence)": 0.41}
    rmse = [r.score for r in literature["pmemo"] if r.metric.startswith("RMSE")]
    assert len(rmse) == 4 and all(0 < score < 1 for score in rmse)  # PMEmo's 0..1 scale


def test_provenance_carries_the_literature():
    registry = load_registry(plugins=[dataset_plugin((RESULT,))], entry_points=False)
    config = Config(
        source=None,
        datasets=(DatasetConfig(name="mine", plugin="lit", path=None, options={}),),
    )
    (entry,) = _datasets(registry, config)["mine"]["literature"]
    assert entry == dataclasses.asdict(RESULT)


def test_dataset_page_shows_the_literature_escaped(tmp_path):
    literature = [
        dataclasses.asdict(dataclasses.replace(RESULT, model=f"CNN {EVIL}", note="see p. 3")),
        dataclasses.asdict(dataclasses.replace(RESULT, protocol="random", score=0.764)),
        {**dataclasses.asdict(RESULT), "protocol": f"{EVIL}", "score": "high"},
    ]
    provenance = {"merbench": "0.1.0", "datasets": {"data": {"literature": literature}}}
    url = fake_store(tmp_path / "a", {"ridge": 0.5}, provenance=provenance)
    render_site([url], tmp_path / "site")
    html = (tmp_path / "site" / "dataset_data.html").read_text()
    table = html.split('<table class="compact literature">')[1].split("</table>")[0]
    assert "CNN &lt;script&gt;alert(1)&lt;/script&gt;" in table and EVIL not in html
    assert table.count("<strong>grouped</strong> (artist-exclusive)") == 1
    assert "<td>random</td>" in table and "<td>unknown</td>" in table  # an odd protocol
    assert "0.61" in table and "0.764" in table and "Doe (2020), Table 2" in table
    assert "Only results under a grouped (artist-exclusive)" in html


def test_dataset_page_without_literature_has_no_table(tmp_path):
    url = fake_store(tmp_path / "a", {"ridge": 0.5})
    render_site([url], tmp_path / "site")
    assert "Published results" not in (tmp_path / "site" / "dataset_data.html").read_text()
