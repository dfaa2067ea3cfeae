"""What the CLI commands do and print: the bodies behind the click functions of ``app`` and
``inspection`` (``publish_commands`` has those of ``publish``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from merbench.cli.console import (
    LineReporter,
    RichReporter,
    console,
    out,
    print_plan,
    wants_progress,
)
from merbench.cli.runtime import writing
from merbench.plugin.registry import Registry

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from merbench.data.config import DatasetConfig

KIND_OF_LIST = {"models": "model", "frontends": "frontend", "augmentations": "augmentation"}


def _emit_json(value: Any) -> None:
    out.print_json(json.dumps(value, default=str))


def run_command(registry: Registry, settings: Mapping[str, Any], *, progress: bool) -> int:
    """``merbench run``: run or resume, render the site, print the leaders and where it is."""
    from merbench.pipeline.runner import run
    from merbench.pipeline.settings import RunSettings
    from merbench.results.urls import display_url

    warn_failures(registry)
    run_settings = RunSettings.from_options(**settings)
    reporter = RichReporter() if wants_progress(progress) else LineReporter()
    with reporter:
        outcome = run(run_settings, registry=registry, reporter=reporter)
    if run_settings.plan and outcome.estimate is not None:
        print_plan(outcome.estimate)
        return 0 if outcome.ok else 1
    if run_settings.enqueue_only:
        url = display_url(outcome.store_url)
        console.print(
            f"Queued. Start workers: merbench worker --storage {escape(url)} --run "
            f"{escape(outcome.name)}",
            highlight=False,
        )
        return 0 if outcome.ok else 1
    print_leaders(outcome.store_url)
    counts = outcome.counts
    console.print(
        f"{counts.get('done', 0)} cells run, {counts.get('resumed', 0)} kept from before, "
        f"{counts.get('failed', 0)} failed. Results: {escape(str(outcome.run_dir))}",
        highlight=False,
    )
    for problem in outcome.problems:
        console.print(f"[red]problem:[/red] {escape(problem)}")
    if run_settings.render:
        with writing(outcome.site_dir, "--leaderboard", "the site"):
            index = render_leaderboard(outcome.store_url, outcome.site_dir, outcome.name)
        console.print(f"Leaderboard: {escape(str(index.resolve()))}", highlight=False)
    return 0 if outcome.ok else 1


def render_leaderboard(url: str, site: Path, title: str) -> Path:
    """Render a run's site; return its index page."""
    from merbench.leaderboard.render import render_site

    return render_site([url], site, title=title)


def worker_command(registry: Registry, settings: Mapping[str, Any]) -> int:
    """``merbench worker``: run a shared run's cells; exit 1 if a cell it ran failed."""
    from merbench.pipeline.executors.worker import WorkerSettings, work

    warn_failures(registry)
    with LineReporter() as reporter:
        counts = work(WorkerSettings(**settings), registry=registry, reporter=reporter)
    console.print(
        f"Worker finished: {counts['done']} cells run, {counts['failed']} failed.", highlight=False
    )
    return 1 if counts["failed"] else 0


def warn_failures(registry: Registry) -> None:
    for failure in registry.failures:
        console.print(f"[yellow]plugin refused:[/yellow] {escape(failure.message)}")


def print_leaders(url: str) -> None:
    """Each dataset and task's ranked table; with ``--split grouped,random``, a second table of
    each candidate's score under the other protocols and its leakage gap."""
    from merbench.evaluation.verdicts import CANNOT_TELL, CANNOT_TELL_TEXT
    from merbench.results.summaries import summarize_store

    summary = summarize_store(url)
    if summary.empty:
        return
    for (dataset, task), group in summary.groupby(["dataset", "task"], sort=True):
        primary = str(group["primary"].iloc[0])
        table = Table(
            title=f"{dataset} / {task} ({primary}, mean [95% CI] over folds)",
            caption=_rank_line(group, primary),
        )
        pooled = bool((group["rank_by"] == "pooled").any())  # what the rank reads
        columns = ["#", "candidate", *([f"pooled {primary}"] if pooled else []), primary, "tier"]
        for column in columns:
            table.add_column(column, justify="right" if column != "candidate" else "left")
        for row in group.to_dict("records"):
            name = escape(str(row["candidate"]))
            if row.get("status") != "done":
                table.add_row("", name, *([""] if pooled else []), "failed", "")
                continue
            ranked = [f"{row['rank_value']:.3f}"] if pooled else []
            value = _interval(row, primary)
            table.add_row(str(row["rank"]), name, *ranked, value, str(row["tier"]))
        console.print(table)
        if (group["tier"] == CANNOT_TELL).any():
            detectable = group["detectable_diff"].dropna()
            smallest = (
                f" (smallest detectable difference from the baseline: {detectable.iloc[0]:.3f})"
                if len(detectable)
                else ""
            )
            console.print(f"{dataset} / {task}: {CANNOT_TELL_TEXT}{smallest}.")
        _print_protocols(f"{dataset} / {task}", group, primary)
    _print_transfer(url)


def _print_protocols(title: str, group: Any, primary: str) -> None:
    """Each other protocol's mean score and leakage gap (it minus the ranked protocol's)."""
    from merbench.leaderboard.leakage import GAP

    others = [m[1] for c in group.columns if (m := GAP.match(str(c))) and group[c].notna().any()]
    for protocol in others:
        table = Table(title=f"{title}: {protocol} folds, leakage gap = {protocol} - ranked")
        for column in ("candidate", f"{primary} ({protocol})", "leakage gap [95% CI]"):
            table.add_column(column, justify="left" if column == "candidate" else "right")
        for row in group[group["status"] == "done"].to_dict("records"):
            table.add_row(
                escape(str(row["candidate"])),
                _interval(row, f"{primary}_{protocol}", bounds=False),
                _interval(row, f"leakage_gap_{protocol}", sign="+"),
            )
        console.print(table)


def _print_transfer(url: str) -> None:
    """With ``--split transfer``: each pair's score beside the tested-on dataset's in-domain
    score, the drop with its interval and the column's tier, as ``transfer.html`` shows them."""
    from merbench.evaluation.tasks import get_task
    from merbench.evaluation.transfer import matrix_metric
    from merbench.results.run_result import read_transfer

    matrix = read_transfer(url)
    if matrix.empty:
        return
    for (task, candidate), group in matrix.groupby(["task", "candidate"], sort=True):
        metric = matrix_metric(get_task(str(task)))
        table = Table(
            title=f"transfer / {task} / {candidate}: {metric}, drop = in-domain - transferred"
        )
        for column in ("trained on", "tested on", metric, "drop [95% CI]", "tier"):
            table.add_column(column, justify="left" if column.endswith(" on") else "right")
        for row in group.to_dict("records"):
            own = bool(row.get("is_diagonal"))
            table.add_row(
                escape(str(row["source"])),
                escape(str(row["target"])),
                f"{row[metric]:.3f}" if _is_number(row.get(metric)) else "-",
                "in-domain" if own else _interval(row, "drop"),
                str(row.get("tier", "")),
            )
        console.print(table)


def _interval(row: Mapping[Any, Any], name: str, *, bounds: bool = True, sign: str = "") -> str:
    """``mean [low, high]`` of a summary value (``sign="+"`` signs it), ``-`` where missing."""
    mean, low, high = (row.get(name + suffix) for suffix in ("", "_low", "_high"))
    if not _is_number(mean):
        return "-"
    if not bounds or not _is_number(low) or not _is_number(high):
        return f"{mean:{sign}.3f}"
    return f"{mean:{sign}.3f} [{low:{sign}.3f}, {high:{sign}.3f}]"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and value == value


def _rank_line(group: pd.DataFrame, primary: str) -> str:
    """One line saying what the rank and the tier of a summary table are."""
    if (group["rank_by"] == "pooled").any():
        return (
            f"rank: pooled out-of-fold {primary}; tier: paired permutation test over artists "
            "against the leader, Holm-corrected, never above a better-ranked candidate's"
        )
    return (
        f"rank: mean {primary} over folds; tier: corrected resampled t-test against the "
        "leader, Holm-corrected, never above a better-ranked candidate's"
    )


def list_command(registry: Registry, what: str, *, as_json: bool, config: Path | None) -> None:
    """``merbench list``: one table (or JSON) of one kind of thing."""
    warn_failures(registry)
    rows = _list_rows(registry, what, config)
    if as_json:
        _emit_json(rows)
        return
    if not rows:
        console.print(f"No {what} registered.")
        return
    table = Table(title=what)
    # Summaries are long prose and default policies show in 'list candidates': --json has both,
    # and the table stays readable in 80 columns.
    columns = [c for c in rows[0] if c not in ("summary", "default augmentations")]
    for index, column in enumerate(columns):
        table.add_column(column, no_wrap=index == 0, overflow="fold")
    for row in rows:
        table.add_row(*(escape(_cell(row[c])) for c in columns))
    out.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "\n".join(map(str, value))
    return "" if value is None else str(value)


def _list_rows(registry: Registry, what: str, config: Path | None) -> list[dict[str, Any]]:
    from merbench.plugin.specs import TASKS

    if what in KIND_OF_LIST:
        return [_spec_row(r) for r in registry.records[KIND_OF_LIST[what]].values()]
    if what == "candidates":
        return _candidate_rows(registry)
    if what == "datasets":
        return _dataset_rows(registry, config)
    if what == "budgets":
        return _budget_rows(config)
    return [{"task": t} for t in TASKS]


def _budget_rows(config: Path | None) -> list[dict[str, Any]]:
    """Built-in budgets, then those declared in datasets.toml, with where each comes from."""
    from merbench.data.config import default_config_path, load_budgets
    from merbench.evaluation.budgets import all_budgets, budget_record

    path = config or default_config_path()
    configured = load_budgets(path)
    return [
        budget_record(budget) | {"source": str(path) if name in configured else "built-in"}
        for name, budget in all_budgets(configured).items()
    ]


def _spec_row(record: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"name": record.name}
    for attr in ("accepts", "output", "stage", "labels", "mode", "family", "trainable"):
        if hasattr(record, attr):
            row[attr] = getattr(record, attr)
    if hasattr(record, "search_space"):
        row["tunes"] = sorted(record.search_space)
    if hasattr(record, "default_frontends"):
        row["default front-ends"] = list(record.default_frontends)
        row["default augmentations"] = list(record.default_augmentations)
    provenance = record.provenance
    row["plugin"] = f"{provenance.distribution} {provenance.version}" if provenance else ""
    row["summary"] = record.summary
    return row


def _candidate_rows(registry: Registry) -> list[dict[str, Any]]:
    from merbench.pipeline.candidates import check_candidate, default_candidates, needs_weights

    rows = []
    for name in registry.names("model"):
        model = registry.models[name]
        for candidate in default_candidates(model):
            reason = check_candidate(candidate, registry)
            status = f"unavailable: {reason}" if reason else "ok"
            if not reason and needs_weights(candidate, registry):
                status = "ok, by name (pretrained weights: not in 'all')"
            rows.append(
                {
                    "candidate": candidate.name,
                    "model": name,
                    "tasks": list(model.tasks),
                    "status": status,
                }
            )
    return rows


def _dataset_rows(registry: Registry, config: Path | None) -> list[dict[str, Any]]:
    from merbench.data.config import default_config_path, load_config

    rows = [
        {
            "dataset": spec.name,
            "tasks": list(spec.tasks),
            "scale": f"{spec.label_scale.low:g}..{spec.label_scale.high:g}"
            if spec.label_scale
            else "",
            "needs path": spec.requires_path,
            "version": spec.version,
            "plugin": f"{spec.provenance.distribution} {spec.provenance.version}"
            if spec.provenance
            else "",
            "summary": spec.summary,
        }
        for spec in registry.datasets.values()
    ]
    path = config or default_config_path()
    declared = load_config(path, registry.datasets)
    enabled: dict[str, str] = {d.plugin: d.name for d in declared.enabled()}
    for row in rows:
        row["enabled as"] = enabled.get(str(row["dataset"]), "")
    return rows


def plugins_command(registry: Registry, *, as_json: bool) -> int:
    """``merbench plugins``: every plugin and every failure; exit 1 if any plugin failed."""
    from merbench.plugin.hookspecs import PLUGIN_API

    if as_json:
        _emit_json(
            {
                "plugin_api": PLUGIN_API,
                "plugins": [_plugin_row(p) for p in registry.plugins],
                "failures": [
                    {f.name: getattr(x, f.name) for f in fields(x)} for x in registry.failures
                ],
            }
        )
        return 1 if registry.failures else 0
    table = Table(title=f"merbench plugins (plugin API {PLUGIN_API})")
    for column in ("plugin", "distribution", "version", "api", "provides"):
        table.add_column(column)
    for plugin in registry.plugins:
        row = _plugin_row(plugin)
        table.add_row(
            *(escape(_cell(row[c])) for c in ("name", "distribution", "version", "api", "provides"))
        )
    out.print(table)
    for failure in registry.failures:
        console.print(f"[red]refused[/red] {escape(failure.message)}")
    return 1 if registry.failures else 0


def _plugin_row(plugin: Any) -> dict[str, Any]:
    return {
        "name": plugin.name,
        "module": plugin.module,
        "distribution": plugin.distribution,
        "version": plugin.version,
        "api": plugin.api,
        "first_party": plugin.first_party,
        "provides": [f"{kind} {name}" for kind, name in plugin.records],
    }


def status_command(run_dir: str | Path, storage: str | None) -> None:
    """``merbench status``: cells by status per dataset and task, then the failures."""
    from merbench.results.store import Store
    from merbench.results.summaries import read_tables
    from merbench.results.urls import redact, store_url

    url = storage or store_url(run_dir)
    Store(url, read_only=True).close()  # one line, not a traceback, for a store it cannot read
    cells = read_tables([url])["cells"]
    if cells.empty:
        console.print("No cells yet.")
        return
    counts = cells.groupby(["dataset", "task", "status"]).size().unstack(fill_value=0)
    table = Table(title=escape(redact(str(run_dir))))
    table.add_column("dataset / task")
    statuses = list(counts.columns)
    for status in statuses:
        table.add_column(status, justify="right")
    for index, row in counts.iterrows():
        label = " / ".join(map(str, index)) if isinstance(index, tuple) else str(index)
        table.add_row(escape(label), *(str(int(row[s])) for s in statuses))
    out.print(table)
    failed = cells[cells["status"] == "failed"]
    for cell in failed.to_dict("records"):
        label = (
            f"{cell['dataset']}/{cell['task']}/{cell['candidate']} r{cell['repeat']}f{cell['fold']}"
        )
        out.print(f"[red]failed[/red] {escape(label)}: {escape(str(cell['error']))}")
    for cell in cells[cells["status"] == "running"].to_dict("records"):
        label = (
            f"{cell['dataset']}/{cell['task']}/{cell['candidate']} r{cell['repeat']}f{cell['fold']}"
        )
        worker = cell.get("worker") or "an older merbench"
        out.print(
            f"[cyan]running[/cyan] {escape(label)} on {escape(str(worker))} "
            f"since {escape(str(cell['started_at']))}"
        )


def compare_command(run_a: str, run_b: str, *, as_json: bool) -> None:
    """``merbench compare``: the paired differences B - A, as a table or JSON."""
    from merbench.results.compare import compare_runs
    from merbench.results.urls import store_url

    differences = compare_runs(store_url(run_a), store_url(run_b))
    if as_json:
        _emit_json([d.record() for d in differences])
        return
    groups: dict[tuple[str, str, str, str], list[Any]] = {}
    for d in differences:  # one table per dataset, task, split and metric: rows fit 80 columns
        groups.setdefault((d.dataset, d.task, d.split, d.metric), []).append(d)
    for (dataset, task, split, metric), rows in groups.items():
        better = "higher" if rows[0].direction == "maximize" else "lower"
        on = f"{dataset}/{task}" + ("" if split == "grouped" else f" ({split} folds)")
        table = Table(
            title=f"{on}: {metric} ({better} is better), {run_b} minus {run_a}",
            title_justify="left",
        )
        table.add_column("candidate", no_wrap=True)
        for column in ("folds", "A", "B"):
            table.add_column(column, justify="right")
        for column in ("B - A [95 % CI]", "p", "pooled B - A [95 % CI]"):
            table.add_column(column)
        for d in rows:
            table.add_row(
                escape(d.candidate),
                str(d.n_folds),
                f"{d.mean_a:.3f}",
                f"{d.mean_b:.3f}",
                _signed(d.diff, d.ci_low, d.ci_high),
                "" if d.p_value != d.p_value else f"{d.p_value:.3g}",
                _signed(d.pooled_diff, d.pooled_low, d.pooled_high),
            )
        out.print(table)


def _signed(value: float, low: float, high: float) -> str:
    """``+0.012 [-0.004, +0.028]``; empty for NaN, no interval when it is NaN."""
    if value != value:
        return ""
    interval = "" if low != low else f" [{low:+.3f}, {high:+.3f}]"
    return f"{value:+.3f}{interval}"


def verify_command(registry: Registry, name: str, config: Path | None) -> int:
    """``merbench verify``: check a local dataset copy; exit 1 when it cannot be used."""
    from merbench.data.audio import AudioSettings, AudioStore
    from merbench.data.config import default_config_path, load_config
    from merbench.data.tracks import load_tracks
    from merbench.errors import DatasetError
    from merbench.evaluation.tasks import get_task

    declared_all = load_config(config or default_config_path(), registry.datasets)
    declared = declared_all.get(name)
    spec = registry.dataset(declared.plugin)
    problems = list(spec.verifier(declared.path, **dict(declared.options))) if spec.verifier else []
    problems += _overlaps(registry, declared_all.datasets, name)
    usable = 0
    try:
        audio = AudioStore(AudioSettings())
        tasks = [get_task(t) for t in declared.default_tasks(spec)]
        tracks = load_tracks(declared, spec, tasks, check_audio=audio.load)
        problems += [f"{track}: {reason}" for track, reason in tracks.skipped.items()]
        usable = len(tracks.table)
    except DatasetError as exc:
        problems.append(str(exc))
    table = Table(title=f"merbench verify {name} ({spec.name})")
    table.add_column("problem")
    for problem in problems:
        table.add_row(escape(problem))
    if problems:
        out.print(table)
    console.print(
        f"{name}: {usable} usable track(s), {len(problems)} problem(s) "
        f"(tasks: {', '.join(declared.default_tasks(spec))}).",
        highlight=False,
    )
    return 0 if usable else 1


def _overlaps(registry: Registry, declared: Sequence[DatasetConfig], name: str) -> list[str]:
    """One note per other declared local dataset sharing songs with ``name`` (same artist and
    title, ``merbench.data.matching``); datasets that do not load or name no artists are left
    out."""
    from merbench.data.matching import overlap_lines

    tables = {}
    for dataset in declared:
        if dataset.path is None or dataset.plugin not in registry.datasets:
            continue
        try:
            loader = registry.dataset(dataset.plugin).loader
            tables[dataset.name] = loader(dataset.path, **dict(dataset.options))
        except Exception:  # a copy that does not load is its own 'merbench verify' problem
            continue
    if name not in tables:
        return []
    return overlap_lines(name, tables.pop(name), tables)


def check_command(target: str) -> int:
    """``merbench plugins check``: the contract kit on one plugin; exit 1 if a check fails."""
    import importlib
    from importlib import metadata

    from merbench.errors import PluginError
    from merbench.plugin.registry import ENTRY_POINT_GROUP
    from merbench.testing import run_checks

    modules = [
        ep.value
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and target in (ep.dist.name, ep.name)
    ] or [target]
    failed = 0
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise PluginError(
                f"'{target}': cannot import {name} ({type(exc).__name__}: {exc}). Pass an "
                "importable module or an installed distribution with merbench entry points."
            ) from exc
        console.print(f"[bold]{escape(name)}[/bold]")
        for check in run_checks(module):
            mark = "[green]pass[/green]" if check.passed else "[red]FAIL[/red]"
            detail = f": {escape(check.message)}" if check.message else ""
            console.print(f"  {mark} {escape(check.name)}{detail}", highlight=False)
            failed += not check.passed
    console.print(f"{failed} check(s) failed." if failed else "All checks passed.")
    return 1 if failed else 0
