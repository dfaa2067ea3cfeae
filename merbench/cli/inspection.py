"""``merbench list``, ``plugins`` (and ``plugins check``), ``new-plugin``, ``status`` and
``verify``: the commands that look at what is installed, declared or stored.

Thin click commands; their bodies are in ``merbench.cli.commands``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import click

from merbench.cli.runtime import guard, plugin_registry, start


@click.command("list")
@click.argument(
    "what",
    type=click.Choice(
        ["models", "candidates", "frontends", "augmentations", "datasets", "budgets", "tasks"]
    ),
    default="candidates",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--config", type=click.Path(path_type=Path), help="datasets.toml for 'datasets' and 'budgets'."
)
@click.pass_context
def list_(ctx: click.Context, what: str, as_json: bool, config: Path | None) -> None:
    """List models, candidates, front-ends, augmentations, datasets, budgets or tasks."""
    from merbench.cli.commands import list_command

    guard(lambda: list_command(plugin_registry(ctx), what, as_json=as_json, config=config))


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List every plugin with its distribution, version and records, and every failure.

    'merbench plugins check TARGET' runs the contract kit on one plugin.
    """
    if ctx.invoked_subcommand is not None:
        return
    from merbench.cli.commands import plugins_command

    registry = plugin_registry(ctx)
    sys.exit(guard(lambda: plugins_command(registry, as_json=as_json)))


@plugins.command("check")
@click.argument("target")
@click.pass_context
def plugins_check(ctx: click.Context, target: str) -> None:
    """Run the contract kit on a plugin module or an installed distribution's plugins.

    TARGET is an importable module (merbench_tinycnn) or a distribution (merbench-tinycnn).
    """
    from merbench.cli.commands import check_command

    start(ctx)
    sys.exit(guard(lambda: check_command(target)))


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["model", "frontend", "augmentation", "dataset"]),
    default="model",
    show_default=True,
    help="What the plugin provides.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="Folder to create the package folder in.",
)
def new_plugin(name: str, kind: str, out: Path) -> None:
    """Write a working plugin package skeleton (pyproject, module, test) named merbench-NAME."""
    from merbench.plugin.scaffold import write_plugin

    folder = guard(lambda: write_plugin(name, kind, out))
    install = f"{python_command()} -m pip install -e {shlex.quote(str(folder))}"
    click.echo(f"Created {folder}. Next: {install} && merbench plugins check {name}")


def python_command() -> str:
    """This interpreter as a shell command: its name when PATH finds this very interpreter
    under it (``python3``), else its full path (a bare ``pip`` may install elsewhere)."""
    name = Path(sys.executable).name
    found = shutil.which(name)
    try:
        is_this = found is not None and os.path.samefile(found, sys.executable)
    except OSError:
        is_this = False
    return name if is_this else shlex.quote(sys.executable)


@click.command()
@click.argument("run_dir", metavar="RUN")
@click.option("--storage", help="SQLAlchemy URL of the store, if not the run directory's SQLite.")
@click.pass_context
def status(ctx: click.Context, run_dir: str, storage: str | None) -> None:
    """Show how far a run has got: cells by status, and the failures.

    RUN is a run directory or a store URL.
    """
    from merbench.cli.commands import status_command

    start(ctx)
    guard(lambda: status_command(run_dir, storage))


@click.command()
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@click.pass_context
def compare(ctx: click.Context, run_a: str, run_b: str, as_json: bool) -> None:
    """Compare two runs of the same candidates on the same folds: B minus A, per candidate.

    RUN_A and RUN_B are run directories or store URLs, e.g. before and after a change. The
    primary metric's paired difference over folds, with its 95 % interval, and of the pooled
    per-track predictions where both runs stored them. Runs split differently are refused.
    """
    from merbench.cli.commands import compare_command

    start(ctx)
    guard(lambda: compare_command(run_a, run_b, as_json=as_json))


@click.command()
@click.argument("dataset")
@click.option("--config", type=click.Path(path_type=Path), help="datasets.toml to read.")
@click.pass_context
def verify(ctx: click.Context, dataset: str, config: Path | None) -> None:
    """Check a dataset's local copy: files, labels and audio; exit 1 if it cannot be used."""
    from merbench.cli.commands import verify_command

    registry = plugin_registry(ctx)
    sys.exit(guard(lambda: verify_command(registry, dataset, config)))
