"""The network a torch candidate trains: its trainable front-ends joined to the model's body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from merbench.errors import CellError
from merbench.plugin.specs import InputKind, InputShape, ModelSpec
from merbench.plugin.torch_space import build_context
from merbench.train.fit import Problem, Trainable


def build_network(
    model: ModelSpec,
    params: Mapping[str, Any],
    inputs: Sequence[np.ndarray],
    trainables: Sequence[Trainable | None],
    problem: Problem,
) -> Joined:
    """Build trainable front-ends and the model, joined into one module.

    Each input's kind is the one the model declares for its position (the candidate check made
    sure the front-end there outputs it): ``[B, T, D]`` sequences and ``[B, C, T]`` waveforms
    have the same number of axes. A ``build`` that names ``sample_rate`` or ``window_seconds``
    gets the run's (``build_context``).
    """
    frontends = torch.nn.ModuleList()
    shapes = []
    kinds = model.accepts if len(model.accepts) == len(inputs) else (None,) * len(inputs)
    for x, trainable, kind in zip(inputs, trainables, kinds, strict=True):
        sample = torch.as_tensor(np.asarray(x[:1]), dtype=torch.float32)
        if trainable is None:
            frontends.append(torch.nn.Identity())
        else:
            frontends.append(trainable.spec.builder(problem.sample_rate, **trainable.params))
            with torch.no_grad():
                sample = frontends[-1](sample)
        shape = tuple(sample.shape[1:])
        shapes.append(InputShape(kind=kind or _kind_of(sample.ndim), shape=shape))
    context = build_context(
        model.builder, sample_rate=problem.sample_rate, window_seconds=problem.budget.clip_seconds
    )
    body = model.builder(tuple(shapes), problem.n_outputs, **params, **context)
    return Joined(
        frontends, body, name=model.name, task=problem.task.name, n_outputs=problem.n_outputs
    )


def _kind_of(ndim: int) -> InputKind:
    kinds: dict[int, InputKind] = {3: "waveform", 4: "spectrogram", 2: "vector"}
    return kinds.get(ndim, "sequence")


class Joined(torch.nn.Module):
    """Front-ends (identity for precomputed inputs) followed by the model.

    Every output is checked to be ``[B, n_outputs]``: a model that returns another shape would
    otherwise be broadcast against the targets and trained and scored on nonsense.
    """

    def __init__(
        self,
        frontends: torch.nn.ModuleList,
        body: torch.nn.Module,
        *,
        name: str = "",
        task: str = "",
        n_outputs: int | None = None,
    ) -> None:
        super().__init__()
        self.frontends = frontends
        self.body = body
        self.name = name
        self.task = task
        self.n_outputs = n_outputs

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(*(f(x) for f, x in zip(self.frontends, xs, strict=True)))
        return self.checked(out, len(xs[0]) if xs else None)

    def checked(self, output: torch.Tensor, batch: int | None) -> torch.Tensor:
        """Return ``output`` if it is ``[batch, n_outputs]``.

        Raises:
            CellError: another shape, naming the model, the expected and the actual shape.
        """
        expected = (batch if batch is not None else len(output), self.n_outputs)
        if self.n_outputs is None or tuple(output.shape) == expected:
            return output
        raise CellError(
            f"model '{self.name}': output of shape {list(output.shape)}, expected "
            f"[B, n_outputs] = {list(expected)} for task '{self.task}'. Make the module that "
            "build() returns end in n_outputs units (build receives n_outputs), with no extra axes."
        )
