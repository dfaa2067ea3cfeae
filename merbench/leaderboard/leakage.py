"""Split protocols on the pages: the split-protocol table of a task page (each candidate's score
under every protocol the run evaluated and the leakage gap to the primary one,
``merbench.results.protocols``). The summary rows of every protocol (``results.csv``) are
``merbench.results.run_result.summaries_by_split``, the rows ``RunResult.summaries`` holds."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

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
