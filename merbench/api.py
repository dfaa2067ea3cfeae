"""The Python API: what ``merbench run`` does, for notebooks and scripts.

>>> import merbench
>>> result = merbench.run(models=["ridge", "mean"], budget="smoke")  # doctest: +SKIP
>>> result.summary[["dataset", "task", "candidate", "rank", "r2"]]  # doctest: +SKIP
>>> result.cells.groupby("candidate")["r2_mean"].mean()  # doctest: +SKIP

``run`` takes every option of ``merbench run`` under the same name
(``tests/pipeline/test_settings.py`` keeps the two in step); its defaults are the command line's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd

from merbench.exchange.inference import load_predictor
from merbench.exchange.model import ExportedModel
from merbench.leaderboard.render import render_site
from merbench.pipeline.progress import Reporter
from merbench.pipeline.runner import run as run_comparison
from merbench.pipeline.settings import RunSettings
from merbench.plugin.registry import load_registry
from merbench.results import HEARTBEAT_TIMEOUT_S
from merbench.results.run_result import RunResult, read_run
from merbench.results.urls import store_url


def run(
    models: Sequence[str] | str = "all",
    *,
    baselines: bool = True,
    datasets: Sequence[str] | str = (),
    tasks: Sequence[str] | str = (),
    split: Sequence[str] | str = (),
    budget: str = "default",
    budget_overrides: str = "",
    seed: int = 0,
    config: str | Path | None = None,
    out: str | Path | None = None,
    name: str | None = None,
    leaderboard: str | Path | None = None,
    render: bool = True,
    storage: str | None = None,
    enqueue_only: bool = False,
    plan: bool = False,
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S,
    top_k: int | None = None,
    precision: str = "fp32",
    augment: Sequence[str] | str = (),
    augment_mode: str = "auto",
    jobs: int | str = "auto",
    executor: str | None = None,
    scheduler: str | None = None,
    track: str | None = None,
    tracking_uri: str | None = None,
    fresh: bool = False,
    reporter: Reporter | None = None,
) -> RunResult:
    """Run (or resume) a comparison like ``merbench run`` and return its results.

    Every keyword is the ``merbench run`` option of the same name (``RunSettings`` documents
    each); ``reporter`` receives progress (default: none). A list option takes a str or any
    sequence of str, comma-separated or not: ``datasets="synth"`` is ``("synth",)``.

    Returns:
        The run's ``RunResult``: ``summaries`` (the ranked table per split protocol),
        ``cells`` (one row per cell with its status and metrics), ``predictions`` (per track),
        ``run_dir``, ``store_url`` and ``site`` (the leaderboard's index page, when rendered).
        With ``plan=True`` nothing runs: its ``plan`` has one row per candidate (dataset, task,
        split, candidate, cells, seconds_per_cell, cell_hours, source), and
        ``attrs["wall_s"]``, the estimated wall seconds by number of workers.

    Raises:
        MerbenchError: the run cannot start.
    """
    options = dict(locals())  # the keywords as given, before any other name is bound
    # Every parameter but the reporter is a run option: one keyword here, one declaration in
    # RunSettings (tests/pipeline/test_settings.py checks the two agree).
    settings = RunSettings.from_options(**{k: v for k, v in options.items() if k != "reporter"})
    outcome = run_comparison(settings, reporter=reporter)
    if settings.plan and outcome.estimate is not None:
        table = pd.DataFrame(outcome.estimate.records())
        table.attrs["wall_s"] = dict(outcome.estimate.wall_s)
        return RunResult(name=outcome.name, store_url="", run_dir=outcome.run_dir, plan=table)
    site = None
    if settings.render and not settings.enqueue_only:
        site = render_site([outcome.store_url], outcome.site_dir, title=outcome.name)
    return read_run(outcome.store_url, run_dir=outcome.run_dir, site=site)


def load_results(run: str | Path, *, site: str | Path | None = None) -> RunResult:
    """Read an existing run's results: the record ``merbench.run()`` returns.

    Args:
        run: the run directory or its store's URL.
        site: the run's leaderboard folder (default: ``leaderboard/`` in the run directory, else
            ``leaderboards/NAME``, whichever holds an ``index.html``; else none).

    Raises:
        RunError: a directory without results.
    """
    url = store_url(run)
    run_dir = None if "://" in str(run) else Path(run)
    result = read_run(url, run_dir=run_dir)
    folders = [Path(site)] if site is not None else []
    if site is None and result.run_dir is not None:
        folders.append(result.run_dir / "leaderboard")
    if site is None and result.name:
        folders.append(Path("leaderboards") / result.name)
    index = next((f / "index.html" for f in folders if (f / "index.html").is_file()), None)
    return replace(result, site=index)


def load_model(folder: str | Path, *, device: str | None = None) -> ExportedModel:
    """Load a folder ``merbench export`` wrote, for ``predict(paths)`` in Python.

    The folder is read and checked as ``merbench predict`` reads it (format version, installed
    plugins, sha256 of the weights, parameters in their spaces; nothing in it is executed).

    Args:
        folder: the export folder.
        device: the torch device (default: CUDA when present, else the CPU).

    Raises:
        ConfigError: not an export, a changed or untrusted weights file, or edited parameters.
        PluginError: the model's plugins are missing or at another major version.
    """
    predictor = load_predictor(Path(folder), load_registry(), device)
    return ExportedModel(predictor)


__all__ = ["ExportedModel", "RunResult", "load_model", "load_results", "run"]
