"""The contract kit's model checks, and the helpers every kind's checks share.

``merbench.testing.check_plugin`` runs these. A torch model is trained one step on one window of
the shortest built-in budget, then run forward (eval mode, a batch of two) on the window of every
built-in budget and with every choice of each categorical parameter of its search space, so that
a failure names the budget or the choice that breaks it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from merbench.evaluation.budgets import BUDGETS
from merbench.evaluation.tasks import TASK_SPECS, TaskSpec, get_task
from merbench.plugin.torch_space import BUILD_CONTEXT_KEYS, build_context
from merbench.space import optuna_space
from merbench.train.family import family_of

if TYPE_CHECKING:
    from merbench.plugin.specs import ModelSpec

KIT_SAMPLE_RATE = 16000
"""The rate of the kit's waveforms: merbench's (``merbench.data.audio.SAMPLE_RATE``)."""
KIT_HOP = 512
"""Samples per frame of the kit's spectrograms and sequences: the hop of the built-in spectral
front-ends (about 31 frames per second at 16 kHz)."""
RESERVED_KEYS = ("lr", "weight_decay", "task", *BUILD_CONTEXT_KEYS)
"""Names the core gives ``build`` itself, so a search space may not use them."""


def example_shapes(
    seconds: float, sample_rate: int = KIT_SAMPLE_RATE
) -> dict[str, tuple[int, ...]]:
    """Input shapes (without batch) of one window of ``seconds``, per input kind.

    A waveform is ``(1, T)`` with ``T = round(seconds * sample_rate)``; spectrograms
    ``(1, 48, N)`` and sequences ``(N, 24)`` have ``N = T // KIT_HOP + 1`` frames; a vector is
    ``(32,)`` whatever the window.
    """
    samples = round(seconds * sample_rate)
    frames = samples // KIT_HOP + 1
    return {
        "waveform": (1, samples),
        "spectrogram": (1, 48, frames),
        "sequence": (frames, 24),
        "vector": (32,),
    }


def budget_windows() -> dict[float, tuple[str, ...]]:
    """The built-in budgets' window lengths in seconds, shortest first, each with its budgets."""
    windows: dict[float, tuple[str, ...]] = {}
    for budget in sorted(BUDGETS.values(), key=lambda b: b.clip_seconds):
        windows[budget.clip_seconds] = (*windows.get(budget.clip_seconds, ()), budget.name)
    return windows


EXAMPLE_SECONDS = min(budget_windows())
"""The window of the kit's training step and choice checks: the shortest built-in budget's."""
EXAMPLE_SHAPES = example_shapes(EXAMPLE_SECONDS)
EXAMPLE_TAGS = ("calm", "dark", "epic", "happy", "sad")
"""The tag vocabulary a multilabel task is checked with (a dataset gives the real one)."""


def example_task(name: str) -> TaskSpec:
    """The record of task ``name`` as a dataset would give it: a multilabel task with
    ``EXAMPLE_TAGS``."""
    spec = get_task(name)
    return spec.with_tags(EXAMPLE_TAGS) if spec.is_multilabel else spec


"""Input shapes (without batch) the contract kit trains models on."""


def space_problems(record: Any, build: Callable[..., Any], reserved: Sequence[str]) -> str:
    """Why the record's search space does not fit ``build``, or ``""``."""
    parameters = inspect.signature(build).parameters
    has_var = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    missing = [k for k in record.search_space if k not in parameters and not has_var]
    if missing:
        return f"search-space key(s) {missing} are not keywords of build(); rename or add them"
    clashes = [k for k in record.search_space if k in reserved]
    if clashes:
        return f"search-space key(s) {clashes} are reserved by merbench; rename them"
    return ""


def sampled_params(record: Any, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Default parameters, then one parameter set per seed from the search space."""
    import optuna

    sets: list[dict[str, Any]] = [{}]
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" lines per check
    try:
        for seed in seeds if record.search_space else ():
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
            space = optuna_space(record.search_space)
            sets.append(dict(study.ask(fixed_distributions=space).params))
    finally:
        optuna.logging.set_verbosity(verbosity)
    return sets


def check_model(model: ModelSpec, seeds: Sequence[int]) -> list[tuple[str, str]]:
    """``(check, problem)`` pairs of one model; ``problem`` is ``""`` when the check passed."""
    results = [("search space", space_problems(model, model.builder, RESERVED_KEYS))]
    family = family_of(model)
    if results[0][1]:
        return results
    for params in sampled_params(model, seeds):
        label = "defaults" if not params else f"params {params}"
        if not family.network:
            results.append((f"fits with {label}", _caught(_fit_sklearn_once, model, params)))
        else:
            results.append((f"trains with {label}", _caught(_train_torch_once, model, params)))
    if family.network:
        results += _window_checks(model) + _choice_checks(model)
    return results


def _caught(check: Callable[..., str], *args: Any) -> str:
    """The check's problem, or the exception it raised as one line."""
    try:
        return check(*args)
    except Exception as exc:
        first = str(exc).strip().splitlines()[:1]
        return f"{type(exc).__name__}: {first[0] if first else ''}"[:300]


def _window_checks(model: ModelSpec) -> list[tuple[str, str]]:
    """A forward pass at defaults on the window of every built-in budget."""
    results = []
    for seconds, names in budget_windows().items():
        samples = round(seconds * KIT_SAMPLE_RATE)
        label = (
            f"forward on the window of budget {', '.join(names)} "
            f"({seconds:g} s = {samples} samples at {KIT_SAMPLE_RATE} Hz)"
        )
        results.append((label, _caught(_forward_once, model, {}, seconds)))
    return results


def _choice_checks(model: ModelSpec) -> list[tuple[str, str]]:
    """A forward pass with each choice of every categorical parameter, the others at defaults."""
    from optuna.distributions import CategoricalDistribution

    results = []
    for key, distribution in optuna_space(model.search_space).items():
        if isinstance(distribution, CategoricalDistribution):
            for choice in distribution.choices:
                label = f"forward with {key}={choice!r} (other parameters at defaults)"
                check = _caught(_forward_once, model, {key: choice}, EXAMPLE_SECONDS)
                results.append((label, check))
    return results


def _build_torch(
    model: ModelSpec, n_outputs: int, params: dict[str, Any], seconds: float, batch: int
) -> tuple[Any, list[Any]]:
    """The model built on one window of ``seconds``, and a batch of random inputs for it."""
    import torch

    from merbench.plugin.specs import InputShape

    shapes = example_shapes(seconds)
    inputs = tuple(InputShape(kind=k, shape=shapes[k]) for k in model.accepts)
    context = build_context(model.builder, sample_rate=KIT_SAMPLE_RATE, window_seconds=seconds)
    net = model.builder(inputs, n_outputs, **params, **context)
    generator = torch.Generator().manual_seed(0)
    return net, [torch.randn(batch, *shape.shape, generator=generator) for shape in inputs]


def _forward_once(model: ModelSpec, params: dict[str, Any], seconds: float) -> str:
    import torch

    torch.manual_seed(0)
    n_outputs = example_task(model.tasks[0]).n_outputs
    net, xs = _build_torch(model, n_outputs, params, seconds, batch=2)
    net.eval()
    with torch.no_grad():
        output = net(*xs)
    if tuple(output.shape) != (2, n_outputs):
        return f"output shape {tuple(output.shape)}, expected (2, {n_outputs})"
    if not bool(torch.isfinite(output).all()):
        return "output has NaN or infinite values"
    return ""


def _fit_sklearn_once(model: ModelSpec, params: dict[str, Any]) -> str:
    from merbench.train.fit import Problem, fit_sklearn

    rng = np.random.default_rng(0)
    n = 40
    inputs = [rng.normal(size=(n, *EXAMPLE_SHAPES[k])) for k in model.accepts]
    for task in model.tasks:
        spec = example_task(task)
        labels = spec.labels
        y = rng.normal(size=(n, spec.n_outputs)) if not labels else np.resize(np.asarray(labels), n)
        if spec.is_multilabel:
            y = (rng.random((n, spec.n_outputs)) < 0.4).astype(np.float64)
        problem = Problem(
            task=spec, labels=labels, budget=BUDGETS["smoke"], sample_rate=KIT_SAMPLE_RATE
        )
        fitted = fit_sklearn(model, params, inputs, y, problem)
        prediction = fitted.predict(inputs, n)
        expected = (n, spec.n_outputs) if not labels else (n,)
        if prediction.shape != expected:
            return f"{task}: predictions have shape {prediction.shape}, expected {expected}"
        untrusted = _untrusted_types(fitted.model, model) if model.accepts else []
        if untrusted:
            return (
                f"{task}: the fitted estimator holds types 'merbench export' will not write "
                f"({', '.join(untrusted)}); list them in the ModelSpec's trusted_types"
            )
    return ""


def _untrusted_types(estimator: Any, model: ModelSpec) -> list[str]:
    """Types of a fitted estimator outside ``bundle.TRUSTED_TYPES`` and the model's own (a
    baseline, which reads no input, is never exported and not checked)."""
    import skops.io

    from merbench.exchange.bundle import skops_types, untrusted_types

    return untrusted_types(skops_types(skops.io.dumps(estimator)), model.trusted_types)


def _train_torch_once(model: ModelSpec, params: dict[str, Any]) -> str:
    import torch

    torch.manual_seed(0)
    for n_outputs in sorted({example_task(name).n_outputs for name in TASK_SPECS}):
        net, xs = _build_torch(model, n_outputs, params, EXAMPLE_SECONDS, batch=3)
        net.train()
        output = net(*xs)
        if tuple(output.shape) != (3, n_outputs):
            return f"output shape {tuple(output.shape)}, expected (3, {n_outputs})"
        optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3)
        loss = output.pow(2).mean()
        loss.backward()
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        if not grads or not all(bool(torch.isfinite(g).all()) for g in grads):
            return "one training step gave no or non-finite gradients"
        optimiser.step()
        net.eval()
        with torch.no_grad():
            if tuple(net(*[x[:1] for x in xs]).shape) != (1, n_outputs):
                return "eval mode with a batch of one fails to give [1, n_outputs]"
    return ""
