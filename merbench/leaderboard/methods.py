"""The methods card: ``methods.md``, what a paper or model card says of how the numbers were made.

It follows the reporting checklist of the MER meta-analysis (Eerola & Anderson, *A Meta-Analysis
of Music Emotion Recognition Studies*, ACM Computing Surveys): the cross-validation protocol and
its grouping, the features (front-ends and their parameters), the tuning (search spaces and
budget), and MCC or R². Every value comes from what the runs stored: their settings and
provenance, each cell's ``info`` (audio windows, search space, study settings, front-end
parameters), the trials and the stored splits; what a run did not record is said to be missing.
The Markdown is rendered by Jinja with every value escaped (``markdown_text``), so a name from a
plugin cannot add links, HTML or table cells.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from merbench import markdown as md
from merbench.evaluation.scoring import metric_label
from merbench.evaluation.stats import bootstrap_tiers, mean_ci
from merbench.evaluation.tasks import TASK_SPECS
from merbench.leaderboard.collect import Collected
from merbench.leaderboard.dataset import dataset_metadata
from merbench.leaderboard.ranks import ALPHA, RankComparison
from merbench.leaderboard.values import (
    NOT_RECORDED,
    as_float,
    audit_items,
    distribution_text,
    run_label,
    span_text,
    text_of,
    values_text,
)
from merbench.results.summaries import AUDIO_KEYS, BOOTSTRAP_RESAMPLES

FILE = "methods.md"
AUDIO_LABELS = {
    "sample_rate": "Sample rate (Hz)", "window_s": "Window (s)", "hop_s": "Hop (s)",
    "max_seconds": "Seconds per track", "windowing": "Windows", "aggregation": "Track prediction",
}  # fmt: skip


def markdown_text(value: Any) -> Markup:
    """``value`` as Markdown text that renders as itself (``merbench.markdown.text``): HTML and
    Markdown syntax escaped, one line. Markup (a macro's output) passes as it is."""
    if isinstance(value, Markup):
        return value
    return Markup(md.text(value))


def markdown_environment() -> Environment:
    """Jinja for Markdown templates: every expression passes through ``markdown_text``."""
    return Environment(
        loader=PackageLoader("merbench.leaderboard"),
        autoescape=True,  # escapes nothing more: ``markdown_text`` returns Markup
        finalize=markdown_text,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def write_methods(
    out: Path,
    pages: Sequence[Mapping[str, Any]],
    collected: Collected,
    ranks: RankComparison | None,
    *,
    title: str,
    version: str,
) -> Path:
    """Write ``methods.md`` into ``out``; return its path."""
    template = markdown_environment().get_template("methods.md")
    card = methods_card(pages, collected, ranks)
    path = out / FILE
    path.write_text(template.render(card=card, title=title, version=version), encoding="utf-8")
    return path


def methods_card(
    pages: Sequence[Mapping[str, Any]], collected: Collected, ranks: RankComparison | None
) -> dict[str, Any]:
    """Everything the card shows, as rows of text for the template."""
    done = _done_cells(collected.cells)
    infos = list(done["info"])
    return {
        "runs": [
            {"label": run_label(r), "command": text_of((r.get("provenance") or {}).get("command"))}
            for r in collected.runs
        ],
        "checklist": _checklist(pages, done, collected),
        "datasets": _datasets(pages, collected),
        "audio": _audio(done),
        "decoders": _decoders(collected.runs),
        "frontends": _frontends(done),
        "weights": _weights(done),
        "models": _models(done),
        "protocols": _protocols(collected, pages),
        "inner": _inner(collected.runs, infos),
        "budgets": [_budget(run) for run in collected.runs],
        "studies": _studies(infos),
        "trials": _trial_counts(collected.trials),
        "metrics": _metrics(pages),
        "statistics": _statistics(pages, ranks, collected),
        "results": [_results(page) for page in pages],
    }


def _done_cells(cells: pd.DataFrame) -> pd.DataFrame:
    if cells.empty or "info" not in cells:
        return pd.DataFrame(columns=["dataset", "task", "candidate", "split", "info"])
    done = cells[cells["status"] == "done"].copy()
    infos = pd.Series([i if isinstance(i, Mapping) else {} for i in done["info"]], index=done.index)
    return done.assign(info=infos)


def _checklist(
    pages: Sequence[Mapping[str, Any]], done: pd.DataFrame, collected: Collected
) -> dict[str, str]:
    frontends = {f["name"] for i in done["info"] for f in i.get("frontends") or []}
    tuned = {
        c for c, i in zip(done["candidate"], done["info"], strict=True) if i.get("search_space")
    }
    reported = [
        f"{p['dataset']} / {p['task']}: "
        + (", ".join(metric_label(m) for m in p["metrics"] if m in ("r2_mean", "mcc")) or "neither")
        for p in pages
    ]
    return {
        "protocols": values_text(sorted({p["protocol"] for p in collected.protocols})),
        "frontends": ", ".join(sorted(frontends)) or "none (baselines only)",
        "tuned": str(len(tuned)),
        "reported": "; ".join(reported) or "no results",
    }


def _datasets(pages: Sequence[Mapping[str, Any]], collected: Collected) -> list[list[str]]:
    meta = dataset_metadata(collected.runs)
    rows = []
    for name in sorted({p["dataset"] for p in pages} | {d for d, _ in collected.splits}):
        audits = [s["audit"] for (d, _), s in sorted(collected.splits.items()) if d == name]
        audit: Mapping[str, Any] = audits[0] if audits else {}
        scale = meta.get(name, {}).get("label_scale")
        figures = [audit.get(k) for k in ("n_tracks", "n_groups", "n_skipped")]
        scale_text = f"{scale[0]:g} to {scale[1]:g}" if isinstance(scale, tuple) else NOT_RECORDED
        tasks = ", ".join(p["task"] for p in pages if p["dataset"] == name)
        rows.append([name, text_of(meta.get(name, {}).get("version")), *map(text_of, figures)])
        rows[-1] += [scale_text, tasks]
    return rows


def _audio(done: pd.DataFrame) -> dict[str, Any]:
    rows = []
    for (dataset, task), group in done.groupby(["dataset", "task"], sort=True):
        infos = [i for i in group["info"] if i.get("window_s") is not None]
        whole = (
            {"max_seconds": "whole clip"}
            if all(i.get("max_seconds") is None for i in infos)
            else {}
        )
        cells = [whole.get(k) or values_text(i.get(k) for i in infos) for k in AUDIO_KEYS]
        rows.append([str(dataset), str(task), *cells])
    return {"headers": [AUDIO_LABELS.get(k, k) for k in AUDIO_KEYS], "rows": rows}


def _decoders(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Per run: the decoder and resampler with their versions and the resampling quality."""
    out = []
    for run in runs:
        provenance = run.get("provenance") or {}
        audio, libraries = provenance.get("audio"), provenance.get("libraries") or {}
        if not isinstance(audio, Mapping):
            out.append({"run": str(run["name"])})
            continue
        names = {k: str(audio.get(k)) for k in ("decoder", "resampler")}
        versions = {f"{k}_version": text_of(libraries.get(v)) for k, v in names.items()}
        out.append(
            {"run": str(run["name"]), **names, **versions, "quality": text_of(audio.get("quality"))}
        )
    return out


def _frontends(done: pd.DataFrame) -> list[list[str]]:
    seen: dict[str, dict[str, Any]] = {}
    tuned: dict[str, set[str]] = {}
    for info in done["info"]:
        for frontend in info.get("frontends") or []:
            seen.setdefault(str(frontend["name"]), frontend)
        for key in info.get("search_space") or {}:
            name, dot, param = str(key).partition(".")
            if dot:
                tuned.setdefault(name, set()).add(param)
    rows = []
    for name, frontend in sorted(seen.items()):
        params = frontend.get("params") or {}
        fixed = [f"{k} = {text_of(v)}" for k, v in params.items() if k not in tuned.get(name, ())]
        rows.append([
            name, text_of(frontend.get("output")), text_of(frontend.get("trainable")),
            ", ".join(fixed) or "none", ", ".join(sorted(tuned.get(name, ()))) or "none",
        ])  # fmt: skip
    return rows


def _weights(done: pd.DataFrame) -> list[list[str]]:
    """Front-ends with their own sample rate or pretrained weights: model id, revision, source,
    rate and each file's sha256, once per distinct front-end and weights."""
    rows: dict[str, list[str]] = {}
    for info in done["info"]:
        for frontend in info.get("frontends") or []:
            weights = frontend.get("weights") or {}
            if not weights and frontend.get("sample_rate") is None:
                continue
            files = weights.get("sha256") or {}
            row = [
                str(frontend["name"]), text_of(weights.get("model_id")),
                text_of(weights.get("revision")), text_of(weights.get("source")),
                text_of(frontend.get("sample_rate")),
                "; ".join(f"{name} {digest}" for name, digest in sorted(files.items())) or "none",
            ]  # fmt: skip
            rows.setdefault(json.dumps(row), row)
    return sorted(rows.values())


def _models(done: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for candidate, group in done.groupby("candidate", sort=True):
        space: dict[str, Any] = {}
        for info in group["info"]:
            space.update(info.get("search_space") or {})
        families = values_text(i.get("model_family") for i in group["info"])
        rows = [[key, *distribution_text(space[key])] for key in sorted(space)]
        model = {"candidate": str(candidate), "family": families, "rows": rows}
        if external := [i for i in group["info"] if i.get("external")]:  # ``merbench score``
            keys = ("source", "manifest_hash")
            model |= {"family": "external entry"} | {
                k: values_text(i.get(k) for i in external) for k in keys
            }
        out.append(model)
    return out


def _protocols(collected: Collected, pages: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Every stored split: its protocol, whether it ranks, its audit figures and its hash."""
    ranking = {(p["dataset"], p["task"], (p.get("audit") or {}).get("protocol")) for p in pages}
    labels = ("Outer folds", "Repeats", "Groups (artists)", "Group leakage")
    rows = []
    for split in sorted(
        collected.protocols, key=lambda s: (s["dataset"], s["task"], s["protocol"])
    ):
        key = (split["dataset"], split["task"], split["protocol"])
        items = dict(audit_items(split["audit"]))
        role = ["ranks" if key in ranking else "beside"]
        figures = [items.get(label, NOT_RECORDED) for label in labels]
        rows.append([*key, *role, *figures, str(split["hash"] or NOT_RECORDED)])
    return rows


def _inner(runs: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    valid = [int(i["n_valid"]) for i in infos if i.get("n_valid") is not None]
    train = [int(i["n_train"]) for i in infos if i.get("n_train") is not None]
    return {
        "fraction": values_text(_budget_of(r).get("valid_fraction") for r in runs),
        "valid": span_text(valid),
        "train": span_text(train),
    }


def _budget_of(run: Mapping[str, Any]) -> dict[str, Any]:
    budget = (run.get("provenance") or {}).get("budget")
    return dict(budget) if isinstance(budget, Mapping) else {}


def _budget(run: Mapping[str, Any]) -> list[str]:
    budget = _budget_of(run)
    keys = ("name", "outer_folds", "repeats", "trials", "epochs", "patience", "batch_size")
    return [str(run["name"]), *(text_of(budget.get(k)) for k in keys)]


def _studies(infos: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The distinct sampler and pruner settings of the tuned cells' studies."""
    out: dict[str, dict[str, str]] = {}
    for study in [i.get("study") or {} for i in infos if i.get("search_space")]:
        if not study:
            out.setdefault("", {})
            continue
        pruner = [f"{k[7:]} = {text_of(v)}" for k, v in study.items() if k.startswith("pruner_")]
        keys = ("direction", "sampler", "startup_trials", "defaults_first", "pruner")
        record = {k: text_of(study.get(k)) for k in keys} | {"pruner_settings": ", ".join(pruner)}
        out.setdefault(json.dumps(record, sort_keys=True), record)
    return list(out.values())


def _trial_counts(trials: pd.DataFrame) -> dict[str, Any] | None:
    if trials.empty or "state" not in trials:
        return None
    per_cell = trials.groupby("uid").size().tolist()
    states = trials["state"].value_counts()
    return {
        "cells": len(per_cell),
        "per_cell": span_text(per_cell),
        "states": ", ".join(f"{n} {state}" for state, n in sorted(states.items())),
    }


def _metrics(pages: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    rows = []
    for page in pages:
        spec = TASK_SPECS.get(page["task"])
        kind = spec.kind if spec else NOT_RECORDED
        labels = ", ".join(metric_label(m) for m in page["metrics"])
        rows.append([page["dataset"], page["task"], kind, metric_label(page["primary"]), labels])
    return rows


def _default(function: Any, name: str) -> Any:
    return inspect.signature(function).parameters[name].default


def _statistics(
    pages: Sequence[Mapping[str, Any]], ranks: RankComparison | None, collected: Collected
) -> dict[str, Any]:
    tests = []
    for page in pages:
        groups = {int(v) for r in page["rows"] if (v := as_float(r.get("boot_groups"))) is not None}
        made = ", ".join(page["tier_tests"]) or "no comparison (one candidate)"
        tests.append(
            [page["dataset"], page["task"], made, ", ".join(map(str, sorted(groups))) or "none"]
        )
    rank = None
    if ranks is not None:
        friedman = ranks.friedman_p
        rank = {
            "pages": len(ranks.blocks),
            "candidates": len(ranks.candidates),
            "cd": f"{ranks.critical_difference:.3f}",
            "alpha": text_of(ALPHA),
            "friedman": "not computed (two candidates)" if friedman is None else f"{friedman:.4f}",
        }
    return {
        "confidence": f"{100 * _default(mean_ci, 'confidence'):g} %",
        "alpha": text_of(_default(bootstrap_tiers, "alpha")),
        "resamples": BOOTSTRAP_RESAMPLES,
        "tests": tests,
        "ranks": rank,
        "protocols": len({s["protocol"] for s in collected.protocols}) > 1,
    }


def _results(page: Mapping[str, Any]) -> dict[str, Any]:
    rows = [
        [
            text_of(row.get("rank")),
            str(row["candidate"]) + _mark(row),
            _interval(row, page["primary"]),
            str(row.get("tier") or "")
            if row.get("tier") == "cannot tell" or not row.get("is_leader")
            else "leader",
            text_of(row.get("n_folds")),
        ]
        for row in page["rows"]
    ]
    return {"page": page, "metric": metric_label(page["primary"]), "rows": rows}


def _mark(row: Mapping[str, Any]) -> str:
    if row.get("external"):
        return " (external)"
    return " (baseline)" if row.get("is_baseline") else ""


def _interval(row: Mapping[str, Any], metric: str) -> str:
    mean, low, high = (as_float(row.get(metric + s)) for s in ("", "_low", "_high"))
    if mean is None:
        return NOT_RECORDED
    return f"{mean:.3f}" if low is None or high is None else f"{mean:.3f} [{low:.3f}, {high:.3f}]"
