"""Windows: peak memory against the number of tracks, and whole-clip windows against one crop.

Run from the repository root: ``python benchmarks/bench_windows.py`` (under two minutes on two
busy cores; ``--quick`` for a smaller set, ``--part cue --candidates cnn2d@mel`` for one part).

1. **Peak memory.** A child process caches the mel features of every 3-s window of N generated
   30-s tracks, trains ``cnn2d@mel`` for two epochs on one drawn window per track and predicts
   every window; it prints its peak resident memory (``ru_maxrss``). N and 4N tracks are printed
   side by side: window features are read from the memory-mapped cache batch by batch, so the
   peak should not grow with the tracks beyond the small per-track index and targets.
2. **A cue anywhere in the clip.** 160 generated 30-s clips (80 with ``--quick``) are neutral
   (a soft steady tone and noise) except for one 3-s cue at a random place: its loudness and
   pulse rate carry arousal, its pitch valence. ``cnn2d@mel`` and ``ridge@handcrafted`` go
   through merbench's cell (one trial of at most 30 epochs, then the refit; 4 folds) with every
   window of the clip (hop 1.5 s) and with one centre crop of 3 s (``windowing = "single"``),
   the same sizes for both. It prints, as fold means, R2, Pearson r and CCC (means of arousal
   and valence), the calibration slope of the test predictions (least-squares slope of labels
   on predictions about the training mean: 1 when calibrated, far above when shrunk towards
   the mean) and the training seconds per epoch (refit time over refit epochs). A rescaled
   cell (``merbench.train.calibration``) is printed twice: as stored, and with its slopes undone,
   the plain mean of the same model's window outputs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile

import merbench
from merbench.data.audio import AudioSettings, AudioStore
from merbench.data.features import FeatureStore
from merbench.data.tracks import Tracks
from merbench.data.windows import Windowing
from merbench.evaluation.budgets import BUDGETS, Budget
from merbench.evaluation.cv import Fold
from merbench.evaluation.metrics import compute_metrics
from merbench.evaluation.tasks import get_task
from merbench.pipeline.candidates import parse_candidate
from merbench.pipeline.cell import CellPlan, run_cell
from merbench.plugin.registry import load_registry
from merbench.results.schema import CellKey, CellResult
from merbench.testing import A4, tone
from merbench.train.fit import Problem

RATE = 8000  # the cue sits below 700 Hz; half the default rate halves the work
CLIP_S = 30.0
CUE_S = 3.0
WINDOW_S = 3.0
BUDGET = dataclasses.replace(
    BUDGETS["smoke"], trials=1, epochs=30, patience=7, batch_size=16, clip_seconds=WINDOW_S
)
CANDIDATES = ("cnn2d@mel", "ridge@handcrafted")
FOLDS = 4


def write_cue_set(folder: Path, n_tracks: int, seed: int = 0) -> Tracks:
    """Neutral 30-s clips with one 3-s emotional cue at a random place; labels on 1..9."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_tracks):
        arousal, valence = rng.uniform(-1, 1, 2)
        t = np.arange(int(CLIP_S * RATE)) / RATE
        clip = 0.08 * np.sin(2 * np.pi * 196.0 * t) + rng.normal(0, 0.01, t.shape)
        cue = tone(CUE_S, RATE, frequency=A4 * 2 ** (valence / 2), amplitude=0.3 + 0.25 * arousal,
                   pulse_hz=4 + 3 * arousal, seed=seed + i)  # fmt: skip
        at = int(rng.integers(0, len(clip) - len(cue)))
        clip[at : at + len(cue)] = cue
        path = folder / f"cue-{i:04d}.wav"
        soundfile.write(path, clip.astype(np.float32), RATE, subtype="PCM_16")
        rows.append({"track_id": f"cue-{i:04d}", "group": f"g{i:04d}", "audio_path": str(path),
                     "arousal": 5 + 4 * arousal, "valence": 5 + 4 * valence})  # fmt: skip
    spec = merbench.DatasetSpec(
        name="cue", load=lambda root: None, tasks=("av-regression",),
        label_scale=merbench.LabelScale(low=1, high=9),
    )  # fmt: skip
    return Tracks(name="cue", spec=spec, table=pd.DataFrame(rows))


def _store(folder: Path, windowing: Windowing) -> FeatureStore:
    settings = AudioSettings(sample_rate=RATE, seconds=WINDOW_S, windowing=windowing)
    return FeatureStore(AudioStore(settings, folder / "audio"), folder / f"features-{windowing}")


def _plan(tracks: Tracks, name: str, fold: Fold, budget: Budget = BUDGET) -> CellPlan:
    registry = load_registry()
    candidate = parse_candidate(name)
    return CellPlan(
        key=CellKey(dataset="cue", task="av-regression", candidate=name, repeat=0,
                    fold=fold.fold),
        tracks=tracks, candidate=candidate, model=registry.model(candidate.model),
        frontends=tuple(registry.frontend(f) for f in candidate.frontends), fold=fold,
        problem=Problem(task=get_task("av-regression"), labels=(), budget=budget, sample_rate=RATE),
        seed=fold.fold,
    )  # fmt: skip


def _folds(n: int) -> list[Fold]:
    rows = np.random.default_rng(1).permutation(n)
    parts = np.array_split(rows, FOLDS)
    return [
        Fold(repeat=0, fold=k, train=np.sort(np.concatenate(parts[:k] + parts[k + 1 :])),
             test=np.sort(parts[k]))
        for k in range(FOLDS)
    ]  # fmt: skip


def child_memory(folder: Path, n_tracks: int) -> None:
    """(Child process) Cache, train and predict on ``n_tracks``; print the peak RSS in MiB."""
    tracks = write_cue_set(folder / f"set-{n_tracks}", n_tracks)
    store = _store(folder / f"cache-{n_tracks}", "all")
    rows = np.arange(n_tracks)
    fold = Fold(repeat=0, fold=0, train=rows[rows % 5 != 0], test=rows[rows % 5 == 0])
    plan = _plan(tracks, "cnn2d@mel", fold)
    plan = dataclasses.replace(plan, problem=dataclasses.replace(
        plan.problem, budget=dataclasses.replace(BUDGET, epochs=2, patience=2)))  # fmt: skip
    started = time.perf_counter()
    result = run_cell(plan, store)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tracks": n_tracks, "peak_mib": peak, "windows": len(store.windows(tracks)),
                      "seconds": time.perf_counter() - started,
                      "r2": result.metrics["r2_mean"]}))  # fmt: skip


def memory(folder: Path, n_tracks: int) -> None:
    """Peak RSS at 1x and 4x tracks, each in a fresh child process."""
    results = []
    for n in (n_tracks, 4 * n_tracks):
        command = [sys.executable, __file__, "--child", str(folder), str(n)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    print("\nPeak memory of one windowed cnn2d@mel cell (cache, 1 trial + refit, predict)")
    print(f"{'tracks':>7} {'windows':>8} {'peak RSS MiB':>13} {'seconds':>8}")
    for r in results:
        print(f"{r['tracks']:>7} {r['windows']:>8} {r['peak_mib']:>13.0f} {r['seconds']:>8.1f}")
    print(f"ratio 4x/1x peak RSS: {results[1]['peak_mib'] / results[0]['peak_mib']:.2f}")


def _scores(y: np.ndarray, y_pred: np.ndarray, centre: np.ndarray) -> list[float]:
    """R2, Pearson r and CCC (means over arousal and valence), and the calibration slope.

    The slope is the least-squares slope of the labels on the predictions about the training
    mean (mean over targets): 1 for a calibrated prediction, far above 1 when an aggregate
    shrinks the predictions towards the mean.
    """
    metrics = compute_metrics(get_task("av-regression"), y, y_pred)
    x, t = y_pred - centre, y - centre
    slope = float(np.mean((x * t).sum(axis=0) / np.maximum((x * x).sum(axis=0), 1e-12)))
    return [metrics["r2_mean"], metrics["pearson_mean"], metrics["ccc_mean"], slope]


def _fold_rows(result: CellResult, y: np.ndarray, fold: Fold) -> dict[str, list[float]]:
    """The fold's scores as stored and, for a rescaled cell, of the plain mean it rescaled."""
    table = pd.DataFrame(result.predictions, columns=["track", "target", "true", "pred"])
    y_pred = table.pivot(index="track", columns="target", values="pred")
    y_pred = y_pred.loc[table["track"].unique(), ["arousal", "valence"]].to_numpy()
    centre = y[fold.train].mean(axis=0)
    rows = {result.info["aggregation"]: _scores(y[fold.test], y_pred, centre)}
    slopes = result.info.get("rescale_slopes")
    if slopes is not None:  # undo it: the plain mean of the windows' outputs
        plain = centre + (y_pred - centre) / np.asarray(slopes)
        rows["mean of window outputs"] = _scores(y[fold.test], plain, centre)
    return rows


def cue(folder: Path, n_tracks: int, candidates: tuple[str, ...], budget: Budget) -> None:
    """Whole-clip windows against one centre crop, per candidate."""
    tracks = write_cue_set(folder / "cue-set", n_tracks, seed=7)
    y = tracks.targets(get_task("av-regression"))
    setup = f"{FOLDS} folds, {WINDOW_S:.0f}-s windows, <= {budget.epochs} epochs"
    print(f"\nCue experiment: {n_tracks} clips of {CLIP_S:.0f} s, a {CUE_S:.0f}-s cue at a "
          f"random place; {setup}")  # fmt: skip
    print(f"{'candidate':<18} {'windows':<7} {'R2 mean':>7} {'+-sd':>5} {'r':>6} {'CCC':>6} "
          f"{'slope':>6} {'s/epoch':>7}  track prediction")  # fmt: skip
    for name in candidates:
        windowings: tuple[Windowing, ...] = ("single", "all")
        for windowing in windowings:
            store = _store(folder, windowing)
            rows: dict[str, list[list[float]]] = {}
            per_epoch = []
            for fold in _folds(n_tracks):
                result = run_cell(_plan(tracks, name, fold, budget), store)
                for aggregation, scores in _fold_rows(result, y, fold).items():
                    rows.setdefault(aggregation, []).append(scores)
                epochs = result.info["refit_epochs"] or 1
                per_epoch.append(result.timings["refit_s"] / epochs)
            label = "centre" if windowing == "single" else "all"
            for aggregation, folds in sorted(rows.items()):
                r2, r, ccc, slope = np.mean(folds, axis=0)
                sd = np.std([row[0] for row in folds])
                print(f"{name:<18} {label:<7} {r2:>7.3f} {sd:>5.3f} {r:>6.3f} {ccc:>6.3f} "
                      f"{slope:>6.2f} {np.median(per_epoch):>7.3f}  {aggregation}",
                      flush=True)  # fmt: skip


def main() -> None:
    """Parse the arguments and run both parts (or one child of the memory part)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "TRACKS"))
    parser.add_argument("--quick", action="store_true", help="fewer tracks")
    parser.add_argument("--part", choices=("memory", "cue", "both"), default="both")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated")
    parser.add_argument("--epochs", type=int, default=BUDGET.epochs, help="torch epoch cap")
    args = parser.parse_args()
    if args.child:
        child_memory(Path(args.child[0]), int(args.child[1]))
        return
    with tempfile.TemporaryDirectory(prefix="bench-windows-") as tmp:
        folder = Path(tmp)
        if args.part in ("memory", "both"):
            memory(folder, 10 if args.quick else 40)
        if args.part in ("cue", "both"):
            budget = dataclasses.replace(
                BUDGET, epochs=args.epochs, patience=max(5, args.epochs // 4)
            )
            candidates = tuple(args.candidates.split(","))
            cue(folder, 80 if args.quick else 160, candidates, budget)


if __name__ == "__main__":
    main()
