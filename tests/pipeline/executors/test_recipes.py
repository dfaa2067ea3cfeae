"""The PBS and Kubernetes recipes of docs/scale-out.md, checked where they cannot run.

No PBS server and no Kubernetes cluster run here, so the recipes are checked as far as they go
without one: the ``PBSCluster(...)`` of the doc's code block is built as written and the job
script it would submit is read (nothing is submitted); the Kubernetes manifest is parsed and
its commands are parsed by the installed ``dask`` command line. The SLURM recipe runs for real
in ``test_slurm.py``.
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "scale-out.md"
MANIFEST = ROOT / "docs" / "recipes" / "kubernetes-dask.yaml"
SHARED = "/shared"
CACHE = "/shared/cache/merbench"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def _block(language: str, containing: str) -> str:
    found = [block for block in _blocks(language) if containing in block]
    assert len(found) == 1, f"one {language} block of docs/scale-out.md has {containing!r}"
    return found[0]


def _is_scale_call(node: ast.stmt) -> bool:
    call = node.value if isinstance(node, ast.Expr) else None
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "scale"
    )


@pytest.fixture
def pbs_cluster():
    """The doc's PBSCluster, built by its own code block; ``scale`` (the submission) left out."""
    code = ast.parse(_block("python", "PBSCluster("))
    assert any(_is_scale_call(node) for node in code.body)  # the doc still submits the jobs
    code.body = [node for node in code.body if not _is_scale_call(node)]
    namespace: dict[str, object] = {}
    with warnings.catch_warnings():
        # Another Dask dashboard on this machine moves this one to a free port, saying so.
        warnings.filterwarnings("ignore", message=r"Port \d+ is already in use")
        exec(compile(code, str(DOC), "exec"), namespace)
    cluster = namespace["cluster"]
    yield cluster
    cluster.close()


def test_the_pbs_recipe_submits_one_chunk_of_8_cores_and_a_gpu_with_the_shared_cache(pbs_cluster):
    script = pbs_cluster.job_script()
    directives = [line for line in script.splitlines() if line.startswith("#PBS")]
    assert "#PBS -q workq" in directives
    assert "#PBS -l walltime=04:00:00" in directives
    # PBS Pro reads one select: the whole chunk, GPU included, and only once
    selects = [d for d in directives if "select=" in d]
    assert selects == ["#PBS -l select=1:ncpus=8:ngpus=1:mem=32GB"]
    body = [line.strip() for line in script.splitlines() if not line.startswith("#")]
    activate = body.index("source /shared/envs/mer/bin/activate")
    assert f"export MERBENCH_CACHE={CACHE}" in body
    (worker,) = [line for line in body if "dask_worker" in line or "dask worker" in line]
    assert body.index(worker) > activate  # the worker starts in the run's environment
    words = shlex.split(worker)
    assert words[words.index("--nthreads") + 1] == "1"  # one-thread worker processes
    assert words[words.index("--nworkers") + 1] == "8"
    assert pbs_cluster.scheduler_address in words  # and they join this cluster


def _manifest() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if doc]


def _deployment(name: str) -> dict:
    deployments = [d for d in _manifest() if d["kind"] == "Deployment"]
    (found,) = [d for d in deployments if d["metadata"]["name"] == name]
    return found


def _container(name: str) -> dict:
    (container,) = _deployment(name)["spec"]["template"]["spec"]["containers"]
    return container


def test_every_kubernetes_pod_runs_the_image_of_the_dockerfiles_merbench_version():
    dockerfile = _block("dockerfile", "pip install")
    (pinned,) = re.findall(r'"merbench\[dask\]==([^"]+)"', dockerfile)
    images = {_container(name)["image"] for name in ("mer-scheduler", "mer-worker")}
    assert images == {f"registry.example/mer:{pinned}"}  # scheduler and workers: one version
    assert f'image="registry.example/mer:{pinned}"' in _block("python", "KubeCluster(")


def test_the_kubernetes_commands_are_ones_the_installed_dask_accepts():
    from distributed.cli import dask_scheduler, dask_worker

    worker = _container("mer-worker")["command"]
    scheduler = _container("mer-scheduler")["command"]
    assert worker[:2] == ["dask", "worker"] and scheduler[:2] == ["dask", "scheduler"]
    # click parses and checks the options without running the command
    dask_scheduler.main.make_context("dask scheduler", list(scheduler[2:])).close()
    parsed = dask_worker.main.make_context("dask worker", list(worker[2:]))
    assert parsed.params["nthreads"] == 1 and parsed.params["n_workers"] == "1"
    assert parsed.params["resources"] == "GPU=1"
    (service,) = [d for d in _manifest() if d["kind"] == "Service"]
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "comm")
    assert parsed.params["scheduler"] == f"tcp://{service['metadata']['name']}:{port}"
    assert f"--port {port}" in " ".join(scheduler)
    assert (
        service["spec"]["selector"]
        == _deployment("mer-scheduler")["spec"]["selector"]["matchLabels"]
    )


def test_each_kubernetes_worker_has_one_gpu_and_the_shared_volume_with_data_and_cache():
    container = _container("mer-worker")
    for kind in ("requests", "limits"):
        assert container["resources"][kind]["nvidia.com/gpu"] == 1
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MERBENCH_CACHE"] == CACHE
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == SHARED
    for path in (CACHE, "/shared/mer/datasets.toml"):  # the cache, the run's datasets.toml
        assert path.startswith(mount["mountPath"] + "/")
    assert "--config /shared/mer/datasets.toml" in DOC.read_text(encoding="utf-8")
    (volume,) = _deployment("mer-worker")["spec"]["template"]["spec"]["volumes"]
    assert volume["name"] == mount["name"] and volume["persistentVolumeClaim"]["claimName"]
