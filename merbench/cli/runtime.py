"""What every command shares: process set-up, the plugin registry, errors as exit codes.

Exit codes: 0 everything ran; 1 the run finished but a cell failed or a requested candidate or
dataset could not run; 2 nothing ran (a bad command line, ``datasets.toml`` or plugin name);
130 interrupted (finished cells are kept: run the same command again to resume).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click

from merbench.errors import ConfigError, MerbenchError

EXIT_FAILED_CELLS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class MerbenchClickError(click.ClickException):
    """A ``MerbenchError`` shown as one line, exit code 2."""

    exit_code = EXIT_USAGE


def fail(exc: MerbenchError) -> NoReturn:
    """Stop the command with a ``MerbenchError``'s one line, exit code 2; no credential of a
    URL in it is ever printed."""
    from merbench.results.urls import redact

    raise MerbenchClickError(redact(str(exc))) from None


def start(ctx: click.Context) -> None:
    """Set up the process for a command's work: allocator, logging (once per process)."""
    root = ctx.find_root()
    if root.obj is None or root.obj["started"]:
        return
    from merbench.cli.console import setup_logging
    from merbench.train.allocator import configure_allocator

    configure_allocator()  # before torch allocates anything
    setup_logging(root.obj["verbosity"])
    root.obj["started"] = True


def plugin_registry(ctx: click.Context) -> Any:
    """Set up the process and load the plugins (strictly with ``--strict-plugins``)."""
    from merbench.plugin.registry import load_registry

    start(ctx)
    try:
        return load_registry(strict=ctx.find_root().obj["strict"])
    except MerbenchError as exc:
        fail(exc)


def guard(action: Any) -> Any:
    """Run a command body: MerbenchError -> one line; Ctrl-C -> exit 130."""
    try:
        result = action()
    except MerbenchError as exc:
        fail(exc)
    except KeyboardInterrupt:
        click.echo(
            "Interrupted; finished cells are kept. Run the same command to resume.", err=True
        )
        sys.exit(EXIT_INTERRUPTED)
    return result


@contextlib.contextmanager
def writing(target: Path, option: str, what: str) -> Iterator[None]:
    """Turn a failed write under ``target`` (a full disk, no permission) into one line.

    Raises:
        ConfigError: naming the option, the path, the reason and the fix.
    """
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = f": {exc.filename}" if exc.filename and str(exc.filename) != str(target) else ""
        raise ConfigError(
            f"{option} {target}: cannot write {what} ({reason}{where}). Free some space, or "
            f"pass {option} a place you can write to."
        ) from None
