"""``merbench init``: a commented ``datasets.toml`` in the working folder, to start from.

The click command and what it prints; the text and the guesses are ``merbench.data.starter``'s.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from merbench.cli.runtime import guard, plugin_registry
from merbench.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from merbench.plugin.registry import Registry


@click.command()
@click.option(
    "--dataset",
    "plugin",
    metavar="PLUGIN",
    help="Declare a dataset of this plugin at PATH: 'folder' for your own audio files and "
    "labels CSV (its columns and scale are guessed), or pmemo, deam, emomusic, fourq, merge, "
    "merp.",
)
@click.argument("path", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--labels",
    default="labels.csv",
    show_default=True,
    help="The labels CSV of a folder dataset, relative to PATH.",
)
@click.option("--name", help="The dataset's name (default: PATH's folder name, e.g. my-songs).")
@click.option("--force", is_flag=True, help="Replace an existing datasets.toml.")
@click.option("--print", "to_stdout", is_flag=True, help="Print the file instead of writing it.")
@click.pass_context
def init(
    ctx: click.Context,
    plugin: str | None,
    path: Path | None,
    labels: str,
    name: str | None,
    force: bool,
    to_stdout: bool,
) -> None:
    """Write a commented datasets.toml in this folder (never over one, without --force).

    'merbench init --dataset folder PATH' reads PATH/labels.csv and writes a table for it,
    saying what it guessed: the audio, arousal, valence, quadrant and artist columns, the scale.
    """
    registry = plugin_registry(ctx)
    text, table = guard(lambda: init_text(registry, plugin, path, labels=labels, name=name))
    if to_stdout:
        click.echo(text, nl=False)
        return
    sys.exit(guard(lambda: write_and_check(registry, text, table, force=force)))


def init_text(
    registry: Registry, plugin: str | None, path: Path | None, *, labels: str, name: str | None
) -> tuple[str, str]:
    """The file's text and the name of the dataset table in it (``""`` without one)."""
    from merbench.data.config_checks import check_name
    from merbench.data.starter import dataset_table, guess_folder, starter_text, table_name

    datasets = registry.datasets
    if plugin is None:
        if path is not None:
            raise ConfigError(
                f"merbench init {path}: say which dataset plugin reads it, e.g. "
                f"merbench init --dataset folder {path}"
            )
        return starter_text(), ""
    if plugin not in datasets:
        raise ConfigError(
            f"--dataset {plugin}: unknown dataset plugin.{did_you_mean(plugin, datasets)} "
            f"Choose one of: {', '.join(datasets)} ('merbench list datasets')."
        )
    if path is None and datasets[plugin].requires_path:
        raise ConfigError(
            f"--dataset {plugin}: give the folder of your copy, e.g. "
            f"merbench init --dataset {plugin} ~/data/{plugin}"
        )
    table = name or (table_name(path, taken=[]) if path is not None else plugin)
    check_name(table, "--name", "dataset")
    guess = guess_folder(path, labels) if plugin == "folder" and path is not None else None
    command = f"merbench init --dataset {plugin}" + (f" {path}" if path is not None else "")
    text = dataset_table(table, plugin, str(path) if path is not None else None, guess)
    return starter_text(text, command=command), table


def write_and_check(registry: Registry, text: str, table: str, *, force: bool) -> int:
    """Write the file, read it back as a run would; print what to do next."""
    from merbench.data.config import load_config
    from merbench.data.starter import write_config

    target = write_config(text, Path(), force=force)
    click.echo(f"Wrote {target.resolve()}.")
    try:
        load_config(target, registry.datasets)
    except ConfigError as exc:
        click.echo(f"It needs an edit before a run can read it: {exc}", err=True)
        return 1
    if table:
        click.echo(
            f"Read its comments, then: merbench verify {table} && merbench run --budget smoke"
        )
    else:
        click.echo("Declare your datasets in it (see its comments), then: merbench run")
    return 0
