"""Every public name the documentation names imports: ``merbench``'s, ``merbench.space``'s and
``merbench.testing``'s, and every ``merbench.<name>`` and ``from merbench... import`` in the docs,
the plugin templates and the example plugin."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import merbench
import merbench.testing

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "docs" / "plugins").rglob("*.py"),
        *(ROOT / "merbench" / "plugin" / "templates").glob("*.tmpl"),
    ]
)
"""The pages and files plugin authors read or copy (the changelog names past names too)."""

DOTTED = re.compile(r"\bmerbench(?:\.[A-Za-z_]\w*)+")
FROM_IMPORT = re.compile(r"^[ \t]*from (merbench(?:\.\w+)*) import ([\w ,]+)$", re.M)

PLUGIN_API_NAMES = (
    "ModelSpec",
    "DatasetSpec",
    "FrontEndSpec",
    "AugmentationSpec",
    "InputShape",
    "InputKind",
    "LabelScale",
    "Provenance",
    "PublishedResult",
    "hookimpl",
    "PLUGIN_API",
)
ERRORS = ("MerbenchError", "ConfigError", "DatasetError", "PluginError", "CellError", "RunError")
LAZY = {
    "run": "merbench.api.run",
    "load_results": "merbench.api.load_results",
    "RunResult": "merbench.results.run_result.RunResult",
    "load_model": "merbench.api.load_model",
    "ExportedModel": "merbench.exchange.model.ExportedModel",
    "probe_audio": "merbench.data.decoding.probe",
    "AudioInfo": "merbench.data.decoding.AudioInfo",
    "derive_classes": "merbench.evaluation.metrics.derive_classes",
}
"""The names ``import merbench`` loads on first use, and where each comes from."""
DISTRIBUTIONS = ("FloatDistribution", "IntDistribution", "CategoricalDistribution")
KIT = ("check_plugin", "run_checks", "ContractError", "Check", "tone", "write_tone_dataset")


def resolve(dotted: str) -> object:
    """The object a dotted name names: its longest importable module, then attributes."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        module = ".".join(parts[:end])
        try:
            found: object = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise  # the module exists but imports something missing
            continue
        for attribute in parts[end:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def documented_names() -> dict[str, str]:
    """Each dotted ``merbench`` name the docs use, with the first file that uses it."""
    names: dict[str, str] = {}
    for path in DOCS:
        text = path.read_text()
        found = set(DOTTED.findall(text))
        for module, imported in FROM_IMPORT.findall(text):
            found |= {f"{module}.{n.strip()}" for n in imported.split(",") if n.strip()}
        for name in sorted(found):
            names.setdefault(name, str(path.relative_to(ROOT)))
    return names


DOCUMENTED = documented_names()


def test_the_docs_are_parsed_for_names():
    for name in (
        "merbench.ModelSpec",
        "merbench.hookimpl",
        "merbench.space.FloatDistribution",
        "merbench.space.CategoricalDistribution",  # from a 'from merbench.space import' line
        "merbench.testing.check_plugin",
        "merbench.load_results",
    ):
        assert name in DOCUMENTED, name


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_every_name_the_docs_use_exists(name):
    try:
        resolve(name)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{DOCUMENTED[name]} names {name}, which does not exist: {exc}")


@pytest.mark.parametrize("name", merbench.__all__)
def test_every_name_in_merbench_all_imports(name):
    assert getattr(merbench, name) is not None
    namespace: dict[str, object] = {}
    exec(f"from merbench import {name}", namespace)
    assert namespace[name] is getattr(merbench, name)


def test_the_plugin_api_errors_and_entry_points_are_public():
    public = set(merbench.__all__)
    for name in (*PLUGIN_API_NAMES, *ERRORS, *LAZY):
        assert name in public, name
    for error in ERRORS:
        assert issubclass(getattr(merbench, error), merbench.MerbenchError), error
    with pytest.raises(AttributeError, match="has no attribute 'not_a_name'"):
        _ = merbench.not_a_name


def test_every_public_name_is_listed_by_dir():
    assert set(merbench.__all__) <= set(dir(merbench))
    assert {"run", "load_results"} <= set(dir(merbench))


@pytest.mark.parametrize("name", sorted(LAZY))
def test_lazy_names_are_the_objects_they_stand_for(name):
    assert getattr(merbench, name) is resolve(LAZY[name])


def test_the_plugin_api_version_is_the_one_plugins_are_told_to_declare():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    declared = re.search(r"Every plugin module sets `MERBENCH_PLUGIN_API = (\d+)`", guide)
    assert declared, "docs/plugins.md no longer says which API version plugins declare"
    assert merbench.PLUGIN_API == int(declared.group(1))


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_space_distributions_become_optunas_of_the_same_name(name):
    import optuna.distributions

    from merbench.space import to_optuna

    ours = getattr(importlib.import_module("merbench.space"), name)
    example = ours(("a", "b")) if name == "CategoricalDistribution" else ours(1, 8, log=True)
    assert type(to_optuna(example)) is getattr(optuna.distributions, name)
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert f"`merbench.space.{name}`" in guide or f"`{name}`" in guide


def test_the_contract_kit_keeps_its_import_path():
    assert set(KIT) <= set(merbench.testing.__all__)
    for name in merbench.testing.__all__:
        assert getattr(merbench.testing, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from merbench.testing import *", namespace)
    assert set(merbench.testing.__all__) <= set(namespace)
    assert merbench.testing.check_plugin.__module__ == "merbench.testing.checks"
