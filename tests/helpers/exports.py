"""Helpers for the tests of exported models: predict in a fresh process, copy and edit an
export folder, write clips, read one-line refusals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from merbench.exchange import bundle

REGRESSION = "av-regression"
TOLERANCE = 1e-5


def predict_fresh(model: Path, *targets: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``merbench predict`` in a fresh process."""
    command = [sys.executable, "-m", "merbench", "predict", str(model), *map(str, targets)]
    return subprocess.run(
        [*command, "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )


def copy_model(model: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(model, target)
    return target


def dataset_root(run_dir: Path, name: str = "synth") -> Path:
    """The folder a run's dataset ``name`` lies in, as ``merbench export`` finds it: what
    ``check.csv``'s files are relative to."""
    from merbench.exchange.export import dataset_root as root_of
    from merbench.pipeline.plan import CellBuilder, read_stored_run
    from merbench.plugin.registry import load_registry
    from merbench.results.store import Store
    from merbench.results.urls import sqlite_url

    store = Store(sqlite_url(run_dir), create=False)
    try:
        registry = load_registry()
        run = read_stored_run(store, registry)
        builder = CellBuilder(store, registry, run.settings, run.config, run.tasks, run.budget)
        return root_of(builder.tracks(name), run.config.get(name).path)
    finally:
        store.close()


def assert_reproduces_check(model: Path, root: Path, tmp_path: Path) -> pd.DataFrame:
    """Predict the dataset's own files (``check.csv``'s, relative to the dataset's ``root``) in
    a fresh process; compare with ``check.csv``."""
    check = pd.read_csv(model / bundle.CHECK_CSV)
    assert not any(Path(f).is_absolute() for f in check["file"])
    files = [root / f for f in check["file"]]
    out = tmp_path / "own.csv"
    done = predict_fresh(model, *files, out=out)
    assert done.returncode == 0, done.stderr
    predicted = pd.read_csv(out)
    assert list(predicted["file"]) == list(map(str, files))
    columns = [c for c in predicted.columns if c != "file"]
    assert columns == [c for c in check.columns if c not in ("track_id", "file")]
    np.testing.assert_allclose(predicted[columns], check[columns], rtol=0, atol=TOLERANCE)
    return predicted


def write_clips(folder: Path) -> list[Path]:
    """Clips of other rates, channels and lengths than the dataset's, and a broken file."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for name, rate, seconds, channels in (
        ("short.wav", 22050, 1.0, 1),
        ("stereo.flac", 44100, 4.0, 2),
        ("long.wav", 16000, 9.5, 1),
    ):
        t = np.arange(int(rate * seconds)) / rate
        tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(len(t))
        data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
        sf.write(folder / name, data, rate)
        paths.append(folder / name)
    (folder / "notes.txt").write_text("not audio: a folder's other files are left alone")
    return paths


def manifest_of(model: Path) -> dict:
    return json.loads((model / bundle.MODEL_JSON).read_text())


def rewrite_manifest(model: Path, change) -> None:
    manifest = manifest_of(model)
    change(manifest)
    (model / bundle.MODEL_JSON).write_text(json.dumps(manifest))


def one_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]
