"""Clips per second embedded by each pretrained encoder front-end (mert, clap), CPU and CUDA.

Run from the repository root (with the encoders extra installed):
``python benchmarks/bench_encoders.py [--batch 8] [--seconds 10] [--steps 3] [--size default]``.

Weights: an encoder whose folder is under ``$MERBENCH_ENCODERS`` (``m-a-p--MERT-v0``,
``laion--larger_clap_music``) is timed with those real weights; otherwise with a randomly
initialised network: ``--size tiny`` (default) a tiny copy of its architecture
(``save_tiny_weights``), which times the plumbing (resampling, feature extraction, pooling);
``--size default`` the ``transformers`` class's default configuration (``HubertConfig()`` is
HuBERT-base, the 95M-parameter architecture of MERT-v0; ``ClapConfig()``'s audio tower is
HTSAT-tiny, smaller than ``larger_clap_music``'s), which times a network of about the real
size without downloading anything. The line says which.

Measured: the encoder pass the core runs once per window when it fills the feature cache
(``embed``: every hidden state's pooled statistics of a batch of windows at the encoder's own
rate, under ``torch.inference_mode``), after one warm-up batch that also loads the weights; the
disk cache of pooled layers is bypassed. Clips/s = batch x steps / seconds. On CUDA the clock
stops after ``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch


def clips_per_second(module, audio: torch.Tensor, steps: int) -> float:
    module.embed(audio)  # warm-up (and, the first time, loading the weights)
    if audio.is_cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        module.embed(audio)
    if audio.is_cuda:
        torch.cuda.synchronize()
    return len(audio) * steps / (time.perf_counter() - started)


def default_network(name: str) -> torch.nn.Module:
    """A randomly initialised network of the class's default configuration, frozen."""
    import transformers as tf

    network = tf.HubertModel(tf.HubertConfig()) if name == "mert" else tf.ClapModel(tf.ClapConfig())
    return network.eval().requires_grad_(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--size", choices=["tiny", "default"], default="tiny")
    args = parser.parse_args()
    from merbench_plugins.frontends import encoders
    from merbench_plugins.frontends._pretrained import WEIGHTS_ENV, folder_name

    real_root = os.environ.get(WEIGHTS_ENV)
    tiny_root = Path(tempfile.mkdtemp(prefix="merbench-tiny-encoders-"))
    encoders.save_tiny_weights(tiny_root)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"{torch.cuda.get_device_name() if devices[-1] == 'cuda' else 'no CUDA'}; "
        f"batch {args.batch} x {args.seconds:g} s windows, {args.steps} timed batches"
    )
    for name, encoder in encoders.ENCODERS.items():
        real = real_root and (Path(real_root) / folder_name(encoder.model_id)).is_dir()
        os.environ[WEIGHTS_ENV] = str(real_root if real else tiny_root)
        build = encoders.build_mert if name == "mert" else encoders.build_clap
        module = build(encoder.sample_rate)
        weights = "real" if real else f"{args.size} random"
        if not real and args.size == "default":
            module.model = default_network(name)
        n = round(args.seconds * encoder.sample_rate)
        for device in devices:
            audio = (torch.randn(args.batch, n) * 0.1).to(device)
            if module.model is not None:
                module.model.to(device)
            else:
                module.embed(audio.cpu())  # loads the weights (onto CUDA when present)
                module.model.to(device)
            rate = clips_per_second(module, audio, args.steps)
            params = sum(p.numel() for p in module.model.parameters()) / 1e6
            print(
                f"{name:5s} {encoder.model_id:24s} {weights:14s} {params:7.1f}M params "
                f"{encoder.sample_rate / 1000:g} kHz  {device:4s} {rate:8.2f} clips/s"
            )
    if real_root is not None:
        os.environ[WEIGHTS_ENV] = real_root


if __name__ == "__main__":
    main()
