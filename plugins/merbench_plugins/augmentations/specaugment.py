"""SpecAugment time and frequency masking (Park et al. 2019) with torchaudio.

One spectrogram example ``[C, F, T]`` gets ``n_masks`` time masks of up to ``time_mask``
frames and ``n_masks`` frequency masks of up to ``freq_mask`` bands
(``torchaudio.transforms.TimeMasking`` and ``FrequencyMasking``). Masked cells take the
example's mean, not 0: log spectrograms in dB are far from 0, and a block of zeros would be a
loud artefact. No time warping: it moves onsets, and rhythm carries arousal. torchaudio draws
the masks from torch's global generator, which merbench seeds per example and epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import merbench
from merbench.space import IntDistribution

MERBENCH_PLUGIN_API = 1


def build(
    sample_rate: int, *, time_mask: int = 20, freq_mask: int = 8, n_masks: int = 2
) -> Callable[[Any, Any], Any]:
    """Mask one spectrogram ``[C, F, T]`` -> ``[C, F, T]``."""
    import torchaudio

    time = torchaudio.transforms.TimeMasking(time_mask_param=time_mask)
    frequency = torchaudio.transforms.FrequencyMasking(freq_mask_param=freq_mask)

    def specaugment(x: Any, rng: Any) -> Any:
        fill = float(x.mean())
        for _ in range(n_masks):
            x = frequency(time(x, mask_value=fill), mask_value=fill)
        return x

    return specaugment


@merbench.hookimpl
def merbench_augmentations() -> Iterator[merbench.AugmentationSpec]:
    yield merbench.AugmentationSpec(
        name="specaugment",
        stage="spectrogram",
        labels="preserve",
        build=build,
        search_space={
            "time_mask": IntDistribution(5, 40),
            "freq_mask": IntDistribution(2, 16),
            "n_masks": IntDistribution(1, 2),
        },
        summary="SpecAugment time and frequency masks (torchaudio), filled with the mean.",
    )
