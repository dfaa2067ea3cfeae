"""Shared checks for the deep model plugins: shapes over lengths, gradients, a tiny real fit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch

from merbench.evaluation.budgets import Budget
from merbench.evaluation.tasks import get_task
from merbench.plugin.specs import InputShape
from merbench.testing import check_plugin
from merbench.train.fit import Problem
from merbench.train.loop import fit_torch


def passes_contract(module) -> None:
    checks = check_plugin(module)
    assert all(c.passed for c in checks)
    assert any(c.name.endswith("trains with defaults") for c in checks)


def imports_without_torch(module_name: str) -> None:
    code = (
        f"import sys, {module_name} as m; list(m.merbench_models()); print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def output_shapes(build, shapes, params, *, batch: int = 3, n_outputs: int = 4) -> list[tuple]:
    """Build for each set of input shapes and return the output shape of a random batch."""
    torch.manual_seed(0)
    found = []
    for inputs in shapes:
        net = build(tuple(InputShape(kind=k, shape=s) for k, s in inputs), n_outputs, **params)
        found.append(tuple(net(*[torch.randn(batch, *s) for _, s in inputs]).shape))
    return found


def gradients_are_finite(build, inputs, params) -> bool:
    torch.manual_seed(0)
    net = build(tuple(InputShape(kind=k, shape=s) for k, s in inputs), 2, **params)
    net(*[torch.randn(4, *s) for _, s in inputs]).pow(2).mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    return all(g is not None and bool(torch.isfinite(g).all()) for g in grads)


def fit_errors(spec, params, train, test, *, epochs: int, lr: float = 3e-3):
    """Fit ``spec`` on ``train`` through the core's loop and return the test MSE of the model and
    of predicting the training mean, per dimension (arousal, valence)."""
    budget = Budget(
        name="smoke", outer_folds=2, repeats=1, trials=1, epochs=epochs, patience=epochs,
        batch_size=16, clip_seconds=1.0,
    )  # fmt: skip
    problem = Problem(task=get_task("av-regression"), labels=(), budget=budget, sample_rate=8000)
    (x_train, y_train), (x_test, y_test) = train, test
    fitted = fit_torch(
        spec, {**params, "lr": lr, "weight_decay": 0.0}, (x_train, y_train), problem,
        seed=0, trainables=[None] * len(x_train),
    )  # fmt: skip
    predicted = fitted.predict(x_test, len(y_test))
    assert predicted.shape == y_test.shape
    model_error = np.mean((predicted - y_test) ** 2, axis=0)
    mean_error = np.mean((y_train.mean(axis=0) - y_test) ** 2, axis=0)
    return model_error, mean_error


def loudness_pitch_clips(n: int, samples: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Tones whose loudness carries arousal and pitch valence: ``[N, 1, T]`` and ``[N, 2]``."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1, 1, (n, 2))
    t = np.arange(samples) / 8000
    frequency = 300 * 2 ** (y[:, 1:2] + 1)  # 300..1200 Hz
    amplitude = 0.35 + 0.3 * y[:, :1]
    clips = amplitude * np.sin(2 * np.pi * frequency * t + rng.uniform(0, 6, (n, 1)))
    clips += rng.normal(0, 0.01, clips.shape)
    return clips[:, None, :].astype(np.float32), (5 + 4 * y).astype(np.float64)


def band_spectrograms(
    n: int, bins: int, frames: int, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Noise spectrograms with one bright band: its level carries arousal, its bin valence;
    ``[N, 1, F, T]`` and ``[N, 2]``."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1, 1, (n, 2))
    centre = (0.5 + 0.4 * y[:, 1]) * (bins - 1)
    band = np.exp(-0.5 * ((np.arange(bins)[None, :] - centre[:, None]) / 1.5) ** 2)
    level = 2.0 + 1.5 * y[:, :1]
    maps = (level * band)[:, :, None] + rng.normal(0, 0.3, (n, bins, frames))
    return maps[:, None].astype(np.float32), (5 + 4 * y).astype(np.float64)


def feature_sequences(n: int, frames: int, features: int, *, seed: int):
    """Frame features whose first two carry arousal and valence on unrelated scales, with
    distractors: ``[N, T, D]`` and ``[N, 2]``."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1, 1, (n, 2))
    x = rng.normal(0, 1, (n, frames, features))
    x[:, :, 0] = 60 + 10 * y[:, :1] + rng.normal(0, 3, (n, frames))  # decibel-like
    x[:, :, 1] = 0.02 * y[:, 1:] + rng.normal(0, 0.01, (n, frames))  # ratio-like
    return x.astype(np.float32), (5 + 4 * y).astype(np.float64)


def loudness_clips_with_features(n: int, samples: int, features: int, *, seed: int):
    """Arousal in the clips' loudness only, valence in one hand-crafted feature only (with
    distractors): ``[N, 1, T]``, ``[N, D]`` and ``[N, 2]``."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1, 1, (n, 2))
    t = np.arange(samples) / 8000
    clips = (0.35 + 0.3 * y[:, :1]) * np.sin(2 * np.pi * 440 * t + rng.uniform(0, 6, (n, 1)))
    clips += rng.normal(0, 0.01, clips.shape)
    vector = rng.normal(0, 1, (n, features))
    vector[:, 0] = 1000 + 300 * y[:, 1]  # a centroid-like feature in hertz
    return (
        clips[:, None, :].astype(np.float32),
        vector.astype(np.float32),
        (5 + 4 * y).astype(np.float64),
    )
