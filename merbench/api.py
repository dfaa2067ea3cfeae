"""The Python API: what ``merbench run`` does, for notebooks and scripts.

>>> import merbench
>>> results = merbench.run(models=["ridge", "mean"], budget="smoke")  # doctest: +SKIP
>>> results.groupby("candidate")["r2_mean"].mean()  # doctest: +SKIP

``run`` takes every option of ``merbench run`` under the same name
(``tests/pipeline/test_settings.py`` keeps the two in step); its defaults are the command line's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from merbench.leaderboard.render import render_site
from merbench.pipeline.progress import Reporter
from merbench.pipeline.runner import run as run_comparison
from merbench.pipeline.settings import RunSettings
from merbench.results import HEARTBEAT_TIMEOUT_S
from merbench.results.summaries import load_results


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
) -> pd.DataFrame:
    """Run (or resume) a comparison like ``merbench run`` and return its per-cell results.

    Every keyword is the ``merbench run`` option of the same name (``RunSettings`` documents
    each); ``reporter`` receives progress (default: none). A list option takes a str or any
    sequence of str, comma-separated or not: ``datasets="synth"`` is ``("synth",)``.

    Returns:
        One row per cell (dataset, task, candidate, repeat, fold) with its status and metrics,
        as ``load_results`` gives. With ``plan=True`` nothing runs: one row per candidate
        (dataset, task, split, candidate, cells, seconds_per_cell, cell_hours, source), and
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
        return table
    if settings.render and not settings.enqueue_only:
        render_site([outcome.store_url], outcome.site_dir, title=outcome.name)
    return load_results(outcome.store_url)


__all__ = ["load_results", "run"]
