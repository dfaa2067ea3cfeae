"""Split protocols in the outputs: the split-protocol table of a task page (each candidate's score
under every protocol the run evaluated and the leakage gap to the primary one,
``merbench.results.protocols``), and the summary rows of every protocol for ``results.csv``."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from merbench.results.protocols import split_by_protocol
from merbench.results.schema import DEFAULT_SPLIT
from merbench.results.summaries import TIER_FIELDS, TrackGroups, summarize

GAP = re.compile(r"leakage_gap_([a-z]+)$")


def protocol_table(summary: pd.DataFrame, page: Mapping[str, Any]) -> dict[str, Any] | None:
    """The rows of the table, or ``None`` when the run had one protocol for this task."""
    mine = summary[(summary["dataset"] == page["dataset"]) & (summary["task"] == page["task"])]
    protocols = sorted({m[1] for c in mine.columns if (m := GAP.match(str(c)))})
    if not protocols:
        return None
    metric = str(page["primary"])
    rows = [
        {
            "candidate": str(row["candidate"]),
            "primary": _interval(row, metric),
            "others": [_interval(row, f"{metric}_{p}") for p in protocols],
            "gaps": [_interval(row, f"leakage_gap_{p}") for p in protocols],
            "is_baseline": bool(row.get("is_baseline")),
        }
        for row in mine.to_dict("records")
        if row.get("status") == "done"
    ]
    primary = (page.get("audit") or {}).get("protocol", "grouped")
    return {"metric": metric, "primary": primary, "protocols": protocols, "rows": rows}


def _interval(row: Mapping[str, Any], name: str) -> Sequence[float | None]:
    return [_number(row.get(name + suffix)) for suffix in ("", "_low", "_high")]


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


RANKING = ("rank", "tier", "is_leader", "p_holm", "boot_groups", *TIER_FIELDS)
"""Columns that rank candidates: filled under the primary protocol only."""


def summaries_by_split(
    summary: pd.DataFrame,
    cells: pd.DataFrame,
    groups: TrackGroups | None = None,
) -> pd.DataFrame:
    """One summary row per dataset, task, split protocol and candidate (``results.csv``).

    The primary protocol's rows (``is_primary_split``) are ``summary``: ranked, with the other
    protocols' scores and the leakage gaps. Every other protocol's rows summarise its own cells
    alone, with the same metrics and intervals, and leave the ranking columns (``RANKING``)
    empty: candidates are ranked under the primary protocol only (so those rows' tiers, which
    are dropped, are not bootstrapped).

    Args:
        summary: ``summarize`` of ``cells``.
        cells: ``cells_frame`` rows of every protocol.
        groups: each dataset's track groups, as given to ``summarize``.
    """
    if summary.empty:
        return summary.assign(split=pd.Series(dtype=str))
    primary, other = split_by_protocol(cells)
    protocol = primary.groupby(["dataset", "task"])["split"].first()
    keys = list(zip(summary["dataset"], summary["task"], strict=True))
    splits = [protocol.get(k, DEFAULT_SPLIT) for k in keys]
    parts = [summary.assign(split=splits, is_primary_split=True)]
    for name, mine in other.groupby("split", sort=True):
        rows = summarize(mine.reset_index(drop=True), None, groups)
        if not rows.empty:
            blank = {c: None for c in RANKING}
            parts.append(rows.assign(split=str(name), is_primary_split=False, **blank))
    out = pd.concat(parts, ignore_index=True)
    front = ["dataset", "task", "split", "candidate"]
    return out[front + [c for c in out.columns if c not in front]]
