"""A run records what its dataset plugins say of themselves, and the dataset page shows it."""

from __future__ import annotations

import json
import sys

from click.testing import CliRunner

from merbench.cli import main
from merbench.leaderboard.render import render_site
from merbench.pipeline.runner import run as run_core
from merbench.pipeline.settings import RunSettings
from tests.helpers.plugins import TONES

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


BROKEN_AUDIO = TONES.replace(
    '    return pd.DataFrame(write_tone_dataset(Path(root) / "audio", n_tracks=n_tracks))',
    '    rows = write_tone_dataset(Path(root) / "audio", n_tracks=n_tracks)\n'
    '    Path(rows[3]["audio_path"]).write_bytes(b"not audio at all")\n'
    "    return pd.DataFrame(rows)",
)


def test_published_files_carry_no_absolute_local_path(install_tones, tmp_path, monkeypatch):
    assert BROKEN_AUDIO != TONES
    config = install_tones(BROKEN_AUDIO)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the run's paths are outside the working folder
    args = ["run", "-m", "mean", "--budget", "smoke", "--config", str(config),
            "--out", str(tmp_path / "run"), "--leaderboard", str(tmp_path / "site")]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/merbench", *args])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    site = tmp_path / "site"
    published = [p for p in site.rglob("*") if p.suffix in (".html", ".json", ".csv")]
    assert {"results.json", "provenance.json", "dataset_tones.html"} <= {p.name for p in published}
    for path in published:
        text = path.read_text()
        for local in {str(tmp_path), str(tmp_path.resolve()), "/usr/local/bin"}:
            assert local not in text, f"{path.name} names {local}"
    reasons = [row["reason"] for row in json.loads((site / "results.json").read_text())[
        "skipped_tracks"]]  # fmt: skip
    assert len(reasons) == 1 and reasons[0].startswith("audio/track-003.wav: "), reasons
    provenance = json.loads((site / "provenance.json").read_text())["runs"][0]["provenance"]
    assert provenance["config"]["path"] == "datasets.toml"
    assert provenance["command"].startswith("merbench run -m mean --budget smoke --config ")
    log = (tmp_path / "run" / "run.log").read_text()
    assert str(tmp_path / "data" / "audio" / "track-003.wav") in log  # the local log keeps it
