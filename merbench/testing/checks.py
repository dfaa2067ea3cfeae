"""The contract kit: ``check_plugin`` and ``run_checks``, and the checks of front-ends,
augmentations and datasets (a model's are in ``merbench.testing.contract``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from merbench.testing.audio import tone
from merbench.testing.contract import check_model, sampled_params, space_problems

OUTPUT_DIMS = {"waveform": 3, "spectrogram": 4, "sequence": 3, "vector": 2}
"""Dimensions of a batch of each front-end output kind."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Check:
    """The outcome of one contract check."""

    name: str
    passed: bool
    message: str = ""


class ContractError(AssertionError):
    """A plugin failed the contract kit; the message lists every failed check and its fix."""


def check_plugin(plugin: object, *, seeds: Sequence[int] = (0, 1)) -> list[Check]:
    """Run every contract check on a plugin module and raise if one fails.

    The checks: the module loads as a plugin (API version, hook names, valid records); every
    search-space key is a ``build`` keyword; models and front-ends build with their defaults
    and with parameters sampled from their search spaces; outputs have the declared shape;
    one training step of a torch model runs with finite gradients; a torch model runs forward
    on the window of every built-in budget and with every choice of each categorical parameter
    (``merbench.testing.contract``); trainable front-ends have trainable parameters and fixed ones
    do not.

    Args:
        plugin: the plugin module (or any object with hook implementations).
        seeds: seeds of the sampled parameter sets.

    Returns:
        Every check, passed or not (when all passed).

    Raises:
        ContractError: one or more checks failed.
    """
    checks = run_checks(plugin, seeds=seeds)
    failed = [c for c in checks if not c.passed]
    if failed:
        lines = "\n".join(f"- {c.name}: {c.message}" for c in failed)
        raise ContractError(f"{len(failed)} of {len(checks)} contract checks failed:\n{lines}")
    return checks


def run_checks(plugin: object, *, seeds: Sequence[int] = (0, 1)) -> list[Check]:
    """Run the contract checks and return them all, without raising."""
    from merbench.plugin.registry import load_registry

    registry = load_registry(plugins=[plugin], entry_points=False, strict=False)
    checks = [
        Check(name=f"loads: {f.stage}", passed=False, message=f.message) for f in registry.failures
    ]
    if not registry.failures:
        checks.append(Check(name="loads", passed=True))
    for model in registry.models.values():
        checks += _checked(f"model {model.name}", partial(check_model, model, seeds))
    for frontend in registry.frontends.values():
        checks += _checked(f"front-end {frontend.name}", partial(_check_frontend, frontend, seeds))
    for augmentation in registry.augmentations.values():
        checks += _checked(
            f"augmentation {augmentation.name}",
            partial(_check_augmentation, augmentation, seeds),
        )
    for dataset in registry.datasets.values():
        checks += _checked(f"dataset {dataset.name}", partial(_check_dataset, dataset))
    return checks


def _checked(prefix: str, run: Callable[[], list[tuple[str, str]]]) -> list[Check]:
    """Turn ``(check, problem)`` pairs into checks; an exception fails the whole record."""
    try:
        results = run()
    except Exception as exc:
        return [Check(name=prefix, passed=False, message=f"{type(exc).__name__}: {exc}")]
    return [Check(name=f"{prefix}: {n}", passed=not p, message=p) for n, p in results]


def _check_frontend(frontend: Any, seeds: Sequence[int]) -> list[tuple[str, str]]:
    import torch

    results = [("search space", space_problems(frontend, frontend.builder, ("sample_rate",)))]
    if results[0][1]:
        return results
    waveform = torch.from_numpy(tone(1.0, 16000)).reshape(1, 1, -1).repeat(2, 1, 1)
    for params in sampled_params(frontend, seeds):
        label = "defaults" if not params else f"params {params}"
        module = frontend.builder(16000, **params)
        output = module(waveform)
        problem = ""
        if output.ndim != OUTPUT_DIMS[frontend.output] or output.shape[0] != 2:
            problem = f"output shape {tuple(output.shape)} is not a batch of {frontend.output}"
        elif not bool(torch.isfinite(output).all()):
            problem = "output has NaN or infinite values"
        trainable = [p for p in getattr(module, "parameters", list)() if p.requires_grad]
        if frontend.trainable and not trainable:
            problem = problem or "declared trainable but has no trainable parameters"
        if not frontend.trainable and trainable:
            problem = problem or "declared fixed but has trainable parameters"
        results.append((f"builds with {label}", problem))
    return results


def _check_augmentation(augmentation: Any, seeds: Sequence[int]) -> list[tuple[str, str]]:
    results = [
        ("declaration", _declaration_problems(augmentation)),
        ("search space", space_problems(augmentation, augmentation.builder, ("sample_rate",))),
    ]
    if any(problem for _, problem in results):
        return results
    for params in sampled_params(augmentation, seeds):
        transform = augmentation.builder(16000, **params)
        label = "defaults" if not params else f"params {params}"
        results.append((f"transforms with {label}", _transform_problems(augmentation, transform)))
    return results


def _declaration_problems(augmentation: Any) -> str:
    from typing import get_args

    from merbench.plugin.specs import AugmentMode, LabelEffect, Stage

    for field, allowed in (("stage", Stage), ("labels", LabelEffect), ("mode", AugmentMode)):
        if getattr(augmentation, field) not in get_args(allowed):
            return f"{field} {getattr(augmentation, field)!r} is not one of {get_args(allowed)}"
    if augmentation.stage != "batch" and augmentation.labels == "mix":
        return "only a batch augmentation can mix labels; declare labels='preserve'"
    return ""


def _transform_problems(augmentation: Any, transform: Callable[..., Any]) -> str:
    """Apply the transform twice under the same seed to an example of its stage."""
    from merbench.train.seeds import call_seeded

    if augmentation.stage == "spectrogram" and getattr(augmentation, "batched", False):
        return _batched_problems(augmentation, transform)
    first, again = (
        _apply_example(augmentation.stage, transform, partial(call_seeded, rng=rng))
        for rng in (np.random.default_rng(0), np.random.default_rng(0))
    )
    problem = _output_problem(augmentation, *first)
    if problem:
        return problem
    if not all(np.array_equal(a, b) for a, b in zip(first[1], again[1], strict=True)):
        return "two calls with the same seed differ; draw from rng or the global generators"
    return ""


def _batched_problems(augmentation: Any, transform: Callable[..., Any]) -> str:
    """A batched spectrogram transform: shapes, seeding, and examples independent of the batch."""
    import torch

    batch = torch.randn(3, 1, 48, 64, generator=torch.Generator().manual_seed(0))

    def apply(rows: slice, seeds: Sequence[int]) -> np.ndarray:
        rngs = [np.random.default_rng(seed) for seed in seeds]
        return np.asarray(transform(batch[rows].clone(), rngs).detach().numpy())

    whole = apply(slice(0, 3), (0, 1, 2))
    problem = _output_problem(augmentation, [batch.numpy()], [whole])
    if problem:
        return problem
    if not np.array_equal(whole, apply(slice(0, 3), (0, 1, 2))):
        return "two calls with the same generators differ; draw example b's masks from rngs[b]"
    if not np.array_equal(whole[1:2], apply(slice(1, 2), (1,))):
        return "an example's output depends on its batch; draw example b only from rngs[b]"
    return ""


def _apply_example(
    stage: str, transform: Callable[..., Any], call: Callable[..., Any]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(inputs, outputs) as numpy arrays; for a batch the targets come last in each list."""
    import torch

    if stage == "waveform":
        x = tone(1.0, 16000).reshape(1, -1)
        return [x.copy()], [np.asarray(call(transform, x))]
    generator = torch.Generator().manual_seed(0)
    if stage == "spectrogram":
        spectrogram = torch.randn(1, 48, 64, generator=generator)
        out = call(transform, spectrogram.clone())
        return [spectrogram.numpy()], [out.detach().numpy()]
    xs = [torch.randn(6, 1, 48, 64, generator=generator)]
    y = torch.nn.functional.one_hot(torch.arange(6) % 4, 4).float()
    mixed, soft = call(transform, [x.clone() for x in xs], y.clone())
    inputs = [x.numpy() for x in xs] + [y.numpy()]
    return inputs, [x.detach().numpy() for x in mixed] + [soft.detach().numpy()]


def _output_problem(augmentation: Any, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> str:
    if len(outputs) != len(inputs):
        return f"gave {len(outputs) - 1} input(s) back for {len(inputs) - 1}"
    for x, out in zip(inputs, outputs, strict=True):
        if out.dtype != np.float32 or out.ndim != x.ndim or out.shape[0] != x.shape[0]:
            return f"output {out.dtype} {out.shape} does not match the input {x.dtype} {x.shape}"
        if not np.isfinite(out).all():
            return "output has NaN or infinite values"
    if augmentation.stage == "spectrogram" and outputs[0].shape != inputs[0].shape:
        return f"changed the spectrogram's shape {inputs[0].shape} to {outputs[0].shape}"
    if augmentation.stage == "batch":
        y, soft = inputs[-1], outputs[-1]
        if augmentation.labels == "preserve" and not np.array_equal(y, soft):
            return "changed the labels but declares labels='preserve'"
        if soft.shape != y.shape or not np.allclose(soft.sum(axis=1), 1.0, atol=1e-5):
            return "mixed one-hot labels do not stay soft labels summing to 1"
    return ""


def _check_dataset(dataset: Any) -> list[tuple[str, str]]:
    import inspect

    parameters = inspect.signature(dataset.loader).parameters
    has_var = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    missing = [k for k in dataset.options if k not in parameters and not has_var]
    problem = f"options {missing} are not keywords of load()" if missing else ""
    return [("options are load() keywords", problem)]
