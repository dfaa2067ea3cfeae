"""``merbench new-plugin``: write a plugin package that passes the contract kit out of the box."""

from __future__ import annotations

from pathlib import Path
from string import Template

from merbench.errors import ConfigError
from merbench.plugin.specs import NAME_PATTERN
from merbench.version import __version__

TEMPLATES = Path(__file__).parent / "templates"
KINDS = ("model", "frontend", "augmentation", "dataset")


def _render(template: str, values: dict[str, str]) -> str:
    return Template((TEMPLATES / template).read_text()).substitute(values)


def write_plugin(name: str, kind: str, out: Path) -> Path:
    """Write ``merbench-<name>/`` (pyproject, module, test, README) under ``out``.

    Raises:
        ConfigError: an invalid name or kind, or a folder that already exists.
    """
    if not NAME_PATTERN.match(name):
        raise ConfigError(
            f"Plugin name '{name}' is invalid: use 1-32 lower-case letters, digits and '-', "
            "starting with a letter (e.g. 'tinycnn')."
        )
    if kind not in KINDS:
        raise ConfigError(f"Unknown kind '{kind}'. Choose one of: {', '.join(KINDS)}.")
    folder = out / f"merbench-{name}"
    if folder.exists():
        raise ConfigError(f"{folder}: already exists. Choose another name or --out folder.")
    module = "merbench_" + name.replace("-", "_")
    major, minor = (int(part) for part in __version__.split(".")[:2])
    values = {"name": name, "kind": kind, "module": module,
              "major_minor": f"{major}.{minor}", "next_minor": f"{major}.{minor + 1}"}  # fmt: skip
    (folder / "tests").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(_render("pyproject.toml.tmpl", values))
    (folder / f"{module}.py").write_text(_render(f"{kind}.py.tmpl", values))
    (folder / "tests" / f"test_{module}.py").write_text(_render("test.py.tmpl", values))
    (folder / "README.md").write_text(
        f"# merbench-{name}\n\nA merbench {kind} plugin.\n\n```console\n"
        f"pip install -e .\nmerbench plugins check {name}\n"
        f"merbench run --models {name} --budget smoke\n```\n"
        if kind == "model"
        else f"# merbench-{name}\n\nA merbench {kind} plugin.\n\n```console\npip install -e .\n"
        f"merbench plugins check {name}\n```\n"
    )
    return folder
