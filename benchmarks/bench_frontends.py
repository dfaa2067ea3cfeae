"""Time per batch of the mel front-ends, fixed and trainable, side by side in one run.

Run from the repository root: ``python benchmarks/bench_frontends.py [--batch 16] [--steps 10]``.
On a batch of 8 s clips at 16 kHz it times the pinned torchaudio ``mel`` (forward, as the core
computes it once for the cache), nnAudio's mel spectrogram with fixed kernels (forward), and
``learnable-mel`` (forward and backward, as it runs in every training step), then the same for
the constant-Q pair (``cqt`` forward, ``learnable-cqt`` forward and backward). Ratios are to
torchaudio's mel, measured in the same run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from merbench.train.allocator import configure_allocator

SR = 16000
SECONDS = 8.0


def seconds_per_batch(step: Callable[[], None], steps: int) -> float:
    for _ in range(2):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


def forward(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        with torch.inference_mode():
            module(x)

    return step


def forward_backward(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        module.zero_grad()
        module(x).mean().backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    configure_allocator()
    from nnAudio.features import MelSpectrogram

    from merbench_plugins.frontends import learnable, spectral

    x = torch.randn(args.batch, 1, round(SECONDS * SR)) * 0.1
    nnaudio_fixed = MelSpectrogram(
        sr=SR, n_fft=1024, hop_length=512, n_mels=64, htk=True, norm=None, fmax=SR / 2,
        trainable_mel=False, trainable_STFT=False, verbose=False,
    )  # fmt: skip
    cases = [
        ("mel (torchaudio), forward", forward(spectral.build_mel(SR), x)),
        ("mel (nnAudio, fixed), forward", forward(nnaudio_fixed, x[:, 0])),
        ("learnable-mel, forward+backward", forward_backward(learnable.build_learnable_mel(SR), x)),
        ("learnable-mel, mel only, fwd+bwd",
         forward_backward(learnable.build_learnable_mel(SR, train_stft=False), x)),
        ("cqt (nnAudio, fixed), forward", forward(spectral.build_cqt(SR), x)),
        ("learnable-cqt, forward+backward", forward_backward(learnable.build_learnable_cqt(SR), x)),
    ]  # fmt: skip
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"batch {args.batch} x {SECONDS:g} s at {SR} Hz, {args.steps} steps"
    )
    reference = None
    for label, step in cases:
        elapsed = seconds_per_batch(step, args.steps)
        reference = reference or elapsed
        print(f"{label:<36}{elapsed * 1000:>9.1f} ms/batch{elapsed / reference:>8.2f}x")


if __name__ == "__main__":
    main()
