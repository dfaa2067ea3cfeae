"""Training throughput and achieved GFLOP/s of every torch candidate, beside the machine's peak.

Run from the repository root: ``python benchmarks/bench_models.py [--seconds 8] [--steps 6]``.
Every registered torch model is built over each of its default front-ends exactly as merbench
builds it (fixed front-ends precomputed, trainable ones in the graph, channels-last memory,
default hyperparameters) on a batch of the default budget's clip length at 16 kHz. For each it
prints training samples per second in fp32 and with bf16 autocast, the FLOPs of one training step
counted with ``torch.utils.flop_counter.FlopCounterMode`` (forward and backward), and the achieved
GFLOP/s as a share of the matrix-multiply GFLOP/s measured in the same run and precision.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from merbench.data.windows import Feed
from merbench.evaluation.budgets import get_budget
from merbench.evaluation.tasks import get_task
from merbench.pipeline.candidates import default_candidates
from merbench.plugin.registry import load_registry
from merbench.train.allocator import configure_allocator
from merbench.train.fit import Problem, Trainable
from merbench.train.loop import _layout, _network, set_threads

SAMPLE_RATE = 16000
BATCH = 16


def matmul_gflops(dtype: torch.dtype, size: int = 1024, repeats: int = 20) -> float:
    """Measured dense matrix-multiply throughput in ``dtype``."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def _inputs(registry, candidate, clip: np.ndarray) -> tuple[list[np.ndarray], list]:
    arrays, trainables = [], []
    for name in candidate.frontends:
        spec = registry.frontend(name)
        if spec.trainable:
            arrays.append(clip)
            trainables.append(Trainable(spec=spec, params={}))
            continue
        module = spec.build(SAMPLE_RATE)
        with torch.inference_mode():
            arrays.append(np.asarray(module(torch.from_numpy(clip)), dtype=np.float32))
        trainables.append(None)
    return arrays, trainables


def _step(net: torch.nn.Module, xs: list[torch.Tensor], y: torch.Tensor, bf16: bool) -> Callable:
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-4)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = (net(*xs).float() - y).pow(2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step


def measure(registry, candidate, clip: np.ndarray, steps: int) -> dict[str, float]:
    model = registry.model(candidate.model)
    arrays, trainables = _inputs(registry, candidate, clip)
    problem = Problem(
        task=get_task("av-regression"),
        labels=(),
        budget=get_budget("default"),
        sample_rate=SAMPLE_RATE,
    )
    torch.manual_seed(0)
    net = _network(model, {}, Feed.plain(arrays), trainables, problem, "cpu")
    net = net.to(memory_format=torch.channels_last).train()
    xs = [_layout(torch.from_numpy(a)) for a in arrays]
    y = torch.randn(len(clip), 2)
    out: dict[str, float] = {"params": sum(p.numel() for p in net.parameters())}
    counter = FlopCounterMode(display=False)
    with counter:
        _step(net, xs, y, bf16=False)()
    out["gflop"] = counter.get_total_flops() / 1e9
    for label, bf16 in (("fp32", False), ("bf16", True)):
        step = _step(net, xs, y, bf16)
        step()
        step()
        started = time.perf_counter()
        for _ in range(steps):
            step()
        elapsed = time.perf_counter() - started
        out[f"{label}_sps"] = len(clip) * steps / elapsed
        out[f"{label}_gflops"] = out["gflop"] * steps / elapsed
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=get_budget("default").clip_seconds)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--models", default="", help="comma-separated model names (default: all)")
    args = parser.parse_args()
    configure_allocator()
    set_threads()
    registry = load_registry()
    wanted = {m for m in args.models.split(",") if m}
    clip = (
        np.random.default_rng(0)
        .standard_normal((BATCH, 1, int(args.seconds * SAMPLE_RATE)))
        .astype(np.float32)
        * 0.1
    )
    peak = {"fp32": matmul_gflops(torch.float32), "bf16": matmul_gflops(torch.bfloat16)}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH} x "
        f"{args.seconds:g} s at {SAMPLE_RATE} Hz; matmul peak fp32 {peak['fp32']:.0f} GFLOP/s, "
        f"bf16 {peak['bf16']:.0f} GFLOP/s"
    )
    header = (
        f"{'candidate':<28}{'params':>9}{'GFLOP/step':>11}{'fp32 sps':>10}{'bf16 sps':>10}"
        f"{'bf16/fp32':>10}{'fp32 %peak':>11}{'bf16 %peak':>11}"
    )
    print(header)
    for model in registry.models.values():
        if model.family != "torch" or (wanted and model.name not in wanted):
            continue
        for candidate in default_candidates(model):
            if candidate.augmentations:  # the same network: benchmarks/bench_augment.py
                continue
            try:
                r = measure(registry, candidate, clip, args.steps)
            except Exception as exc:  # one broken candidate must not hide the others
                print(f"{candidate.name:<28} failed: {type(exc).__name__}: {exc}")
                continue
            print(
                f"{candidate.name:<28}{r['params']:>9.0f}{r['gflop']:>11.2f}"
                f"{r['fp32_sps']:>10.1f}{r['bf16_sps']:>10.1f}"
                f"{r['bf16_sps'] / r['fp32_sps']:>9.2f}x"
                f"{100 * r['fp32_gflops'] / peak['fp32']:>10.1f}%"
                f"{100 * r['bf16_gflops'] / peak['bf16']:>10.1f}%"
            )


if __name__ == "__main__":
    main()
