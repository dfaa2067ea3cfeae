"""Processes sharing one empty cache folder compute each entry once and read the same arrays.

Two processes are released together by a barrier onto the same missing entries; the function
that computes an entry is wrapped (in the child) to log each call and to take long enough that
the other process asks for the entry meanwhile. Without the entry locks both would compute it.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from merbench.data import audio as audio_module
from merbench.data.audio import AudioSettings, AudioStore
from merbench.data.features import FeatureStore
from merbench.paths import cache_lock, lock_path
from merbench.train import prerender
from merbench_plugins.datasets import synth
from tests.helpers.tracks import _write_tracks

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="forks the test process (Linux's default start method)"
)
CONTEXT = multiprocessing.get_context("fork") if sys.platform == "linux" else None
SLOW = 0.3  # seconds each computation takes at least: the other process arrives meanwhile


def _counting(owner: Any, name: str, log: Path) -> None:
    """Wrap ``owner.name`` (in this process only) to log each call and last at least ``SLOW``."""
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        with log.open("a") as out:
            out.write(f"{name} {args[0] if args else ''}\n")
        time.sleep(SLOW)
        return original(*args, **kwargs)

    setattr(owner, name, counted)


def _child(barrier, results, job: Callable[[], Any], patch: Callable[[], None]) -> None:
    try:
        patch()
        barrier.wait(timeout=30)
        results.put(("ok", job()))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def race(job: Callable[[], Any], patch: Callable[[], None]) -> list[Any]:
    """Run ``job`` in two forked processes released together; return both results."""
    barrier, results = CONTEXT.Barrier(2), CONTEXT.Queue()
    children = [CONTEXT.Process(target=_child, args=(barrier, results, job, patch)) for _ in "ab"]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=30)
    errors = [value for status, value in outcomes if status == "error"]
    assert not errors, errors[0]
    return [value for _, value in outcomes]


def calls(log: Path) -> list[str]:
    return sorted(log.read_text().splitlines()) if log.exists() else []


def leftovers(folder: Path) -> list[Path]:
    """Temporary files and folders of unfinished writes."""
    return [p for p in folder.rglob(".*") if not p.name.endswith(".lock")]


def test_two_processes_decode_each_audio_file_once(tmp_path):
    tracks = _write_tracks(tmp_path, [1.0, 1.5, 0.7])
    paths = tracks.table["audio_path"].tolist()
    log, cache = tmp_path / "calls.log", tmp_path / "cache"

    def job():
        store = AudioStore(AudioSettings(sample_rate=8000, seconds=0.5), cache)
        return [np.array(store.load(p)) for p in paths]

    first, second = race(job, lambda: _counting(audio_module, "decode", log))
    assert calls(log) == sorted(f"decode {p}" for p in paths)  # each file decoded once
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert len(list(cache.rglob("*.npy"))) == 3 and not leftovers(cache)


def test_two_processes_compute_a_feature_entry_once(tmp_path):
    tracks = _write_tracks(tmp_path, [2.0, 1.2])
    log, cache = tmp_path / "calls.log", tmp_path / "cache"

    def job():
        audio = AudioStore(AudioSettings(sample_rate=8000, seconds=1.0), cache / "audio")
        return np.array(FeatureStore(audio, cache / "features").waveforms(tracks))

    def patch():
        _counting(FeatureStore, "_compute", log)
        _counting(audio_module, "decode", log)

    first, second = race(job, patch)
    entries = calls(log)
    assert len([c for c in entries if c.startswith("_compute")]) == 1
    assert len([c for c in entries if c.startswith("decode")]) == 2  # one per file
    assert first.shape[0] >= 2 and np.array_equal(first, second)
    assert not leftovers(cache)


def test_two_processes_generate_a_synth_set_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    log = tmp_path / "calls.log"
    options = {"n_clips": 3, "seconds": 0.5, "sample_rate": 8000, "n_artists": 2, "seed": 7}

    def job():
        table = synth.load(**options)
        return [synth_audio(p) for p in table["audio_path"]]

    first, second = race(job, lambda: _counting(synth, "generate", log))
    assert len(calls(log)) == 1
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert not leftovers(tmp_path / "cache" / "datasets")


def synth_audio(path: str) -> np.ndarray:
    import soundfile

    return np.asarray(soundfile.read(path, dtype="float32")[0])


def test_two_processes_render_augmented_copies_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MERBENCH_CACHE", str(tmp_path / "cache"))
    log = tmp_path / "calls.log"
    waveforms = np.random.default_rng(0).normal(size=(5, 1, 400)).astype(np.float32)
    ids = [f"t{i}" for i in range(5)]

    def job():
        copies, _ = prerender.render_copies(waveforms, ids, [], seed=3, key={"clips": "five"})
        return np.array(copies)

    first, second = race(job, lambda: _counting(prerender, "_render", log))
    assert len(calls(log)) == 1
    assert first.shape[:2] == (5, prerender.N_COPIES) and np.array_equal(first, second)
    assert not leftovers(tmp_path / "cache")


def test_a_lock_waits_for_its_holder_and_lock_files_stay(tmp_path):
    entry = tmp_path / "entry.npy"
    order = tmp_path / "order.log"

    def job():
        with cache_lock(entry):
            with order.open("a") as out:
                out.write("in\n")
            time.sleep(SLOW)
            with order.open("a") as out:
                out.write("out\n")

    race(job, lambda: None)
    assert order.read_text().split() == ["in", "out", "in", "out"]  # never both inside
    assert lock_path(entry).exists() and lock_path(entry).name == "entry.npy.lock"


def test_without_a_writable_folder_a_lock_still_lets_the_work_go_on(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with cache_lock(blocker / "sub" / "entry.npy"):  # no lock file can be made under a file
        done = True
    assert done
