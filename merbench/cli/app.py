"""The ``merbench`` command line: the group, ``merbench run`` and ``merbench worker``.

Thin click commands over the library: their bodies are in ``commands`` (``publish_commands``
for the commands of ``publish``), the other commands in ``inspection`` and ``publish``, and the
exit codes in ``runtime``. Importing this module, and ``merbench --help`` or
``merbench run --help``, import neither torch, optuna, rich nor SQLAlchemy: the group's callback
only records its options, and each command sets up logging when it starts (``runtime.start``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from merbench.cli import downloading, inspection, publish, starting
from merbench.cli.options import machine_config, settings_options
from merbench.cli.runtime import guard, plugin_registry
from merbench.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="merbench")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug and Optuna).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option(
    "--strict-plugins",
    is_flag=True,
    envvar="MERBENCH_STRICT_PLUGINS",
    help="Stop on the first broken plugin instead of skipping it (for plugin authors).",
)
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool, strict_plugins: bool) -> None:
    """Benchmark music emotion recognition models: tuned, grouped, cross-validated, published.

    Start with 'merbench run --models all' (the embedded synth dataset, default budget), then
    open the leaderboard it prints. Plugins add datasets, front-ends, augmentations and models.
    """
    ctx.obj = {"strict": strict_plugins, "verbosity": -1 if quiet else verbose, "started": False}


@main.command()
@settings_options()
@click.option("--no-progress", is_flag=True, help="Print one line per cell instead of bars.")
@click.pass_context
def run(ctx: click.Context, /, no_progress: bool, **options: Any) -> None:
    """Tune and compare models with nested, grouped cross-validation; render the leaderboard.

    Re-running the same command resumes: finished cells are kept, the rest are (re)done.
    """
    from merbench.cli.commands import run_command

    code = guard(lambda: run_command(plugin_registry(ctx), options, progress=not no_progress))
    sys.exit(code)


@main.command()
@click.option(
    "--storage",
    required=True,
    envvar="MERBENCH_STORAGE",
    help="SQLAlchemy URL of the run's results store, as given to 'merbench run --storage' "
    "(or $MERBENCH_STORAGE, which keeps a password off the command line; PostgreSQL also reads "
    "PGPASSWORD and ~/.pgpass).",
)
@click.option("--run", "run_name", help="Refuse to work unless the store holds this run.")
@machine_config
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for this worker's log (default: runs/NAME).",
)
@settings_options("heartbeat_timeout")
@click.pass_context
def worker(
    ctx: click.Context,
    storage: str,
    run_name: str | None,
    config: Path | None,
    out: Path | None,
    heartbeat_timeout: float,
) -> None:
    """Take a shared run's pending cells and run them until the run is finished.

    Start any number, on any machines that reach the database; each claims one cell at a time.
    """
    from merbench.cli.commands import worker_command

    settings = dict(
        storage=storage,
        run=run_name,
        config=config,
        out=out,
        heartbeat_timeout=heartbeat_timeout,
    )
    sys.exit(guard(lambda: worker_command(plugin_registry(ctx), settings)))


for command in (
    starting.init,
    downloading.download,
    inspection.list_,
    inspection.plugins,
    inspection.new_plugin,
    inspection.status,
    inspection.compare,
    inspection.verify,
    publish.leaderboard,
    publish.folds,
    publish.score,
    publish.export,
    publish.predict,
):
    main.add_command(command)
