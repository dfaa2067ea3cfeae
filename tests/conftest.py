"""Shared fixtures: installed-for-real plugin distributions, a tiny synth config, a cache dir,
a run on the tones plugin, and PostgreSQL servers. Their helpers live in ``tests/helpers``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import pg
from tests.helpers.plugins import EVIL, SYNTH_TOML, TONES, Distributions


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets merbench caches in one session-wide temporary folder, never ~/.cache."""
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("MERBENCH_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("MERBENCH_STRICT_PLUGINS", raising=False)
    # One process per run unless a test asks for more: test plugins installed on sys.path by a
    # fixture are not importable from the worker processes that --jobs would start.
    monkeypatch.setenv("MERBENCH_JOBS", "1")


@pytest.fixture
def distributions(tmp_path, monkeypatch):
    (tmp_path / "site").mkdir()
    dists = Distributions(tmp_path / "site", monkeypatch)
    yield dists
    dists.cleanup()


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


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    """A datasets.toml with a small synth set (fast to generate and to run)."""
    path = tmp_path / "datasets.toml"
    path.write_text(SYNTH_TOML.format(n_clips=48, seconds=3.0))
    return path


@pytest.fixture
def evil_run(install_tones, tmp_path):
    """A smoke run on the tones plugin whose broken model raises ``EVIL``; its folder."""
    from merbench.pipeline.runner import run
    from merbench.pipeline.settings import RunSettings

    config = install_tones(
        TONES.replace(
            'raise RuntimeError("this model is broken on purpose")', f'raise RuntimeError("{EVIL}")'
        )
    )
    run(
        RunSettings(
            models=("mean", "ridge", "broken"),
            baselines=False,
            budget="smoke",
            config=config,
            out=tmp_path / "run",
            render=False,
        )
    )
    return tmp_path / "run"


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the session; user ``merbench`` needs no password."""
    yield from pg.serve()


@pytest.fixture(scope="session")
def password_server():
    """A second server that asks user ``merbench`` for the password ``pg.PASSWORD``."""
    yield from pg.serve(password=pg.PASSWORD)


@pytest.fixture
def pg_url(postgres_server):
    """The URL of a new, empty database, dropped after the test."""
    yield from pg.database(postgres_server)
