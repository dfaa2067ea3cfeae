"""Experiment tracking: a run logged to MLflow as it works (``merbench run --track mlflow``).

The tracker is an observer of the run: a ``Reporter`` that passes every event on to the run's
own reporter and, when a cell finishes, reads what the store recorded of it and logs one nested
MLflow run under the run's parent MLflow run: its best parameters and identity (candidate,
dataset, task, repeat, fold, split) as parameters, its metrics and timings as metrics, its
per-track predictions as ``predictions.csv``. Every cell reaches it, whichever process or Dask
worker ran the cell, because the run's reporter hears of each one.

MLflow is optional (``pip install 'merbench[mlflow]'``), imported when a run asks for it, and
talked to through ``MlflowClient`` only (no process-wide state). The default store is a SQLite
database in the run directory (``mlflow.db``, artifacts in ``mlruns/``): MLflow's plain-file
store is in maintenance mode and refuses new use unless told otherwise. A tracker failure never
fails the run: it is logged in one line and tracking stops.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from merbench.errors import ConfigError
from merbench.pipeline.progress import Reporter, Step
from merbench.results.schema import CellKey, cells, predictions
from merbench.results.store import Store

log = logging.getLogger(__name__)

MAX_PARAM = 6000
"""MLflow's longest parameter value; longer values are cut."""
PREDICTIONS = "predictions.csv"


def tracking_uri(uri: str | None, run_dir: Path) -> str:
    """The tracking URI of a run: as given, else a SQLite database in the run directory."""
    return uri or f"sqlite:///{(run_dir / 'mlflow.db').absolute().as_posix()}"


def require_mlflow() -> None:
    """Refuse ``--track mlflow`` before the run starts when MLflow is missing.

    Raises:
        ConfigError: one line naming the extra to install.
    """
    try:
        import mlflow  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "--track mlflow: MLflow is not installed. pip install 'merbench[mlflow]'."
        ) from exc


class MlflowTracker:
    """A reporter that logs a run and its finished cells to MLflow (and passes every event on).

    ``start`` opens the parent MLflow run; ``finish`` ends it. Any error of MLflow is logged
    once and turns tracking off; the run goes on.
    """

    def __init__(
        self,
        reporter: Reporter,
        store: Store,
        *,
        uri: str,
        name: str,
        artifacts: Path | None = None,
    ) -> None:
        self.reporter = reporter
        self.store = store
        self.uri = uri
        self.name = name
        self.artifacts = artifacts
        self.client: Any = None
        self.experiment_id = ""
        self.parent_id = ""

    # --- the run ------------------------------------------------------------------------------

    def start(self, params: Mapping[str, Any]) -> None:
        """Open the parent MLflow run of this merbench run, with the run's settings."""
        self._safely(self._start, params)

    def _start(self, params: Mapping[str, Any]) -> None:
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=self.uri)
        experiment = self.client.get_experiment_by_name(self.name)
        if experiment is not None:
            self.experiment_id = experiment.experiment_id
        else:
            location = None if self.artifacts is None else self.artifacts.absolute().as_uri()
            self.experiment_id = self.client.create_experiment(
                self.name, artifact_location=location
            )
        tags = {"merbench.run": self.name}
        parent = self.client.create_run(self.experiment_id, run_name=self.name, tags=tags)
        self.parent_id = parent.info.run_id
        self._log(self.parent_id, params=params)

    def finish(self, ok: bool) -> None:
        """End the parent MLflow run: ``FINISHED``, or ``FAILED`` when a cell failed."""
        if self.parent_id:
            status = "FINISHED" if ok else "FAILED"
            self._safely(lambda: self.client.set_terminated(self.parent_id, status))

    # --- the reporter -------------------------------------------------------------------------

    def run_started(self, total: int, done: int) -> None:
        self.reporter.run_started(total, done)

    def cells_planned(self, costs: Mapping[CellKey, float], workers: int) -> None:
        self.reporter.cells_planned(costs, workers)

    def cell_started(self, key: CellKey) -> None:
        self.reporter.cell_started(key)

    def epoch_ended(self, key: CellKey, step: Step) -> None:
        self.reporter.epoch_ended(key, step)

    def message(self, text: str) -> None:
        self.reporter.message(text)

    def cell_finished(self, key: CellKey, status: str, summary: str) -> None:
        self.reporter.cell_finished(key, status, summary)
        if status == "done" and self.parent_id:
            self._safely(self._log_cell, key)

    # --- one cell -----------------------------------------------------------------------------

    def _log_cell(self, key: CellKey) -> None:
        row, table = self._read_cell(key)
        identity = {
            "candidate": key.candidate,
            "dataset": key.dataset,
            "task": key.task,
            "repeat": key.repeat,
            "fold": key.fold,
            "split": key.split,
        }
        tags = {"mlflow.parentRunId": self.parent_id} | {
            f"merbench.{k}": str(v) for k, v in identity.items()
        }
        name = f"{key.candidate} {key.dataset}/{key.task} r{key.repeat}f{key.fold}"
        child = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        run_id = child.info.run_id
        timings = {f"time_{k}": v for k, v in (row.get("timings") or {}).items()}
        params = identity | dict(row.get("best_params") or {})
        self._log(run_id, params=params, metrics=(row.get("metrics") or {}) | timings)
        if table:
            self.client.log_text(run_id, table, PREDICTIONS)
        self.client.set_terminated(run_id, "FINISHED")

    def _read_cell(self, key: CellKey) -> tuple[dict[str, Any], str]:
        """The cell's stored row and its predictions as CSV text (empty when it has none)."""
        where = [
            cells.c.dataset == key.dataset,
            cells.c.task == key.task,
            cells.c.candidate == key.candidate,
            cells.c.repeat == key.repeat,
            cells.c.fold == key.fold,
        ]
        with self.store.reader.connect() as conn:
            rows = conn.execute(sa.select(cells).where(*where)).mappings().all()
            row = next(dict(r) for r in rows if (r["split"] or "grouped") == key.split)
            query = sa.select(predictions).where(predictions.c.cell_id == row["id"])
            found = conn.execute(query.order_by(predictions.c.track_id)).mappings().all()
        if not found:
            return row, ""
        text = io.StringIO()
        text.write("track_id,target,y_true,y_pred\n")
        for p in found:
            track = str(p["track_id"]).replace('"', '""')
            text.write(f'"{track}",{p["target"]},{p["y_true"]!r},{p["y_pred"]!r}\n')
        return row, text.getvalue()

    def _log(
        self,
        run_id: str,
        *,
        params: Mapping[str, Any] = {},
        metrics: Mapping[str, Any] = {},
    ) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        batch_params = [Param(str(k), str(v)[:MAX_PARAM]) for k, v in params.items()]
        batch_metrics = [
            Metric(str(k), float(v), now, 0)
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        self.client.log_batch(run_id, metrics=batch_metrics, params=batch_params)

    def _safely(self, work: Any, *args: Any) -> None:
        """Run one tracking step; on any error log one line and stop tracking."""
        try:
            work(*args)
        except Exception as exc:  # a tracker never fails the run
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            log.warning("MLflow tracking stopped (%s): %s. The run goes on.", self.uri, reason)
            self.parent_id = ""


def track(
    reporter: Reporter,
    store: Store,
    *,
    tracker: str | None,
    uri: str | None,
    name: str,
    run_dir: Path,
    params: Mapping[str, Any],
) -> tuple[Reporter, MlflowTracker | None]:
    """The run's reporter, wrapped by a started tracker when the run asked for one."""
    if tracker is None:
        return reporter, None
    artifacts = run_dir / "mlruns" if uri is None else None
    mlflow = MlflowTracker(
        reporter, store, uri=tracking_uri(uri, run_dir), name=name, artifacts=artifacts
    )
    mlflow.start(params)
    return mlflow, mlflow
