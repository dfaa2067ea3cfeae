"""Training throughput of spectrogram models under memory layouts and precisions, side by side.

Run from the repository root: ``python benchmarks/bench_training.py``. For each model it trains
on a fixed batch of 16 log-mel inputs (64 bands x 251 frames: 8 s at 16 kHz, hop 512) and prints
samples per second in plain fp32, with channels-last memory (merbench's default), with bf16
autocast, and with both, as ratios to plain fp32 measured in the same run.
"""

from __future__ import annotations

import time

import torch

from merbench.plugin.specs import InputShape
from merbench.train.allocator import configure_allocator

SHAPE = (1, 64, 251)
BATCH = 16
STEPS = 10
VARIANTS = ((False, False), (True, False), (False, True), (True, True))  # (channels-last, bf16)


def samples_per_second(build, channels_last: bool, bf16: bool) -> float:
    torch.manual_seed(0)
    net = build((InputShape(kind="spectrogram", shape=SHAPE),), 2)
    x, y = torch.randn(BATCH, *SHAPE), torch.randn(BATCH, 2)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(net.parameters())

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = (net(x).float() - y).pow(2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    for _ in range(2):
        step()
    started = time.perf_counter()
    for _ in range(STEPS):
        step()
    return BATCH * STEPS / (time.perf_counter() - started)


def main() -> None:
    configure_allocator()
    from merbench_plugins.models import _cnn2d_net

    models = {"cnn2d": _cnn2d_net.build}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'model':<10}{'fp32':>10}{'ch-last':>10}{'bf16':>10}{'both':>10}   ratios to fp32")
    for name, build in models.items():
        rates = [
            samples_per_second(build, cl, bf)
            for cl, bf in ((False, False), (True, False), (False, True), (True, True))
        ]
        ratios = " ".join(f"{r / rates[0]:.2f}x" for r in rates[1:])
        print(f"{name:<10}" + "".join(f"{r:>10.1f}" for r in rates) + f"   {ratios}")


if __name__ == "__main__":
    main()
