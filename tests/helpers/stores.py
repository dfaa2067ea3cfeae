"""Results stores for leaderboard and scoring tests: written directly, or read back as tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from merbench.evaluation.metrics import compute_metrics
from merbench.evaluation.tasks import get_task
from merbench.results.queue import fail, finish
from merbench.results.schema import CellKey, CellResult
from merbench.results.store import Store
from merbench.results.summaries import read_tables
from merbench.results.urls import sqlite_url
from tests.helpers.plugins import EVIL

SETTINGS = {"budget": "smoke", "seed": 0, "top_k": None}
"""The settings ``fake_store`` records for its run."""


def _regression(rng: np.random.Generator, noise: float, n: int = 12) -> CellResult:
    y = rng.uniform(1, 9, size=(n, 2))
    pred = y + rng.normal(0, noise, size=y.shape)
    rows = [
        (f"t{i}", t, float(y[i, d]), float(pred[i, d]))
        for i in range(n)
        for d, t in enumerate(("arousal", "valence"))
    ]
    return _result(compute_metrics(get_task("av-regression"), y, pred), rows)


def _quadrant(rng: np.random.Generator, n: int = 16) -> CellResult:
    y = rng.integers(1, 5, size=n)
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(1, 5, size=n))
    rows = [(f"t{i}", "class", float(y[i]), float(pred[i])) for i in range(n)]
    return _result(compute_metrics(get_task("quadrant"), y, pred), rows)


def _result(metrics, rows) -> CellResult:
    return CellResult(
        metrics=metrics,
        best_params={"alpha": 0.5, "mel.n_mels": 64},
        timings={"tune_s": 1.0, "refit_s": 0.1, "per_clip_ms": 0.2},
        info={"n_params": 100, "n_train": 30, "n_test": 12, "plugins": [f"{EVIL} 1.0"]},
        predictions=rows,
        trials=[
            {
                "number": i,
                "state": "complete",
                "value": 0.1 * i,
                "params": {"alpha": i},
                "duration_s": 0.1,
                "epochs": 1,
            }
            for i in range(3)
        ],
    )


def fake_store(
    folder: Path,
    candidates: dict[str, float],
    *,
    task="av-regression",
    name="fake",
    provenance=None,
    skipped=None,
    failed=(),
    split="abc123",
    dataset="data",
) -> str:
    """A store with three folds per candidate (noise per candidate), written without training."""
    folder.mkdir(parents=True, exist_ok=True)
    url = sqlite_url(folder)
    store = Store(url)
    store.start_run(name, SETTINGS, provenance or {"merbench": "0.1.0", "plugins": []})
    audit = {"protocol": "grouped", "n_folds": 3, "repeats": 1, "leakage": 0.0, "n_tracks": 36}
    store.save_split(dataset, task, split, {}, audit)
    store.record_skipped_tracks(dataset, skipped or {})
    rng = np.random.default_rng(0)
    for candidate, noise in candidates.items():
        keys = [
            CellKey(dataset=dataset, task=task, candidate=candidate, repeat=0, fold=f)
            for f in range(3)
        ]
        store.add_cells(keys)
        for key in keys:
            if candidate in failed:
                fail(store, key, f"RuntimeError: {EVIL}")
            else:
                finish(
                    store,
                    key,
                    _regression(rng, noise) if task == "av-regression" else _quadrant(rng),
                )
    store.close()
    return url


def _tables(run_dir):
    """A run's cells, splits and predictions tables."""
    return read_tables([sqlite_url(run_dir)], names=("cells", "splits", "predictions"))


def _predictions_of(run_dir, candidate, task, value="y_pred"):
    """A candidate's stored test predictions (or their true labels, ``value="y_true"``) as a
    file to score: one row per track and fold."""
    tables = _tables(run_dir)
    cells = tables["cells"]
    mine = cells[(cells["candidate"] == candidate) & (cells["task"] == task)]
    keys = mine[["id", "repeat", "fold"]].rename(columns={"id": "cell_id"})
    rows = keys.merge(tables["predictions"], on="cell_id")
    wide = rows.pivot_table(
        index=["track_id", "repeat", "fold"], columns="target", values=value, aggfunc="first"
    ).reset_index()
    wide.columns.name = None
    if "class" in wide:
        wide["class"] = wide["class"].astype(int)
    return wide.sample(frac=1.0, random_state=0).reset_index(drop=True)  # any row order
