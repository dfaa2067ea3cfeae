"""Export results as Hugging Face model-index YAML (``merbench leaderboard --format eval-results``).

One file per candidate and dataset, ``<dataset>_<candidate>_<hash>.yaml``, holding the
``model-index`` block of a model card's metadata: the candidate is the model's ``name``; each task
it finished is a result whose ``task`` is the Hub's task id (``TaskSpec.hub_task``) named by the
merbench task, whose ``dataset`` names the dataset, its version (``config``) and the split
protocol (``split``: protocol, outer folds and repeats, the cross-validation's outer test folds;
``args``: the merbench task, the same as fields and the SHA-256 of the folds' manifest), and whose
``metrics`` are every metric of the page tables but the chance levels (a reference, not a score
of the model): ``type`` the Hub's metric id (``r_squared``, ``accuracy``, ``f1`` with ``config``
``macro``; the column where the Hub has none), ``name`` its page label, ``value`` the mean over
outer folds and, since the format has no field for an interval, ``args`` with merbench's column,
its 95 % confidence interval (``ci_low``, ``ci_high``), the confidence level and the number of
folds. A protocol run beside the ranking one (``--split
grouped,random``) is one more result with its primary metric and the leakage gap. Results are
self-reported (``verified: false``). Written with PyYAML's safe dumper: every value is data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from merbench.evaluation.scoring import is_chance_level, metric_label
from merbench.leaderboard.collect import Collected, collect
from merbench.leaderboard.dataset import dataset_metadata
from merbench.leaderboard.pages import slug
from merbench.leaderboard.values import records
from merbench.results.model_index import metric_entry, result_entry
from merbench.results.protocols import primary_protocol
from merbench.results.summaries import (
    cells_frame,
    metric_columns,
    predictions_frame,
    split_groups,
    summarize,
)
from merbench.version import __version__


def eval_results_file(dataset: str, candidate: str) -> str:
    """The file of one candidate on one dataset: slugs and a hash of the exact names."""
    digest = hashlib.sha256(f"{dataset}\0{candidate}".encode()).hexdigest()[:10]
    return f"{slug(dataset)}_{slug(candidate)[:48]}_{digest}.yaml"


def write_eval_results(urls: Sequence[str], out: Path) -> list[Path]:
    """Write one model-index YAML per finished candidate and dataset of the stores into ``out``.

    Returns:
        The files written, in dataset and candidate order.
    """
    collected = collect(urls)
    groups = split_groups((d, s["audit"]) for (d, _), s in collected.splits.items())
    predictions = predictions_frame(collected.cells, collected.predictions)
    summary = summarize(cells_frame(collected.cells), predictions, groups)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for (dataset, candidate), rows in _finished(summary):
        index = model_index(str(dataset), str(candidate), rows, collected)
        path = out / eval_results_file(str(dataset), str(candidate))
        header = f"# merbench {__version__}: {candidate} on {dataset}, self-reported.\n"
        path.write_text(header + dump(index), encoding="utf-8")
        written.append(path)
    return written


def dump(data: Any) -> str:
    """YAML of plain data, keys in the order given (PyYAML's safe dumper)."""
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


def _finished(summary: pd.DataFrame) -> list[tuple[tuple[str, str], pd.DataFrame]]:
    if summary.empty:
        return []
    done = summary[summary["status"] == "done"]
    groups = done.groupby(["dataset", "candidate"], sort=True)
    return [((str(key[0]), str(key[1])), group) for key, group in groups]


def model_index(
    dataset: str, candidate: str, rows: pd.DataFrame, collected: Collected
) -> dict[str, Any]:
    """The ``model-index`` of one candidate on one dataset: a result per task and protocol."""
    version = dataset_metadata(collected.runs).get(dataset, {}).get("version")
    results = []
    for row in records(rows.sort_values("task")):
        task = str(row["task"])
        splits = [s for s in collected.protocols if s["dataset"] == dataset and s["task"] == task]
        ranking = primary_protocol(s["protocol"] for s in splits)
        shown = metric_columns(rows[rows["task"] == task], task)
        columns = [c for c in shown if not is_chance_level(c)]
        for split in sorted(splits, key=lambda s: (s["protocol"] != ranking, s["protocol"])):
            if split["protocol"] == ranking:
                metrics = [
                    metric_entry(row, m, metric_label(m), row.get("n_folds")) for m in columns
                ]
            else:  # the primary metric and the leakage gap, under this protocol's folds
                other, primary = split["protocol"], str(row["primary"])
                gap = f"leakage gap ({other} minus {ranking})"
                metrics = [
                    metric_entry(
                        row, f"{primary}_{other}", f"{metric_label(primary)}, {other}", None
                    ),
                    metric_entry(row, f"leakage_gap_{other}", gap, None),
                ]
            found = [m for m in metrics if m is not None]
            if found:
                results.append(result_entry(task, dataset, version, split, found))
    return {"model-index": [{"name": candidate, "results": results}]}
