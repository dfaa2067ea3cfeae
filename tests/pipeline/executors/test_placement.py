"""One process per CUDA device: --jobs workers each see their own device (faked on the CPU)."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch

from merbench.pipeline.executors import jobs
from merbench.pipeline.executors.jobs import local_workers, resolve_jobs, visible_gpus
from merbench.train.fit import describe_device


class FakeProcess:
    """What ``local_workers`` needs of a started worker; records its environment."""

    started: ClassVar[list[dict[str, str]]] = []

    def __init__(self, command, env, stdout, stderr):
        FakeProcess.started.append(env)
        self.returncode = 0

    def wait(self, timeout=None):
        return 0

    def poll(self):
        return 0


@pytest.fixture
def devices(monkeypatch):
    """A machine with three CUDA devices, as torch counts them."""
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    FakeProcess.started = []
    monkeypatch.setattr(jobs.subprocess, "Popen", FakeProcess)


def _start(n, tmp_path, gpus):
    with local_workers(
        n, storage="sqlite://", run="r", out=tmp_path, config=None, heartbeat_timeout=60,
        gpus=gpus,
    ) as started:  # fmt: skip
        assert len(started) == n - 1
    return [env.get("CUDA_VISIBLE_DEVICES") for env in FakeProcess.started]


def test_each_worker_process_sees_its_own_device(devices, tmp_path):
    assert visible_gpus() == ["0", "1", "2"]
    # This process trains on the first device (its cuda:0); the workers on the others.
    assert _start(3, tmp_path, visible_gpus()) == ["1", "2"]


def test_more_processes_than_devices_share_them_in_turn(devices, tmp_path):
    assert _start(5, tmp_path, visible_gpus()) == ["1", "2", "0", "1"]


def test_devices_already_restricted_are_handed_out_by_their_names(devices, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-aa, GPU-bb,GPU-cc")
    assert visible_gpus() == ["GPU-aa", "GPU-bb", "GPU-cc"]
    assert _start(3, tmp_path, visible_gpus()) == ["GPU-bb", "GPU-cc"]


def test_without_devices_workers_keep_the_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(jobs.subprocess, "Popen", FakeProcess)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    FakeProcess.started = []
    assert visible_gpus() == []
    assert _start(2, tmp_path, visible_gpus()) == [""]  # as inherited, not set per process


def test_auto_jobs_is_one_process_per_device(devices):
    assert resolve_jobs("auto", uses_torch=True) == 3
    assert resolve_jobs("auto", uses_torch=False) == min(jobs.available_cores(), jobs.MAX_AUTO_JOBS)
    assert resolve_jobs("2", uses_torch=True) == 2


def test_a_cell_records_the_device_it_ran_on(monkeypatch):
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"NVIDIA H100 #{index}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert describe_device("cpu") == "cpu"
    assert describe_device("cuda") == "cuda:0 (NVIDIA H100 #0)"
    assert describe_device("cuda:1") == "cuda:1 (NVIDIA H100 #1)"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    assert describe_device("cuda") == "cuda:0 (NVIDIA H100 #0, CUDA_VISIBLE_DEVICES=2)"
