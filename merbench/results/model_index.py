"""One result of a model-index (the metadata block of a Hugging Face model card): a candidate's
metrics on one dataset, task and split protocol, with the Hub's task and metric ids.

``merbench leaderboard --format eval-results`` (``merbench.leaderboard.eval_results``) and the
model card of ``merbench export`` (``merbench.exchange.card``) both write their results with
these entries, so the two say the same of a candidate.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from typing import Any

from merbench.evaluation.scoring import hub_metric
from merbench.evaluation.stats import mean_ci
from merbench.evaluation.tasks import TASK_SPECS

CONFIDENCE = float(inspect.signature(mean_ci).parameters["confidence"].default)
"""The level of the intervals in ``results.csv`` (``merbench.evaluation.stats.mean_ci``'s
default)."""


def result_entry(
    task: str,
    dataset: str,
    version: str | None,
    split: Mapping[str, Any],
    metrics: list[dict[str, Any]],
) -> dict[str, Any]:
    spec = TASK_SPECS.get(task)
    audit = split.get("audit") or {}
    folds, repeats = audit.get("n_folds"), audit.get("repeats")
    described = f"{split['protocol']} cross-validation, outer test folds"
    if folds is not None:
        times = f" x {repeats}" if repeats not in (None, 1) else ""
        described = f"{split['protocol']} {folds}-fold cross-validation{times}, outer test folds"
    dataset_record: dict[str, Any] = {"type": dataset, "name": dataset}
    if version is not None:
        dataset_record["config"] = str(version)
    dataset_record["split"] = described
    dataset_record["args"] = {
        "task": task,
        "protocol": split["protocol"],
        "outer_folds": folds,
        "repeats": repeats,
        "groups": audit.get("n_groups"),
        "manifest_sha256": split.get("hash"),
    }
    return {
        "task": {
            "type": spec.hub_task if spec else task,
            "name": f"{task}: {spec.summary}" if spec else task,
        },
        "dataset": dataset_record,
        "metrics": metrics,
    }


def metric_entry(
    row: Mapping[str, Any], column: str, name: str, folds: Any
) -> dict[str, Any] | None:
    """A metric entry: the mean over folds as ``value``; merbench's ``column``, its interval and
    the number of folds in ``args``; ``None`` when the summary has no value for ``column``."""
    value = _as_float(row.get(column))
    if value is None:
        return None
    low, high = _as_float(row.get(f"{column}_low")), _as_float(row.get(f"{column}_high"))
    args: dict[str, Any] = {"column": column}
    if low is not None and high is not None:
        args |= {"ci_low": low, "ci_high": high, "confidence": CONFIDENCE}
    if _as_float(folds) is not None:
        args["folds"] = int(folds)
    hub_id, config = hub_metric(column)
    entry: dict[str, Any] = {"type": hub_id, "name": name, "value": value}
    if config is not None:
        entry["config"] = config
    return entry | {"args": args, "verified": False}


def _as_float(value: Any) -> float | None:
    """A number as ``float``; ``None`` when it is missing (``None``, NaN) or no number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return None if math.isnan(value) else float(value)
