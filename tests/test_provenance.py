"""A run records what its dataset plugins say of themselves, and the dataset page shows it."""

from __future__ import annotations

import json

from merbench.leaderboard.render import render_site
from merbench.runner import run as run_core
from merbench.settings import RunSettings
from tests.conftest import TONES

DESCRIBED = TONES.replace(
    'options={"n_tracks": 24})',
    'options={"n_tracks": 24}, version="2.1", license="CC <b>BY</b> 4.0",\n'
    '                               citation="Tone & Pulse (2026)",\n'
    '                               homepage="javascript:alert(1)")',
)


def run(settings, **kwargs):
    """Run like ``merbench run``: the core's run, then the site the CLI renders."""
    outcome = run_core(settings, **kwargs)
    if settings.render:
        render_site([outcome.store_url], outcome.site_dir, title=outcome.name)
    return outcome


def test_dataset_citation_licence_and_scale_reach_the_dataset_page(install_tones, tmp_path):
    assert DESCRIBED != TONES
    config = install_tones(DESCRIBED)
    settings = RunSettings(
        models=("mean",), budget="smoke", config=config, out=tmp_path / "run",
        leaderboard=tmp_path / "site",
    )  # fmt: skip
    run(settings)
    provenance = json.loads((tmp_path / "site" / "provenance.json").read_text())
    text = json.dumps(provenance)
    assert "Tone & Pulse (2026)" in text and '"low": 1' in text
    page = (tmp_path / "site" / "dataset_tones.html").read_text()
    assert "Tone &amp; Pulse (2026)" in page
    assert "CC &lt;b&gt;BY&lt;/b&gt; 4.0" in page and "<b>BY</b>" not in page
    assert "javascript:" not in page
    assert "2.1" in page
