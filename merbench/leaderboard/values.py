"""Stored values as page text: missing values, floats, rows, run labels and figures.

The helpers the page builders (``pages``, ``candidate``, ``dataset``) and the methods card
(``methods``) share to turn what the runs stored (settings, provenance, audits, each cell's
``info``, distributions as Optuna's JSON) into the text the templates show.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

AUDIT_LABELS = {
    "protocol": "Split protocol", "n_folds": "Outer folds", "repeats": "Repeats",
    "leakage": "Group leakage",
    "n_tracks": "Tracks", "n_groups": "Groups (artists)", "n_skipped": "Skipped tracks",
    "noise_ceiling_r2": "Noise ceiling (R²)",
}  # fmt: skip
TIER_INPUTS = ("groups",)
"""Audit keys kept for the tier test (each track's group), neither shown nor written out."""

NOT_RECORDED = "not recorded by the run"


def is_missing(value: Any) -> bool:
    """None, NaN or the empty string."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def as_float(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is missing."""
    return None if is_missing(value) else float(value)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as plain dicts with NaN turned into None (templates and JSON)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [{str(k): v for k, v in r.items()} for r in clean.to_dict("records")]


def run_label(run: Mapping[str, Any]) -> str:
    """A one-line description of a run: name, budget, date, merbench version and commit."""
    settings, provenance = run.get("settings") or {}, run.get("provenance") or {}
    parts = [str(run.get("name"))]
    if settings.get("budget"):
        parts.append(f"{settings['budget']} budget")
    if run.get("created_at"):
        parts.append(str(run["created_at"])[:10])
    version = f"merbench {provenance.get('merbench', '?')}"
    if provenance.get("git_sha"):
        version += f" ({str(provenance['git_sha'])[:7]})"
    return " · ".join([*parts, version])


def audio_items(cells: pd.DataFrame) -> list[tuple[str, str]]:
    """What the models of a task heard: sample rate, window, hop, cap per track, aggregation.

    Values that differ between cells (merged runs) are listed together.
    """
    labels = {
        "sample_rate": "Sample rate (Hz)",
        "window_s": "Window (s)",
        "hop_s": "Hop between windows (s)",
        "max_seconds": "Seconds used per track",
        "aggregation": "Track prediction",
    }
    items = []
    for key, label in labels.items():
        values = cells[key].dropna().unique().tolist() if key in cells else []
        if key == "max_seconds" and key in cells and not values and len(cells):
            values = ["whole clip"]
        if values:
            items.append(
                (label, ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values))
            )
    return items


def audit_items(audit: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The split audit as (label, formatted value) pairs, known keys first."""
    items = []
    for key in [*AUDIT_LABELS, *(k for k in audit if k not in AUDIT_LABELS)]:
        if key not in audit or key in TIER_INPUTS:
            continue
        value = audit[key]
        if isinstance(value, Mapping | list):
            continue  # per-track data (the tracks' groups), not a figure to show
        if key == "leakage" and isinstance(value, int | float):
            text = "none (0 %)" if value == 0 else f"{100 * value:.1f} %"
        elif isinstance(value, float):
            text = f"{value:.3f}"
        else:
            text = str(value)
        items.append((AUDIT_LABELS.get(key, key.replace("_", " ")), text))
    return items


def text_of(value: Any) -> str:
    """A stored value as card text: booleans as yes/no, containers as JSON, missing said so."""
    if value is None or (isinstance(value, float) and value != value):
        return NOT_RECORDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def values_text(values: Iterable[Any]) -> str:
    """Distinct values in order of appearance, joined (merged runs may differ)."""
    distinct = list(dict.fromkeys(text_of(v) for v in values))
    return ", ".join(distinct) if distinct else NOT_RECORDED


def span_text(values: Sequence[float]) -> str:
    """The range of figures, ``low to high``, or the one value when they agree."""
    if not values:
        return NOT_RECORDED
    low, high = text_of(min(values)), text_of(max(values))
    return low if low == high else f"{low} to {high}"


def distribution_text(record: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(kind, values, scale)`` of a distribution stored as Optuna's JSON."""
    name, attributes = str(record.get("name", "")), record.get("attributes") or {}
    if name == "CategoricalDistribution":
        return (
            "categorical",
            ", ".join(text_of(c) for c in attributes.get("choices", [])),
            "choices",
        )
    kind = "integer" if name.startswith("Int") else "float"
    values = f"{text_of(attributes.get('low'))} to {text_of(attributes.get('high'))}"
    step = attributes.get("step")
    scale = "log" if attributes.get("log") else "linear"
    if step not in (None, 1) or (step == 1 and kind == "float"):
        scale += f", step {text_of(step)}"
    return kind, values, scale
