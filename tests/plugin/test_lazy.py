"""Builders named by a ``"module:attribute"`` string: imported on first use, never at discovery."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

import merbench
from merbench.errors import PluginError
from merbench.plugin import lazy
from merbench.plugin.registry import load_registry
from merbench.plugin.validation import validate_record
from merbench.testing import ContractError, check_plugin

PLUGIN = """
import merbench
from merbench.space import IntDistribution

MERBENCH_PLUGIN_API = 1


@merbench.hookimpl
def merbench_models():
    yield merbench.ModelSpec(
        name="lazynet",
        accepts=("vector",),
        build="{target}",
        search_space={{"width": IntDistribution(4, 16)}},
    )


@merbench.hookimpl
def merbench_frontends():
    yield merbench.FrontEndSpec(name="lazy-energy", output="vector", build="lazynet_net:energy")
"""

NET = """
import torch
from torch import nn

WIDTH = 8


def build(inputs, n_outputs, *, width=WIDTH):
    return nn.Sequential(
        nn.Linear(inputs[0].shape[0], width), nn.ReLU(), nn.Linear(width, n_outputs)
    )


class Energy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.square().mean(dim=-1)


def energy(sample_rate):
    return Energy()


def load(root, *, n_tracks=4):
    return None


def verify(root):
    return []
"""

WHO = "Plugin 'lazynet' (merbench-lazynet 0.1.0)"


@pytest.fixture
def install(distributions):
    """Install ``merbench-lazynet`` whose model names ``target``; return the plugin module."""

    def install_plugin(target: str = "lazynet_net:build"):
        distributions.install(
            "merbench-lazynet",
            "0.1.0",
            {"lazynet": "lazynet_plugin"},
            {"lazynet_plugin": PLUGIN.format(target=target), "lazynet_net": NET},
        )
        return importlib.import_module("lazynet_plugin")

    yield install_plugin
    lazy._import_target.cache_clear()  # the next test installs other files under these names


def test_discovery_does_not_import_a_string_builder(install):
    install()
    registry = load_registry()
    model = registry.model("lazynet")
    assert model.build == "lazynet_net:build"
    assert registry.frontend("lazy-energy").build == "lazynet_net:energy"
    assert "lazynet_net" not in sys.modules
    assert not [f for f in registry.failures if "lazynet" in f.message]
    assert model.builder is sys.modules["lazynet_net"].build
    assert model.builder is model.builder


def test_a_string_builder_builds_and_trains_through_the_contract_kit(install):
    checks = check_plugin(install())
    names = {c.name for c in checks if c.passed}
    assert "model lazynet: trains with defaults" in names
    assert "front-end lazy-energy: builds with defaults" in names
    assert "model lazynet: search space" in names  # 'width' is a keyword of the imported build


def test_a_malformed_string_is_refused_at_discovery_without_importing(install):
    install("lazynet_net.build")
    registry = load_registry()
    assert "lazynet" not in registry.models
    (failure,) = [f for f in registry.failures if f.plugin == "lazynet"]
    assert failure.message == (
        f"{WHO}, merbench_models(): model 'lazynet': build 'lazynet_net.build' is not a "
        "'module:attribute' import path; write e.g. build='merbench_x.module:build', or pass the "
        "function itself. Skipped."
    )
    assert "lazynet_net" not in sys.modules


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (
            "lazynet_gone:build",
            "cannot be imported (ModuleNotFoundError: No module named 'lazynet_gone'). "
            "Fix the import path in the plugin, or reinstall it.",
        ),
        (
            "lazynet_net:nope",
            "cannot be imported (AttributeError: module 'lazynet_net' has no attribute 'nope'). "
            "Fix the import path in the plugin, or reinstall it.",
        ),
        ("lazynet_net:WIDTH", "names a value of type int, not a callable. Fix the import path."),
    ],
)
def test_a_string_that_cannot_be_imported_fails_at_first_use_in_one_line(install, target, reason):
    module = install(target)
    model = load_registry().model("lazynet")  # discovered: only the form is checked
    message = f"{WHO}, model 'lazynet': build '{target}' {reason}"
    with pytest.raises(PluginError) as caught:
        model.builder  # noqa: B018
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    with pytest.raises(ContractError, match=re.escape(f"build '{target}' {reason}")):
        check_plugin(module)


def test_a_dataset_names_load_and_verify_lazily(install):
    install()
    dataset = merbench.DatasetSpec(
        name="lazy-data",
        load="lazynet_net:load",
        verify="lazynet_net:verify",
        tasks=("av-regression",),
    )
    assert validate_record("dataset", dataset) == ""
    assert "lazynet_net" not in sys.modules
    assert dataset.loader is sys.modules["lazynet_net"].load
    assert dataset.verifier is sys.modules["lazynet_net"].verify
    unverified = merbench.DatasetSpec(name="plain", load=print, tasks=("quadrant",))
    assert unverified.verifier is None and unverified.loader is print
    malformed = merbench.DatasetSpec(name="bad", load=print, verify="nope", tasks=("quadrant",))
    assert validate_record("dataset", malformed) == (
        "dataset 'bad': verify 'nope' is not a 'module:attribute' import path; write e.g. "
        "verify='merbench_x.module:verify', or pass the function itself. Skipped."
    )


def test_the_guides_lazily_named_model_passes_the_kit(tmp_path, monkeypatch):
    guide = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.S)
    package = tmp_path / "merbench_rawcnn"
    package.mkdir()
    for name in ("_net.py", "__init__.py"):
        header = f"# merbench-rawcnn/merbench_rawcnn/{name}:"
        (package / name).write_text(next(b for b in blocks if b.startswith(header)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "merbench_rawcnn", raising=False)
    plugin = importlib.import_module("merbench_rawcnn")
    try:
        assert "merbench_rawcnn._net" not in sys.modules
        checks = check_plugin(plugin)
        assert "model rawcnn: trains with defaults" in {c.name for c in checks}
        assert "merbench_rawcnn._net" in sys.modules
    finally:
        sys.modules.pop("merbench_rawcnn", None)
        sys.modules.pop("merbench_rawcnn._net", None)
        lazy._import_target.cache_clear()
