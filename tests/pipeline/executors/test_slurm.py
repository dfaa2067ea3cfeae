"""The SLURM recipes of docs/scale-out.md on a real SLURM node.

A run is queued on a PostgreSQL store, ``sbatch --array=1-2`` submits the job script
docs/recipes/slurm-worker.sh unchanged, and the array's workers must finish every cell once, with
the numbers of one local process. dask-jobqueue's ``SLURMCluster`` starts Dask workers as SLURM
jobs and a run with ``--executor dask`` on it must give those numbers too. CI brings up a
one-node cluster (``.ci/slurm-up``: munge, slurmctld, slurmd from Debian's slurm-wlm); without
one the test is skipped saying so, and under ``CI`` it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from merbench.cli import main
from merbench.pipeline.runner import run
from merbench.pipeline.settings import RunSettings
from merbench.results.store import Store
from merbench.results.urls import sqlite_url

ROOT = Path(__file__).resolve().parents[3]
RECIPE = ROOT / "docs" / "recipes" / "slurm-worker.sh"
MODELS = ("ridge", "mean")
NO_SLURM = "No SLURM controller answers 'sinfo'. Start a one-node cluster with: sudo .ci/slurm-up"

pytestmark = [pytest.mark.slurm, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def slurm():
    """Skip (fail under CI) unless a SLURM controller with an idle node answers."""
    found = shutil.which("sinfo")
    answer = found and subprocess.run([found, "-h", "-o", "%t"], capture_output=True, text=True)
    if not answer or answer.returncode != 0 or "idle" not in answer.stdout:
        if os.environ.get("CI"):
            pytest.fail(NO_SLURM)
        pytest.skip(NO_SLURM)


def test_a_job_array_of_the_recipe_runs_a_shared_run_like_one_process(
    slurm, pg_url, tiny_config, tmp_path
):
    queued = CliRunner().invoke(main, [
        "run", "-m", ",".join(MODELS), "--budget", "smoke", "--config", str(tiny_config),
        "--out", str(tmp_path / "shared"), "--storage", pg_url, "--enqueue-only",
    ])  # fmt: skip
    assert queued.exit_code == 0, queued.output

    environment = os.environ | {
        "MERBENCH_STORAGE": pg_url,
        "MERBENCH": f"{sys.executable} -m merbench",
        "MERBENCH_WORKER_ARGS": f"--config {tiny_config} --out {tmp_path / 'logs'}",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    submitted = subprocess.run(
        ["sbatch", "--array=1-2", "--wait", f"--chdir={tmp_path}", str(RECIPE)],
        env=environment, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    outputs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("merbench-worker-*.out")))
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr + outputs
    assert len(list(tmp_path.glob("merbench-worker-*_[12].out"))) == 2, outputs

    store = Store(pg_url)
    shared = {_key(c): c for c in store.table("cells")}
    claims = store.table("claims")
    store.close()
    assert {c["status"] for c in shared.values()} == {"done"}, outputs
    assert sorted(c["cell_id"] for c in claims) == sorted(c["id"] for c in shared.values())

    run(RunSettings(models=MODELS, budget="smoke", config=tiny_config, render=False,
                    out=tmp_path / "reference"))  # fmt: skip
    single = Store(sqlite_url(tmp_path / "reference"))
    expected = {_key(c): c for c in single.table("cells")}
    single.close()
    assert expected.keys() == shared.keys()
    for key, cell in expected.items():
        assert shared[key]["metrics"] == cell["metrics"], key


def test_a_run_on_dask_jobqueue_s_slurm_cluster_matches_one_process(slurm, tiny_config, tmp_path):
    from dask_jobqueue import SLURMCluster
    from distributed import Client

    prologue = [f"export PYTHONPATH={os.pathsep.join(sys.path)}",
                f"export MERBENCH_CACHE={os.environ['MERBENCH_CACHE']}"]  # fmt: skip
    with SLURMCluster(cores=1, processes=1, memory="2GB", walltime="00:10:00",
                      python=sys.executable, job_script_prologue=prologue,
                      scheduler_options={"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
                      worker_extra_args=["--host", "127.0.0.1"], log_directory=str(tmp_path),
                      ) as cluster, Client(cluster) as client:  # fmt: skip
        cluster.scale(jobs=2)
        client.wait_for_workers(2, timeout=180)
        run(RunSettings(models=MODELS, budget="smoke", config=tiny_config, render=False,
                        out=tmp_path / "dask", executor="dask",
                        scheduler=cluster.scheduler_address))  # fmt: skip
    run(RunSettings(models=MODELS, budget="smoke", config=tiny_config, render=False,
                    out=tmp_path / "reference"))  # fmt: skip
    cells = {}
    for name in ("dask", "reference"):
        store = Store(sqlite_url(tmp_path / name))
        cells[name] = {_key(c): (c["status"], c["metrics"]) for c in store.table("cells")}
        store.close()
    assert {status for status, _ in cells["dask"].values()} == {"done"}
    assert cells["dask"] == cells["reference"]


def test_the_recipe_refuses_to_start_without_a_store(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "MERBENCH_STORAGE"}
    done = subprocess.run(["bash", str(RECIPE)], env=environment, capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)  # fmt: skip
    assert done.returncode != 0
    assert "set MERBENCH_STORAGE to the results store URL of the run" in done.stderr


def _key(cell):
    return (cell["task"], cell["candidate"], cell["repeat"], cell["fold"])
