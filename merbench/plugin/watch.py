"""Third-party plugins imported under watch, so that one that hangs or ends the process at
import time is named instead of taking every command down without a word.

- A plugin still importing after ``IMPORT_WARN_S`` seconds is named on the log (a warning) with
  how to disable it; the import goes on (Python cannot stop an import that hangs).
- While a plugin imports, a marker ``plugins/importing-<pid>`` under merbench's cache names it.
  A plugin that ends the process (``os._exit``, a crash in native code) leaves the marker
  behind; the next command names that plugin and removes the marker.

First-party plugins are not watched. A cache that cannot be written turns the marker off.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from merbench.paths import cache_dir

log = logging.getLogger(__name__)

IMPORT_WARN_S = 15.0
"""Seconds a plugin may take to import before it is named on the log."""
MARKER_PREFIX = "importing-"


@contextmanager
def watched_import(plugin: str, distribution: str, disable: str) -> Iterator[None]:
    """Import a plugin inside this block: named on the log if slow, marked in the cache.

    Args:
        plugin: the entry point's name.
        distribution: the package that installed it.
        disable: how to disable it, for the messages.
    """
    marker = _write_marker(f"{plugin}\t{distribution}\t{disable}")
    timer = threading.Timer(
        IMPORT_WARN_S,
        lambda: log.warning(
            "Plugin '%s' (%s) is still importing after %.0f s. If it hangs, stop with Ctrl-C and "
            "%s.",
            plugin,
            distribution,
            IMPORT_WARN_S,
            disable,
        ),
    )
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        if marker is not None:
            marker.unlink(missing_ok=True)


def report_ended_imports() -> list[str]:
    """Name every plugin that an earlier process ended in while importing it; forget them.

    Returns:
        The plugins named (each also logged as a warning).
    """
    try:
        markers = list(_folder().glob(f"{MARKER_PREFIX}*"))
    except OSError:
        return []
    named = []
    for marker in markers:
        pid = marker.name.removeprefix(MARKER_PREFIX)
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            plugin, distribution, disable = marker.read_text().split("\t", 2)
            marker.unlink(missing_ok=True)
        except (OSError, ValueError):
            continue
        log.warning(
            "An earlier merbench process (pid %s) ended while importing plugin '%s' (%s): "
            "the plugin stops the process when it is imported. Fix or uninstall %s, or %s.",
            pid,
            plugin,
            distribution,
            distribution,
            disable,
        )
        named.append(plugin)
    return named


def _folder() -> Path:
    return cache_dir("plugins")


def _write_marker(text: str) -> Path | None:
    try:
        marker = _folder() / f"{MARKER_PREFIX}{os.getpid()}"
        marker.write_text(text)
    except OSError:
        return None
    return marker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
