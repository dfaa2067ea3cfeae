"""``merbench download``: a dataset's declared source fetched, its table printed, its copy checked.

The click command and what it prints; the fetching is ``merbench.data.download``'s.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from merbench.cli.runtime import EXIT_INTERRUPTED, guard, plugin_registry
from merbench.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from rich.progress import Progress as Bars
    from rich.progress import TaskID

    from merbench.plugin.registry import Registry
    from merbench.plugin.specs import DatasetSpec, DataSource


@dataclass(frozen=True, kw_only=True)
class DownloadOptions:
    """What the command line asked of one download."""

    folder: Path | None
    variant: str | None
    accept_licence: bool
    yes: bool
    write: bool
    progress: bool


@click.command()
@click.argument("name", required=False)
@click.option(
    "--to",
    "folder",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to download into (default: $MERBENCH_DATA/NAME, else data/NAME here). A rerun "
    "there resumes.",
)
@click.option(
    "--variant",
    help="Another way to fetch the dataset, where it has one (e.g. 'full': full-quality audio); "
    "'merbench download --list' shows them.",
)
@click.option(
    "--accept-licence",
    is_flag=True,
    help="Accept the dataset's licence, for datasets whose licence asks for consent.",
)
@click.option("--yes", is_flag=True, help="Do not ask before fetching.")
@click.option("--write", is_flag=True, help="Add the dataset's table to datasets.toml here.")
@click.option("--list", "as_list", is_flag=True, help="List datasets and their sources.")
@click.option("--no-progress", is_flag=True, help="Print one line per file instead of bars.")
@click.pass_context
def download(
    ctx: click.Context,
    name: str | None,
    folder: Path | None,
    variant: str | None,
    accept_licence: bool,
    yes: bool,
    write: bool,
    as_list: bool,
    no_progress: bool,
) -> None:
    """Fetch a dataset (resumable, checksummed), print its datasets.toml table, verify it.

    The licence is printed first. Without NAME (or with --list), list the datasets, their size,
    licence and whether they download programmatically or by printed steps.
    """
    registry = plugin_registry(ctx)
    if name is None or as_list:
        guard(lambda: list_sources(registry))
        return
    options = DownloadOptions(
        folder=folder,
        variant=variant,
        accept_licence=accept_licence,
        yes=yes,
        write=write,
        progress=not no_progress,
    )
    sys.exit(guard(lambda: download_command(registry, name, options)))


def list_sources(registry: Registry) -> None:
    """Print every dataset with its source: size, licence, how it downloads."""
    from rich.markup import escape
    from rich.table import Table

    from merbench.cli.console import out

    table = Table(title="merbench download NAME")
    for column in ("dataset", "size", "licence", "how"):
        table.add_column(column)
    for name, spec in sorted(registry.datasets.items()):
        source = spec.source
        if source is None:
            how = "embedded" if not spec.requires_path else "by hand (no source declared)"
            table.add_row(escape(name), "", escape(spec.license), how)
            continue
        how = _HOW[source.kind] + (" (consent: --accept-licence)" if source.consent else "")
        how += "".join(f"; --variant {v}: {source.variants[v].size}" for v in source.variants)
        table.add_row(escape(name), escape(source.size), escape(source.license), escape(how))
    out.print(table)


_HOW = {
    "files": "download",
    "zenodo": "download (Zenodo)",
    "hub": "download (Hugging Face Hub)",
    "manual": "printed steps",
}


def download_command(registry: Registry, name: str, options: DownloadOptions) -> int:
    """``merbench download NAME``: 0 when the copy verifies, 1 when it has problems."""
    from merbench.data.download import download, source_of

    spec = _dataset(registry, name)
    source = source_of(spec, options.variant)
    click.echo(
        f"Licence: {source.license}" + (f" ({source.license_url})" if source.license_url else "")
    )
    if source.kind == "manual":
        click.echo(f"'{name}' cannot be fetched programmatically. Steps:")
        for number, step in enumerate(source.steps, 1):
            click.echo(f"  {number}. {step}")
        return 0
    if source.consent and not options.accept_licence:
        raise ConfigError(
            f"merbench download {name}: the licence asks for your consent. Read it "
            f"({source.license_url or spec.homepage}), then run: "
            f"merbench download {name} --accept-licence"
        )
    folder = options.folder or default_folder(name)
    if not options.yes and sys.stdin.isatty():
        click.confirm(f"Fetch {source.size or name} into {folder}?", default=True, abort=True)
    try:
        with _progress(options.progress) as progress:
            result = download(spec, folder, progress=progress, variant=options.variant)
    except KeyboardInterrupt:
        click.echo(
            "Interrupted; what was fetched is kept: run the same command to resume.", err=True
        )
        return EXIT_INTERRUPTED
    if result.license:
        click.echo(f"The Zenodo record states its licence as: {result.license}")
    for step in source.steps:
        click.echo(step)
    table = _table(name, result.root.resolve(), source)
    click.echo(f"\nThe table for datasets.toml:\n\n{table}")
    if options.write:
        _write_table(name, table)
    return _verify(spec, result.root, source)


def default_folder(name: str) -> Path:
    """Where a download goes without ``--to``: ``$MERBENCH_DATA/NAME``, else ``data/NAME``."""
    base = os.environ.get("MERBENCH_DATA")
    return Path(base).expanduser() / name if base else Path("data") / name


def _dataset(registry: Registry, name: str) -> DatasetSpec:
    datasets = registry.datasets
    if name not in datasets:
        raise ConfigError(
            f"merbench download {name}: unknown dataset.{did_you_mean(name, datasets)} "
            "'merbench download --list' lists them."
        )
    spec: DatasetSpec = datasets[name]
    return spec


def _table(name: str, root: Path, source: DataSource) -> str:
    """The ``[datasets.NAME]`` table of the download, as ``merbench init`` writes it."""
    import json

    from merbench.data.starter import dataset_table

    text = dataset_table(name, name, str(root))
    return text + "".join(f"{key} = {json.dumps(value)}\n" for key, value in source.options.items())


def _write_table(name: str, table: str) -> None:
    """Add ``table`` to ``datasets.toml`` here (a new file: ``merbench init``'s text)."""
    from merbench.data.config import CONFIG_NAME
    from merbench.data.starter import starter_text, write_config

    target = Path(CONFIG_NAME)
    if not target.is_file():
        written = write_config(starter_text(table, command=f"merbench download {name}"), Path())
        click.echo(f"Wrote {written.resolve()}.")
        return
    try:
        declared = tomllib.loads(target.read_text(encoding="utf-8")).get("datasets", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"{target}: cannot read it ({exc}); add the table above by hand."
        ) from None
    if name in declared:
        click.echo(f"{target} already declares [datasets.{name}]; left as it is.")
        return
    with target.open("a", encoding="utf-8") as handle:
        handle.write(f"\n{table}")
    click.echo(f"Added [datasets.{name}] to {target.resolve()}.")


def _verify(spec: DatasetSpec, root: Path, source: DataSource) -> int:
    """Run the plugin's ``verify`` on the download; 1 when it finds problems (not notes)."""
    if spec.verifier is None:
        click.echo(f"'{spec.name}' has no verify; check the copy with a smoke run.")
        return 0
    lines = list(spec.verifier(root, **dict(source.options)))
    problems = [line for line in lines if not line.startswith("note:")]
    for line in lines:
        click.echo(f"  {line}", err=True)
    notes = len(lines) - len(problems)
    click.echo(
        f"verify {spec.name}: {len(problems)} problem(s)"
        + (f", {notes} note(s)" if notes else "")
        + f" in {root}."
    )
    return 1 if problems else 0


class _Bars:
    """A download's progress as rich bars (one per file), or one line per finished file."""

    def __init__(self, bars: Bars | None) -> None:
        self.bars = bars
        self.tasks: dict[str, TaskID] = {}

    def started(self, name: str, total: int | None, done: int) -> None:
        if self.bars is not None:
            self.tasks[name] = self.bars.add_task(name, total=total, completed=done)

    def advanced(self, name: str, size: int) -> None:
        if self.bars is not None and name in self.tasks:
            self.bars.advance(self.tasks[name], size)

    def finished(self, name: str, note: str) -> None:
        from merbench.cli.console import console

        if self.bars is not None and name in self.tasks:
            self.bars.remove_task(self.tasks.pop(name))
        console.print(f"{name}: {note}", highlight=False, markup=False)


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[_Bars]:
    """Bars on a terminal (not under CI, not with --no-progress), else plain lines."""
    from merbench.cli.console import console, wants_progress

    if not wants_progress(enabled):
        yield _Bars(None)
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(TextColumn("{task.description}"), *columns, console=console) as bars:
        yield _Bars(bars)
