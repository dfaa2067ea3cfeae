"""Fixed front-end features of a ``--split transfer`` run: a pair's entry stacked from its
datasets' entries against the same entry computed anew, side by side.

Run from the repository root: ``python benchmarks/bench_transfer_features.py`` (about a minute
on two busy cores; ``--datasets``, ``--tracks``, ``--seconds`` and ``--frontends`` change it).

A transfer run over N datasets has each dataset's own cells and N (N - 1) ordered pairs; a
pair's tracks are its two datasets' tracks stacked. The script generates N datasets of clips
(harmonic tones in noise, soundfile WAV), caches every dataset's features, then times, for
every pair, its entry **stacked** (``FeatureStore`` copies the datasets' rows: what a run does
now) and **computed anew** (the same stacked tracks without their ``parts``, so the front-end
runs over every window again: what a run did before), each in a fresh cache folder on a shared
audio cache. It prints the seconds of both per front-end, their ratio (stacked over computed;
below 1: faster), the windows the front-end ran in each, and whether the two entries are
bit-identical (computed anew, the windows where one dataset's tracks meet the other's are
batched together, which may move the last bits).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile

import merbench
from merbench.data.audio import AudioSettings, AudioStore
from merbench.data.features import FeatureStore
from merbench.data.tracks import Tracks
from merbench.data.transfer import make_pair
from merbench.plugin.registry import load_registry

RATE = 16000


def _dataset(folder: Path, name: str, n: int, seconds: float, seed: int) -> Tracks:
    """``n`` generated clips with arousal and valence on 1..9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    paths = []
    for i in range(n):
        pitch = rng.uniform(110, 880)
        clip = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in (1, 2, 3))
        clip = 0.2 * clip + 0.05 * rng.normal(size=len(t))
        path = folder / f"{name}-{i}.wav"
        soundfile.write(path, clip.astype(np.float32), RATE, subtype="PCM_16")
        paths.append(str(path))
    table = pd.DataFrame(
        {
            "track_id": [str(i) for i in range(n)],
            "group": [f"artist {i % 5}" for i in range(n)],
            "audio_path": paths,
            "arousal": rng.uniform(1, 9, n),
            "valence": rng.uniform(1, 9, n),
        }
    )
    spec = merbench.DatasetSpec(
        name=name,
        load=lambda root: table,
        tasks=("av-regression",),
        label_scale=merbench.LabelScale(low=1.0, high=9.0),
    )
    return Tracks(name=name, spec=spec, table=table)


def _counting(spec: merbench.FrontEndSpec, seen: list[int]) -> merbench.FrontEndSpec:
    """``spec`` whose module adds the windows of each batch it runs to ``seen[0]``."""

    def build(sample_rate: int, **params: Any) -> Any:
        module = spec.builder(sample_rate, **params)
        if hasattr(module, "eval"):
            module.eval()

        def run(batch: Any) -> Any:
            seen[0] += len(batch)
            return module(batch)

        return run

    return dataclasses.replace(spec, build=build)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=3)
    parser.add_argument("--tracks", type=int, default=24, help="tracks per dataset")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per clip")
    parser.add_argument("--frontends", default="mel,handcrafted")
    args = parser.parse_args()
    registry = load_registry()
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        root = Path(tmp)
        names = [f"set{i}" for i in range(args.datasets)]
        sets = [
            _dataset(root / "audio-files" / n, n, args.tracks, args.seconds, i)
            for i, n in enumerate(names)
        ]
        pairs = [make_pair(a, b, fingerprint=False) for a in sets for b in sets if a is not b]
        audio = AudioStore(AudioSettings(sample_rate=RATE, seconds=3.0), root / "audio")
        print(
            f"{args.datasets} datasets of {args.tracks} clips of {args.seconds:g} s, "
            f"{len(pairs)} ordered pairs"
        )
        print(f"{'front-end':<12} {'stacked s':>10} {'computed s':>11} {'ratio':>6} "
              f"{'windows run (stacked / computed)':>34} {'identical':>10}")  # fmt: skip
        for frontend_name in args.frontends.split(","):
            seen = [0]
            frontend = _counting(registry.frontend(frontend_name), seen)
            own = FeatureStore(audio, root / f"own-{frontend_name}")
            for tracks in sets:  # the datasets' own entries, as their own cells leave them
                own.features(tracks, frontend, {})
            timings, windows = {"stacked": 0.0, "computed": 0.0}, {"stacked": 0, "computed": 0}
            identical = True
            for pair in pairs:
                anew = dataclasses.replace(pair.tracks, parts=())
                seen[0], started = 0, time.perf_counter()
                stacked = np.asarray(own.features(pair.tracks, frontend, {}))
                timings["stacked"] += time.perf_counter() - started
                windows["stacked"] += seen[0]
                fresh = FeatureStore(audio, root / f"fresh-{frontend_name}-{pair.tracks.name}")
                seen[0], started = 0, time.perf_counter()
                computed = np.asarray(fresh.features(anew, frontend, {}))
                timings["computed"] += time.perf_counter() - started
                windows["computed"] += seen[0]
                identical &= bool(np.array_equal(stacked, computed))
            ratio = timings["stacked"] / timings["computed"]
            ran = f"{windows['stacked']} / {windows['computed']}"
            print(
                f"{frontend_name:<12} {timings['stacked']:>10.2f} {timings['computed']:>11.2f} "
                f"{ratio:>6.3f} {ran:>34} {'yes' if identical else 'no':>10}"
            )


if __name__ == "__main__":
    main()
