"""Windows: peak memory against the number of tracks, and whole-clip windows against one crop.

Run from the repository root: ``python benchmarks/bench_windows.py`` (about half an hour on two
busy cores; ``--quick`` for a smaller set).

1. **Peak memory.** A child process caches the mel features of every 3-s window of N generated
   30-s tracks, trains ``cnn2d@mel`` for two epochs on one drawn window per track and predicts
   every window; it prints its peak resident memory (``ru_maxrss``). N and 4N tracks are printed
   side by side: window features are read from the memory-mapped cache batch by batch, so the
   peak should not grow with the tracks beyond the small per-track index and targets.
2. **A cue anywhere in the clip.** Generated 30-s clips are neutral (a soft steady tone and
   noise) except for one 3-s cue at a random place: its loudness and pulse rate carry arousal,
   its pitch valence. ``cnn2d@mel`` and ``ridge@handcrafted`` go through merbench's cell (one
   trial, then the refit; 4 grouped folds) with every window of the clip (hop 1.5 s) and with one
   centre crop of 3 s (``windowing = "single"``). It prints R2 (mean of arousal and valence)
   per fold mean and the training seconds per epoch (refit time over refit epochs).
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
from merbench.audio import AudioSettings, AudioStore
from merbench.budgets import BUDGETS, Budget
from merbench.candidates import parse_candidate
from merbench.cell import CellPlan, run_cell
from merbench.cv import Fold
from merbench.data import Tracks
from merbench.features import FeatureStore
from merbench.registry import load_registry
from merbench.schema import CellKey
from merbench.testing import A4, tone
from merbench.train import Problem
from merbench.windows import Windowing

RATE = 8000  # the cue sits below 700 Hz; half the default rate halves the work
CLIP_S = 30.0
CUE_S = 3.0
WINDOW_S = 3.0
BUDGET = dataclasses.replace(
    BUDGETS["smoke"], trials=1, epochs=16, patience=5, batch_size=16, clip_seconds=WINDOW_S
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
        problem=Problem(task="av-regression", labels=(), budget=budget, sample_rate=RATE),
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


def cue(folder: Path, n_tracks: int, candidates: tuple[str, ...], budget: Budget) -> None:
    """Whole-clip windows against one centre crop, per candidate."""
    tracks = write_cue_set(folder / "cue-set", n_tracks, seed=7)
    setup = f"{FOLDS} folds, {WINDOW_S:.0f}-s windows, <= {budget.epochs} epochs"
    print(f"\nCue experiment: {n_tracks} clips of {CLIP_S:.0f} s, a {CUE_S:.0f}-s cue at a "
          f"random place; {setup}")  # fmt: skip
    print(f"{'candidate':<20} {'windows':<8} {'R2 mean':>8} {'+-sd':>6} {'train s/epoch':>14}")
    for name in candidates:
        windowings: tuple[Windowing, ...] = ("single", "all")
        for windowing in windowings:
            store = _store(folder, windowing)
            scores, per_epoch = [], []
            for fold in _folds(n_tracks):
                result = run_cell(_plan(tracks, name, fold, budget), store)
                scores.append(result.metrics["r2_mean"])
                epochs = result.info["refit_epochs"] or 1
                per_epoch.append(result.timings["refit_s"] / epochs)
            label = "centre" if windowing == "single" else "all"
            print(f"{name:<20} {label:<8} {np.mean(scores):>8.3f} {np.std(scores):>6.3f} "
                  f"{np.median(per_epoch):>14.3f}")  # fmt: skip


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
            cue(folder, 48 if args.quick else 80, candidates, budget)


if __name__ == "__main__":
    main()
