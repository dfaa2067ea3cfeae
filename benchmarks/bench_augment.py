"""Training throughput with each augmentation, on the fly and pre-rendered, side by side.

Run from the repository root: ``python benchmarks/bench_augment.py``. It writes 32 tone clips
of 8 s, then trains a small raw-audio CNN (``cnn1d@raw``) and a small spectrogram CNN
(``cnn2d@mel``, mel cached, or run in the graph when a waveform transform applies) through
merbench's own training loop and augmentation pipeline, and prints training samples per second
without augmentation and with each one, as ratios to no augmentation measured in the same run:
the settings take turns, one epoch each, and each keeps its fastest epoch, so every ratio is
measured under the same load.
Pitch shift and time stretch are also measured pre-rendered (the rendering is timed apart, as
seconds per clip: it happens once per run seed, and the second model finds the copies cached).
About three minutes on two cores.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import merbench
from merbench.data.audio import AudioSettings, AudioStore
from merbench.data.features import FeatureStore
from merbench.data.tracks import Tracks
from merbench.data.windows import Feed
from merbench.evaluation.budgets import BUDGETS
from merbench.evaluation.tasks import get_task
from merbench.plugin.registry import load_registry
from merbench.testing import write_tone_dataset
from merbench.train.allocator import configure_allocator
from merbench.train.augment import TrainingSetup, prepare_training
from merbench.train.fit import Problem, Trainable
from merbench.train.loop import _Loop, set_threads
from merbench.train.policy import make_policy
from merbench.train.torch_augment import Augmenter
from merbench.train.torch_net import build_network

RATE = 16000
SECONDS = 8.0
N_CLIPS = 32
ROUNDS = 3  # timed epochs per setting, after one untimed warm-up epoch
PROBLEM = Problem(
    task=get_task("av-regression"), labels=(), budget=BUDGETS["default"], sample_rate=RATE
)
TARGET = torch.randn(N_CLIPS, 2, generator=torch.Generator().manual_seed(0))
MODELS = {"cnn1d@raw": {"width": 8, "depth": 4}, "cnn2d@mel": {"width": 8, "depth": 2}}
POLICIES = ("gain", "noise", "polarity", "lowpass", "highpass", "bandpass", "chunk",
            "pitch", "stretch", "specaugment", "mixup")  # fmt: skip
PRE_RENDERED = ("pitch", "stretch")


def _tracks(folder: Path) -> Tracks:
    rows = write_tone_dataset(folder, n_tracks=N_CLIPS, seconds=SECONDS, sample_rate=RATE)
    spec = merbench.DatasetSpec(name="bench", load=lambda root: None, tasks=("av-regression",))
    return Tracks(name="bench", spec=spec, table=pd.DataFrame(rows))


@dataclass
class Setting:
    """One configuration to time: a training loop (network, optimiser, maybe an augmenter)."""

    loop: _Loop
    render_s: float = 0.0
    best_s: float = float("inf")


def _setting(candidate: str, policy: str | None, mode: str, store: FeatureStore, tracks: Tracks):
    registry = load_registry()
    model_name, _, frontend_name = candidate.partition("@")
    model, frontend = registry.model(model_name), registry.frontend(frontend_name)
    trainable = Trainable(spec=frontend, params={}) if frontend.trainable else None
    inputs = [store.waveforms(tracks) if trainable else store.features(tracks, frontend, {})]
    feed = Feed(sources=inputs, windows=store.windows(tracks), rows=np.arange(N_CLIPS))
    torch.manual_seed(0)
    net = build_network(model, MODELS[candidate], feed.read(np.arange(1)), [trainable], PROBLEM)
    net = net.to(memory_format=torch.channels_last)
    loop = _Loop(net=net, optimiser=torch.optim.AdamW(net.parameters()), feed=feed,
                 target=TARGET, problem=PROBLEM, rng=np.random.default_rng(0), seed=0)  # fmt: skip
    setting = Setting(loop=loop)
    if policy is not None:
        built = make_policy([registry.augmentation(policy)], {}, sample_rate=RATE, run_mode=mode)
        setup = TrainingSetup(
            policy=built, features=store, tracks=tracks, frontends=[frontend],
            frontend_params=[{}], rows=np.arange(N_CLIPS), seed=0, render_seed=0, sample_rate=RATE,
        )  # fmt: skip
        started = time.perf_counter()
        plan = prepare_training(setup)
        if mode == "pre-rendered":
            setting.render_s = (time.perf_counter() - started) / N_CLIPS
        setting.loop.augmenter = Augmenter(plan, 0, "cpu")
    return setting


def _epoch(setting: Setting, epoch: int) -> None:
    """Train one epoch; keep the fastest epoch after the first (the cores are shared)."""
    started = time.perf_counter()
    setting.loop.epoch(epoch)
    if epoch:
        setting.best_s = min(setting.best_s, time.perf_counter() - started)


def _measure(candidate: str, store: FeatureStore, tracks: Tracks) -> None:
    policies = [p for p in POLICIES if not (p == "specaugment" and candidate == "cnn1d@raw")]
    settings = {("none", "on-the-fly"): _setting(candidate, None, "auto", store, tracks)}
    for policy in policies:
        settings[(policy, "on-the-fly")] = _setting(candidate, policy, "on-the-fly", store, tracks)
        if policy in PRE_RENDERED:
            rendered = _setting(candidate, policy, "pre-rendered", store, tracks)
            settings[(policy, "pre-rendered")] = rendered
    for epoch in range(ROUNDS + 1):  # round-robin: every setting sees the same load
        for setting in settings.values():
            _epoch(setting, epoch)
    plain = N_CLIPS / settings[("none", "on-the-fly")].best_s
    print(f"{candidate:<11}{'none':<14}{plain:>12.1f}{'1.00x':>7}")
    for policy in policies:
        live = N_CLIPS / settings[(policy, "on-the-fly")].best_s
        line = f"{'':<11}{policy:<14}{live:>12.1f}{live / plain:>6.2f}x"
        if (policy, "pre-rendered") in settings:
            rendered = settings[(policy, "pre-rendered")]
            rate = N_CLIPS / rendered.best_s
            line += f"{rate:>14.1f}{rate / plain:>6.2f}x{rendered.render_s:>15.3f}"
        print(line)


def main() -> None:
    configure_allocator()
    set_threads()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["MERBENCH_CACHE"] = folder  # cold caches: renders are measured, then dropped
        tracks = _tracks(Path(folder) / "clips")
        store = FeatureStore(AudioStore(AudioSettings(sample_rate=RATE, seconds=SECONDS)))
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"{N_CLIPS} clips of {SECONDS:.0f} s, batch 16, best of {ROUNDS} epochs")  # fmt: skip
        header = f"{'candidate':<11}{'augmentation':<14}{'on the fly':>12}{'ratio':>7}"
        print(header + f"{'pre-rendered':>14}{'ratio':>7}{'render s/clip':>15}")
        for candidate in MODELS:
            _measure(candidate, store, tracks)


if __name__ == "__main__":
    main()
