"""The Python API: what ``merbench run`` does, for notebooks and scripts.

>>> import merbench
>>> results = merbench.run(models=["ridge", "mean"], budget="smoke")  # doctest: +SKIP
>>> results.groupby("candidate")["r2_mean"].mean()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from merbench.results import load_results


def run(
    models: Sequence[str] | str = "all",
    *,
    datasets: Sequence[str] = (),
    tasks: Sequence[str] = (),
    budget: str = "default",
    seed: int = 0,
    config: str | Path | None = None,
    out: str | Path | None = None,
    name: str | None = None,
    leaderboard: str | Path | None = None,
    storage: str | None = None,
    render: bool = True,
    precision: str = "fp32",
) -> pd.DataFrame:
    """Run (or resume) a comparison like ``merbench run`` and return its per-cell results.

    Args:
        models: ``"all"``, model names or candidates such as ``"cnn2d@mel"``.
        datasets: names from ``datasets.toml`` (default: every enabled one).
        tasks: tasks to run (default: each dataset's first task), or ``["all"]``.
        budget: ``"smoke"``, ``"default"`` or ``"full"``.
        seed: seed of the folds and the tuning.
        config: the ``datasets.toml`` to read.
        out: run directory (default ``runs/<name>``).
        name: run name (default: the datasets' names joined by ``+``).
        leaderboard: where to render the site (default ``leaderboards/<name>``).
        storage: SQLAlchemy URL of the results store.
        render: render the leaderboard at the end.
        precision: ``"fp32"``, or ``"bf16"`` autocast for torch models.

    Returns:
        One row per cell (dataset, task, candidate, repeat, fold) with its status and metrics,
        as ``load_results`` gives.

    Raises:
        MerbenchError: the run cannot start.
    """
    from merbench.runner import RunSettings
    from merbench.runner import run as run_comparison

    settings = RunSettings(
        models=(models,) if isinstance(models, str) else tuple(models),
        datasets=tuple(datasets),
        tasks=tuple(tasks),
        budget=budget,
        seed=seed,
        config=Path(config) if config is not None else None,
        out=Path(out) if out is not None else None,
        name=name,
        leaderboard=Path(leaderboard) if leaderboard is not None else None,
        storage=storage,
        render=render,
        precision=precision,
    )
    outcome = run_comparison(settings)
    return load_results(outcome.store_url)


__all__ = ["load_results", "run"]
