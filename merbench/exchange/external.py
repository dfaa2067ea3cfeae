"""External entries: predictions made outside merbench, scored on a run's own outer folds.

``fold_table`` exports the fold manifests a run stored (``merbench folds``), so that a model
trained elsewhere can use exactly the run's folds. ``score_external`` (``merbench score``) checks
a CSV of per-track test predictions against those manifests (``merbench.exchange.predictions``),
scores every fold with the task's metrics on the dataset's own labels, and stores the folds as
finished cells of an **external entry**: the cells carry ``info["external"]`` and the hash of the
manifest they were checked against, and their per-track predictions go where every candidate's
go, so summaries, confidence intervals and the paired bootstrap of the tiers take them in like
any candidate's.

The labels come from the dataset (loaded as a worker loads it,
``merbench.pipeline.plan.CellBuilder``), which also checks that its folds still hash to the stored
manifest; each fold is scored in the order the run's cells score it, so a candidate's own
predictions scored again give its metrics to the last bit.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from merbench.errors import ConfigError, RunError, did_you_mean
from merbench.evaluation.cv import Fold
from merbench.evaluation.metrics import compute_metrics
from merbench.evaluation.tasks import TaskSpec, get_task
from merbench.exchange.predictions import (
    check_against_folds,
    check_range,
    proba_columns,
    read_predictions,
)
from merbench.pipeline.plan import CellBuilder, read_stored_run
from merbench.plugin.registry import Registry
from merbench.results.protocols import primary_protocol
from merbench.results.schema import (
    DEFAULT_SPLIT,
    CellKey,
    CellResult,
    cells,
    key_values,
    now,
    where_key,
)
from merbench.results.store import Store, write_result
from merbench.results.urls import display_url

log = logging.getLogger(__name__)

FOLD_COLUMNS = (
    "dataset", "task", "split", "repeat", "fold", "track_id", "group", "part", "manifest_hash",
)  # fmt: skip
"""The columns of ``merbench folds``: one row per track of every outer fold."""
MAX_NAME = 200
"""The longest name an entry may have (the store's candidate column)."""


@dataclass(frozen=True, kw_only=True)
class SplitRecord:
    """One stored split: a dataset, task and protocol with its manifest and hash."""

    dataset: str
    task: str
    protocol: str
    digest: str
    folds: dict[tuple[int, int], frozenset[str]]
    """The test tracks of each ``(repeat, fold)``."""
    tracks: tuple[str, ...]
    """Every track of the split, sorted: those a fold tests and those it trains on."""
    groups: dict[str, str]

    def label(self) -> str:
        """``dataset/task (protocol)``, as messages name a split."""
        return f"{self.dataset}/{self.task} ({self.protocol})"


@dataclass(frozen=True, kw_only=True)
class ScoreRequest:
    """What ``merbench score`` was asked: the file, the entry's name and which folds."""

    predictions: Path
    name: str
    dataset: str | None = None
    task: str | None = None
    split: str | None = None
    """The split protocol (default: the one that ranks the dataset and task)."""
    config: Path | None = None
    """The ``datasets.toml`` of this machine (default: the run's, if that path exists here)."""
    replace: bool = False
    """Replace an entry of the same name on the same split (else it is refused)."""


@dataclass(frozen=True, kw_only=True)
class ExternalEntry:
    """A stored external entry: where it was scored and its primary metric per fold."""

    name: str
    split: SplitRecord
    primary: str
    scores: dict[tuple[int, int], float]
    """The primary metric of each ``(repeat, fold)``."""
    n_predictions: int


def read_splits(store: Store) -> list[SplitRecord]:
    """Every split a run stored, sorted by dataset, task and protocol.

    Raises:
        RunError: the store holds no folds yet.
    """
    rows = store.table("splits")
    if not rows:
        raise RunError(
            f"{display_url(store.url)}: no folds stored in this run yet. Start the run first "
            "('merbench run', or 'merbench run --enqueue-only' to store its folds only)."
        )
    records = [_split_record(row) for row in rows]
    return sorted(records, key=lambda r: (r.dataset, r.task, r.protocol))


def _split_record(row: Mapping[str, Any]) -> SplitRecord:
    folds = {
        (int(repeat), fold): frozenset(str(t) for t in ids)
        for repeat, per_repeat in (row["manifest"] or {}).items()
        for fold, ids in enumerate(per_repeat)
    }
    groups = {str(k): str(v) for k, v in ((row["audit"] or {}).get("groups") or {}).items()}
    tracks = set(groups).union(*folds.values()) if folds else set(groups)
    return SplitRecord(
        dataset=str(row["dataset"]),
        task=str(row["task"]),
        protocol=str(row.get("protocol") or DEFAULT_SPLIT),
        digest=str(row["hash"]),
        folds=dict(sorted(folds.items())),
        tracks=tuple(sorted(tracks)),
        groups=groups,
    )


def fold_table(store: Store) -> pd.DataFrame:
    """Every outer fold of a run, one row per track and fold, with ``FOLD_COLUMNS``.

    A fold's training part is every other track of the split: under ``grouped`` and ``random``
    folds, the tracks the other folds of its repeat test; under ``official`` folds, every
    usable track outside the test part.

    Raises:
        RunError: the store holds no folds yet.
    """
    rows = [
        (s.dataset, s.task, s.protocol, repeat, fold, track, s.groups.get(track, ""),
         "test" if track in test else "train", s.digest)
        for s in read_splits(store)
        for (repeat, fold), test in s.folds.items()
        for track in s.tracks
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=list(FOLD_COLUMNS))


def choose_split(store: Store, request: ScoreRequest) -> SplitRecord:
    """The split the predictions follow: the one the options name, or the run's only one.

    Raises:
        ConfigError: an option names no stored split, or several datasets or tasks remain.
    """
    records = narrow_splits(
        store,
        {"--dataset": request.dataset, "--task": request.task, "--split": request.split},
        "the predictions follow",
    )
    protocol = primary_protocol(r.protocol for r in records)
    return next(r for r in records if r.protocol == protocol)


_SPLIT_FIELDS = {"--dataset": "dataset", "--task": "task", "--split": "protocol"}


def narrow_splits(store: Store, options: Mapping[str, str | None], which: str) -> list[SplitRecord]:
    """A run's stored splits narrowed by the options given (``--dataset``, ``--task``,
    ``--split``; ``None`` is not given), all of one dataset and task.

    Args:
        store: the run's store.
        options: each option's value.
        which: what the user chooses, completing "Say which ... with --dataset and --task".

    Raises:
        ConfigError: an option names no stored split, or several datasets or tasks remain.
    """
    records = read_splits(store)
    where = display_url(store.url)
    for option, value in options.items():
        if value is None:
            continue
        field = _SPLIT_FIELDS[option]
        known = sorted({getattr(r, field) for r in records})
        if value not in known:
            raise ConfigError(
                f"{where}: {option} '{value}': the run has no folds for it."
                f"{did_you_mean(value, known)} It has: {', '.join(known)}."
            )
        records = [r for r in records if getattr(r, field) == value]
    if len({(r.dataset, r.task) for r in records}) > 1:
        labels = ", ".join(dict.fromkeys(f"{r.dataset}/{r.task}" for r in records))
        raise ConfigError(
            f"{where}: the run has folds for several datasets and tasks ({labels}). Say which "
            f"{which} with --dataset and --task."
        )
    return records


def check_name(store: Store, name: str, models: Collection[str]) -> None:
    """Refuse a name that is empty, too long, unprintable, or could be a candidate's.

    A candidate's name (a model's, or one with ``@``) is refused even when the run does not
    have that candidate yet: a later ``merbench run`` of it would find the entry's finished
    cells and keep them as its own.

    Args:
        store: the run's store.
        name: the entry's name.
        models: the names of the registered models.

    Raises:
        ConfigError: naming the problem and asking for another ``--name``.
    """
    problem = ""
    if not name.strip():
        problem = "is empty"
    elif len(name) > MAX_NAME:
        problem = f"is longer than {MAX_NAME} characters"
    elif not name.isprintable():
        problem = "has control characters (a line break or a tab)"
    elif "@" in name or name.partition(":")[0] in models:
        problem = "could be a candidate's (a model's name, or a name with '@')"
    else:
        query = sa.select(cells.c.info).where(cells.c.candidate == name)
        with store.reader.connect() as conn:
            infos = [row[0] or {} for row in conn.execute(query)]
        if any(not (isinstance(i, Mapping) and i.get("external")) for i in infos):
            problem = "belongs to a candidate of this run"
    if problem:
        raise ConfigError(
            f"--name {name!r}: the name {problem}. Give the external entry another name."
        )


def check_new(store: Store, name: str, split: SplitRecord) -> None:
    """Refuse to overwrite the external entry ``name`` on ``split``, naming it.

    Raises:
        ConfigError: naming the entry, the file it was scored from and the fix.
    """
    query = sa.select(cells.c.info).where(
        (cells.c.candidate == name)
        & (cells.c.dataset == split.dataset)
        & (cells.c.task == split.task)
        & (cells.c.split == split.protocol)
    )
    with store.reader.connect() as conn:
        infos = [row[0] or {} for row in conn.execute(query)]
    if not infos:
        return
    source = next((i.get("source") for i in infos if isinstance(i, Mapping)), None)
    scored = f", scored from {source}" if source else ""
    raise ConfigError(
        f"--name {name!r}: the run already has an external entry of that name on "
        f"{split.label()} ({len(infos)} fold(s){scored}). Pass --replace to replace it, or give "
        "another --name."
    )


def score_external(store: Store, registry: Registry, request: ScoreRequest) -> ExternalEntry:
    """Check, score and store a file of predictions as an external entry of the run.

    A second call with the same name and folds is refused, unless ``request.replace``: then it
    replaces the entry's earlier scores.

    Raises:
        ConfigError: a bad name, an entry of that name on that split (without ``replace``),
            options naming no stored split, or a file that does not match the run's folds (one
            line naming the file, the first offending rows and the fix).
        RunError: the dataset's folds no longer hash to the stored manifest.
        MerbenchError: the run's dataset cannot be loaded on this machine.
    """
    split = choose_split(store, request)
    check_name(store, request.name, registry.names("model"))
    if not request.replace:
        check_new(store, request.name, split)
    spec = get_task(split.task)
    # A multilabel task's prediction columns are the dataset's tags: load it first.
    known = _labels(store, registry, split, spec, request.config) if spec.is_multilabel else None
    spec = known.task if known is not None else spec
    frame = read_predictions(request.predictions, spec)
    check_against_folds(request.predictions, frame, split.folds, set(split.tracks))
    labels = known or _labels(store, registry, split, spec, request.config)
    check_range(request.predictions, frame, spec, labels.y)
    info = {
        "external": True,
        "manifest_hash": split.digest,
        "source": request.predictions.name,
        "source_sha256": hashlib.sha256(request.predictions.read_bytes()).hexdigest(),
        "is_baseline": False,
        "plugins": [],
    }
    results: dict[CellKey, CellResult] = {}
    for (repeat, fold_number), fold in sorted(labels.folds.items()):
        key = CellKey(dataset=split.dataset, task=split.task, candidate=request.name,
                      repeat=repeat, fold=fold_number, split=split.protocol)  # fmt: skip
        mine = frame[(frame["repeat"] == repeat) & (frame["fold"] == fold_number)]
        rows = mine.set_index("track_id").loc[labels.ids[fold.test]]
        results[key] = _score_fold(spec, fold, rows, labels, info)
    _save(store, results)
    log.info("%s: stored external entry %r on %s", display_url(store.url), request.name,
             split.label())  # fmt: skip
    return ExternalEntry(
        name=request.name,
        split=split,
        primary=spec.primary,
        scores={(k.repeat, k.fold): float(r.metrics[spec.primary]) for k, r in results.items()},
        n_predictions=len(frame),
    )


@dataclass(frozen=True, kw_only=True)
class Labels:
    """What the cells of a split score against: folds, track ids and targets of the dataset."""

    folds: dict[tuple[int, int], Fold]
    ids: np.ndarray
    """Every track id of the dataset's table, ``[N]``."""
    y: np.ndarray
    """The task's targets, ``[N, D]`` float or ``[N]`` int."""
    top_k: int | None
    """The run's ``--top-k``."""
    task: TaskSpec
    """The task as the dataset gives it (a multilabel task with its tags)."""


def _labels(
    store: Store, registry: Registry, split: SplitRecord, spec: TaskSpec, config: Path | None
) -> Labels:
    """Load a split's dataset as a worker does, and its folds, checked against the stored hash.

    Raises:
        RunError: the dataset's folds differ from the stored ones.
        MerbenchError: the dataset cannot be loaded on this machine.
    """
    stored = read_stored_run(store, registry, config=config)
    builder = CellBuilder(
        store, registry, stored.settings, stored.config, stored.tasks, stored.budget
    )
    folds = builder.folds(split.dataset, split.task, split.protocol)
    tracks = builder.tracks(split.dataset)
    return Labels(
        folds=folds,
        ids=tracks.table["track_id"].astype(str).to_numpy(),
        y=tracks.targets(spec),
        top_k=stored.settings.top_k,
        task=spec.bound_to(tracks.table.columns),
    )


def _score_fold(
    spec: TaskSpec, fold: Fold, rows: pd.DataFrame, labels: Labels, info: Mapping[str, Any]
) -> CellResult:
    """Score one fold's predictions as its cells do (``merbench.pipeline.cell``): same order, same
    inputs.

    Args:
        spec: the task.
        fold: the fold's track indices into the dataset's table.
        rows: the fold's predictions, indexed by track id in ``fold.test`` order.
        labels: the dataset's track ids and targets, and the run's ``--top-k`` (used when the
            file gives class scores).
        info: what every cell of the entry stores in ``info``.
    """
    ids, y, top_k = labels.ids, labels.y, labels.top_k
    probas = [c for c in proba_columns(spec) if c in rows]
    proba = rows[probas].to_numpy(dtype=np.float64) if probas else None
    if proba is None or (top_k is not None and top_k >= len(spec.labels)):
        top_k = None  # as a cell: top-k needs scores, and k >= classes is no measurement
    y_pred: np.ndarray = (
        rows["class"].to_numpy(dtype=np.int64)
        if spec.is_classification
        else rows[list(spec.targets)].to_numpy(dtype=np.float64)
    )
    metrics = compute_metrics(
        spec,
        y[fold.test],
        y_pred,
        labels=spec.labels or None,
        proba=proba,
        top_k=top_k,
        y_train=y[fold.train],
    )
    return CellResult(
        metrics=metrics,
        best_params={},
        timings={},
        info=dict(info) | {"n_train": len(fold.train), "n_test": len(fold.test)},
        predictions=_prediction_rows(spec, ids[fold.test], y[fold.test], y_pred),
        trials=[],
    )


def _prediction_rows(
    spec: TaskSpec, tracks: Sequence[str], y_true: np.ndarray, y_pred: np.ndarray
) -> list[tuple[str, str, float, float]]:
    """``(track_id, target, y_true, y_pred)`` rows, as ``merbench.pipeline.cell`` stores them."""
    if not spec.is_classification:
        return [
            (str(track), target, float(y_true[n, d]), float(y_pred[n, d]))
            for n, track in enumerate(tracks)
            for d, target in enumerate(spec.targets)
        ]
    return [
        (str(track), "class", float(y_true[n]), float(y_pred[n])) for n, track in enumerate(tracks)
    ]


def _save(store: Store, results: Mapping[CellKey, CellResult]) -> None:
    """Write every fold of an entry in one transaction, replacing an earlier scoring of it."""

    def save(conn: sa.Connection) -> None:
        for key, result in results.items():
            query = sa.select(cells.c.id).where(*where_key(key))
            if conn.execute(query).first() is None:
                values = key_values(key) | {"status": "done", "started_at": now()}
                conn.execute(cells.insert().values(**values))
            write_result(conn, int(conn.execute(query).scalar_one()), result)

    store.transact(save)
