"""Shared fixtures: installed-for-real plugin distributions, a tiny synth config, a cache dir."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets merbench caches in one session-wide temporary folder, never ~/.cache."""
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("MERBENCH_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("MERBENCH_STRICT_PLUGINS", raising=False)
    # One process per run unless a test asks for more: test plugins installed on sys.path by a
    # fixture are not importable from the worker processes that --jobs would start.
    monkeypatch.setenv("MERBENCH_JOBS", "1")


class Distributions:
    """Writes ``<name>-<version>.dist-info`` folders and modules into a folder on ``sys.path``."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.modules: list[str] = []
        monkeypatch.syspath_prepend(str(root))

    def install(
        self, distribution: str, version: str, entry_points: dict[str, str], modules: dict[str, str]
    ) -> None:
        """Install a distribution: ``entry_points`` name -> module, ``modules`` name -> source."""
        info = self.root / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
        )
        lines = ["[merbench]"] + [f"{name} = {target}" for name, target in entry_points.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in modules.items():
            (self.root / f"{module}.py").write_text(textwrap.dedent(source))
            self.modules.append(module)
        importlib.invalidate_caches()

    def cleanup(self) -> None:
        for module in self.modules:
            sys.modules.pop(module, None)


@pytest.fixture
def distributions(tmp_path, monkeypatch):
    (tmp_path / "site").mkdir()
    dists = Distributions(tmp_path / "site", monkeypatch)
    yield dists
    dists.cleanup()


TONES = """
from pathlib import Path
import pandas as pd
import merbench
from merbench.testing import write_tone_dataset
from optuna.distributions import FloatDistribution

MERBENCH_PLUGIN_API = 1

def load(root, *, n_tracks=24):
    return pd.DataFrame(write_tone_dataset(Path(root) / "audio", n_tracks=n_tracks))

def build_broken(*, alpha=1.0):
    raise RuntimeError("this model is broken on purpose")

@merbench.hookimpl
def merbench_datasets():
    yield merbench.DatasetSpec(name="tones", load=load, tasks=("av-regression", "quadrant"),
                               label_scale=merbench.LabelScale(low=1, high=9),
                               options={"n_tracks": 24})

@merbench.hookimpl
def merbench_models():
    yield merbench.ModelSpec(name="broken", accepts=("vector",), family="sklearn",
                             build=build_broken, default_frontends=("handcrafted",),
                             search_space={"alpha": FloatDistribution(0.1, 1.0)})
"""
"""A tiny installable dataset plugin (tones whose loudness and pulse carry the labels) and a
model plugin that always raises, for runner, CLI and leaderboard tests."""


@pytest.fixture
def install_tones(distributions, tmp_path, monkeypatch):
    """Install the tones plugin (or a variant of its source) and return a datasets.toml."""

    def install(source: str = TONES) -> Path:
        distributions.install(
            "merbench-tones", "0.1", {"tones": "merbench_tones"}, {"merbench_tones": source}
        )
        (tmp_path / "data").mkdir()
        config = tmp_path / "datasets.toml"
        config.write_text(f'[datasets.tones]\npath = "{tmp_path / "data"}"\n')
        monkeypatch.chdir(tmp_path)
        return config

    return install


SYNTH_TOML = """
[datasets.synth]
plugin = "synth"

[datasets.synth.options]
n_clips = {n_clips}
seconds = {seconds}
n_artists = 8
"""


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    """A datasets.toml with a small synth set (fast to generate and to run)."""
    path = tmp_path / "datasets.toml"
    path.write_text(SYNTH_TOML.format(n_clips=48, seconds=3.0))
    return path
