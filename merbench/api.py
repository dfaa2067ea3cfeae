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
from merbench.results.queue import HEARTBEAT_TIMEOUT_S
from merbench.results.summaries import load_results


def run(
    models: Sequence[str] | str = "all",
    *,
    datasets: Sequence[str] = (),
    tasks: Sequence[str] = (),
    split: Sequence[str] = (),
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
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S,
    top_k: int | None = None,
    precision: str = "fp32",
    augment: Sequence[str] = (),
    augment_mode: str = "auto",
    jobs: int | str = "auto",
    fresh: bool = False,
    reporter: Reporter | None = None,
) -> pd.DataFrame:
    """Run (or resume) a comparison like ``merbench run`` and return its per-cell results.

    Every keyword is the ``merbench run`` option of the same name (``RunSettings`` documents
    each); ``reporter`` receives progress (default: none).

    Returns:
        One row per cell (dataset, task, candidate, repeat, fold) with its status and metrics,
        as ``load_results`` gives.

    Raises:
        MerbenchError: the run cannot start.
    """
    settings = RunSettings(
        models=(models,) if isinstance(models, str) else tuple(models),
        datasets=tuple(datasets),
        tasks=tuple(tasks),
        split=tuple(split),
        budget=budget,
        budget_overrides=budget_overrides,
        seed=seed,
        config=Path(config) if config is not None else None,
        out=Path(out) if out is not None else None,
        name=name,
        leaderboard=Path(leaderboard) if leaderboard is not None else None,
        render=render,
        storage=storage,
        enqueue_only=enqueue_only,
        heartbeat_timeout=heartbeat_timeout,
        top_k=top_k,
        precision=precision,
        augment=tuple(augment),
        augment_mode=augment_mode,
        jobs=jobs,
        fresh=fresh,
    )
    outcome = run_comparison(settings, reporter=reporter)
    if settings.render and not settings.enqueue_only:
        render_site([outcome.store_url], outcome.site_dir, title=outcome.name)
    return load_results(outcome.store_url)


__all__ = ["load_results", "run"]
