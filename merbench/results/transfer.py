"""The transfer matrix of a run: trained on (rows) x tested on (columns), per task and candidate.

Off the diagonal a cell is a transfer pair's one fold (``merbench.evaluation.transfer``); on it,
the dataset's own grouped cross-validation, its out-of-fold predictions pooled (repeat 0). Both
are scored on the common label range with the scale-free scores. The **drop** of an
off-diagonal entry is the tested-on dataset's in-domain score minus the transferred one, on the
tracks both predicted (the dataset's tracks less the songs the training set shares), with a 95 %
interval from a paired bootstrap over the tested-on dataset's artists
(``merbench.evaluation.bootstrap.paired_group_test``). **Tiers per column**: tier 1 holds the
column's best entry and every entry not significantly worse than it (the paired permutation test
over artists, Holm-corrected over the column, 5 %), tier 2 the others.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from merbench.evaluation.bootstrap import Paired, paired_group_test
from merbench.evaluation.stats import holm
from merbench.evaluation.tasks import TaskSpec, get_task
from merbench.evaluation.transfer import (
    TRANSFER,
    matrix_metric,
    parse_pair,
    to_common,
    transfer_scores,
)
from merbench.results.protocols import with_protocols
from merbench.results.schema import DEFAULT_SPLIT
from merbench.results.summaries import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    permutations_for,
)

log = logging.getLogger(__name__)

ALPHA = 0.05

Audits = Mapping[tuple[str, str], Mapping[str, Any]]
"""``(pair name, task) -> audit`` of every transfer split, and ``(dataset, task) -> audit`` of the
grouped splits of the diagonal."""


def is_transfer(cells: pd.DataFrame) -> pd.Series:
    """Which rows of a cells (or predictions) frame are transfer cells."""
    return with_protocols(cells)["split"] == TRANSFER


def transfer_matrix(cells: pd.DataFrame, predictions: pd.DataFrame, audits: Audits) -> pd.DataFrame:
    """One row per task, candidate, trained-on and tested-on dataset of a run with transfer
    cells: scores, test and removed counts, the drop with its interval, the column's tier.

    Args:
        cells: ``cells_frame`` rows of the run, every protocol.
        predictions: ``predictions_frame`` rows of the same cells.
        audits: the transfer and grouped split audits (``Audits``).
    """
    cells, predictions = with_protocols(cells), with_protocols(predictions)
    transfer = cells[(cells["split"] == TRANSFER) & (cells["status"] == "done")]
    rows: list[dict[str, Any]] = []
    for (task_name, candidate), group in transfer.groupby(["task", "candidate"], sort=True):
        task = get_task(str(task_name))
        pairs = [p for p in map(parse_pair, group["dataset"].astype(str)) if p is not None]
        datasets = sorted({d for p in pairs for d in p})
        scales = _scales(audits, task.name)
        mine = predictions[(predictions["task"] == task.name)]
        mine = mine[mine["candidate"] == candidate]
        for target in datasets:
            rows += _column(task, str(candidate), target, datasets, mine, audits, scales)
    return pd.DataFrame(rows)


def _scales(audits: Audits, task: str) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for (_, name), audit in audits.items():
        if name == task and audit.get("protocol") == TRANSFER:
            out |= {k: (float(v[0]), float(v[1])) for k, v in audit.get("scales", {}).items()}
    return out


def _column(
    task: TaskSpec,
    candidate: str,
    target: str,
    datasets: list[str],
    predictions: pd.DataFrame,
    audits: Audits,
    scales: Mapping[str, tuple[float, float]],
) -> list[dict[str, Any]]:
    """The entries of one tested-on dataset: its diagonal and every transfer into it."""
    own = _diagonal(task, target, predictions, scales)
    groups = dict(audits.get((target, task.name), {}).get("groups", {}))
    entries: dict[str, dict[str, Any]] = {}
    frames: dict[str, pd.DataFrame] = {}
    if own is not None:
        frames[target] = own
        entries[target] = _entry(task, own, _own_stats(task, own)) | {"n_removed": 0}
    for source in datasets:
        if source == target:
            continue
        name = f"{source}>{target}"
        audit = audits.get((name, task.name))
        frame = _transferred(task, name, target, predictions)
        if frame is None or audit is None:
            continue
        frames[source] = frame
        stats = (audit["train_mean"], audit["train_std"]) if task.is_regression else None
        entries[source] = _entry(task, frame, stats) | {
            "n_removed": int(audit.get("n_removed", 0)),
            "removed_by_fingerprint": sum(
                1 for m in dict(audit.get("removed", {})).values() if m == "fingerprint"
            ),
            "fingerprints": bool(audit.get("fingerprints", False)),
        }
        if own is not None:
            entries[source] |= _drop(task, own, frame, groups)
    _tiers(task, entries, frames, groups)
    return [
        {"task": task.name, "candidate": candidate, "source": s, "target": target}
        | {"is_diagonal": s == target, "metric": matrix_metric(task)}
        | entry
        for s, entry in sorted(entries.items())
    ]


def _wide(task: TaskSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """``y_true:<t>``, ``y_pred:<t>`` per track (repeat 0), indexed by track id."""
    targets = list(task.targets) or ["class"]
    rows = rows[rows["repeat"] == rows["repeat"].min()] if len(rows) else rows
    table = rows.groupby(["track_id", "target"])[["y_true", "y_pred"]].first().unstack("target")
    columns = [("y_true", t) for t in targets] + [("y_pred", t) for t in targets]
    if table.empty or not set(columns) <= set(table.columns):
        return pd.DataFrame()
    wide = pd.DataFrame(table[columns]).dropna()
    wide.columns = pd.Index([f"{v}:{t}" for v, t in columns])
    return wide


def _diagonal(
    task: TaskSpec,
    dataset: str,
    predictions: pd.DataFrame,
    scales: Mapping[str, tuple[float, float]],
) -> pd.DataFrame | None:
    """A dataset's grouped out-of-fold predictions, on the common range."""
    mask = (predictions["dataset"] == dataset) & (predictions["split"] == DEFAULT_SPLIT)
    wide = _wide(task, predictions[mask])
    if wide.empty:
        return None
    wide.index = wide.index.astype(str)
    if task.is_regression and dataset in scales:
        low, high = scales[dataset]
        wide = wide.apply(lambda column: to_common(column.to_numpy(), low, high))
    return wide


def _transferred(
    task: TaskSpec, pair: str, target: str, predictions: pd.DataFrame
) -> pd.DataFrame | None:
    """A pair's test predictions, indexed by the tested-on dataset's own track ids."""
    wide = _wide(task, predictions[predictions["dataset"] == pair])
    if wide.empty:
        return None
    prefix = f"{target}/"
    wide.index = [
        str(t)[len(prefix) :] if str(t).startswith(prefix) else str(t) for t in wide.index
    ]
    return wide


def _arrays(task: TaskSpec, wide: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    n = len(task.targets) or 1
    values = wide.to_numpy(dtype=float)
    true, pred = values[:, :n], values[:, n:]
    if not task.is_regression:
        return true.ravel().astype(int), pred.ravel().astype(int)
    return true, pred


def _own_stats(task: TaskSpec, wide: pd.DataFrame) -> tuple[list[float], list[float]] | None:
    """On the diagonal the model trained on the dataset itself: its labels' mean and std."""
    if not task.is_regression:
        return None
    true, _ = _arrays(task, wide)
    return true.mean(axis=0).tolist(), true.std(axis=0).tolist()


def _entry(task: TaskSpec, wide: pd.DataFrame, stats: tuple[Any, Any] | None) -> dict[str, Any]:
    true, pred = _arrays(task, wide)
    try:
        scores = transfer_scores(task, true, pred, train_stats=stats)
    except ValueError as exc:  # a class outside the task's labels: not scorable
        log.info("transfer entry not scored: %s", exc)
        scores = {}
    return {"n_test": len(wide), **scores}


def _paired(
    task: TaskSpec, a: pd.DataFrame, b: pd.DataFrame, groups: Mapping[str, str]
) -> Paired | None:
    """Two entries' predictions of the same tracks (``a``'s, then ``b``'s), with their groups."""
    common = a.index.intersection(b.index)
    if len(common) < 2:
        return None
    true, pred_a = _arrays(task, a.loc[common])
    _, pred_b = _arrays(task, b.loc[common])
    track_groups = np.array([groups.get(f"{t}", f"track:{t}") for t in common])
    if len(np.unique(track_groups)) < 2:
        return None
    return Paired(task=task, y_true=true, pred_a=pred_a, pred_b=pred_b, groups=track_groups)


def _drop(
    task: TaskSpec, own: pd.DataFrame, transferred: pd.DataFrame, groups: Mapping[str, str]
) -> dict[str, Any]:
    """In-domain minus transferred score on the tracks both predicted, with its interval."""
    paired = _paired(task, own, transferred, groups)
    if paired is None:
        return {"drop": math.nan, "drop_low": math.nan, "drop_high": math.nan}
    result = paired_group_test(
        paired, matrix_metric(task), n_boot=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED
    )
    return {
        "drop": result.diff,
        "drop_low": result.ci_low,
        "drop_high": result.ci_high,
        "drop_p": result.p_value,
        "drop_groups": result.n_groups,
    }


def _tiers(
    task: TaskSpec,
    entries: dict[str, dict[str, Any]],
    frames: Mapping[str, pd.DataFrame],
    groups: Mapping[str, str],
) -> None:
    """Tier 1: the column's best entry and those not significantly worse; tier 2: the rest."""
    metric = matrix_metric(task)
    scored = {s: e[metric] for s, e in entries.items() if _finite(e.get(metric))}
    if not scored:
        return
    best = max(scored, key=lambda s: scored[s])
    pvalues: dict[str, float] = {}
    # enough permutations that Holm's first step, at ALPHA / comparisons, can be reached
    n_perm = permutations_for(len(scored) - 1)
    for source in scored:
        paired = None if source == best else _paired(task, frames[best], frames[source], groups)
        if paired is not None:
            result = paired_group_test(
                paired, metric, n_boot=BOOTSTRAP_RESAMPLES, n_perm=n_perm, seed=BOOTSTRAP_SEED
            )
            pvalues[source] = result.p_value
    adjusted = holm(pvalues)
    for source, entry in entries.items():
        p = adjusted.get(source, math.nan)
        entry["p_holm"] = p
        worse = _finite(p) and p < ALPHA and scored.get(source, math.inf) < scored[best]
        entry["tier"] = 2 if worse or source not in scored else 1
        entry["is_column_best"] = source == best


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)
