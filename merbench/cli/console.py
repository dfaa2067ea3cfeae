"""Terminal output: one rich Console shared by logs and the progress display.

Library code logs through ``logging``; this module gives the ``merbench`` logger one handler
on the same Console as the progress bars, so bars never tear. Progress is drawn with
``rich.progress`` on a terminal, and as plain lines when output is redirected, under CI, or
with ``--no-progress``.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
import time
from collections.abc import Mapping
from types import TracebackType

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from merbench.pipeline.estimate import Line, RunEstimate
from merbench.pipeline.progress import Step, seconds_left
from merbench.results.schema import CellKey
from merbench.train.tuning import OPTUNA_LOGGER, quiet_optuna

console = Console(stderr=True)
out = Console()


def setup_logging(verbosity: int) -> None:
    """Send merbench's logs to the shared console; quiet Optuna unless ``-v``."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = RichHandler(console=console, show_path=False, show_time=False, markup=False)
    handler.setLevel(level)
    root = logging.getLogger("merbench")
    root.handlers = [h for h in root.handlers if not isinstance(h, RichHandler)]
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    # Applied when Optuna is first imported (merbench.train.tuning), so that commands which never
    # tune do not pay for importing it.
    logging.getLogger(OPTUNA_LOGGER).setLevel(logging.WARNING if verbosity < 2 else logging.INFO)
    if "optuna" in sys.modules:
        quiet_optuna()


def wants_progress(enabled: bool) -> bool:
    """Draw live bars only on a terminal, outside CI, unless turned off."""
    return enabled and console.is_terminal and not os.environ.get("CI")


class CostClock:
    """The time a run has left, from the expected cost of its cells left
    (``merbench.pipeline.progress.seconds_left``): each candidate's estimate until its cells
    finish here, then their measured seconds."""

    def __init__(self) -> None:
        self.left: dict[CellKey, float] = {}
        self.workers = 1
        self.started: dict[CellKey, float] = {}
        self.measured: dict[str, list[float]] = {}

    def plan(self, costs: Mapping[CellKey, float], workers: int) -> None:
        self.left, self.workers = dict(costs), workers

    def start(self, key: CellKey) -> None:
        self.started[key] = time.monotonic()

    def finish(self, key: CellKey, status: str) -> None:
        self.left.pop(key, None)
        began = self.started.pop(key, None)
        if began is not None and status == "done":
            self.measured.setdefault(key.candidate, []).append(time.monotonic() - began)

    def text(self) -> str:
        """``eta 0:12:30``, or nothing before the cells' costs are known."""
        if not self.left:
            return ""
        expected: dict[str, float] = {}
        for key, cost in self.left.items():
            expected.setdefault(key.candidate, cost)
        candidates = [key.candidate for key in self.left]
        left = seconds_left(candidates, expected, self.measured, self.workers)
        return f"eta {datetime.timedelta(seconds=round(left))}"


class RichReporter:
    """Live progress bars for ``merbench run``."""

    def __init__(self) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[detail]}"),
            console=console,
        )
        self.task: TaskID | None = None
        self.failed = 0
        self.clock = CostClock()

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def run_started(self, total: int, done: int) -> None:
        self.task = self.progress.add_task(
            "cells", total=total, completed=done, detail="", eta=self.clock.text()
        )

    def cells_planned(self, costs: Mapping[CellKey, float], workers: int) -> None:
        self.clock.plan(costs, workers)

    def cell_started(self, key: CellKey) -> None:
        self.clock.start(key)
        if self.task is not None:
            self.progress.update(self.task, detail=escape(key.label()), eta=self.clock.text())

    def epoch_ended(self, key: CellKey, step: Step) -> None:
        if self.task is not None:
            self.progress.update(self.task, detail=escape(f"{key.label()} {step.text()}"))

    def cell_finished(self, key: CellKey, status: str, summary: str) -> None:
        self.clock.finish(key, status)
        if status == "failed":
            self.failed += 1
            self.progress.console.print(
                f"[red]failed[/red] {escape(key.label())}: {escape(summary)}"
            )
        if self.task is not None:
            self.progress.update(self.task, eta=self.clock.text())
            self.progress.advance(self.task)

    def message(self, text: str) -> None:
        self.progress.console.print(escape(text))


class LineReporter:
    """One line per finished cell, for logs and CI."""

    def __init__(self) -> None:
        self.total = 0
        self.count = 0
        self.started = time.monotonic()

    def __enter__(self) -> LineReporter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        pass

    def run_started(self, total: int, done: int) -> None:
        self.total, self.count = total, done
        console.print(f"{total} cells, {done} already finished", highlight=False)

    def cell_started(self, key: CellKey) -> None:
        pass

    def cells_planned(self, costs: Mapping[CellKey, float], workers: int) -> None:
        pass

    def epoch_ended(self, key: CellKey, step: Step) -> None:
        pass

    def cell_finished(self, key: CellKey, status: str, summary: str) -> None:
        self.count += 1
        elapsed = time.monotonic() - self.started
        console.print(
            f"[{self.count}/{self.total} {elapsed:6.0f}s] {status} {key.label()} {summary}",
            highlight=False,
            markup=False,
        )

    def message(self, text: str) -> None:
        console.print(text, highlight=False, markup=False)


def print_plan(plan: RunEstimate) -> None:
    """``merbench run --plan``: the cost table per candidate, then the totals.

    The dataset and task head the table when the run has one of each, else each row names them.
    """
    from rich.table import Table

    from merbench.pipeline.estimate import duration_text, totals_line

    def where(line: Line) -> str:
        split = "" if line.split == "grouped" else f" ({line.split})"
        return f"{line.dataset} / {line.task}{split}"

    places = {where(line) for line in plan.lines}
    heading = f": {places.pop()}" if len(places) == 1 else ""
    table = Table(title=f"Cost plan{escape(heading)} ({plan.budget} budget)")
    columns = ["dataset / task"] if heading == "" else []
    for column in [*columns, "candidate", "cells", "per cell", "cell-hours", "from"]:
        right = column in ("cells", "per cell", "cell-hours")
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    for line in plan.lines:
        known = bool(line.cell_seconds)
        table.add_row(
            *([escape(where(line))] if heading == "" else []),
            escape(line.candidate),
            str(line.cells),
            duration_text(line.seconds / line.cells) if known else "?",
            f"{line.seconds / 3600:.3f}" if known else "?",
            escape(line.source),
        )
    out.print(table)
    out.print(totals_line(plan), highlight=False, markup=False)
