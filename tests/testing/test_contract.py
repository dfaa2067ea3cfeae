"""Every first-party plugin passes the contract kit, and the kit catches broken plugins."""

from __future__ import annotations

import importlib
import types
from importlib import metadata

import pytest

import merbench
from merbench.testing import ContractError, check_plugin, run_checks

FIRST_PARTY = sorted(
    (ep.name, ep.value)
    for ep in metadata.entry_points(group="merbench")
    if ep.dist is not None and ep.dist.name == "merbench"
)


@pytest.mark.parametrize(("name", "module"), FIRST_PARTY, ids=[n for n, _ in FIRST_PARTY])
def test_first_party_plugin_passes_the_contract(name, module, tmp_path, monkeypatch):
    if name == "encoders":  # pretrained encoders: tiny random weights, nothing downloaded
        from merbench_plugins.frontends.encoders import save_tiny_weights

        save_tiny_weights(tmp_path)
        monkeypatch.setenv("MERBENCH_ENCODERS", str(tmp_path))
    checks = check_plugin(importlib.import_module(module))
    assert all(c.passed for c in checks)
    assert len(checks) >= 2


def _module(**hooks):
    module = types.ModuleType("contract_case")
    module.MERBENCH_PLUGIN_API = 1
    for name, function in hooks.items():
        setattr(module, name, merbench.hookimpl(function))
    return module


def test_kit_catches_a_search_space_key_that_build_does_not_take():
    from optuna.distributions import FloatDistribution

    def build(*, alpha=1.0):
        from sklearn.linear_model import Ridge

        return Ridge(alpha=alpha)

    def merbench_models():
        yield merbench.ModelSpec(name="bad", accepts=("vector",), family="sklearn", build=build,
                                 tasks=("av-regression",),
                                 search_space={"alhpa": FloatDistribution(0.1, 1.0)})  # fmt: skip

    with pytest.raises(ContractError, match=r"search-space key\(s\) \['alhpa'\] are not keywords"):
        check_plugin(_module(merbench_models=merbench_models))


def test_kit_catches_an_estimator_export_would_refuse_until_its_types_are_trusted():
    def build():
        from sklearn.neighbors import KNeighborsRegressor

        return KNeighborsRegressor(n_neighbors=3)

    def spec(trusted=()):
        def merbench_models():
            yield merbench.ModelSpec(name="knn", accepts=("vector",), family="sklearn",
                                     build=build, tasks=("av-regression",),
                                     trusted_types=trusted)  # fmt: skip

        return _module(merbench_models=merbench_models)

    failed = [c for c in run_checks(spec()) if not c.passed]
    assert failed and "will not write" in failed[0].message
    assert "KNeighborsRegressor" in failed[0].message and "trusted_types" in failed[0].message
    named = failed[0].message.split("(")[1].split(")")[0].split(", ")
    assert all(c.passed for c in run_checks(spec(tuple(named))))


def test_kit_catches_a_torch_model_with_the_wrong_output_shape():
    def build(inputs, n_outputs, *, width=4):
        import torch

        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(n_outputs + 1))

    def merbench_models():
        yield merbench.ModelSpec(name="off", accepts=("vector",), build=build)

    checks = run_checks(_module(merbench_models=merbench_models))
    failed = [c for c in checks if not c.passed]
    assert failed and "output shape (3, 3), expected (3, 2)" in failed[0].message


def test_kit_catches_a_frontend_that_lies_about_being_trainable():
    def build(sample_rate):
        import torch

        return torch.nn.Flatten(start_dim=1)

    def merbench_frontends():
        yield merbench.FrontEndSpec(name="flat", output="vector", trainable=True, build=build)

    checks = run_checks(_module(merbench_frontends=merbench_frontends))
    assert any("declared trainable but has no trainable parameters" in c.message for c in checks)
