"""Results as pandas tables: per-cell rows, and per-candidate summaries with statistics.

This is what the leaderboard, ``merbench status`` and the Python API (``load_results``) read.
Summaries give the mean and a 95 % confidence interval of each metric over outer folds, and the
significance tier of each candidate against the leader: the paired permutation test over
artists of the pooled out-of-fold primary metric when the per-track predictions are given (with
the paired group bootstrap's interval of the difference), else the corrected resampled t-test
over folds; either way Holm-corrected
(``merbench.evaluation.stats.bootstrap_tiers``).

Groups (artists) come from the split audit, ``audit["groups"]`` (``{track_id: group}``); a
split stored without them makes each track its own group, which is right only when tracks of
one artist do not err together.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from merbench.errors import ConfigError
from merbench.evaluation.bootstrap import Paired, PairedTest, paired_group_test
from merbench.evaluation.metrics import compute_metrics, metric_direction
from merbench.evaluation.scoring import find_metric, metric_bounds
from merbench.evaluation.stats import bootstrap_tiers, mean_ci, significance_tiers
from merbench.evaluation.tasks import TaskSpec, get_task
from merbench.evaluation.transfer import TRANSFER
from merbench.evaluation.verdicts import settle_tiers
from merbench.results.protocols import protocol_columns, split_by_protocol, with_protocols
from merbench.results.store import Store
from merbench.results.urls import store_url

log = logging.getLogger(__name__)

AUDIO_KEYS = ("sample_rate", "window_s", "hop_s", "max_seconds", "windowing", "aggregation")
"""What a cell's model heard: rate, window and hop, the cap per track, how windows combine."""
CELL_KEY = ["dataset", "task", "candidate", "repeat", "fold", "split"]
PREDICTION_COLUMNS = ["track_id", "target", "y_true", "y_pred"]
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
"""The tiers' bootstrap and permutations draw the same groups for every candidate and
every rendering."""
PERMUTATIONS_PER_TEST = 100
"""Permutations per comparison of a table, at least ``BOOTSTRAP_RESAMPLES``: Holm's first step
tests at ``0.05 / m``, and the permutation p-value cannot fall below ``1 / (1 + B)``."""


def permutations_for(comparisons: int) -> int:
    """Permutations of each test in a table of ``comparisons`` tests against one entry."""
    return max(BOOTSTRAP_RESAMPLES, PERMUTATIONS_PER_TEST * comparisons)


TIER_FIELDS = (
    "tier_test",
    "p_ttest_holm",
    "diff_vs_leader",
    "diff_low_uncorrected",
    "diff_high_uncorrected",
    "rank_value",
    "tier_from_rank",
    "detectable_diff",
)
"""Tier columns beside ``rank``, ``tier`` and ``p_holm``. The difference's interval is the
bootstrap's own 95 % one, not corrected for the comparisons the Holm-corrected tiers make."""
TrackGroups = Mapping[str, Mapping[str, str]]
"""Per dataset, the group (artist) of each track id."""


def read_tables(
    urls: Iterable[str], names: Sequence[str] = ("cells", "splits", "runs", "trials")
) -> dict[str, pd.DataFrame]:
    """Read and merge tables of one or more stores (by default all but the predictions).

    Cell ids are per store: read one store at a time to join predictions to their cells.
    """
    merged: dict[str, list[pd.DataFrame]] = {name: [] for name in names}
    for url in urls:
        store = Store(url, read_only=True)
        try:
            for name in merged:
                frame = pd.DataFrame(store.table(name))
                merged[name].append(screen_scores(frame) if name == "cells" else frame)
        finally:
            store.close()
    return {name: pd.concat(frames, ignore_index=True) for name, frames in merged.items()}


def screen_scores(cells: pd.DataFrame) -> pd.DataFrame:
    """Stored cells as every reader takes them: a finished cell whose primary metric is not a
    finite number is failed, and any other infinite metric is missing.

    Scores are checked before they are stored, but a store from another tool or an earlier
    version may hold an infinite one; it must not rank a candidate nor break a summary.
    """
    if cells.empty or "metrics" not in cells:
        return cells
    rows = cells.to_dict("records")
    for row in rows:
        metrics = row["metrics"]
        if not isinstance(metrics, Mapping):
            continue
        row["metrics"] = {k: _finite_or_none(v) for k, v in metrics.items()}
        primary = _primary_metric(str(row["task"]))
        if row["status"] == "done" and primary in metrics and row["metrics"][primary] is None:
            row["status"] = "failed"
            row["error"] = (
                f"its {primary} is not finite ({metrics[primary]}): its predictions are unusable, "
                "and it is left out of the ranking."
            )
    return pd.DataFrame(rows, columns=cells.columns)


def _finite_or_none(value: Any) -> Any:
    """A metric's value, ``None`` when it is a number that is not finite."""
    if isinstance(value, int | float) and not np.isfinite(value):
        return None
    return value


def _primary_metric(task: str) -> str | None:
    """The primary metric of a task; ``None`` for a task this version does not know."""
    try:
        return get_task(task).primary
    except ConfigError:
        return None


def cells_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: the key, status, error, timings and every scalar metric as columns."""
    if cells.empty:
        return pd.DataFrame(columns=[*CELL_KEY, "status"])
    rows = []
    for cell in with_protocols(cells).to_dict("records"):
        row = {k: cell[k] for k in [*CELL_KEY, "status", "error"]}
        metrics = cell.get("metrics") or {}
        row |= {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        row |= {f"time_{k}": v for k, v in (cell.get("timings") or {}).items()}
        info = cell.get("info") or {}
        row["n_params"] = info.get("n_params")
        row["is_baseline"] = bool(info.get("is_baseline", False))
        row["is_external"] = bool(info.get("external", False))
        row["plugins"] = ", ".join(info.get("plugins", []))
        row |= {key: info.get(key) for key in AUDIO_KEYS}
        row["best_params"] = cell.get("best_params")
        row |= _default_columns(info.get("default"))
        rows.append(row)
    return pd.DataFrame(rows)


def _default_columns(default: Mapping[str, Any] | None) -> dict[str, Any]:
    """The cell's plugin-default configuration: ``default_<metric>`` per scalar metric and
    ``default_is_tuned`` (the tuned refit was the default one), when the cell has one."""
    if not isinstance(default, Mapping) or not isinstance(default.get("metrics"), Mapping):
        return {}
    metrics = default["metrics"]
    row = {f"default_{k}": v for k, v in metrics.items() if isinstance(v, int | float)}
    return row | {"default_is_tuned": bool(default.get("same_as_tuned", False))}


def load_results(run: str | Path) -> pd.DataFrame:
    """Load the per-cell results of an existing run directory (or store URL)."""
    return cells_frame(read_tables([store_url(run)])["cells"])


def predictions_frame(cells: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """Per-track test predictions beside their cell's key: ``CELL_KEY + PREDICTION_COLUMNS``.

    Joined on ``uid`` when both tables have it (stores merged by the leaderboard), else on the
    cells' ``id`` and the predictions' ``cell_id`` (one store's tables).
    """
    columns = [*CELL_KEY, *PREDICTION_COLUMNS]
    if cells.empty or predictions.empty:
        return pd.DataFrame(columns=columns)
    cells = with_protocols(cells)
    if "uid" in cells and "uid" in predictions:
        keys = cells[[*CELL_KEY, "uid"]]
        return keys.merge(predictions, on="uid")[columns]
    keys = cells[[*CELL_KEY, "id"]].rename(columns={"id": "cell_id"})
    return keys.merge(predictions, on="cell_id")[columns]


def split_groups(
    audits: Iterable[tuple[str, Mapping[str, Any] | None]],
) -> dict[str, dict[str, str]]:
    """Each dataset's track groups from its split audits: ``(dataset, audit)`` pairs in, the
    ``audit["groups"]`` mappings out (datasets whose audits have none are left out)."""
    out: dict[str, dict[str, str]] = {}
    for dataset, audit in audits:
        groups = (audit or {}).get("groups")
        if isinstance(groups, Mapping):
            out.setdefault(str(dataset), {}).update({str(k): str(v) for k, v in groups.items()})
    return out


def summarize_store(url: str) -> pd.DataFrame:
    """``summarize`` of one store, with its predictions and track groups."""
    tables = read_tables([url], names=("cells", "splits", "predictions"))
    cells, splits = tables["cells"], tables["splits"]
    predictions = predictions_frame(cells, tables["predictions"])
    pairs = zip(splits.get("dataset", []), splits.get("audit", []), strict=True)
    return summarize(cells_frame(cells), predictions, split_groups(pairs))


def summarize(
    cells: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    groups: TrackGroups | None = None,
) -> pd.DataFrame:
    """Per dataset, task and candidate: metrics (mean, CI), tier, rank, cost and failures.

    Candidates are ranked under each dataset and task's primary split protocol; the others
    (``--split grouped,random``) add their score and the leakage gap
    (``merbench.results.protocols``).

    Args:
        cells: ``cells_frame`` rows.
        predictions: ``predictions_frame`` rows; without them the tiers come from the corrected
            resampled t-test over folds.
        groups: each dataset's track groups (``split_groups``); a track without one is its own.
    """
    cells = with_protocols(cells) if not cells.empty else cells
    if not cells.empty:  # transfer pairs are not datasets: they have a matrix of their own
        cells = cells[cells["split"] != TRANSFER]
    if cells.empty:
        return pd.DataFrame()
    primary, other = split_by_protocol(cells)
    parts = []
    for (dataset, task), group in primary.groupby(["dataset", "task"], sort=True):
        mine = None
        if predictions is not None and not predictions.empty:
            mask = (predictions["dataset"] == dataset) & (predictions["task"] == task)
            mine = with_protocols(predictions[mask])
            mine = mine[mine["split"] == group["split"].iloc[0]]
        track_groups = (groups or {}).get(str(dataset), {})
        spec = stored_task(str(task), group.columns, mine)  # the stored rows name their task
        parts.append(_summarize_task(str(dataset), spec, group, mine, track_groups))
    return clip_intervals(protocol_columns(pd.concat(parts, ignore_index=True), primary, other))


def stored_task(name: str, columns: Iterable[Any], predictions: pd.DataFrame | None) -> TaskSpec:
    """The record of a stored task; a multilabel task with the tags its stored predictions
    (else its cells' per-tag metric columns) name."""
    spec = get_task(name)
    if not spec.is_multilabel:
        return spec
    has_predictions = predictions is not None and not predictions.empty
    tags = (
        predictions["target"].astype(str).unique().tolist()
        if predictions is not None and has_predictions
        else spec.dimensions(list(map(str, columns)))
    )
    return spec.with_tags(tags) if tags else spec


INTERVAL_ENDS = ("_low", "_high", "_low_uncorrected", "_high_uncorrected")
DIFFERENCES = ("diff", "tuning_gain", "leakage_gap_")
"""Columns that hold a difference of two scores of the primary metric (with their intervals)."""


def clip_intervals(summary: pd.DataFrame) -> pd.DataFrame:
    """Cut every interval of a summary to the range its statistic can take.

    A metric's interval is cut to ``MetricSpec.bounds`` (R² at most 1, F1 and accuracy within
    [0, 1], CCC, Pearson r and MCC within [-1, 1], RMSE at least 0); the interval of a difference
    of two scores (against the leader, tuning gain, leakage gap) to the differences the range
    allows, ``[low - high, high - low]``. The intervals are Student t (over folds) or normal
    (bootstrap) and symmetric; where one runs past the range, the part past it holds no value
    the metric can take, and cutting it keeps the interval's coverage.
    """
    if summary.empty or "primary" not in summary:
        return summary
    out = summary.copy()
    ends = [c for c in out.columns if str(c).endswith(INTERVAL_ENDS)]
    for primary, index in out.groupby("primary", dropna=True).groups.items():
        for column in ends:
            low, high = _interval_bounds(str(column), str(primary))
            if np.isfinite(low) or np.isfinite(high):
                values = pd.to_numeric(out.loc[index, column], errors="coerce")
                out.loc[index, column] = values.clip(low, high)
    return out


def _interval_bounds(column: str, primary: str) -> tuple[float, float]:
    """The range of the statistic whose interval end ``column`` is."""
    base = column
    for end in INTERVAL_ENDS:
        base = base.removesuffix(end) if base.endswith(end) else base
    low, high = metric_bounds(primary)
    if base.startswith(DIFFERENCES):
        return low - high, high - low
    base = base.removeprefix("default_")
    if base.startswith(f"{primary}_") and find_metric(base) is None:
        return low, high  # the primary metric under another split protocol
    return metric_bounds(base)


def _summarize_task(
    dataset: str,
    task: TaskSpec,
    cells: pd.DataFrame,
    predictions: pd.DataFrame | None,
    groups: Mapping[str, str],
) -> pd.DataFrame:
    done = cells[cells["status"] == "done"].copy()
    primary = task.primary
    rows = []
    if not done.empty:
        tiers = _tiers(done, task, predictions, groups)
        metrics = task.reported(done.columns, "files")
        for candidate, group in done.groupby("candidate", sort=False):
            row: dict[str, Any] = {"dataset": dataset, "task": task.name, "candidate": candidate}
            row |= tiers.get(str(candidate), {})
            for metric in [m for m in metrics if m in group]:
                mean, low, high = _ci(group[metric].to_numpy(dtype=float))
                row |= {metric: mean, f"{metric}_low": low, f"{metric}_high": high}
            row |= _costs(group)
            row |= _tuning_gain(group, primary)
            rows.append(row)
    for candidate, group in cells[cells["status"] != "done"].groupby("candidate"):
        if candidate in set(done["candidate"]):
            continue
        errors = group["error"].dropna()
        rows.append({"dataset": dataset, "task": task.name, "candidate": candidate,
                     "status": str(group["status"].iloc[0]),
                     "error": str(errors.iloc[0]) if len(errors) else ""})  # fmt: skip
    table = pd.DataFrame(rows)
    for column in ("rank", "rank_by", "status", "is_leader", "tier", *TIER_FIELDS):
        if column not in table:
            table[column] = None
    table["primary"] = primary
    return table.sort_values(["rank", "candidate"], na_position="last").reset_index(drop=True)


def _tiers(
    done: pd.DataFrame, task: TaskSpec, predictions: pd.DataFrame | None, groups: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Each candidate's rank, tier and tests against the leader, by name.

    One estimate ranks and tiers: the pooled out-of-fold primary metric, which the permutation
    test compares, when every candidate has stored predictions; else the mean over folds, which the
    corrected resampled t-test compares. ``verdicts.settle_tiers`` then keeps the tiers in rank
    order and says "cannot tell" when the leader is not told apart from a baseline.
    """
    primary = task.primary
    scores = pd.DataFrame(
        {
            "candidate": done["candidate"],
            "fold": done["repeat"].astype(str) + "-" + done["fold"].astype(str),
            "value": done[primary].astype(float),
        }
    ).dropna()
    n_folds = max(int(done["fold"].max()) + 1, 2)
    direction = metric_direction(primary)
    wide = _wide_predictions(done, predictions, task)
    pooled = {c: _pooled_score(frame, task) for c, frame in wide.items()}
    has_all = set(scores["candidate"]) <= {c for c, v in pooled.items() if np.isfinite(v)}
    table = significance_tiers(
        scores,
        metric_direction=direction,
        test_train_ratio=1 / (n_folds - 1),
        ranking=pooled if has_all else None,
    )
    leader = str(table["candidate"].iloc[0])
    tests = _bootstraps(wide, leader, task, groups) if has_all else {}
    table = bootstrap_tiers(table, tests, metric_direction=direction)
    table = settle_tiers(table, _baselines(done))
    rank_by = "pooled" if has_all else "fold mean"
    return {str(row["candidate"]): _tier_row(row, rank_by) for row in table.to_dict("records")}


def _baselines(done: pd.DataFrame) -> set[str]:
    """The trivial baselines among the finished cells' candidates (``info["is_baseline"]``)."""
    if "is_baseline" not in done:
        return set()
    flagged = done["is_baseline"].fillna(False).astype(bool)
    return set(done.loc[flagged, "candidate"].astype(str))


def _tier_row(row: Mapping[Any, Any], rank_by: str) -> dict[str, Any]:
    """One candidate's tier fields as the summary keeps them."""
    return {
        "status": "done",
        "rank": int(row["rank"]),
        "tier": row["tier"],
        "is_leader": bool(row["is_leader"]),
        "p_holm": row["p_holm"],
        "n_folds": int(row["n_folds"]),
        "boot_groups": None if np.isnan(row["boot_groups"]) else int(row["boot_groups"]),
        "rank_by": rank_by,
    } | {field: row[field] for field in TIER_FIELDS}


def _wide_predictions(
    done: pd.DataFrame, predictions: pd.DataFrame | None, task: TaskSpec
) -> dict[str, pd.DataFrame]:
    """Each candidate's predictions of its finished cells, one row per (repeat, fold, track)."""
    if predictions is None or predictions.empty:
        return {}
    kept = predictions.merge(done[CELL_KEY], on=CELL_KEY)
    wide = {str(c): per_track(p, task) for c, p in kept.groupby("candidate", sort=False)}
    return {c: frame for c, frame in wide.items() if not frame.empty}


def _pooled_score(wide: pd.DataFrame, task: TaskSpec) -> float:
    """The primary metric of all of a candidate's out-of-fold predictions at once, per repeat,
    averaged over repeats: the score ``paired_group_test`` compares (per repeat and fold for a
    task that does not pool folds, ``TaskSpec.pools_folds``)."""
    n_targets = len(task.targets) or 1
    values = []
    for _, rows in wide.groupby(level="repeat" if task.pools_folds else ["repeat", "fold"]):
        array = rows.to_numpy(dtype=float)
        true, pred = array[:, :n_targets], array[:, n_targets:]
        if task.is_classification:
            true, pred = true.ravel().astype(int), pred.ravel().astype(int)
        try:
            values.append(float(compute_metrics(task, true, pred)[task.primary]))
        except ValueError:  # predictions the task cannot score (a class outside its labels)
            return math.nan
    return float(np.mean(values)) if values else math.nan


def _bootstraps(
    wide: Mapping[str, pd.DataFrame], leader: str, task: TaskSpec, groups: Mapping[str, str]
) -> dict[str, PairedTest]:
    """``paired_group_test`` of every other candidate against the leader on their common tracks,
    with ``PERMUTATIONS_PER_TEST`` permutations per comparison (at least
    ``BOOTSTRAP_RESAMPLES``)."""
    if leader not in wide:
        return {}
    if not groups:
        log.info("no track groups stored: the tier test resamples and swaps single tracks")
    n_perm = permutations_for(len(wide) - 1)
    out = {}
    for candidate, frame in wide.items():
        paired = (
            None if candidate == leader else paired_predictions(frame, wide[leader], task, groups)
        )
        if paired is not None:
            out[candidate] = paired_group_test(
                paired,
                task.primary,
                n_boot=BOOTSTRAP_RESAMPLES,
                n_perm=n_perm,
                seed=BOOTSTRAP_SEED,
            )
    return out


def per_track(predictions: pd.DataFrame, task: TaskSpec) -> pd.DataFrame:
    """One row per (repeat, fold, track): ``y_true:<target>``, then ``y_pred:<target>`` columns."""
    targets = list(task.targets) or ["class"]
    index = ["repeat", "fold", "track_id", "target"]
    table = predictions.groupby(index)[["y_true", "y_pred"]].first().unstack("target")
    columns = [("y_true", t) for t in targets] + [("y_pred", t) for t in targets]
    if not set(columns) <= set(table.columns):
        return pd.DataFrame()
    wide = pd.DataFrame(table[columns]).dropna()
    wide.columns = pd.Index([f"{value}:{target}" for value, target in columns])
    return wide


def paired_predictions(
    candidate: pd.DataFrame, leader: pd.DataFrame, task: TaskSpec, groups: Mapping[str, str]
) -> Paired | None:
    """The two candidates' predictions on the (repeat, track) pairs both have, or ``None``."""
    both = candidate.add_prefix("c:").join(leader.add_prefix("l:"), how="inner").sort_index()
    n_targets = len(task.targets) or 1
    if both.empty:
        return None
    values = both.to_numpy(dtype=float)
    tracks = both.index.get_level_values("track_id").astype(str)
    track_groups = np.array([groups.get(t, f"track:{t}") for t in tracks])
    if len(np.unique(track_groups)) < 2:
        return None
    shape = (len(both), n_targets) if n_targets > 1 else (len(both),)
    return Paired(
        task=task,
        y_true=values[:, 2 * n_targets : 3 * n_targets].reshape(shape),
        pred_a=values[:, n_targets : 2 * n_targets].reshape(shape),
        pred_b=values[:, 3 * n_targets :].reshape(shape),
        groups=track_groups,
        repeats=_strata(both.index, task),
    )


def _strata(index: pd.Index, task: TaskSpec) -> np.ndarray:
    """What the bootstrap scores apart and averages: each row's repeat, or its (repeat, fold)
    for a task that does not pool folds (``TaskSpec.pools_folds``)."""
    repeats = index.get_level_values("repeat").to_numpy()
    if task.pools_folds:
        return repeats
    folds = index.get_level_values("fold").to_numpy()
    return np.unique(np.stack([repeats, folds], axis=1), axis=0, return_inverse=True)[1].ravel()


def _tuning_gain(group: pd.DataFrame, metric: str) -> dict[str, Any]:
    """The plugin defaults' ``metric`` and what tuning gained over them, over the same folds.

    ``default_<metric>`` (mean and 95 % CI over the folds that have it) and ``tuning_gain``:
    the tuned minus the default score fold by fold, signed so that positive means tuning
    helped, with its paired 95 % CI: ``mean_ci`` of the per-fold differences with the
    Nadeau-Bengio correction for K-fold's overlapping training sets, as the tiers' t-test.
    Candidates without a default refit (baselines, nothing to tune) get neither.
    """
    column = f"default_{metric}"
    if column not in group:
        return {}
    pairs = group[[metric, column]].astype(float).dropna()
    if pairs.empty:
        return {}
    sign = 1.0 if metric_direction(metric) == "maximize" else -1.0
    mean, low, high = _ci(pairs[column].to_numpy())
    gain = sign * (pairs[metric] - pairs[column]).to_numpy()
    n_folds = max(int(group["fold"].max()) + 1, 2)
    g_mean, g_low, g_high = _ci(gain, test_train_ratio=1 / (n_folds - 1))
    same = group.loc[pairs.index, "default_is_tuned"] if "default_is_tuned" in group else []
    return {
        column: mean,
        f"{column}_low": low,
        f"{column}_high": high,
        "tuning_gain": g_mean,
        "tuning_gain_low": g_low,
        "tuning_gain_high": g_high,
        "default_folds": len(pairs),
        "default_won_folds": int(np.sum(np.asarray(same, dtype=bool))),
    }


def _ci(values: np.ndarray, test_train_ratio: float = 0.0) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return (np.nan, np.nan, np.nan)
    return mean_ci(values, test_train_ratio=test_train_ratio)


def _costs(group: pd.DataFrame) -> dict[str, Any]:
    def mean_of(column: str) -> float:
        return float(group[column].mean()) if column in group else np.nan

    return {
        "is_baseline": bool(group["is_baseline"].any()) if "is_baseline" in group else False,
        "is_external": bool(group["is_external"].any()) if "is_external" in group else False,
        "plugins": str(group["plugins"].iloc[0]) if "plugins" in group else "",
        "n_params": mean_of("n_params"),
        "fit_s": mean_of("time_refit_s"),
        "tune_s": mean_of("time_tune_s"),
        "per_clip_ms": mean_of("time_per_clip_ms"),
    }


def leaders(summary: pd.DataFrame) -> pd.DataFrame:
    """The leader of every dataset and task."""
    if summary.empty or "is_leader" not in summary:
        return pd.DataFrame()
    return summary[summary["is_leader"].fillna(False).astype(bool)].reset_index(drop=True)


def metric_columns(summary: pd.DataFrame, task: str) -> Sequence[str]:
    """The metrics a leaderboard table shows for ``task`` (``MetricSpec.shown == "table"``)."""
    return get_task(task).reported(summary.columns, "table")
