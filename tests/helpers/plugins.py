"""Plugins installed for real in tests: a dist-info writer, plugin sources and a synth config."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest


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
        """Forget the installed modules, so that the next test imports its own."""
        for module in self.modules:
            sys.modules.pop(module, None)


EVIL = "<script>alert(1)</script>"
"""Text from a plugin or a store that pages must show as text, never run."""

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

SLEEPY_TONES = '''
import os
import time
from pathlib import Path

import pandas as pd
from sklearn.linear_model import Ridge

import merbench
from merbench.testing import write_tone_dataset

MERBENCH_PLUGIN_API = 1


def load(root, *, n_tracks=24):
    # The audio is written once, before any worker starts: concurrent loads only read it.
    index = Path(root) / "tracks.csv"
    if not index.exists():
        pd.DataFrame(write_tone_dataset(Path(root) / "audio", n_tracks=24)).to_csv(index)
    return pd.read_csv(index, index_col=0).head(n_tracks)


class SleepyRidge(Ridge):
    """Ridge that sleeps $TONES_FIT_SLEEP seconds per fit, so a worker can be killed mid-cell."""

    def fit(self, x, y):
        time.sleep(float(os.environ.get("TONES_FIT_SLEEP", "0")))
        return super().fit(x, y)


@merbench.hookimpl
def merbench_datasets():
    yield merbench.DatasetSpec(name="tones", load=load, tasks=("av-regression",),
                               label_scale=merbench.LabelScale(low=1, high=9),
                               options={"n_tracks": 24})


@merbench.hookimpl
def merbench_models():
    yield merbench.ModelSpec(name="sleepy", accepts=("vector",), family="sklearn",
                             build=lambda: SleepyRidge(), default_frontends=("handcrafted",))
'''
"""The tones dataset written once for every worker, and ``sleepy``: a ridge that sleeps
``$TONES_FIT_SLEEP`` seconds per fit, so that a worker can be killed mid-cell."""

SYNTH_TOML = """
[datasets.synth]
plugin = "synth"

[datasets.synth.options]
n_clips = {n_clips}
seconds = {seconds}
n_artists = 8
"""
"""A synth dataset's datasets.toml; ``format`` it with ``n_clips`` and ``seconds``."""
