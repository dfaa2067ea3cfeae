"""The training loop every torch model shares: AdamW, cosine schedule, clipping, early stopping.

Imported only when a torch model is fitted, so that listing plugins never imports torch.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from merbench.data.windows import Feed, Inputs, aggregate, as_feed
from merbench.plugin.specs import ModelSpec
from merbench.plugin.torch_space import TORCH_SEARCH_SPACE_KEYS, optimiser_settings
from merbench.train.fit import (
    Fitted,
    NonFiniteLoss,
    Problem,
    Report,
    TargetScaler,
    Trainable,
    pick_device,
    score,
    thread_count,
)
from merbench.train.timing import phase, tally
from merbench.train.torch_augment import Augmenter
from merbench.train.torch_net import Joined, build_network

if TYPE_CHECKING:
    from merbench.train.augment import TrainingAugmentation

PREDICT_BATCH = 32
"""Windows per forward pass when predicting: as fast per window as any batch size for waveform
and sequence inputs with one thread on a 2-core CPU (``benchmarks/bench_recurrent.py``)."""
SPECTROGRAM_PREDICT_BATCH = 16
"""The same for inputs of spectrogram shape ``[C, F, T]``: larger batches were slower per
window, their activations no longer fitting the cache."""


def fit_torch(
    model: ModelSpec,
    params: Mapping[str, Any],
    train: tuple[Inputs, np.ndarray],
    problem: Problem,
    *,
    seed: int,
    trainables: Sequence[Trainable | None],
    valid: tuple[Inputs, np.ndarray] | None = None,
    epochs: int | None = None,
    report: Report | None = None,
    augmentation: TrainingAugmentation | None = None,
) -> Fitted:
    """Train a torch model with AdamW, a cosine schedule, clipping and early stopping.

    Each epoch trains on one window of every training track, drawn per track and epoch
    (``Windows.pick``). The early-stopping check after each epoch averages the non-overlapping
    windows of each validation track (every part of the clip once: ``Feed.spaced``), and the
    check of the kept epoch is the fit's ``valid_score``; predictions average every window.

    Args:
        model: the model record.
        params: model build arguments plus ``lr`` and ``weight_decay``.
        train: inputs (per-track arrays, or a ``Feed`` of windows) and per-track targets.
        problem: task, classes, budget and sample rate.
        seed: seeds torch, the batch order and the windows drawn.
        trainables: per input, the trainable front-end to run in the graph, or ``None``.
        valid: validation data for early stopping and ``report``; none for a refit.
        epochs: epochs to train (default: the budget's cap).
        report: per-epoch callback with the validation score (may raise ``TrialPruned``).
        augmentation: how to augment training batches (never validation or predictions).

    Raises:
        NonFiniteLoss: the loss became NaN or infinite.
    """
    set_threads()
    torch.manual_seed(seed)
    device = pick_device()
    feed, y_train = as_feed(train[0]), train[1]
    scaler = TargetScaler(y_train) if problem.is_regression else None
    with phase("setup"):
        net = _network(model, params, feed, trainables, problem, device)
        optimiser = torch.optim.AdamW(
            net.parameters(),
            **optimiser_settings(model, params),
        )
    n_epochs = epochs or problem.budget.epochs
    loop = _Loop(
        net=net,
        optimiser=optimiser,
        feed=feed,
        target=_target_tensor(scaler.forward(y_train) if scaler else y_train, problem, device),
        problem=problem,
        rng=np.random.default_rng(seed),
        seed=seed,
        augmenter=_augmenter(augmentation, problem, device),
    )
    history: list[float] = []
    best_epoch, checked = _run_epochs(loop, n_epochs, valid, scaler, report, history)
    n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return Fitted(
        valid_score=history[best_epoch - 1] if best_epoch and valid is not None else None,
        valid_windows=checked if best_epoch and problem.is_regression else None,
        predict=lambda xs, n: _predict(net, xs, scaler, problem, device),
        scores=(lambda xs, n: _scores(net, xs, problem, device))
        if problem.task.is_classification
        else None,
        best_epoch=best_epoch,
        n_params=int(n_params),
        history=history,
        model=net,
        target_scaler=scaler,
    )


def _network(
    model: ModelSpec,
    params: Mapping[str, Any],
    feed: Feed,
    trainables: Sequence[Trainable | None],
    problem: Problem,
    device: str,
) -> Joined:
    """The joined network, built on one window's inputs, on ``device``, channels-last."""
    build_params = {k: v for k, v in params.items() if k not in TORCH_SEARCH_SPACE_KEYS}
    sample = feed.read(feed.windows.rows_of(feed.rows[:1])[0][:1])
    net = build_network(model, build_params, sample, trainables, problem).to(device)
    # Channels-last memory made 2D CNN training steps 1.5x faster on 2-core CPUs
    # (benchmarks/bench_training.py); it changes memory layout, not results.
    return net.to(device).to(memory_format=torch.channels_last)


def _run_epochs(
    loop: _Loop,
    n_epochs: int,
    valid: tuple[Inputs, np.ndarray] | None,
    scaler: TargetScaler | None,
    report: Report | None,
    history: list[float],
) -> tuple[int, tuple[np.ndarray, np.ndarray] | None]:
    """Train up to ``n_epochs``, stop early on ``valid`` and keep the best epoch's weights.

    Returns:
        The best epoch (``n_epochs`` without validation), and the per-window predictions of its
        check with the validation track of each window (``None`` without validation).
    """
    net, problem = loop.net, loop.problem
    device = str(loop.target.device)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(loop.optimiser, T_max=max(n_epochs, 1))
    best = (-math.inf, 0, copy.deepcopy(net.state_dict()))
    checked: tuple[np.ndarray, np.ndarray] | None = None
    checks = None if valid is None else dataclasses.replace(as_feed(valid[0]), spaced=True)
    for epoch in range(1, n_epochs + 1):
        # The first epoch is also tallied: what it costs beyond the others is paid once a fit.
        with tally("first_epoch") if epoch == 1 else nullcontext(), phase("train"):
            loop.epoch(epoch)
            schedule.step()
        if valid is None or checks is None:
            continue
        with phase("validate"):
            outputs, owner, n = _window_outputs(net, checks, problem, device)
            value = score(problem, valid[1], _tracks(aggregate(outputs, owner, n), scaler, problem))
        history.append(value)
        if value > best[0]:
            with phase("setup"):
                best = (value, epoch, copy.deepcopy(net.state_dict()))
            checked = (scaler.inverse(outputs) if scaler else outputs, owner)
        if report is not None:
            report(epoch, value)
        if epoch - best[1] >= problem.budget.patience:
            break
    if valid is None:
        return n_epochs, None
    with phase("setup"):
        net.load_state_dict(best[2])
    return best[1], checked


def _layout(tensor: torch.Tensor) -> torch.Tensor:
    """Spectrogram batches ``[B, C, F, T]`` in channels-last memory; others unchanged."""
    return tensor.contiguous(memory_format=torch.channels_last) if tensor.ndim == 4 else tensor


def _tensors(inputs: Sequence[np.ndarray], device: str) -> list[torch.Tensor]:
    return [torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device) for x in inputs]


def _target_tensor(y: np.ndarray, problem: Problem, device: str) -> torch.Tensor:
    if not problem.task.is_classification:  # regression targets, or 0/1 tags [N, T]
        return torch.as_tensor(y, dtype=torch.float32, device=device)
    index = {label: i for i, label in enumerate(problem.labels)}
    return torch.as_tensor([index[int(v)] for v in y], dtype=torch.long, device=device)


def _augmenter(
    augmentation: TrainingAugmentation | None, problem: Problem, device: str
) -> Augmenter | None:
    """The builder of augmented training batches, when the candidate has a policy."""
    if augmentation is None or not augmentation.policy.steps:
        return None
    n_classes = len(problem.labels) if problem.task.is_classification else 0
    return Augmenter(augmentation, n_classes, device)


@dataclass(kw_only=True)
class _Loop:
    """One fit's training epochs: one drawn window per training track, in shuffled batches."""

    net: Joined
    optimiser: torch.optim.Optimizer
    feed: Feed
    target: torch.Tensor
    problem: Problem
    rng: np.random.Generator
    seed: int
    augmenter: Augmenter | None = None

    def epoch(self, epoch: int) -> None:
        """Train one epoch."""
        self.net.train()
        if self.augmenter is not None:
            self.augmenter.begin_epoch(epoch)
        drawn = self.feed.windows.pick(self.feed.rows, self.seed, epoch)
        n = len(self.target)
        permutation = self.rng.permutation(n)
        size = self.problem.budget.batch_size
        # A last batch of one breaks batch norm; fold it into the previous batch.
        stops = [s for s in range(size, n, size) if n - s > 1] + [n]
        start = 0
        for stop in stops:
            positions = permutation[start:stop]
            start = stop
            self._step(drawn[positions], positions)

    def _step(self, windows: np.ndarray, positions: np.ndarray) -> None:
        """One optimiser step on the windows of a batch (``positions``: their tracks)."""
        device = self.target.device
        batch_target = self.target[torch.as_tensor(positions, device=device)]
        inputs = _tensors(self.feed.read(windows), str(device))
        with _autocast(self.problem, device.type):
            if self.augmenter is None:
                output = self.net(*(_layout(t) for t in inputs)).float()
            else:  # training batches only: validation and predictions never pass here
                output, batch_target = self.augmenter.forward(
                    self.net, windows, inputs, batch_target
                )
                output = self.net.checked(output, len(windows)).float()
        if self.problem.is_regression:
            loss = torch.nn.functional.mse_loss(output, batch_target)
        elif self.problem.is_multilabel:  # one logit per tag; 0/1 (or mixed) tag targets
            loss = torch.nn.functional.binary_cross_entropy_with_logits(output, batch_target)
        else:  # class indices, or soft labels [B, classes] after label-mixing augmentation
            loss = torch.nn.functional.cross_entropy(output, batch_target)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"training loss became {loss.item()}; lower the learning rate")
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), max_norm=5.0)
        self.optimiser.step()


def _autocast(problem: Problem, device_type: str) -> torch.autocast:
    """bfloat16 autocast when the run asked for it (``--precision bf16``), else a no-op."""
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=problem.precision == "bf16")


def _window_outputs(
    net: torch.nn.Module, inputs: Inputs, problem: Problem, device: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """The network's output for every window of the tracks, batch by batch.

    Returns:
        Outputs ``[M, n_outputs]`` (class probabilities for classification, each tag's
        probability for a multilabel task), the track
        position of each window, and the number of tracks.
    """
    feed = as_feed(inputs)
    rows, owner = feed.window_rows()
    net.eval()
    outputs = []
    is_spectrogram = any(np.ndim(source) == 4 for source in feed.sources)
    size = SPECTROGRAM_PREDICT_BATCH if is_spectrogram else PREDICT_BATCH
    with torch.inference_mode(), _autocast(problem, torch.device(device).type):
        for start in range(0, len(rows), size):
            batch = _tensors(feed.read(rows[start : start + size]), device)
            output = net(*(_layout(t) for t in batch)).float()
            if problem.is_multilabel:
                output = torch.sigmoid(output)
            elif not problem.is_regression:
                output = torch.softmax(output, dim=1)
            outputs.append(output.cpu().numpy())
    width = problem.n_outputs
    stacked = np.concatenate(outputs) if outputs else np.zeros((0, width), dtype=np.float32)
    return stacked, owner, len(feed)


def _scores(net: torch.nn.Module, inputs: Inputs, problem: Problem, device: str) -> np.ndarray:
    """Per track, the mean class probability of its windows ``[N, C]``."""
    outputs, owner, n = _window_outputs(net, inputs, problem, device)
    return aggregate(outputs, owner, n)


def _predict(
    net: torch.nn.Module,
    inputs: Inputs,
    scaler: TargetScaler | None,
    problem: Problem,
    device: str,
) -> np.ndarray:
    """Per track, the mean output of its windows (regression, on the dataset's scale), the mean
    probability of each tag (multilabel), or the class of the highest mean probability."""
    outputs, owner, n = _window_outputs(net, inputs, problem, device)
    return _tracks(aggregate(outputs, owner, n), scaler, problem)


def _tracks(mean: np.ndarray, scaler: TargetScaler | None, problem: Problem) -> np.ndarray:
    """Track predictions from their windows' mean outputs (``[N, n_outputs]``)."""
    if scaler is not None:
        return scaler.inverse(mean)
    if problem.is_multilabel:
        return mean
    return np.asarray(np.asarray(problem.labels)[mean.argmax(axis=1)])


def set_threads() -> None:
    """Set torch's intra-op threads to the cell's count (``merbench.train.fit.thread_count``).

    A run stores its torch threads per cell and every process running its cells exports them as
    ``MERBENCH_THREADS`` (``merbench.pipeline.executors.jobs.cell_threads``): CPU convolutions give
    slightly different sums with another thread count, so a cell's numbers must not depend on which
    process ran it. Outside a run, ``OMP_NUM_THREADS`` (or ``taskset``) splits the cores.
    """
    torch.set_num_threads(thread_count())
