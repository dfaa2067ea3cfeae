"""The documentation stays true: README's help quote, set-up commands, hooks and commands."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from merbench.cli import main
from merbench.plugin import hookspecs

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _help(*command: str) -> str:
    result = CliRunner().invoke(main, [*command, "--help"], prog_name="merbench", terminal_width=80)
    assert result.exit_code == 0
    return result.output


def test_readme_quotes_the_current_run_help():
    quoted = re.search(r"```\n(Usage: merbench run.*?)```", README, re.S)
    assert quoted, "README must quote 'merbench run --help'"
    assert quoted.group(1) == _help("run"), "README's quote of 'merbench run --help' is stale"


def test_readme_starts_with_the_two_set_up_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert block[0].endswith("merbench run --models all")
    assert block[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "grep -m1 -E '^python3 -m venv \\.venv && .*pytest' README.md" in ci
    assert re.match(r"^python3 -m venv \.venv && .*pytest", block[1])


def test_every_command_is_documented_in_the_readme():
    for command in main.commands:
        assert f"merbench {command}" in README, command


def test_every_hook_is_documented_with_an_example():
    plugins_doc = (ROOT / "docs" / "plugins.md").read_text()
    for hook in hookspecs.HOOKS:
        function = getattr(hookspecs, hook)
        assert "Example" in (function.__doc__ or ""), hook
        assert hook in plugins_doc, hook


def test_docs_links_resolve():
    for target in re.findall(r"\]\(((?:docs/)[^)#]+)\)", README):
        assert (ROOT / target).exists(), target


def test_every_spec_field_is_documented_in_the_plugin_guide():
    from dataclasses import fields

    from merbench.plugin.specs import SPEC_TYPES

    guide = (ROOT / "docs" / "plugins.md").read_text()
    for record in SPEC_TYPES.values():
        section = guide.split(f"### `{record.__name__}`", 1)
        assert len(section) == 2, f"docs/plugins.md has no section for {record.__name__}"
        body = section[1].split("\n### ", 1)[0]
        for field in fields(record):
            if field.name != "provenance":
                assert f"`{field.name}`" in body, f"{record.__name__}.{field.name} is undocumented"
