"""The training loop every torch model shares: AdamW, cosine schedule, clipping, early stopping.

Imported only when a torch model is fitted, so that listing plugins never imports torch.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from merbench.specs import ModelSpec
from merbench.torch_augment import Augmenter
from merbench.torch_net import Joined, build_network
from merbench.torch_space import TORCH_SEARCH_SPACE_KEYS
from merbench.train import (
    Fitted,
    NonFiniteLoss,
    Problem,
    Report,
    TargetScaler,
    Trainable,
    pick_device,
    score,
)

if TYPE_CHECKING:
    from merbench.augment import TrainingAugmentation


def fit_torch(
    model: ModelSpec,
    params: Mapping[str, Any],
    train: tuple[Sequence[np.ndarray], np.ndarray],
    problem: Problem,
    *,
    seed: int,
    trainables: Sequence[Trainable | None],
    valid: tuple[Sequence[np.ndarray], np.ndarray] | None = None,
    epochs: int | None = None,
    report: Report | None = None,
    augmentation: TrainingAugmentation | None = None,
) -> Fitted:
    """Train a torch model with AdamW, a cosine schedule, clipping and early stopping.

    Args:
        model: the model record.
        params: model build arguments plus ``lr`` and ``weight_decay``.
        train: inputs (one array per model input, aligned) and targets.
        problem: task, classes, budget and sample rate.
        seed: seeds torch and the batch order.
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
    x_train, y_train = train
    scaler = TargetScaler(y_train) if problem.is_regression else None
    build_params = {k: v for k, v in params.items() if k not in TORCH_SEARCH_SPACE_KEYS}
    net = build_network(model, build_params, x_train, trainables, problem).to(device)
    # Channels-last memory made 2D CNN training steps 1.5x faster on 2-core CPUs
    # (benchmarks/bench_training.py); it changes memory layout, not results.
    net.to(device).to(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(
        net.parameters(), lr=params.get("lr", 1e-3), weight_decay=params.get("weight_decay", 1e-4)
    )
    n_epochs = epochs or problem.budget.epochs
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(n_epochs, 1))
    tensors = _tensors(x_train, device)
    target = _target_tensor(scaler.forward(y_train) if scaler else y_train, problem, device)
    rng = np.random.default_rng(seed)
    augmenter = _augmenter(augmentation, tensors, target, problem, device)
    history: list[float] = []
    best = (-math.inf, 0, copy.deepcopy(net.state_dict()))
    for epoch in range(1, n_epochs + 1):
        if augmenter is not None:
            augmenter.begin_epoch(epoch)
        _train_epoch(net, optimiser, tensors, target, problem, rng, augmenter)
        schedule.step()
        if valid is None:
            continue
        value = score(problem, valid[1], _predict(net, valid[0], scaler, problem, device))
        history.append(value)
        if value > best[0]:
            best = (value, epoch, copy.deepcopy(net.state_dict()))
        if report is not None:
            report(epoch, value)
        if epoch - best[1] >= problem.budget.patience:
            break
    if valid is not None:
        net.load_state_dict(best[2])
    n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return Fitted(
        predict=lambda xs, n: _predict(net, xs, scaler, problem, device),
        scores=None if problem.is_regression else lambda xs, n: _logits(net, xs, problem, device),
        best_epoch=best[1] if valid is not None else n_epochs,
        n_params=int(n_params),
        history=history,
    )


def _layout(tensor: torch.Tensor) -> torch.Tensor:
    """Spectrogram batches ``[B, C, F, T]`` in channels-last memory; others unchanged."""
    return tensor.contiguous(memory_format=torch.channels_last) if tensor.ndim == 4 else tensor


def _tensors(inputs: Sequence[np.ndarray], device: str) -> list[torch.Tensor]:
    return [torch.as_tensor(np.asarray(x), dtype=torch.float32, device=device) for x in inputs]


def _target_tensor(y: np.ndarray, problem: Problem, device: str) -> torch.Tensor:
    if problem.is_regression:
        return torch.as_tensor(y, dtype=torch.float32, device=device)
    index = {label: i for i, label in enumerate(problem.labels)}
    return torch.as_tensor([index[int(v)] for v in y], dtype=torch.long, device=device)


def _augmenter(
    augmentation: TrainingAugmentation | None,
    tensors: Sequence[torch.Tensor],
    target: torch.Tensor,
    problem: Problem,
    device: str,
) -> Augmenter | None:
    """The builder of augmented training batches, when the candidate has a policy."""
    if augmentation is None or not augmentation.policy.steps:
        return None
    n_classes = 0 if problem.is_regression else len(problem.labels)
    return Augmenter(augmentation, tensors, target, n_classes, device)


def _train_epoch(
    net: Joined,
    optimiser: torch.optim.Optimizer,
    tensors: Sequence[torch.Tensor],
    target: torch.Tensor,
    problem: Problem,
    rng: np.random.Generator,
    augmenter: Augmenter | None = None,
) -> None:
    net.train()
    n = len(target)
    permutation = rng.permutation(n)
    order = torch.as_tensor(permutation, device=target.device)
    size = problem.budget.batch_size
    # A last batch of one breaks batch norm; fold it into the previous batch.
    stops = [s for s in range(size, n, size) if n - s > 1] + [n]
    start = 0
    for stop in stops:
        index, rows = order[start:stop], permutation[start:stop]
        start = stop
        batch_target = target[index]
        with _autocast(problem, target.device.type):
            if augmenter is None:
                output = net(*(_layout(t[index]) for t in tensors)).float()
            else:  # training batches only: validation and predictions never pass here
                output, batch_target = augmenter.forward(net, rows)
                output = net.checked(output, len(rows)).float()
        if problem.is_regression:
            loss = torch.nn.functional.mse_loss(output, batch_target)
        else:  # class indices, or soft labels [B, classes] after label-mixing augmentation
            loss = torch.nn.functional.cross_entropy(output, batch_target)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"training loss became {loss.item()}; lower the learning rate")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=5.0)
        optimiser.step()


def _autocast(problem: Problem, device_type: str) -> torch.autocast:
    """bfloat16 autocast when the run asked for it (``--precision bf16``), else a no-op."""
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=problem.precision == "bf16")


def _logits(
    net: torch.nn.Module, inputs: Sequence[np.ndarray], problem: Problem, device: str
) -> np.ndarray:
    net.eval()
    with torch.inference_mode(), _autocast(problem, torch.device(device).type):
        batch = [
            _layout(torch.as_tensor(np.asarray(x), dtype=torch.float32).to(device)) for x in inputs
        ]
        return np.asarray(net(*batch).float().cpu().numpy(), dtype=np.float64)


def _predict(
    net: torch.nn.Module,
    inputs: Sequence[np.ndarray],
    scaler: TargetScaler | None,
    problem: Problem,
    device: str,
) -> np.ndarray:
    net.eval()
    outputs = []
    n = len(inputs[0])
    with torch.inference_mode(), _autocast(problem, torch.device(device).type):
        for start in range(0, n, 64):
            batch = [
                _layout(
                    torch.as_tensor(np.asarray(x[start : start + 64]), dtype=torch.float32).to(
                        device
                    )
                )
                for x in inputs
            ]
            outputs.append(net(*batch).float().cpu().numpy())
    output = np.concatenate(outputs)
    if scaler is not None:
        return scaler.inverse(output.astype(np.float64))
    return np.asarray(np.asarray(problem.labels)[output.argmax(axis=1)])


def set_threads() -> None:
    """Set torch's intra-op threads: the run's count, else ``OMP_NUM_THREADS``, else every core.

    A run stores its torch threads per cell and every process running its cells exports them as
    ``MERBENCH_THREADS`` (``merbench.jobs.cell_threads``): CPU convolutions give slightly
    different sums with another thread count, so a cell's numbers must not depend on which
    process ran it. Outside a run, ``OMP_NUM_THREADS`` (or ``taskset``) splits the cores.
    """
    for name in ("MERBENCH_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            torch.set_num_threads(max(1, int(value)))
            return
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, threads or 1))
