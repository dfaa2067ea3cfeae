"""The per-tag table of a multi-label task: each tag's ROC-AUC and PR-AUC beside its chance level.

A multilabel task ranks candidates by the macro mean over tags; the table shows where that mean
comes from. Each tag's prevalence among the test tracks is the PR-AUC of an uninformed score
(ROC-AUC's is 0.5), so a rare tag's low PR-AUC can still be far above chance. Values are the
summary's: the mean over outer folds with its 95 % interval, of the folds that could score the
tag (a fold whose test tracks all lack it, or all have it, leaves it out).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from merbench.evaluation.tasks import TASK_SPECS
from merbench.leaderboard.values import as_float
from merbench.results.summaries import INTERVAL_ENDS

SCORES = ("roc_auc", "pr_auc")
"""The per-tag scores of the table, as metric names (``roc_auc_<tag>``)."""
CHANCE = "prevalence"


def tag_names(task: str, row: Mapping[str, Any]) -> tuple[str, ...]:
    """The tags a summary row of ``task`` has per-tag scores for (none unless multilabel)."""
    spec = TASK_SPECS.get(task)
    if spec is None or not spec.is_multilabel:
        return ()
    values = [str(k) for k in row if not str(k).endswith(INTERVAL_ENDS)]
    tags = spec.dimensions(values)
    return tuple(t for t in tags if as_float(row.get(f"{SCORES[0]}_{t}")) is not None)


def tag_rows(task: str, *rows: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One entry per tag: its prevalence and, per given summary row, ``(mean, low, high)`` of
    each of ``SCORES`` (``None`` where the row has no value).

    Args:
        task: the task's name.
        rows: summary rows of candidates (the leader, the trivial baseline, or one candidate);
            a ``None`` row is left out.
    """
    given = [r for r in rows if r is not None]
    tags = sorted({t for r in given for t in tag_names(task, r)})
    out = []
    for tag in tags:
        chances = (as_float(r.get(f"{CHANCE}_{tag}")) for r in given)
        chance = next((v for v in chances if v is not None), None)
        out.append(
            {
                "tag": tag,
                "prevalence": chance,
                "scores": [
                    {score: _interval(r, f"{score}_{tag}") for score in SCORES} for r in given
                ],
            }
        )
    return out


Interval = tuple[float, float | None, float | None]


def _interval(row: Mapping[str, Any], column: str) -> Interval | None:
    value = as_float(row.get(column))
    if value is None:
        return None
    return value, as_float(row.get(f"{column}_low")), as_float(row.get(f"{column}_high"))
