"""Plugin discovery with real installed entry points (dist-info folders on sys.path)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import merbench
from merbench.errors import PluginError
from merbench.plugin.registry import load_registry

GOOD = """
import merbench
MERBENCH_PLUGIN_API = 1

def build(*, alpha=1.0):
    from sklearn.linear_model import Ridge
    return Ridge(alpha=alpha)

@merbench.hookimpl
def merbench_models():
    yield merbench.ModelSpec(name="{name}", accepts=("vector",), family="sklearn", build=build,
                             default_frontends=("handcrafted",))
"""


def _names(registry, kind="model"):
    return registry.names(kind)


def test_first_party_plugins_are_registered_through_entry_points():
    registry = load_registry()
    assert {"mean", "majority", "ridge", "svr", "random-forest"} <= set(registry.models)
    assert "synth" in registry.datasets
    assert "handcrafted" in registry.frontends
    ridge = registry.model("ridge")
    assert ridge.provenance.distribution == "merbench"
    assert ridge.provenance.version == merbench.__version__
    assert ridge.provenance.first_party
    assert registry.failures == []


def test_third_party_plugin_loads_with_its_distribution_and_version(distributions):
    distributions.install(
        "merbench-lasso",
        "0.3.1",
        {"lasso": "merbench_lasso"},
        {"merbench_lasso": GOOD.format(name="lasso")},
    )
    registry = load_registry()
    lasso = registry.model("lasso")
    assert (lasso.provenance.distribution, lasso.provenance.version) == ("merbench-lasso", "0.3.1")
    assert not lasso.provenance.first_party
    info = next(p for p in registry.plugins if p.name == "lasso")
    assert info.records == (("model", "lasso"),)


def test_broken_import_is_reported_and_the_rest_still_load(distributions):
    distributions.install(
        "merbench-broken",
        "1.0",
        {"broken": "merbench_broken"},
        {"merbench_broken": "import not_a_module_anywhere\n"},
    )
    distributions.install(
        "merbench-lasso",
        "0.1",
        {"lasso": "merbench_lasso"},
        {"merbench_lasso": GOOD.format(name="lasso")},
    )
    registry = load_registry()
    assert "lasso" in registry.models and "ridge" in registry.models
    [failure] = registry.failures
    assert failure.stage == "import"
    assert failure.distribution == "merbench-broken" and failure.version == "1.0"
    assert "Plugin 'broken' (merbench-broken 1.0) failed to import" in failure.message
    assert "ModuleNotFoundError" in failure.message
    assert "MERBENCH_DISABLE_PLUGINS=broken" in failure.message


def test_wrong_plugin_api_is_refused(distributions):
    source = GOOD.format(name="future").replace(
        "MERBENCH_PLUGIN_API = 1", "MERBENCH_PLUGIN_API = 2"
    )
    distributions.install(
        "merbench-future", "0.3.0", {"future": "merbench_future"}, {"merbench_future": source}
    )
    registry = load_registry()
    assert "future" not in registry.models
    [failure] = registry.failures
    assert failure.stage == "api"
    assert failure.message.startswith(
        "Plugin 'future' (merbench-future 0.3.0) targets plugin API 2; this merbench supports 1."
    )


def test_missing_plugin_api_is_refused(distributions):
    source = GOOD.format(name="noapi").replace("MERBENCH_PLUGIN_API = 1", "")
    distributions.install(
        "merbench-noapi", "0.1", {"noapi": "merbench_noapi"}, {"merbench_noapi": source}
    )
    registry = load_registry()
    assert "noapi" not in registry.models
    assert "does not declare MERBENCH_PLUGIN_API" in registry.failures[0].message


def test_hook_name_typo_is_caught_with_a_suggestion(distributions):
    source = GOOD.format(name="typo").replace("def merbench_models", "def merbench_model")
    distributions.install(
        "merbench-typo", "0.1", {"typo": "merbench_typo"}, {"merbench_typo": source}
    )
    registry = load_registry()
    [failure] = registry.failures
    assert failure.stage == "hook"
    assert (
        "defines 'merbench_model', which is not a merbench hook. Did you mean 'merbench_models'?"
        in failure.message
    )


def test_conflict_with_first_party_keeps_first_party_and_names_both(distributions):
    distributions.install(
        "merbench-x", "0.2", {"x": "merbench_x"}, {"merbench_x": GOOD.format(name="ridge")}
    )
    registry = load_registry()
    assert registry.model("ridge").provenance.distribution == "merbench"
    [failure] = registry.failures
    assert failure.stage == "conflict"
    assert "Model 'ridge' is provided by merbench" in failure.message
    assert "merbench-x 0.2 (x)" in failure.message
    assert "Kept the first-party one" in failure.message
    assert "MERBENCH_DISABLE_PLUGINS=x" in failure.message


def test_conflict_between_third_parties_refuses_both(distributions):
    distributions.install(
        "merbench-a", "1.0", {"a": "merbench_a"}, {"merbench_a": GOOD.format(name="twin")}
    )
    distributions.install(
        "merbench-b", "2.0", {"b": "merbench_b"}, {"merbench_b": GOOD.format(name="twin")}
    )
    registry = load_registry()
    assert "twin" not in registry.models
    assert len(registry.failures) == 2
    assert all(
        "merbench-a 1.0" in f.message and "merbench-b 2.0" in f.message for f in registry.failures
    )


def test_hook_that_raises_and_invalid_records_are_isolated(distributions):
    source = """
import merbench
MERBENCH_PLUGIN_API = 1

@merbench.hookimpl
def merbench_models():
    yield merbench.ModelSpec(name="Bad Name", accepts=("vector",), family="sklearn", build=dict)
    yield "not a record"
    yield merbench.ModelSpec(name="okay", accepts=("vector",), family="sklearn", build=dict)
    yield merbench.ModelSpec(name="badspace", accepts=("vector",), family="sklearn", build=dict,
                             search_space={"alpha": (0, 1)})
    yield merbench.ModelSpec(name="badkind", accepts=("image",), family="sklearn", build=dict)

@merbench.hookimpl
def merbench_frontends():
    raise RuntimeError("boom")
"""
    distributions.install(
        "merbench-mixed", "0.1", {"mixed": "merbench_mixed"}, {"merbench_mixed": source}
    )
    registry = load_registry()
    assert "okay" in registry.models
    messages = [f.message for f in registry.failures]
    assert any("raised in merbench_frontends(): RuntimeError: boom" in m for m in messages)
    assert any("name 'Bad Name' is invalid" in m for m in messages)
    assert any("yielded str, expected merbench.ModelSpec" in m for m in messages)
    assert any("search_space['alpha'] is not a distribution" in m for m in messages)
    assert any("input kind ['image']" in m for m in messages)
    assert len(messages) == 5


def test_disable_plugins_environment_variable(distributions, monkeypatch):
    distributions.install(
        "merbench-lasso",
        "0.1",
        {"lasso": "merbench_lasso"},
        {"merbench_lasso": GOOD.format(name="lasso")},
    )
    monkeypatch.setenv("MERBENCH_DISABLE_PLUGINS", "lasso,classical")
    registry = load_registry()
    assert "lasso" not in registry.models
    assert "ridge" not in registry.models
    assert "mean" in registry.models


def test_strict_mode_raises_on_any_failure(distributions):
    distributions.install(
        "merbench-broken",
        "1.0",
        {"broken": "merbench_broken"},
        {"merbench_broken": "raise ImportError('nope')\n"},
    )
    with pytest.raises(
        PluginError, match=r"Plugin 'broken' \(merbench-broken 1\.0\) failed to import"
    ):
        load_registry(strict=True)


def test_direct_plugins_without_entry_points():
    import types

    module = types.ModuleType("direct_plugin")
    exec(GOOD.format(name="direct"), module.__dict__)
    registry = load_registry(plugins=[module], entry_points=False)
    assert registry.names("model") == ["direct"]
    assert registry.model("direct").provenance.distribution == "(direct)"


def test_unknown_name_suggests_a_close_one():
    registry = load_registry()
    with pytest.raises(
        PluginError, match=re.escape("Unknown model 'rigde'. Did you mean 'ridge'?")
    ):
        registry.model("rigde")


def test_discovery_does_not_import_torch():
    code = (
        "import sys; from merbench.plugin.registry import load_registry; r = load_registry(); "
        "assert r.models, r.failures; print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_plugins_command_lists_first_party_plugins_and_failures(distributions):
    from click.testing import CliRunner

    from merbench.cli import main

    distributions.install(
        "merbench-broken",
        "1.0",
        {"broken": "merbench_broken"},
        {"merbench_broken": "import nothing_here\n"},
    )
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    names = {p["name"]: p for p in payload["plugins"]}
    assert {"synth", "handcrafted", "baseline", "classical"} <= set(names)
    assert names["classical"]["distribution"] == "merbench"
    assert names["classical"]["version"] == merbench.__version__
    assert "model ridge" in names["classical"]["provides"]
    assert payload["failures"][0]["plugin"] == "broken"
    assert payload["plugin_api"] == 1


def test_plugin_that_exits_at_import_or_in_a_hook_is_isolated(distributions):
    from click.testing import CliRunner

    from merbench.cli import main

    distributions.install(
        "merbench-quitter",
        "1.0",
        {"quitter": "merbench_quitter"},
        {"merbench_quitter": "import sys\nsys.exit('no licence key')\n"},
    )
    hook_exit = GOOD.format(name="leaver") + (
        "\n@merbench.hookimpl\ndef merbench_frontends():\n    raise SystemExit(2)\n"
    )
    distributions.install(
        "merbench-leaver", "0.2", {"leaver": "merbench_leaver"}, {"merbench_leaver": hook_exit}
    )
    registry = load_registry()
    assert "ridge" in registry.models and "leaver" in registry.models
    messages = {f.plugin: f.message for f in registry.failures}
    assert messages["quitter"].startswith(
        "Plugin 'quitter' (merbench-quitter 1.0) failed to import (SystemExit: no licence key)."
    )
    assert "raised in merbench_frontends(): SystemExit: 2." in messages["leaver"]
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 1
    assert {f["plugin"] for f in json.loads(result.stdout)["failures"]} == {"quitter", "leaver"}


def test_keyboard_interrupt_in_a_plugin_still_stops_discovery(distributions):
    distributions.install(
        "merbench-ctrlc",
        "0.1",
        {"ctrlc": "merbench_ctrlc"},
        {"merbench_ctrlc": "raise KeyboardInterrupt\n"},
    )
    with pytest.raises(KeyboardInterrupt):
        load_registry()
