"""SpecAugment time and frequency masking (Park et al. 2019), on a whole batch at once.

Each spectrogram example ``[C, F, T]`` gets ``n_masks`` time masks of up to ``time_mask``
frames and ``n_masks`` frequency masks of up to ``freq_mask`` bands, drawn as
``torchaudio.functional.mask_along_axis`` draws them (a width ``u * param``, then a start
``u * (size - width)``). Masked cells take the example's mean, not 0: log spectrograms in dB are
far from 0, and a block of zeros would be a loud artefact. No time warping: it moves onsets, and
rhythm carries arousal.

The transform is batched (``batched=True``): the widths and starts of example ``b`` come from
its own generator ``rngs[b]`` (seeded per example and epoch by merbench), and the masks of the
whole batch are applied in one tensor operation. torchaudio's batched masking
(``mask_along_axis_iid``) draws from torch's global generator for the whole batch at once, so
an example's masks would depend on the batch it is in; the per-example loop over torchaudio's
transforms cost as much as a tenth of a ``cnn2d`` cell (``benchmarks/bench_speed.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

import merbench
from merbench.space import IntDistribution

MERBENCH_PLUGIN_API = 1


def build(
    sample_rate: int, *, time_mask: int = 20, freq_mask: int = 8, n_masks: int = 2
) -> Callable[[Any, Sequence[np.random.Generator]], Any]:
    """Mask a batch of spectrograms ``[B, C, F, T]`` -> ``[B, C, F, T]``."""

    def specaugment(x: Any, rngs: Sequence[np.random.Generator]) -> Any:
        import torch

        n_bands, n_frames = x.shape[-2], x.shape[-1]
        bands = np.zeros((len(x), n_bands), dtype=bool)
        frames = np.zeros((len(x), n_frames), dtype=bool)
        for b, rng in enumerate(rngs):
            for _ in range(n_masks):
                _mask(frames[b], time_mask, rng)
                _mask(bands[b], freq_mask, rng)
        masked = (
            torch.as_tensor(bands, device=x.device)[:, None, :, None]
            | torch.as_tensor(frames, device=x.device)[:, None, None, :]
        )
        fill = x.mean(dim=(1, 2, 3), keepdim=True)
        return torch.where(masked, fill, x)

    return specaugment


def _mask(row: np.ndarray, param: int, rng: np.random.Generator) -> None:
    """Set a run of ``row`` drawn like ``torchaudio.functional.mask_along_axis``."""
    width = rng.uniform() * param
    start = rng.uniform() * (len(row) - width)
    row[int(start) : int(start + width)] = True


@merbench.hookimpl
def merbench_augmentations() -> Iterator[merbench.AugmentationSpec]:
    yield merbench.AugmentationSpec(
        name="specaugment",
        stage="spectrogram",
        labels="preserve",
        batched=True,
        build=build,
        search_space={
            "time_mask": IntDistribution(5, 40),
            "freq_mask": IntDistribution(2, 16),
            "n_masks": IntDistribution(1, 2),
        },
        summary="SpecAugment time and frequency masks (torchaudio), filled with the mean.",
    )
