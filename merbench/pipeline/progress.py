"""Progress reporting: what a run tells its user while it works, and how failures read.

The core reports through the ``Reporter`` protocol (the CLI draws it with rich, the Python API
stays silent); a failed cell is summarised in one line (``one_line``) and its traceback goes to
the run's log file (``log_to``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from merbench.errors import MerbenchError
from merbench.evaluation.tasks import get_task
from merbench.results.schema import CellKey

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """Where a torch cell's tuning is: epoch ``epoch`` of ``epochs`` in trial ``trial`` of
    ``trials`` (both counted from 1), and that epoch's validation score."""

    trial: int
    trials: int
    epoch: int
    epochs: int
    value: float

    def text(self) -> str:
        """``trial 2/4, epoch 3/6``."""
        return f"trial {self.trial}/{self.trials}, epoch {self.epoch}/{self.epochs}"


class Reporter(Protocol):
    """What a run tells its user while it works (the CLI draws it with rich)."""

    def run_started(self, total: int, done: int) -> None: ...

    def cells_planned(self, costs: Mapping[CellKey, float], workers: int) -> None:
        """The estimated seconds of each cell left (``merbench.pipeline.costs``), and how many
        processes share them: what an estimate of the time left starts from."""

    def cell_started(self, key: CellKey) -> None: ...

    def epoch_ended(self, key: CellKey, step: Step) -> None: ...

    def cell_finished(self, key: CellKey, status: str, summary: str) -> None: ...

    def message(self, text: str) -> None: ...


class SilentReporter:
    """A reporter that reports nothing (the Python API's default)."""

    def run_started(self, total: int, done: int) -> None:
        pass

    def cell_started(self, key: CellKey) -> None:
        pass

    def cells_planned(self, costs: Mapping[CellKey, float], workers: int) -> None:
        pass

    def epoch_ended(self, key: CellKey, step: Step) -> None:
        pass

    def cell_finished(self, key: CellKey, status: str, summary: str) -> None:
        pass

    def message(self, text: str) -> None:
        log.info("%s", text)


def seconds_left(
    left: Iterable[str],
    expected: Mapping[str, float],
    measured: Mapping[str, Sequence[float]],
    workers: int = 1,
) -> float:
    """Estimate the wall seconds a run has left from the expected cost of its cells left.

    A candidate's cell costs the mean of its finished cells' seconds in this run when it has
    some; else its estimate (``expected``, from the store's timings or the budget), scaled by
    how the finished cells' seconds compared with their own estimates (the estimates are for a
    reference machine). The cost is shared by ``workers`` processes.

    Args:
        left: the candidate of each cell left, once per cell.
        expected: each candidate's estimated seconds per cell.
        measured: each candidate's finished cells' seconds, in this run.
        workers: processes working through the cells.
    """
    seen = {c: list(v) for c, v in measured.items() if len(v)}
    spent = sum(sum(v) for v in seen.values())
    planned = sum(expected.get(c, 0.0) * len(v) for c, v in seen.items())
    scale = spent / planned if spent > 0 and planned > 0 else 1.0
    total = 0.0
    for candidate in left:
        done = seen.get(candidate)
        total += sum(done) / len(done) if done else expected.get(candidate, 0.0) * scale
    return total / max(workers, 1)


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
