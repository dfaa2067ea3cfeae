"""Two runs of the same candidates on the same folds, before and after a change, compared.

``merbench compare RUN_A RUN_B``: for every dataset, task and split protocol both runs hold, the
fold manifests must be the same (their SHA-256); then for every candidate finished in both, the
difference ``B - A`` of the task's primary metric is paired fold by fold: its mean over the
folds both have, with the corrected resampled t interval and test of the leaderboard's tiers
(``merbench.evaluation.stats``: Nadeau & Bengio's correction for K-fold's overlapping training
sets), and, where both runs stored per-track predictions, the pooled score compared as the
tiers compare it (``merbench.evaluation.bootstrap.paired_group_test``: the bootstrap's interval
and the permutation test's p-value, whole artists resampled or swapped, the same draws for both
runs).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from merbench.errors import RunError
from merbench.evaluation.bootstrap import PairedTest, paired_group_test
from merbench.evaluation.metrics import metric_direction
from merbench.evaluation.stats import corrected_resampled_ttest, mean_ci
from merbench.evaluation.tasks import get_task
from merbench.results.protocols import with_protocols
from merbench.results.summaries import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    cells_frame,
    paired_predictions,
    per_track,
    predictions_frame,
    read_tables,
    split_groups,
)
from merbench.results.urls import display_url

SplitKey = tuple[str, str, str]
"""``(dataset, task, protocol)``."""


@dataclass(frozen=True, kw_only=True)
class Difference:
    """One candidate's primary metric in run B minus run A, on one dataset, task and protocol.

    Attributes:
        metric: the primary metric column; ``direction`` says whether higher is better.
        n_folds: folds finished in both runs (paired).
        mean_a, mean_b: the means over those folds.
        diff, ci_low, ci_high, p_value: the mean paired difference ``B - A``, its 95 %
            corrected resampled t interval and two-sided p-value (NaN with fewer than 2 folds).
        pooled_a, pooled_b, pooled_diff, pooled_low, pooled_high, pooled_p: the same from the
            pooled per-track predictions by ``paired_group_test`` (NaN without them).
    """

    dataset: str
    task: str
    split: str
    candidate: str
    metric: str
    direction: str
    n_folds: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    pooled_a: float = math.nan
    pooled_b: float = math.nan
    pooled_diff: float = math.nan
    pooled_low: float = math.nan
    pooled_high: float = math.nan
    pooled_p: float = math.nan

    def record(self) -> dict[str, Any]:
        """The difference as plain data (NaN as ``None``), for JSON."""
        return {k: None if _is_nan(v) else v for k, v in asdict(self).items()}


def compare_runs(url_a: str, url_b: str) -> list[Difference]:
    """Compare the candidates two stores share, split by split.

    Raises:
        RunError: the runs share no dataset, task and protocol, or split one differently.
    """
    a, b = _read(url_a), _read(url_b)
    shared = _shared_splits(url_a, a["splits"], url_b, b["splits"])
    groups = split_groups(zip(a["splits"]["dataset"], a["splits"]["audit"], strict=True))
    out = []
    for dataset, task, protocol in shared:
        fold_a = _done(a["cells"], dataset, task, protocol)
        fold_b = _done(b["cells"], dataset, task, protocol)
        for candidate in sorted(set(fold_a["candidate"]) & set(fold_b["candidate"])):
            found = _difference(fold_a, fold_b, (dataset, task, protocol), candidate)
            if found is None:
                continue
            pooled = _pooled(a, b, (dataset, task, protocol), candidate, groups.get(dataset, {}))
            out.append(found if pooled is None else _with_pooled(found, pooled))
    return out


def _read(url: str) -> dict[str, pd.DataFrame]:
    tables = read_tables([url], names=("cells", "splits", "predictions"))
    splits = tables["splits"]
    if not splits.empty:
        splits = splits.assign(protocol=splits.get("protocol", "grouped"))
        splits["protocol"] = splits["protocol"].fillna("grouped").astype(str)
    tables["splits"] = splits
    if not tables["cells"].empty:
        tables["cells"] = with_protocols(tables["cells"])
    return tables


def _hashes(splits: pd.DataFrame) -> dict[SplitKey, str]:
    if splits.empty:
        return {}
    rows = zip(splits["dataset"], splits["task"], splits["protocol"], splits["hash"], strict=True)
    return {(str(d), str(t), str(p)): str(h) for d, t, p, h in rows}


def _shared_splits(url_a: str, a: pd.DataFrame, url_b: str, b: pd.DataFrame) -> list[SplitKey]:
    """The splits both runs hold, refusing any that the two runs made differently."""
    hash_a, hash_b = _hashes(a), _hashes(b)
    shared = sorted(hash_a.keys() & hash_b.keys())
    for key in shared:
        if hash_a[key] != hash_b[key]:
            dataset, task, protocol = key
            raise RunError(
                f"{display_url(url_a)} and {display_url(url_b)}: {dataset}/{task} ({protocol}) "
                f"was split into other folds (manifests {hash_a[key][:12]} and "
                f"{hash_b[key][:12]}). Compare runs made with the same dataset, seed and budget."
            )
    if not shared:
        raise RunError(
            f"{display_url(url_a)} and {display_url(url_b)}: no dataset, task and split in "
            "common. Compare two runs of the same datasets and tasks."
        )
    return shared


def _done(cells: pd.DataFrame, dataset: str, task: str, protocol: str) -> pd.DataFrame:
    frame = cells_frame(cells)
    mine = (frame["dataset"] == dataset) & (frame["task"] == task) & (frame["split"] == protocol)
    return frame[mine & (frame["status"] == "done")]


def _difference(
    fold_a: pd.DataFrame, fold_b: pd.DataFrame, split: SplitKey, candidate: str
) -> Difference | None:
    """The paired fold-by-fold difference of ``candidate``'s primary metric, ``B - A``."""
    dataset, task, protocol = split
    spec = get_task(task)
    metric, keys = spec.primary, ["repeat", "fold"]
    if metric not in fold_a or metric not in fold_b:
        return None
    left = fold_a[fold_a["candidate"] == candidate][[*keys, metric]]
    right = fold_b[fold_b["candidate"] == candidate][[*keys, metric]]
    both = left.merge(right, on=keys, suffixes=("_a", "_b")).dropna()
    if both.empty:
        return None
    values_a = both[f"{metric}_a"].to_numpy(float)
    values_b = both[f"{metric}_b"].to_numpy(float)
    diff = float((values_b - values_a).mean())
    ci_low = ci_high = p_value = math.nan
    n_folds = int(both["fold"].nunique())
    if len(both) >= 2 and n_folds >= 2:
        ratio = 1.0 / (n_folds - 1)  # n_test / n_train of one K-fold split
        diff, ci_low, ci_high = mean_ci(values_b - values_a, test_train_ratio=ratio)
        p_value = corrected_resampled_ttest(values_b, values_a, ratio)[1]
    return Difference(
        dataset=dataset,
        task=task,
        split=protocol,
        candidate=candidate,
        metric=metric,
        direction=metric_direction(metric),
        n_folds=len(both),
        mean_a=float(values_a.mean()),
        mean_b=float(values_b.mean()),
        diff=diff,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
    )


def _pooled(
    a: dict[str, pd.DataFrame],
    b: dict[str, pd.DataFrame],
    split: SplitKey,
    candidate: str,
    groups: dict[str, str],
) -> PairedTest | None:
    """``paired_group_test`` of the pooled per-track score, ``B - A`` (``None`` without
    predictions in both runs)."""
    dataset, task, protocol = split
    spec = get_task(task)
    tables = []
    for run in (a, b):
        frame = predictions_frame(run["cells"], run["predictions"])
        mine = (frame["dataset"] == dataset) & (frame["task"] == task)
        mine &= (frame["split"] == protocol) & (frame["candidate"] == candidate)
        tables.append(per_track(frame[mine], spec) if mine.any() else pd.DataFrame())
    if any(t.empty for t in tables):
        return None
    paired = paired_predictions(tables[1], tables[0], spec, groups)  # pred_a is run B's
    if paired is None:
        return None
    return paired_group_test(paired, spec.primary, n_boot=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED)


def _with_pooled(found: Difference, pooled: PairedTest) -> Difference:
    values = {
        "pooled_a": pooled.value_b,
        "pooled_b": pooled.value_a,
        "pooled_diff": pooled.diff,
        "pooled_low": pooled.ci_low,
        "pooled_high": pooled.ci_high,
        "pooled_p": pooled.p_value,
    }
    return Difference(**(asdict(found) | values))


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
