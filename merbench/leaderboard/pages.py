"""The contents of the index, dataset and dataset x task pages, as plain dicts for the templates.

Everything a template shows is decided here (which rows, in which order, which file links to
which); templates only lay it out. File names are built from slugs of the names, and candidate
pages add a short hash of the full name, so ``cnn2d@mel`` and ``cnn2d-mel`` never share a file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from merbench.evaluation.scoring import find_metric, metric_bounds, metric_label
from merbench.evaluation.tasks import TASK_SPECS
from merbench.evaluation.verdicts import CANNOT_TELL, CANNOT_TELL_TEXT
from merbench.leaderboard.collect import Collected
from merbench.leaderboard.figures.plots import CiRow, ci_plot, score_bar
from merbench.leaderboard.figures.svg import Plot
from merbench.leaderboard.tags import tag_rows
from merbench.leaderboard.values import (
    TIER_INPUTS,
    as_float,
    audio_items,
    audit_items,
    is_missing,
    records,
    run_label,
)
from merbench.results.summaries import metric_columns

METRIC_LABELS = {
    name: metric_label(name) for spec in TASK_SPECS.values() for name in spec.metric_names()
}
"""Page labels of every metric column the tasks report (``MetricSpec.label``; top-k aside)."""
NO_AUGMENTATION = "none"


def slug(*parts: str) -> str:
    """A file-name-safe slug of names (lower case letters, digits and hyphens)."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-") or "page"


def task_file(dataset: str, task: str) -> str:
    """The page of one dataset x task comparison."""
    return slug(dataset, task) + ".html"


def dataset_file(dataset: str) -> str:
    """The page of one dataset (``_`` never occurs in a slug, so no task page can clash)."""
    return f"dataset_{slug(dataset)}.html"


def candidate_file(dataset: str, task: str, candidate: str) -> str:
    """The page of one candidate on one dataset x task: a slug and a hash of the exact names."""
    digest = hashlib.sha256(f"{dataset}\0{task}\0{candidate}".encode()).hexdigest()[:10]
    return f"{slug(dataset, task)}_{slug(candidate)[:48]}_{digest}.html"


def split_candidate(name: str) -> tuple[str, str, str]:
    """``model@frontend+frontend:augmentation`` -> (model, front-ends, augmentation policy)."""
    head, _, augmentation = name.partition(":")
    model, _, frontends = head.partition("@")
    return model, frontends, augmentation or NO_AUGMENTATION


def candidate_parts(name: str) -> list[tuple[str, str]]:
    """``(kind, name)`` of every component: the model, each front-end, each augmentation."""
    head, _, augmentations = name.partition(":")
    model, _, frontends = head.partition("@")
    return [
        ("model", model),
        *(("frontend", f) for f in frontends.split("+") if f),
        *(("augmentation", a) for a in augmentations.split("+") if a),
    ]


def providers(runs: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, str]]:
    """The plugin behind each component, from the runs' provenance (earliest run first).

    Returns:
        ``(kind, name)`` -> ``{"plugin", "distribution", "version"}``, for every record a run's
        plugins list as ``"kind:name"``.
    """
    out: dict[tuple[str, str], dict[str, str]] = {}
    for run in runs:
        plugins = (run.get("provenance") or {}).get("plugins") or []
        for plugin in plugins if isinstance(plugins, list) else []:
            if not isinstance(plugin, Mapping):
                continue
            entry = {k: str(plugin.get(k) or "?") for k in ("distribution", "version")}
            entry["plugin"] = str(plugin.get("name") or "?")
            for record in plugin.get("records") or []:
                kind, _, name = str(record).partition(":")
                out.setdefault((kind, name), entry)
    return out


def components(
    candidate: str, known: Mapping[tuple[str, str], Mapping[str, str]]
) -> list[dict[str, str | None]]:
    """A candidate's components with the plugin, distribution and version that provided each."""
    rows: list[dict[str, str | None]] = []
    for kind, name in candidate_parts(candidate):
        plugin = known.get((kind, name), {})
        rows.append(
            {
                "kind": kind,
                "name": name,
                "plugin": plugin.get("plugin"),
                "distribution": plugin.get("distribution"),
                "version": plugin.get("version"),
            }
        )
    return rows


def augmentation_policies(
    rows: Sequence[Mapping[str, Any]], known: Mapping[tuple[str, str], Mapping[str, str]]
) -> list[dict[str, Any]]:
    """The augmentation policies of a page: each policy, its parts and the candidates using it."""
    policies: dict[str, list[str]] = {}
    for row in rows:
        name = str(row["candidate"])
        if (policy := name.partition(":")[2]) and name not in policies.get(policy, []):
            policies.setdefault(policy, []).append(name)
    return [
        {
            "policy": policy,
            "parts": [c for c in components(":" + policy, known) if c["kind"] == "augmentation"],
            "candidates": candidates,
        }
        for policy, candidates in sorted(policies.items())
    ]


def _is_maximized(column: str) -> bool:
    """Whether higher values of a metric column are better (``MetricSpec.direction``)."""
    spec = find_metric(column)
    return spec is None or spec.direction == "maximize"


def task_pages(
    summary: pd.DataFrame, cells: pd.DataFrame, collected: Collected
) -> list[dict[str, Any]]:
    """One page per dataset x task: ranked rows, failures, plot, protocol and provenance."""
    if summary.empty:
        return []
    pages = []
    for (dataset, task), group in summary.groupby(["dataset", "task"], sort=True):
        mask = (cells["dataset"] == dataset) & (cells["task"] == task)
        pages.append(_task_page(str(dataset), str(task), group, cells[mask], collected))
    return pages


def _task_page(
    dataset: str, task: str, group: pd.DataFrame, cells: pd.DataFrame, collected: Collected
) -> dict[str, Any]:
    primary = str(group["primary"].iloc[0])
    external = external_entries(collected, cells)
    rows = [
        _row(r, cells, dataset, task) | {"external": external.get(str(r["candidate"]))}
        for r in records(group)
    ]
    done = [r for r in rows if r["status"] == "done"]
    split = collected.splits.get((dataset, task), {})
    audit = {k: v for k, v in (split.get("audit") or {}).items() if k not in TIER_INPUTS}
    failures = _failures(cells, dataset, task)
    page = {
        "dataset": dataset,
        "task": task,
        "file": task_file(dataset, task),
        "dataset_file": dataset_file(dataset),
        "stem": task_file(dataset, task).removesuffix(".html"),
        "primary": primary,
        "higher_is_better": _is_maximized(primary),
        "metrics": list(metric_columns(group, task)),
        "first_order": {
            m: "descending" if _is_maximized(m) else "ascending"
            for m in metric_columns(group, task)
        },
        "rows": done,
        "failures": failures,
        "leader": next((r for r in done if r.get("is_leader")), None),
        "verdict": CANNOT_TELL_TEXT if any(r.get("tier") == CANNOT_TELL for r in done) else None,
        "detectable": next((v for r in done if (v := as_float(r.get("detectable_diff")))), None),
        "rank_by": next((str(r["rank_by"]) for r in done if r.get("rank_by")), None),
        "tier_tests": sorted({str(r["tier_test"]) for r in done if r.get("tier_test")}),
        "baseline": next((r for r in done if r.get("is_baseline")), None),
        "n_candidates": len(rows),
        "audit": audit,
        "audit_items": audit_items(audit) + audio_items(cells),
        "split_hash": split.get("hash"),
        "conflict": any(
            c["dataset"] == dataset and c["task"] == task for c in collected.split_conflicts
        ),
        "runs": _runs_of(cells, collected),
    }
    known = providers([collected.runs[i] for i in _run_indices(cells)])
    everyone = [*done, *failures]
    page["augmentations"] = augmentation_policies(everyone, known)
    page["plot"] = _ci_plot(page, cells) if done else None
    page["tuning"] = tuning_rows(done, primary)
    leader = next((r for r in done if r.get("is_leader")), None)
    baseline = next((r for r in done if r.get("is_baseline")), None)
    page["tags"] = _tag_section(task, leader, baseline)
    return page


def _tag_section(
    task: str, leader: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The per-tag table of a multilabel task: the leader's and the trivial baseline's scores."""
    shown = [r for r in (leader, baseline) if r is not None]
    if len(shown) == 2 and shown[0]["candidate"] == shown[1]["candidate"]:
        shown = shown[:1]
    rows = tag_rows(task, *shown)
    if not rows:
        return None
    return {"candidates": [str(r["candidate"]) for r in shown], "rows": rows}


def tuning_rows(rows: Sequence[Mapping[str, Any]], primary: str) -> list[dict[str, Any]]:
    """The candidates that report their plugin-default configuration: default, tuned and the
    gain (``merbench.results.summaries._tuning_gain``), each ``(mean, low, high)``, by rank."""
    column = f"default_{primary}"
    out = []
    for row in rows:
        if is_missing(row.get(column)):
            continue
        out.append(
            {
                "candidate": row["candidate"],
                "file": row["file"],
                "default": tuple(as_float(row.get(f"{column}{s}")) for s in ("", "_low", "_high")),
                "tuned": tuple(as_float(row.get(f"{primary}{s}")) for s in ("", "_low", "_high")),
                "gain": tuple(as_float(row.get(f"tuning_gain{s}")) for s in ("", "_low", "_high")),
                "folds": int(row.get("default_folds") or 0),
                "won": int(row.get("default_won_folds") or 0),
            }
        )
    return out


def _row(row: dict[str, Any], cells: pd.DataFrame, dataset: str, task: str) -> dict[str, Any]:
    candidate = str(row["candidate"])
    mine = cells[cells["candidate"] == candidate]
    model, frontends, augmentation = split_candidate(candidate)
    is_leader, is_baseline = bool(row.get("is_leader")), bool(row.get("is_baseline"))
    tier = str(row.get("tier") or "")
    tier = "leader" if is_leader and tier != CANNOT_TELL else tier
    counts = {k: int(row[k]) for k in ("rank", "n_folds") if not is_missing(row.get(k))}
    return (
        row
        | counts
        | {
            "status": row.get("status") or "failed",
            "file": candidate_file(dataset, task, candidate),
            "model": model,
            "frontends": frontends,
            "augmentation": augmentation,
            "is_leader": is_leader,
            "is_baseline": is_baseline,
            "tier_key": tier,
            "folds_total": len(mine),
            "folds_failed": int((mine["status"] != "done").sum()),
        }
    )


def external_entries(collected: Collected, cells: pd.DataFrame) -> dict[str, dict[str, str]]:
    """The external entries among ``cells`` (``merbench score``), by name: the hash of the fold
    manifest their predictions were checked against, and the file they came from."""
    if cells.empty or "uid" not in cells or "info" not in collected.cells:
        return {}
    mine = collected.cells[collected.cells["uid"].isin(set(cells["uid"]))]
    out = {}
    for name, info in zip(mine["candidate"], mine["info"], strict=True):
        if isinstance(info, Mapping) and info.get("external"):
            out[str(name)] = {k: str(info.get(k) or "") for k in ("manifest_hash", "source")}
    return out


def _failures(cells: pd.DataFrame, dataset: str, task: str) -> list[dict[str, Any]]:
    """Failed, skipped or unfinished cells, grouped by candidate, status and reason."""
    bad = cells[cells["status"] != "done"]
    out = []
    for (candidate, status), group in bad.groupby(["candidate", "status"], sort=True):
        errors = group["error"].dropna().astype(str)
        out.append(
            {
                "candidate": str(candidate),
                "file": candidate_file(dataset, task, str(candidate)),
                "status": str(status),
                "folds": ", ".join(
                    f"r{r} f{f}" for r, f in zip(group["repeat"], group["fold"], strict=True)
                ),
                "n": len(group),
                "of": int((cells["candidate"] == candidate).sum()),
                "reason": errors.iloc[0] if len(errors) else "",
                "n_reasons": int(errors.nunique()),
            }
        )
    return out


def _run_indices(cells: pd.DataFrame) -> list[int]:
    return sorted({int(i) for i in cells["run_index"].dropna()}) if "run_index" in cells else []


def _runs_of(cells: pd.DataFrame, collected: Collected) -> list[str]:
    return [run_label(collected.runs[i]) for i in _run_indices(cells)]


def _ci_plot(page: dict[str, Any], cells: pd.DataFrame) -> Plot:
    primary = page["primary"]
    rows = []
    for row in page["rows"]:
        mine = cells[(cells["candidate"] == row["candidate"]) & (cells["status"] == "done")]
        folds = tuple(float(v) for v in mine.get(primary, pd.Series(dtype=float)).dropna())
        tier = "baseline" if row["is_baseline"] else row["tier_key"]
        rows.append(
            CiRow(
                name=row["candidate"],
                mean=float(row[primary]),
                low=as_float(row.get(f"{primary}_low")),
                high=as_float(row.get(f"{primary}_high")),
                tier=tier,
                folds=folds,
            )
        )
    references = []
    ceiling = page["audit"].get("noise_ceiling_r2")
    if primary == "r2_mean" and isinstance(ceiling, int | float):
        references.append(("noise ceiling", float(ceiling)))
    return ci_plot(
        rows,
        plot_id=f"ci-{page['stem']}",
        metric=metric_label(primary),
        higher_is_better=page["higher_is_better"],
        references=references,
        bounds=metric_bounds(primary),
    )


def index_rows(pages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The index table: one row per dataset x task with its leader and its baseline."""
    return [
        {
            "page": p,
            "leader": p["leader"],
            "baseline": p["baseline"],
            "bar": _score_bar(p),
            "n_done": len(p["rows"]),
            "n_failed": p["n_candidates"] - len(p["rows"]),
        }
        for p in pages
    ]


def _score_bar(page: Mapping[str, Any]) -> Plot | None:
    leader, baseline, primary = page["leader"], page["baseline"], page["primary"]
    if leader is None or is_missing(leader.get(primary)):
        return None
    return score_bar(
        float(leader[primary]),
        as_float(leader.get(f"{primary}_low")),
        as_float(leader.get(f"{primary}_high")),
        None if baseline is None else as_float(baseline.get(primary)),
        plot_id=f"bar-{page['stem']}",
    )
