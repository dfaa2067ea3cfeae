"""Augmented training batches for the shared torch loop.

One training step of an augmented candidate runs, in this order: waveform transforms on each
example (numpy, on the CPU), the model's front-ends (a fixed front-end runs in the graph on the
augmented waveforms; cached features are used when no waveform transform applies), spectrogram
transforms on each example, batch transforms (mixup) on the whole batch and its targets, then
the model body. ``merbench.train.loop`` calls ``Augmenter.forward`` for training batches only;
validation and test predictions go through the plain network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import torch

from merbench.data.windows import read_rows
from merbench.errors import CellError
from merbench.train.augment import TrainingAugmentation
from merbench.train.seeds import augment_waveform, batch_rng, call_seeded, sample_rng
from merbench.train.timing import phase
from merbench.train.torch_net import Joined


class Augmenter:
    """Builds augmented training batches and runs the network on them.

    Args:
        plan: the fit's augmentation (routes, sources, seeds).
        n_classes: the number of classes (0 for regression).
        device: where the network runs.
    """

    def __init__(self, plan: TrainingAugmentation, n_classes: int, device: str) -> None:
        self.plan = plan
        self.device = device
        self.n_classes = n_classes
        for route in plan.routes:
            if isinstance(route.frontend, torch.nn.Module):
                route.frontend.to(device).eval()
        self.epoch = 0
        self.step = 0

    def begin_epoch(self, epoch: int) -> None:
        """Start counting the batches of ``epoch`` (the batch seeds depend on both)."""
        self.epoch, self.step = epoch, 0

    def forward(
        self,
        network: torch.nn.Module,
        windows: np.ndarray,
        cached: Sequence[torch.Tensor],
        target: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Augment a training batch and return the network's output and the targets.

        Args:
            network: the joined network.
            windows: the window row of each example (the sample index of its seed).
            cached: the batch's inputs as the network sees them at validation.
            target: the batch's standardised targets ``[B, 2]`` or class indices ``[B]``.
        """
        plan, net = self.plan, cast(Joined, network)
        rngs = [sample_rng(plan.seed, self.epoch, int(w)) for w in windows]
        picks = [int(rng.integers(plan.n_copies)) for rng in rngs] if plan.n_copies else None
        with phase("augment"):
            wave = self._waveforms(windows, rngs, picks)
        inputs = []
        for i, route in enumerate(plan.routes):
            if route.source == "cached":
                x = cached[i]
            elif route.copies is not None:  # route "copies": [B, K, ...], one copy per example
                taken = read_rows(route.copies, windows)[np.arange(len(windows)), picks]
                x = torch.as_tensor(taken, dtype=torch.float32)
            elif wave is None:
                raise ValueError(f"input {i} routes {route.source!r} but no waveforms were given")
            elif route.source == "waveform":
                x = wave
            else:  # a fixed front-end in the graph: float32 like its cached output, no gradient
                with torch.no_grad(), torch.autocast(wave.device.type, enabled=False):
                    x = torch.as_tensor(route.frontend(wave), dtype=torch.float32)
            inputs.append(net.frontends[i](_layout(x.to(self.device))))
        with phase("augment"):
            inputs = [self._spectrogram(z, rngs) for z in inputs]
        if plan.policy.batch and self.n_classes:  # label-mixing needs soft (one-hot) targets
            target = torch.nn.functional.one_hot(target, self.n_classes).float()
        rng = batch_rng(plan.seed, self.epoch, self.step)
        self.step += 1
        for step in plan.policy.batch:
            inputs, target = call_seeded(step.transform, list(inputs), target, rng=rng)
        output: torch.Tensor = net.body(*(_layout(z) for z in inputs))
        return output, target

    def _waveforms(
        self, windows: np.ndarray, rngs: Sequence[np.random.Generator], picks: list[int] | None
    ) -> torch.Tensor | None:
        """The augmented clips of the batch ``[B, C, T]``, when some input needs them."""
        plan, source = self.plan, self.plan.waveforms
        if source is None:
            return None
        rows = read_rows(source, windows)
        clips = []
        for b in range(len(windows)):
            clip = rows[b] if picks is None else rows[b, picks[b]]
            clips.append(augment_waveform(clip, plan.policy.live_waveform, rngs[b]))
        if len({c.shape for c in clips}) > 1:
            names = "+".join(s.spec.name for s in plan.policy.live_waveform)
            raise CellError(
                f"augmentation '{names}' gave clips of different shapes "
                f"{sorted({c.shape for c in clips})} in one batch. A waveform transform must give "
                "every example the same length; fix the plugin."
            )
        return torch.from_numpy(np.stack(clips)).to(self.device)

    def _spectrogram(self, z: torch.Tensor, rngs: Sequence[np.random.Generator]) -> torch.Tensor:
        """Apply spectrogram transforms to a ``[B, C, F, T]`` input: a batched transform on
        the whole batch (one generator per example), any other on each example."""
        steps = self.plan.policy.spectrogram
        if not steps or z.ndim != 4:
            return z
        for step in steps:
            if step.spec.batched:
                z = step.transform(z, list(rngs))
                continue
            examples = []
            for b in range(len(z)):
                examples.append(call_seeded(step.transform, z[b], rng=rngs[b]))
            z = torch.stack(examples)
        return z


def _layout(tensor: torch.Tensor) -> torch.Tensor:
    """Spectrogram batches ``[B, C, F, T]`` in channels-last memory; others unchanged."""
    return tensor.contiguous(memory_format=torch.channels_last) if tensor.ndim == 4 else tensor
