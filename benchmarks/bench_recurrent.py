"""Training and prediction speed of ``lstm@frames`` and ``gru@frames`` under torch's options.

Run from the repository root:
``PYTHONPATH=.:plugins python benchmarks/bench_recurrent.py [--repeats 7] [--steps 8]``.

The networks are built by the plugins' own builders with their default hyperparameters (one
bidirectional layer of 64 units, attention pooling) on ``frames`` features of noise clips of the
default budget's window (3 s at 16 kHz), on one torch thread as merbench cells run. Every variant
is timed in turn inside each repeat (interleaved, so load from other processes hits all of them
alike) and the best repeat is kept. It prints, per cell type, each variant's milliseconds per
window and its speed-up over the first row: for training the settings before this comparison
(hop 1024, batch 16, fp32), for prediction merbench's 32 windows per pass:

- training step (forward, backward, AdamW) at the frames hop 1024 and 2048 samples (64 and 128
  ms, so half the time steps), training batch 16 and 32, bf16 autocast, and with the input made
  contiguous after the per-feature batch norm (the fused ``nn.LSTM``/``nn.GRU`` kernels take
  ``[B, T, D]`` batch-first input either way);
- prediction (``inference_mode``, evaluation mode) at the default hop and 32, 16, 64 and 128
  windows per pass.

The fused kernels differ by cell on a CPU: ``nn.LSTM`` runs oneDNN's fused RNN
(``mkldnn_rnn_layer`` in ``torch.profiler``), while ``nn.GRU`` has no oneDNN path in torch and
steps through time in C++ with one small matrix product per step and direction, which is why a
GRU step costs about 2.7x an LSTM step here and gains most from fewer, larger steps.

Packed sequences are not measured: merbench windows all have the same length (a short clip is
zero-padded to one window), so packing has nothing to skip.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

import merbench
from merbench.evaluation.budgets import get_budget
from merbench_plugins.frontends import frames
from merbench_plugins.models import rnn

SAMPLE_RATE = 16000
TRAIN_BATCH = 16
PREDICT_BATCH = 32
HOPS = (1024, 2048)  # 64 and 128 ms at 16 kHz; 2048 is the default since this comparison


@dataclass(frozen=True)
class Variant:
    """One timed configuration: ``label`` in the table, ``batch`` windows per step."""

    label: str
    batch: int
    run: Callable[[], None]


def features(hop: int, batch: int, seconds: float) -> torch.Tensor:
    """``frames`` features of seeded noise clips: ``[batch, N, D]``."""
    seeded = torch.Generator().manual_seed(0)
    clip = 0.1 * torch.randn(batch, 1, int(seconds * SAMPLE_RATE), generator=seeded)
    with torch.no_grad():
        return frames.build(SAMPLE_RATE, hop_length=hop)(clip)


def network(cell: str, x: torch.Tensor, *, contiguous: bool = False) -> torch.nn.Module:
    """The plugin's network with default hyperparameters for sequences shaped like ``x``."""
    torch.manual_seed(0)
    build = rnn.build_lstm if cell == "lstm" else rnn.build_gru
    net = build((merbench.InputShape(kind="sequence", shape=tuple(x.shape[1:])),), 2)
    if contiguous:  # the batch norm's output is a transposed view; copy it before the RNN
        net = torch.nn.Sequential(net[0], _Contiguous(), *net[1:])
    return net


class _Contiguous(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous()


def train_step(net: torch.nn.Module, x: torch.Tensor, *, bf16: bool = False) -> Callable[[], None]:
    """One AdamW step on ``x`` with a mean-squared loss, as ``merbench.train.loop`` takes."""
    net.train()
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-4)
    y = torch.randn(len(x), 2, generator=torch.Generator().manual_seed(1))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = (net(x).float() - y).pow(2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step


def predict_step(net: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One prediction pass over ``x`` in evaluation mode."""
    net.eval()

    def step() -> None:
        with torch.inference_mode():
            net(x)

    return step


def variants(cell: str, seconds: float) -> tuple[list[Variant], list[Variant]]:
    """The training and prediction variants of one cell type, today's settings first."""
    train: list[Variant] = []
    for hop, batch, bf16, contiguous in (
        (HOPS[0], TRAIN_BATCH, False, False),
        (HOPS[0], TRAIN_BATCH, False, True),
        (HOPS[0], TRAIN_BATCH, True, False),
        (HOPS[0], 2 * TRAIN_BATCH, False, False),
        (HOPS[1], TRAIN_BATCH, False, False),
        (HOPS[1], 2 * TRAIN_BATCH, False, False),
    ):
        x = features(hop, batch, seconds)
        label = f"hop {hop}, batch {batch}" + (", bf16" if bf16 else "")
        label += ", contiguous" if contiguous else ""
        net = network(cell, x, contiguous=contiguous)
        train.append(Variant(label, batch, train_step(net, x, bf16=bf16)))
    predict: list[Variant] = []
    for batch in (PREDICT_BATCH, 16, 64, 128):
        x = features(frames.HOP, batch, seconds)
        predict.append(
            Variant(f"hop {frames.HOP}, batch {batch}", batch, predict_step(network(cell, x), x))
        )
    return train, predict


def best_ms_per_window(table: list[Variant], repeats: int, steps: int) -> list[float]:
    """Best-of-``repeats`` milliseconds per window of each variant, timed interleaved."""
    best = [float("inf")] * len(table)
    for variant in table:  # warm-up: allocator, oneDNN primitives
        variant.run()
        variant.run()
    for _ in range(repeats):
        for i, variant in enumerate(table):
            started = time.perf_counter()
            for _ in range(steps):
                variant.run()
            elapsed = time.perf_counter() - started
            best[i] = min(best[i], 1000 * elapsed / (steps * variant.batch))
    return best


def _print(title: str, table: list[Variant], ms: list[float]) -> None:
    print(f"  {title:<34}{'ms/window':>10}{'speed-up':>10}")
    for variant, value in zip(table, ms, strict=True):
        print(f"  {variant.label:<34}{value:>10.3f}{ms[0] / value:>9.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=get_budget("default").clip_seconds)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"torch {torch.__version__}, 1 thread, {args.seconds:g} s windows at {SAMPLE_RATE} Hz, "
        f"best of {args.repeats} interleaved repeats of {args.steps} steps"
    )
    for cell in ("lstm", "gru"):
        train, predict = variants(cell, args.seconds)
        print(f"{cell}@frames")
        _print("training step", train, best_ms_per_window(train, args.repeats, args.steps))
        _print("prediction pass", predict, best_ms_per_window(predict, args.repeats, args.steps))


if __name__ == "__main__":
    main()
