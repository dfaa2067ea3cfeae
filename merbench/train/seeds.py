"""Seeds of augmentation: one generator per training example and epoch, and per batch.

Each example's generator is ``numpy.random.SeedSequence((cell seed, epoch, sample index))``, each
batch's ``(cell seed, epoch, step)`` on its own stream. ``seeded`` also seeds Python's
``random``, numpy's and torch's global generators (which audiomentations and torchaudio draw
from) for the length of one call, and restores them afterwards; it imports torch when it runs,
which only happens while a torch model trains.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from merbench.train.policy import Step

_BATCH_STREAM = 1  # spawn key of per-batch seeds, apart from the per-sample ones


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one training example in one epoch: SeedSequence((seed, epoch, index))."""
    return np.random.default_rng(np.random.SeedSequence((seed, epoch, int(index))))


def batch_rng(seed: int, epoch: int, step: int) -> np.random.Generator:
    """The generator of one training batch (batch-stage augmentations such as mixup)."""
    sequence = np.random.SeedSequence((seed, epoch, step), spawn_key=(_BATCH_STREAM,))
    return np.random.default_rng(sequence)


@contextlib.contextmanager
def seeded(rng: np.random.Generator) -> Iterator[None]:
    """Seed Python's, numpy's and torch's global generators from ``rng``, then restore them.

    audiomentations draws from ``random`` and ``numpy.random``, torchaudio's masking from
    ``torch.rand``: under this context they repeat for the same ``rng``, and code outside it
    sees its own random state unchanged.
    """
    import torch

    seed = int(rng.integers(2**32))
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def call_seeded(transform: Callable[..., Any], *args: Any, rng: np.random.Generator) -> Any:
    """Call ``transform(*args, rng)`` with the global generators seeded from ``rng``."""
    with seeded(rng):
        return transform(*args, rng)


def augment_waveform(x: np.ndarray, steps: Sequence[Step], rng: np.random.Generator) -> np.ndarray:
    """Apply waveform transforms in order to one example ``[C, T]`` (a new float32 array)."""
    out = np.array(x, dtype=np.float32)
    for step in steps:
        out = np.asarray(call_seeded(step.transform, out, rng=rng), dtype=np.float32)
    return out
