"""Progress reporting: what a run tells its user while it works, and how failures read.

The core reports through the ``Reporter`` protocol (the CLI draws it with rich, the Python API
stays silent); a failed cell is summarised in one line (``one_line``) and its traceback goes to
the run's log file (``log_to``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from merbench.errors import MerbenchError
from merbench.evaluation.tasks import get_task
from merbench.results.schema import CellKey

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """What a run tells its user while it works (the CLI draws it with rich)."""

    def run_started(self, total: int, done: int) -> None: ...

    def cell_started(self, key: CellKey) -> None: ...

    def epoch_ended(self, key: CellKey, epoch: int, value: float) -> None: ...

    def cell_finished(self, key: CellKey, status: str, summary: str) -> None: ...

    def message(self, text: str) -> None: ...


class SilentReporter:
    """A reporter that reports nothing (the Python API's default)."""

    def run_started(self, total: int, done: int) -> None:
        pass

    def cell_started(self, key: CellKey) -> None:
        pass

    def epoch_ended(self, key: CellKey, epoch: int, value: float) -> None:
        pass

    def cell_finished(self, key: CellKey, status: str, summary: str) -> None:
        pass

    def message(self, text: str) -> None:
        log.info("%s", text)


def one_line(exc: BaseException) -> str:
    """A failed cell's reason: the exception's first line, with its type unless merbench's."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = "" if isinstance(exc, MerbenchError) else f"{type(exc).__name__}: "
    return f"{kind}{text}"[:300]


def summarize_metrics(metrics: Mapping[str, object] | object, task: str) -> str:
    """A finished cell's one-line summary: its primary metric, e.g. ``r2_mean=0.412``."""
    name = get_task(task).primary
    value = metrics.get(name) if isinstance(metrics, Mapping) else None
    return f"{name}={value:.3f}" if isinstance(value, float) else ""


def log_to(path: Path) -> logging.Handler:
    """Send merbench's INFO logs (tracebacks of failed cells) to ``path``; return the handler."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("merbench")
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def stop_logging_to(handler: logging.Handler) -> None:
    """Detach and close a handler made by ``log_to``."""
    logging.getLogger("merbench").removeHandler(handler)
    handler.close()
