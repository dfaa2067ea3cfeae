"""Time the audio store: decoding versus reading the cache, and soxr versus torchaudio resampling.

Run with ``python benchmarks/bench_audio.py``; it writes its clips to a temporary folder and takes
a few seconds. Times are the best of several repeats, in milliseconds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch
import torchaudio.functional as AF
import torchaudio.transforms as AT

from merbench.data.audio import AudioSettings, AudioStore
from merbench.data.decoding import decode

SOURCE_RATE = 44100
SECONDS = 30.0
STORE_RATE = 16000


def best_ms(action: Callable[[], object], repeats: int = 5) -> float:
    """Return the fastest of ``repeats`` runs of ``action``, in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def make_clip() -> np.ndarray:
    """Return 30 s of seeded stereo 'music' (chord plus noise), ``[T, 2]`` float32."""
    rng = np.random.default_rng(0)
    t = np.arange(round(SECONDS * SOURCE_RATE)) / SOURCE_RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 4
    noise = 0.05 * rng.standard_normal((len(t), 2))
    return (chord[:, None] + noise).astype(np.float32)


def row(label: str, slow: float, fast: float) -> None:
    print(f"  {label:<44} {slow:9.2f} {fast:9.2f} {slow / fast:9.1f}x")


def bench_cache(folder: Path, clip: np.ndarray) -> None:
    """Compare decoding each format with reading it back from the cache."""
    print(f"\nDecode ({SECONDS:.0f} s, {SOURCE_RATE} Hz stereo -> {STORE_RATE} Hz mono) vs cache")
    print(f"  {'':<44} {'decode ms':>9} {'cache ms':>9} {'ratio':>10}")
    store = AudioStore(AudioSettings(sample_rate=STORE_RATE), cache_root=folder / "cache")
    for suffix in ["wav", "flac"] + (["mp3"] if "MP3" in sf.available_formats() else []):
        path = folder / f"clip.{suffix}"
        sf.write(path, clip, SOURCE_RATE)
        bench_format(store, path)


def bench_format(store: AudioStore, path: Path) -> None:
    """Time one file: decoding it, and three ways of reading its cache entry."""
    store.load(path)
    decoding = best_ms(lambda: decode(path, STORE_RATE), repeats=3)
    reads = {
        "load (memory map)": lambda: store.load(path),
        "load + read every sample": lambda: np.array(store.load(path)),
        "clip (10 s centre crop)": lambda: store.clip(path),
    }
    for label, action in reads.items():
        row(f"{path.suffix[1:]}: decode vs {label}", decoding, best_ms(action))


def bench_resample(clip: np.ndarray) -> None:
    """Compare soxr with torchaudio's sinc resampler on the same mono signal."""
    mono = np.ascontiguousarray(clip.mean(axis=1))
    tensor = torch.from_numpy(mono)[None]
    print(f"\nResampling {SECONDS:.0f} s mono (torch threads: {torch.get_num_threads()})")
    print(f"  {'':<44} {'torch ms':>9} {'soxr ms':>9} {'ratio':>10}")
    for target in (22050, 16000):
        soxr_ms = best_ms(lambda t=target: soxr.resample(mono, SOURCE_RATE, t, quality="HQ"))
        functional = best_ms(lambda t=target: AF.resample(tensor, SOURCE_RATE, t))
        transform = AT.Resample(SOURCE_RATE, target)
        cached_kernel = best_ms(lambda m=transform: m(tensor))
        row(f"44.1->{target / 1000:g} kHz: functional.resample vs soxr", functional, soxr_ms)
        row(f"44.1->{target / 1000:g} kHz: transforms.Resample vs soxr", cached_kernel, soxr_ms)


def bench_downmix(clip: np.ndarray) -> None:
    """Compare a channel mean with the matrix product ``decode`` uses."""
    weights = np.full(2, 0.5, dtype=np.float32)
    print(f"\nDownmix {SECONDS:.0f} s stereo")
    print(f"  {'':<44} {'mean ms':>9} {'matmul ms':>9} {'ratio':>10}")
    row(
        "mean(axis=1) vs frames @ weights",
        best_ms(lambda: clip.mean(axis=1)),
        best_ms(lambda: clip @ weights),
    )


def main() -> None:
    clip = make_clip()
    with tempfile.TemporaryDirectory() as name:
        bench_cache(Path(name), clip)
    bench_resample(clip)
    bench_downmix(clip)


if __name__ == "__main__":
    main()
