"""A run killed mid-way resumes without recomputing finished cells and ends as if never killed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from merbench.results.summaries import load_results
from tests.helpers.plugins import TONES

SLOW = (
    TONES
    + '''

class SlowRidge:
    """Ridge that takes a while to fit, so a run can be killed between cells."""

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def fit(self, x, y):
        import time
        from sklearn.linear_model import Ridge

        time.sleep(0.4)
        self.model_ = Ridge(alpha=self.alpha).fit(x, y)
        return self

    def predict(self, x):
        return self.model_.predict(x)

    def __sklearn_tags__(self):
        from sklearn.linear_model import Ridge

        return Ridge().__sklearn_tags__()


@merbench.hookimpl
def merbench_models():
    yield merbench.ModelSpec(name="slow", accepts=("vector",), family="sklearn",
                             build=lambda: SlowRidge(), default_frontends=("handcrafted",))
'''
)


def _done(database):
    if not database.exists():
        return 0
    with sqlite3.connect(database) as connection:
        try:
            return connection.execute("select count(*) from cells where status='done'").fetchone()[
                0
            ]
        except sqlite3.OperationalError:
            return 0


@pytest.mark.slow
def test_killed_run_resumes_without_recomputing(distributions, tmp_path, monkeypatch):
    # SLOW redefines merbench_models, so the module provides only the slow model.
    source = SLOW
    distributions.install(
        "merbench-tones", "0.1", {"tones": "merbench_tones"}, {"merbench_tones": source}
    )
    (tmp_path / "data").mkdir()
    config = tmp_path / "datasets.toml"
    config.write_text(
        f'[datasets.tones]\npath = "{tmp_path / "data"}"\n[datasets.tones.options]\nn_tracks = 30\n'
    )
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), *sys.path])}
    command = [sys.executable, "-m", "merbench", "run", "-m", "slow", "--no-baselines",
               "--budget", "smoke", "--config", str(config), "--no-progress"]  # fmt: skip
    first = subprocess.Popen([*command, "--out", "run"], cwd=tmp_path, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    database = tmp_path / "run" / "results.sqlite"
    deadline = time.monotonic() + 120
    while _done(database) < 1 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    finished_before = _done(database)
    assert 1 <= finished_before < 3, "the run must be killed between its first and last cell"
    stamps = {
        r["fold"]: r
        for r in load_results(tmp_path / "run").to_dict("records")
        if r["status"] == "done"
    }

    resumed = subprocess.run(
        [*command, "--out", "run"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{3 - finished_before} cells run, {finished_before} kept from before" in resumed.stderr

    clean = subprocess.run(
        [*command, "--out", "clean"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert clean.returncode == 0, clean.stderr
    after = load_results(tmp_path / "run").sort_values("fold")
    reference = load_results(tmp_path / "clean").sort_values("fold")
    assert after["r2_mean"].tolist() == reference["r2_mean"].tolist()
    for fold, row in stamps.items():
        kept = after[after["fold"] == fold].iloc[0]
        assert kept["r2_mean"] == row["r2_mean"]
