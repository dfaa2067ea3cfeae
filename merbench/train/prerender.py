"""Pre-rendered augmented copies of the clips, and their fixed front-end features, cached.

Slow waveform transforms (pitch shift, time stretch) are rendered into ``N_COPIES`` copies of
every window once per seed, cached on disk under the cache folder like decoded audio; a fixed
front-end's output for every copy is cached beside them. Training then draws one copy per example
and epoch. Each entry is rendered under its lock (``merbench.paths.cache_lock``), so processes
sharing the cache folder render it once and the others read it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from merbench.data.audio import ArrayWriter
from merbench.paths import cache_dir, cache_lock
from merbench.plugin.specs import AugmentationSpec, FrontEndSpec
from merbench.train.policy import N_COPIES, Step
from merbench.train.seeds import augment_waveform

log = logging.getLogger(__name__)

RENDER_CACHE_VERSION = 1
_RENDER_STREAM = 2  # spawn key of pre-rendering seeds
_FRONTEND_BATCH = 16


def render_copies(
    waveforms: np.ndarray,
    track_ids: Sequence[str],
    steps: Sequence[Step],
    *,
    seed: int,
    key: Mapping[str, Any],
) -> tuple[np.ndarray, str]:
    """Render ``N_COPIES`` augmented copies of every clip, once per seed, cached on disk.

    Copy ``k`` of a track is seeded by (seed, k, the track id), so it does not depend on the
    order of the tracks or on the fold.

    Args:
        waveforms: the clips ``[N, C, T]`` (the windows of a dataset; may be memory-mapped).
        track_ids: one id per clip (a window's id names its track and start).
        steps: the pre-rendered waveform transforms (built with their default strength).
        seed: the run's seed.
        key: what else identifies the clips (tracks fingerprint, audio settings).

    Returns:
        ``[N, N_COPIES, C, T']`` float32 (memory-mapped from the cache) and its cache key.
    """
    content = {
        "version": RENDER_CACHE_VERSION,
        "clips": dict(key),
        "seed": seed,
        "copies": N_COPIES,
        "steps": [_identity(s) for s in steps],
    }
    digest = _digest(content)
    path = cache_dir("augmented") / f"copies-{digest}.npy"
    cached = _read(path)
    if cached is not None:
        return cached, digest
    with cache_lock(path):
        if _read(path, quiet=True) is None:  # else rendered by another process meanwhile
            _render(path, waveforms, track_ids, steps, seed)
    return _written(path), digest


def _render(
    path: Path, waveforms: np.ndarray, track_ids: Sequence[str], steps: Sequence[Step], seed: int
) -> None:
    log.info("rendering %d augmented copies of %d windows", N_COPIES, len(waveforms))
    with ArrayWriter(path, len(waveforms)) as out:
        for n in range(len(waveforms)):
            clip = np.asarray(waveforms[n])
            copies = [
                augment_waveform(clip, steps, _render_rng(seed, copy, track_ids[n]))
                for copy in range(N_COPIES)
            ]
            out.write(np.stack(copies)[np.newaxis])


def _written(path: Path) -> np.ndarray:
    array = _read(path)
    if array is None:
        raise OSError(f"{path}: cannot read the cache entry just written")
    return array


@dataclass(frozen=True, kw_only=True, slots=True)
class Copies:
    """Pre-rendered copies ``[N, K, C, T]`` and the cache key they were stored under."""

    array: np.ndarray
    key: str


def copy_features(
    copies: Copies, frontend: FrontEndSpec, params: Mapping[str, Any], *, sample_rate: int
) -> np.ndarray:
    """A fixed front-end's output for every pre-rendered copy, ``[N, K, ...]``, cached."""
    content = {
        "copies": copies.key,
        "frontend": frontend.name,
        "plugin": _provenance(frontend),
        "params": sorted((k, repr(v)) for k, v in params.items()),
        "sample_rate": sample_rate,
        # what the output depends on beyond the plugin version (a pretrained encoder's weights)
        "describe": dict(frontend.describe()) if frontend.describe is not None else None,
    }
    path = cache_dir("augmented") / f"{frontend.name}-{_digest(content)}.npy"
    cached = _read(path)
    if cached is not None:
        return cached
    with cache_lock(path):
        if _read(path, quiet=True) is None:  # else computed by another process meanwhile
            _compute_features(path, copies, frontend, params, sample_rate)
    return _written(path)


def _compute_features(
    path: Path,
    copies: Copies,
    frontend: FrontEndSpec,
    params: Mapping[str, Any],
    sample_rate: int,
) -> None:
    import torch

    module = frontend.builder(sample_rate, **params)
    if isinstance(module, torch.nn.Module):
        module.eval()
    n, k = copies.array.shape[:2]
    with ArrayWriter(path, n) as out, torch.inference_mode():
        for start in range(0, n, _FRONTEND_BATCH):
            part = np.array(copies.array[start : start + _FRONTEND_BATCH])  # writable
            flat = torch.from_numpy(part.reshape(-1, *part.shape[2:]))
            output = np.asarray(module(flat), dtype=np.float32)
            out.write(output.reshape(len(part), k, *output.shape[1:]))


def _render_rng(seed: int, copy: int, track_id: str) -> np.random.Generator:
    entropy = (seed, copy, zlib.crc32(str(track_id).encode()))
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(_RENDER_STREAM,)))


def _identity(step: Step) -> list[Any]:
    params = sorted((k, repr(v)) for k, v in step.params.items())
    return [step.spec.name, _provenance(step.spec), params]


def _provenance(record: AugmentationSpec | FrontEndSpec) -> list[str] | None:
    p = record.provenance
    return [p.distribution, p.version] if p else None


def _digest(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:24]


def _read(path: Path, *, quiet: bool = False) -> np.ndarray | None:
    """The memory-mapped entry, or ``None`` (``quiet``: an unreadable one was reported already)."""
    try:
        array: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
        return array
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError) as exc:
        if not quiet:
            log.warning("%s: unreadable augmentation cache entry (%s); rendering again", path, exc)
        return None
