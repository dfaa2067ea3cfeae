"""Builders named lazily: a record's ``build`` (or ``load``, ``verify``) as ``"module:attribute"``.

A plugin may name a builder by its import path instead of passing the function, as lm-eval's
registry names classes: ``build="merbench_x.net:build"``. The plugin module then imports no
torch, and its builder module may import torch at the top. Discovery only checks the string's
form (:func:`target_problem`); the core imports the module the first time it reads the builder
(:func:`resolve`, through the records' ``builder``, ``loader`` and ``verifier`` properties), once
per string.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from typing import Any, cast

from merbench.errors import PluginError

Builder = Callable[..., Any] | str
"""A callable, or the ``"module:attribute"`` import path of one."""

TARGET_PATTERN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
"""``package.module:name`` or ``package.module:Class.method``."""


def target_problem(value: object, field: str) -> str:
    """Why ``value`` is neither a callable nor a well-formed ``"module:attribute"``, or ``""``.

    Nothing is imported: a string is checked for its form only.
    """
    if callable(value) or (isinstance(value, str) and TARGET_PATTERN.match(value)):
        return ""
    if isinstance(value, str):
        return (
            f"{field} {value!r} is not a 'module:attribute' import path; write e.g. "
            f"{field}='merbench_x.module:{field}', or pass the function itself"
        )
    return f"{field} is not callable"


def resolve(builder: Builder, *, owner: str, field: str = "build") -> Callable[..., Any]:
    """Return ``builder`` itself, or the callable its ``"module:attribute"`` string names.

    Args:
        builder: a callable, or the import path of one.
        owner: who declared it, for the error, e.g. ``"Plugin 'x' (merbench-x 0.1), model 'net'"``.
        field: the record's field, for the error.

    Raises:
        PluginError: the module cannot be imported, lacks the attribute, or the attribute is not
            callable; one line naming ``owner`` and the string.
    """
    if not isinstance(builder, str):
        return builder
    try:
        return _import_target(builder)
    except PluginError as exc:
        raise PluginError(f"{owner}: {field} {builder!r} {exc}") from exc.__cause__


@functools.cache
def _import_target(target: str) -> Callable[..., Any]:
    """Import ``module:attribute`` once; a failure is raised again on the next call."""
    module_name, _, path = target.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in path.split("."):
            value = getattr(value, part)
    except Exception as exc:  # a plugin module may raise anything on import
        reason = (str(exc).splitlines() or [""])[0]
        raise PluginError(
            f"cannot be imported ({type(exc).__name__}: {reason}). Fix the import path in the "
            "plugin, or reinstall it."
        ) from exc
    if not callable(value):
        raise PluginError(
            f"names a value of type {type(value).__name__}, not a callable. Fix the import path."
        )
    return cast("Callable[..., Any]", value)
