"""What a torch model's author relies on: the audio settings build gets, the model's optimiser
defaults, the contract kit's budget and choice checks, and the guide's example plugin."""

from __future__ import annotations

import re
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import merbench
from merbench.evaluation.budgets import BUDGETS, get_budget
from merbench.evaluation.tasks import get_task
from merbench.plugin.registry import load_registry
from merbench.plugin.torch_space import optimiser_settings
from merbench.space import CategoricalDistribution
from merbench.testing import ContractError, check_plugin, run_checks
from merbench.train.fit import Problem
from merbench.train.torch_net import build_network
from merbench.train.tuning import candidate_space, default_params, make_study, tune

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _problem(budget="smoke"):
    return Problem(
        task=get_task("av-regression"), labels=(), budget=get_budget(budget), sample_rate=16000
    )


def _pooled(n_outputs, channels=1):
    return torch.nn.Sequential(
        torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(), torch.nn.Linear(channels, n_outputs)
    )


def _module(*models):
    module = types.ModuleType("author_case")
    module.MERBENCH_PLUGIN_API = 1

    def merbench_models():
        yield from models

    module.merbench_models = merbench.hookimpl(merbench_models)
    return module


def _failed(checks):
    return {c.name: c.message for c in checks if not c.passed}


# --- what build receives ------------------------------------------------------------------


def test_build_gets_the_sample_rate_and_window_it_names():
    seen = {}

    def build(inputs, n_outputs, *, sample_rate, window_seconds, width=4):
        seen.update(inputs=inputs, sample_rate=sample_rate, window_seconds=window_seconds)
        return _pooled(n_outputs)

    model = merbench.ModelSpec(name="raw", accepts=("waveform",), build=build)
    window = np.zeros((2, 1, 48000), np.float32)
    build_network(model, {"width": 8}, [window], [None], _problem("default"))
    assert seen == {
        "inputs": (merbench.InputShape(kind="waveform", shape=(1, 48000)),),
        "sample_rate": 16000,
        "window_seconds": BUDGETS["default"].clip_seconds,
    }


def test_build_that_does_not_name_them_gets_neither():
    received = []

    def named_only(inputs, n_outputs, *, sample_rate=8000):
        received.append(sample_rate)
        return _pooled(n_outputs)

    def catch_all(inputs, n_outputs, **params):
        received.append(params)
        return _pooled(n_outputs)

    window = np.zeros((2, 1, 480), np.float32)
    for build in (named_only, catch_all):
        model = merbench.ModelSpec(name="raw", accepts=("waveform",), build=build)
        build_network(model, {}, [window], [None], _problem())
    assert received == [16000, {}]


# --- the model's optimiser defaults ---------------------------------------------------------

OWN = merbench.ModelSpec(
    name="own", accepts=("vector",), build=lambda inputs, n_outputs, *, width=4: None,
    optimiser={"lr": 3e-4, "weight_decay": 1e-3},
)  # fmt: skip


def test_optimiser_settings_prefer_the_trial_then_the_model_then_the_core():
    plain = merbench.ModelSpec(name="plain", accepts=("vector",), build=OWN.build)
    assert optimiser_settings(OWN, {"lr": 2e-3}) == {"lr": 2e-3, "weight_decay": 1e-3}
    assert optimiser_settings(plain, {}) == {"lr": 1e-3, "weight_decay": 1e-4}


def test_the_first_trial_starts_at_the_models_optimiser():
    space = candidate_space(OWN, [])
    defaults = default_params(space, {"": OWN.build}, optimiser=OWN.optimiser)
    assert defaults == {"lr": 3e-4, "weight_decay": 1e-3}
    seen = []

    def objective(trial, params):
        seen.append(params)
        return 0.0

    tune(make_study(0), space, n_trials=2, objective=objective, defaults=defaults)
    assert {k: seen[0][k] for k in ("lr", "weight_decay")} == OWN.optimiser
    assert seen[1]["lr"] != 3e-4


def test_a_fit_given_no_optimiser_values_uses_the_models(monkeypatch):
    from merbench.train.loop import fit_torch

    used = {}

    class Recording(torch.optim.AdamW):
        def __init__(self, params, **kwargs):
            used.update(kwargs)
            super().__init__(params, **kwargs)

    def build(inputs, n_outputs):
        return torch.nn.Linear(inputs[0].shape[0], n_outputs)

    model = merbench.ModelSpec(name="own", accepts=("vector",), build=build, optimiser={"lr": 3e-4})
    monkeypatch.setattr(torch.optim, "AdamW", Recording)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 3)).astype(np.float32), rng.normal(size=(24, 2))
    fit_torch(model, {}, ([x], y), _problem(), seed=0, trainables=[None], epochs=1)
    assert used == {"lr": 3e-4, "weight_decay": 1e-4}


@pytest.mark.parametrize(
    ("family", "optimiser", "message"),
    [
        ("torch", {"learning_rate": 1e-3}, "optimiser key 'learning_rate' is not one of lr, "),
        ("torch", {"lr": 0.1}, r"optimiser lr 0.1 is outside the tuned range 0.0001..0.003"),
        ("torch", {"lr": "fast"}, "optimiser lr 'fast' is not a number"),
        ("sklearn", {"lr": 1e-3}, "optimiser is for torch models"),
    ],
    ids=["unknown-key", "out-of-range", "not-a-number", "sklearn"],
)
def test_a_bad_optimiser_gets_the_model_refused(family, optimiser, message):
    model = merbench.ModelSpec(
        name="bad", accepts=("vector",), build=OWN.build, family=family, optimiser=optimiser
    )
    registry = load_registry(plugins=[_module(model)], entry_points=False, strict=False)
    assert "bad" not in registry.models
    assert re.search(f"model 'bad': {message}", registry.failures[0].message)


# --- the contract kit ----------------------------------------------------------------------


def _needs_five_seconds(inputs, n_outputs, *, sample_rate, width=4):
    """Averages 1 s frames, then a convolution over five of them: fails on shorter windows."""
    from torch import nn

    return nn.Sequential(
        nn.AvgPool1d(sample_rate, stride=sample_rate),
        nn.Conv1d(inputs[0].shape[0], width, 5),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(width, n_outputs),
    )


def test_kit_names_the_budget_whose_window_a_model_cannot_take():
    model = merbench.ModelSpec(name="long", accepts=("waveform",), build=_needs_five_seconds)
    checks = run_checks(_module(model), seeds=())
    failed = _failed(checks)
    short = "model long: forward on the window of budget smoke, default (3 s = 48000 samples at "
    assert failed[short + "16000 Hz)"].startswith("RuntimeError: ")
    full = "model long: forward on the window of budget full (30 s = 480000 samples at 16000 Hz)"
    assert full in {c.name for c in checks if c.passed}
    with pytest.raises(ContractError, match="forward on the window of budget smoke, default"):
        check_plugin(_module(model), seeds=())


def test_kit_names_the_categorical_choice_that_breaks_a_model():
    def build(inputs, n_outputs, *, pooling="avg"):
        from torch import nn

        pools = {"avg": nn.AdaptiveAvgPool1d(1), "max": nn.AdaptiveMaxPool1d(1)}
        return nn.Sequential(pools[pooling], nn.Flatten(), nn.Linear(inputs[0].shape[0], n_outputs))

    choices = CategoricalDistribution(["avg", "max", "attention"])
    model = merbench.ModelSpec(
        name="pool", accepts=("waveform",), build=build, search_space={"pooling": choices}
    )
    checks = run_checks(_module(model), seeds=())
    assert _failed(checks) == {
        "model pool: forward with pooling='attention' (other parameters at defaults)": (
            "KeyError: 'attention'"
        )
    }
    passed = {c.name for c in checks if c.passed}
    assert "model pool: forward with pooling='max' (other parameters at defaults)" in passed


def test_kit_builds_each_budget_window_with_its_sample_rate_and_seconds():
    def build(inputs, n_outputs, *, sample_rate, window_seconds):
        assert inputs[0].shape == (1, round(sample_rate * window_seconds))
        return _pooled(n_outputs)

    model = merbench.ModelSpec(name="exact", accepts=("waveform",), build=build)
    checks = check_plugin(_module(model), seeds=())
    assert len([c for c in checks if "forward on the window of budget" in c.name]) == 2


def test_kit_refuses_a_search_space_that_takes_a_name_the_core_passes():
    def build(inputs, n_outputs, *, sample_rate=16000):
        return _pooled(n_outputs)

    space = {"sample_rate": CategoricalDistribution([16000, 22050])}
    model = merbench.ModelSpec(name="sr", accepts=("waveform",), build=build, search_space=space)
    with pytest.raises(ContractError, match=r"\['sample_rate'\] are reserved by merbench"):
        check_plugin(_module(model))


# --- the guide's example --------------------------------------------------------------------


def _guide_module(name):
    """The guide's code block that starts with ``# <name>``, as a module."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    source = next(b for b in blocks if b.startswith(f"# {name}\n"))
    module = types.ModuleType("merbench_rawcnn")
    exec(compile(source, str(GUIDE), "exec"), module.__dict__)
    return module


def test_the_guides_raw_audio_model_passes_the_kit_and_sets_its_first_trial():
    module = _guide_module("merbench-rawcnn/merbench_rawcnn.py")
    checks = check_plugin(module)
    assert any(c.name.startswith("model rawcnn: forward with pooling='max'") for c in checks)
    model = load_registry(plugins=[module], entry_points=False).model("rawcnn")
    space = candidate_space(model, [])
    first = default_params(space, {"": model.build}, optimiser=model.optimiser)
    assert first == {"width": 16, "pooling": "avg", "lr": 3e-4, "weight_decay": 1e-3}


def test_the_guides_links_within_the_page_resolve():
    text = GUIDE.read_text()
    headings = re.findall(r"^#+ (.+)$", text, flags=re.M)
    slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
    for anchor in re.findall(r"\]\(#([^)]+)\)", text):
        assert anchor in slugs, anchor
