"""Exported models shared by the tests of this folder: one smoke run, exports made on demand."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from merbench.cli import main
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from tests.helpers.exports import REGRESSION
from tests.helpers.plugins import SYNTH_TOML


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A smoke run on a small synth set of 5 s clips (3 windows each): a torch and a
    scikit-learn candidate, regression and quadrant classification."""
    root = tmp_path_factory.mktemp("export")
    config = root / "datasets.toml"
    config.write_text(SYNTH_TOML.format(n_clips=40, seconds=5.0))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MERBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        patch.setenv("MERBENCH_JOBS", "1")
        settings = RunSettings(
            models=("cnn2d@mel", "ridge@handcrafted"),
            tasks=(REGRESSION, "quadrant"),
            budget="smoke",
            config=config,
            out=root / "run",
            render=False,
        )
        assert run(settings).ok
    return root / "run"


@pytest.fixture(scope="session")
def exports(run_dir, tmp_path_factory):
    """Export on demand, once per (candidate, task, params) in the session."""
    made: dict[tuple[str, str, str], Path] = {}
    root = tmp_path_factory.mktemp("models")

    def export(candidate: str, task: str = REGRESSION, params: str = "final-study") -> Path:
        key = (candidate, task, params)
        if key not in made:
            out = root / f"{len(made)}"
            args = ["export", str(run_dir), "--candidate", candidate, "--task", task]
            result = CliRunner().invoke(main, [*args, "--params", params, "--out", str(out)])
            assert result.exit_code == 0, result.output
            made[key] = out
        return made[key]

    return export
