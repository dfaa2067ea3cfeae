"""A small torch model, training problems, and the contract kit run on augmentation records."""

from __future__ import annotations

import dataclasses
import types

import torch

import merbench
from merbench.evaluation.budgets import get_budget
from merbench.evaluation.tasks import get_task
from merbench.train.fit import Problem


def _build(inputs, n_outputs, *, width: int = 16, scale: float = 1.0):
    """A two-layer perceptron on one vector input, its output times ``scale``."""

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Sequential(
                torch.nn.Linear(inputs[0].shape[0], width),
                torch.nn.ReLU(),
                torch.nn.Linear(width, n_outputs),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x) * scale

    return Net()


MODEL = merbench.ModelSpec(name="mlp", accepts=("vector",), build=_build)
"""A torch model on vectors, quick to train."""


def _problem(task="av-regression", labels=(), **budget):
    """A problem on the smoke budget (12 epochs, patience 3, batches of 16), less ``budget``."""
    base = dataclasses.replace(get_budget("smoke"), epochs=12, patience=3, batch_size=16)
    return Problem(
        task=get_task(task),
        labels=labels,
        budget=dataclasses.replace(base, **budget),
        sample_rate=16000,
    )


def _augmentation_module(**records):
    """A plugin module whose augmentations are ``records``: name -> AugmentationSpec fields."""
    module = types.ModuleType("augmentation_case")
    module.MERBENCH_PLUGIN_API = 1

    def merbench_augmentations():
        yield from (merbench.AugmentationSpec(name=n, **fields) for n, fields in records.items())

    module.merbench_augmentations = merbench.hookimpl(merbench_augmentations)
    return module


def _failures(**records):
    """The contract kit's failure messages for a plugin of these augmentation records."""
    from merbench.testing import run_checks

    return [c.message for c in run_checks(_augmentation_module(**records)) if not c.passed]
