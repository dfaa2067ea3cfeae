"""Click options made from the run options that ``RunSettings`` declares.

``merbench run`` takes every one of them, ``merbench worker`` those it shares with a run; the
declarations (``merbench.pipeline.settings``) hold each option's flag, help and default, so a
new run option needs no click code.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from merbench.pipeline.settings import RunOption, run_options

F = TypeVar("F", bound=Callable[..., Any])


def settings_options(*names: str) -> Callable[[F], F]:
    """Add the declared run options (all, or those named) to a command, in declaration order.

    Raises:
        KeyError: a name is not a run option.
    """
    declared = {option.name: option for option in run_options()}
    chosen = [declared[name] for name in names] if names else list(declared.values())

    def decorate(command: F) -> F:
        # click lists a command's options in the order their decorators are written, so the
        # last declared is applied first.
        for option in reversed(chosen):
            command = click_option(option)(command)
        return command

    return decorate


def click_option(option: RunOption) -> Callable[[F], F]:
    """The click option of one run option: its flags, value type, default and help."""
    extra: dict[str, Any] = {}
    if option.multiple:
        extra["multiple"] = True
    if option.is_flag:
        extra["is_flag"] = True
        if option.default:  # a flag that switches a setting off, e.g. --no-leaderboard
            extra["callback"] = _negate
    elif option.default not in (None, ()):
        extra["default"] = option.default
    kind = param_type(option)
    if kind is not None:
        extra["type"] = kind
    if option.metavar is not None:
        extra["metavar"] = option.metavar
    if option.envvar is not None:
        extra["envvar"] = option.envvar
    return click.option(
        *option.flags,
        option.name,
        show_default=option.show_default,
        help=option.help,
        **extra,
    )


def param_type(option: RunOption) -> click.ParamType[Any] | None:
    """The click type of an option's value (``None``: text, click's default)."""
    if option.choices:
        return click.Choice(option.choices)
    if option.kind == "int":
        return click.INT if option.minimum is None else click.IntRange(int(option.minimum))
    if option.kind == "float":
        return click.FLOAT if option.minimum is None else click.FloatRange(min=option.minimum)
    if option.kind == "path":
        return click.Path(path_type=Path)
    if option.kind == "folder":
        return click.Path(path_type=Path, file_okay=False)
    return None


def _negate(ctx: click.Context, param: click.Parameter, present: bool) -> bool:
    return not present


machine_config = click.option(
    "--config",
    type=click.Path(path_type=Path),
    help="datasets.toml of this machine (default: the run's, if that path exists here).",
)
"""``--config`` of the commands that work on a stored run: ``worker``, ``score``, ``export``."""
