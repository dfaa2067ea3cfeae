"""Final models: a candidate of a run trained on every track of a dataset and written to disk.

``export_model`` (``merbench export``) rebuilds a candidate the way a worker builds one of its
cells (``merbench.pipeline.plan.CellBuilder``: the run's stored settings, budget, audio and window
settings, augmentation policy) and trains it on ALL tracks of the dataset. Its parameters come
from one of two procedures (``docs/export.md``):

- ``final-study``: the procedure the nested cross-validation scored, applied once to every track
  (``merbench.pipeline.cell.tune_and_refit`` with every track as the training part): a study with
  the run's budget on an inner grouped split, the refit on every track with the median best epoch,
  the best trial's rescaling slopes carried.
- ``best-fold``: no new study; the best parameters of the candidate's fold cell with the best
  inner validation value, refitted on every track with that cell's refit epochs and slopes.

The model is written by ``merbench.exchange.bundle`` (safetensors or skops, ``model.json``), with
``check.csv``: its predictions of the dataset's own tracks through the run's pipeline (cached
windows, aggregation, rescaling), which ``merbench predict`` on the same files reproduces, and a
Hugging Face model card (``README.md``, ``merbench.exchange.card``).
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa

from merbench.csvfiles import write_csv
from merbench.data.features import FeatureStore
from merbench.data.tracks import Tracks
from merbench.errors import ConfigError, RunError, did_you_mean
from merbench.evaluation.cv import Fold
from merbench.exchange import bundle
from merbench.exchange.card import CARD, write_card
from merbench.exchange.external import narrow_splits
from merbench.exchange.manifest import FinalModel, model_manifest
from merbench.exchange.runtime import runtime_of
from merbench.paths import follow_umask
from merbench.pipeline.cell import EpochCallback, tune_and_refit
from merbench.pipeline.fitting import CandidateFit, CellPlan
from merbench.pipeline.plan import CellBuilder, read_stored_run
from merbench.plugin.registry import Registry
from merbench.results.protocols import primary_protocol
from merbench.results.schema import CellKey, cells
from merbench.results.store import Store, jsonable
from merbench.results.urls import display_url
from merbench.train.calibration import rescale
from merbench.train.family import family_of

log = logging.getLogger(__name__)

ParamsChoice = Literal["final-study", "best-fold"]
PARAMS_CHOICES: tuple[ParamsChoice, ...] = ("final-study", "best-fold")


@dataclass(frozen=True, kw_only=True)
class ExportRequest:
    """What ``merbench export`` was asked."""

    out: Path
    candidate: str | None = None
    """The candidate (default: the leader of the dataset and task)."""
    dataset: str | None = None
    task: str | None = None
    params: ParamsChoice = "final-study"
    config: Path | None = None
    """The ``datasets.toml`` of this machine (default: the run's, if that path exists here)."""


@dataclass(frozen=True, kw_only=True)
class Exported:
    """What was exported, and where."""

    folder: Path
    candidate: str
    dataset: str
    task: str
    params: ParamsChoice
    n_tracks: int
    files: tuple[str, ...]


def export_model(
    store: Store,
    registry: Registry,
    request: ExportRequest,
    on_epoch: EpochCallback | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> Exported:
    """Train a run's candidate on every track of a dataset; write it to ``request.out``.

    ``on_phase`` is told each phase as it starts, in a few words (``"loading dataset synth"``).

    Raises:
        ConfigError: options naming nothing in the run, a candidate that predicts from no
            audio, or an ``--out`` folder that is not empty.
        RunError: the run has no finished cell of the candidate (``best-fold``), or its
            dataset changed since the run.
        MerbenchError: the dataset or the candidate's plugins are not available here.
    """
    if request.params not in PARAMS_CHOICES:
        raise ConfigError(f"--params {request.params!r}: choose {' or '.join(PARAMS_CHOICES)}.")
    _check_out(request.out)
    dataset, task, protocol = _choose_split(store, request)
    candidate = request.candidate or _leader(store, dataset, task)
    key = _first_key(store, dataset, task, protocol, candidate)
    phase = on_phase or (lambda text: None)
    phase(f"loading dataset {dataset}")
    stored = read_stored_run(store, registry, config=request.config)
    builder = CellBuilder(
        store, registry, stored.settings, stored.config, stored.tasks, stored.budget
    )
    plan = _final_plan(builder.resolve(key), stored.settings.seed)
    if not plan.model.accepts:
        raise ConfigError(
            f"--candidate {candidate}: '{plan.model.name}' predicts from no audio (a baseline of "
            "the training labels); there is no model to export. Export another candidate."
        )
    features = builder.features
    root = dataset_root(plan.tracks, builder.config.get(dataset).path)
    n_tracks = len(plan.tracks.table)
    if request.params == "final-study":
        phase(f"tuning and training {candidate} on all {n_tracks} tracks ({task})")
        final = _final_study(plan, features, on_epoch)
    else:
        phase(f"training {candidate} on all {n_tracks} tracks with the best fold's parameters")
        final = _best_fold(store, plan, features, key)
    phase(f"writing {request.out}")
    request.out.mkdir(parents=True, exist_ok=True)
    files = _write(request.out, plan, features, final, store, root)
    log.info("exported %s (%s/%s) to %s", candidate, dataset, task, request.out)
    return Exported(
        folder=request.out,
        candidate=candidate,
        dataset=dataset,
        task=task,
        params=request.params,
        n_tracks=n_tracks,
        files=files,
    )


def _check_out(out: Path) -> None:
    from merbench.pipeline.settings import check_folder

    check_folder(out, "--out")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            f"--out {out}: the folder is not empty. Pass a new or empty folder for the model."
        )


def _choose_split(store: Store, request: ExportRequest) -> tuple[str, str, str]:
    """The dataset, task and ranking protocol the options name, or the run's only ones."""
    records = narrow_splits(
        store, {"--dataset": request.dataset, "--task": request.task}, "model to export"
    )
    protocol = primary_protocol(r.protocol for r in records)
    return records[0].dataset, records[0].task, protocol


def _leader(store: Store, dataset: str, task: str) -> str:
    """The rank-1 candidate of a dataset and task (external entries and baselines aside)."""
    from merbench.results.summaries import summarize_store

    summary = summarize_store(store.url)
    mine = summary[(summary["dataset"] == dataset) & (summary["task"] == task)]
    if "status" in mine:
        mine = mine[mine["status"] == "done"]
    for column in ("is_external", "is_baseline"):
        if column in mine:
            mine = mine[~mine[column].fillna(False).astype(bool)]
    if mine.empty:
        raise RunError(
            f"{display_url(store.url)}: no finished candidate on {dataset}/{task} to export. "
            "Finish the run first, or name one with --candidate."
        )
    return str(mine.sort_values("rank")["candidate"].iloc[0])


def _fold_cells(
    store: Store, dataset: str, task: str, protocol: str, candidate: str
) -> list[dict[str, Any]]:
    query = sa.select(cells).where(
        cells.c.dataset == dataset, cells.c.task == task, cells.c.candidate == candidate
    )
    with store.reader.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    return [r for r in rows if (r.get("split") or "grouped") == protocol]


def _first_key(store: Store, dataset: str, task: str, protocol: str, candidate: str) -> CellKey:
    """The key of the candidate's first fold cell (refusing a candidate the run lacks)."""
    rows = _fold_cells(store, dataset, task, protocol, candidate)
    if not rows:
        query = sa.select(cells.c.candidate).where(cells.c.dataset == dataset, cells.c.task == task)
        with store.reader.connect() as conn:
            known = sorted({str(r[0]) for r in conn.execute(query)})
        raise ConfigError(
            f"{display_url(store.url)}: --candidate '{candidate}': not a candidate of the run on "
            f"{dataset}/{task}.{did_you_mean(candidate, known)} It has: {', '.join(known)}."
        )
    first = min(rows, key=lambda r: (r["repeat"], r["fold"]))
    return CellKey(
        dataset=dataset,
        task=task,
        candidate=candidate,
        repeat=int(first["repeat"]),
        fold=int(first["fold"]),
        split=protocol,
    )


def final_seed(run_seed: int, dataset: str, task: str, candidate: str) -> int:
    """The seed of a final model: from the run seed and the model's identity, as a cell's."""
    parts = [dataset, task, candidate, "final"]
    entropy = [run_seed, *(zlib.crc32(p.encode()) for p in parts)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _final_plan(plan: CellPlan, run_seed: int) -> CellPlan:
    """A cell plan whose training part is every track, with no test fold."""
    n = len(plan.tracks.table)
    key = plan.key
    every = Fold(repeat=key.repeat, fold=key.fold, train=np.arange(n), test=np.zeros(0, int))
    seed = final_seed(run_seed, key.dataset, key.task, key.candidate)
    return replace(plan, fold=every, seed=seed)


def _final_study(
    plan: CellPlan, features: FeatureStore, on_epoch: EpochCallback | None
) -> FinalModel:
    refit = tune_and_refit(plan, features, on_epoch)
    chosen = {
        "method": "final-study",
        "seed": plan.seed,
        "trials": len(refit.tuned.trials),
        "best_value": refit.tuned.best_value,
        "refit_epochs": refit.epochs,
        "trial_best_epochs": refit.best_epochs,
        "n_valid": len(refit.inner_valid),
    }
    return FinalModel(
        fitted=refit.fitted,
        params=dict(refit.tuned.best_params),
        slopes=refit.slopes,
        chosen=chosen,
    )


def _best_fold(store: Store, plan: CellPlan, features: FeatureStore, key: CellKey) -> FinalModel:
    rows = _fold_cells(store, key.dataset, key.task, key.split, key.candidate)
    done = [
        r for r in rows if r["status"] == "done" and _is_number((r["info"] or {}).get("best_value"))
    ]
    if not done:
        raise RunError(
            f"{display_url(store.url)}: no finished fold cell of {key.candidate} on "
            f"{key.dataset}/{key.task} has a validation value. Finish the run, or use "
            "--params final-study."
        )
    best = max(done, key=lambda r: (float(r["info"]["best_value"]), -r["repeat"], -r["fold"]))
    info = best["info"]
    params = dict(best["best_params"] or {})
    epochs = info.get("refit_epochs")
    fitted = CandidateFit(plan, features).fit(params, plan.fold.train, epochs=epochs)
    chosen = {
        "method": "best-fold",
        "seed": plan.seed,
        "cell": {"repeat": best["repeat"], "fold": best["fold"], "split": key.split},
        "best_value": info["best_value"],
        "refit_epochs": epochs,
    }
    return FinalModel(
        fitted=fitted, params=params, slopes=info.get("rescale_slopes"), chosen=chosen
    )


def _write(
    folder: Path,
    plan: CellPlan,
    features: FeatureStore,
    final: FinalModel,
    store: Store,
    root: Path,
) -> tuple[str, ...]:
    """Write the weights, ``check.csv`` (files relative to the dataset's ``root``),
    ``model.json`` and the model card ``README.md``; return the file names."""
    runtime = runtime_of(plan.model)
    weights = folder / runtime.file
    runtime.save(final.fitted.model, weights, plan.model)
    y = plan.tracks.targets(plan.problem.task)
    centre = y.mean(axis=0) if plan.problem.is_regression else None
    check, class_scores = _check_table(plan, features, final, centre)
    check["file"] = [Path(f).relative_to(root).as_posix() for f in check["file"]]
    write_csv(check, folder / bundle.CHECK_CSV)
    manifest = model_manifest(plan, features, final, store, centre)
    manifest["class_scores"] = class_scores
    manifest["weights"] = {
        "file": weights.name,
        "format": family_of(plan.model).weight_format,
        "sha256": bundle.sha256_of(weights),
    }
    manifest["files"] = {
        bundle.CHECK_CSV: {"sha256": bundle.sha256_of(folder / bundle.CHECK_CSV)},
    }
    bundle.write_manifest(folder, jsonable(manifest))
    write_card(folder, store, jsonable(manifest))
    files = (bundle.MODEL_JSON, weights.name, bundle.CHECK_CSV, CARD)
    for name in files:  # a library may write with its own mode (safetensors: 0600)
        follow_umask(folder / name)
    return files


def _check_table(
    plan: CellPlan, features: FeatureStore, final: FinalModel, centre: np.ndarray | None
) -> tuple[pd.DataFrame, str | None]:
    """The final model's predictions of the dataset's tracks, through the run's pipeline."""
    table = plan.tracks.table
    rows = np.arange(len(table))
    spec = plan.problem.task
    frame = pd.DataFrame(
        {"track_id": table["track_id"].astype(str), "file": table["audio_path"].astype(str)}
    )
    fitted = final.fitted
    feed = CandidateFit(plan, features).feed(final.params, rows)
    y_pred = fitted.predict(feed, len(rows))
    if spec.is_regression:
        y_pred = rescale(y_pred, final.slopes, np.asarray(centre))
        for d, target in enumerate(spec.targets):
            frame[target] = y_pred[:, d]
        return frame, None
    if spec.is_multilabel:  # each tag's probability
        for d, tag in enumerate(spec.targets):
            frame[tag] = np.asarray(y_pred)[:, d]
        return frame, "probabilities"
    assert fitted.scores is not None  # every classification fit gives class scores
    scores = fitted.scores(feed, len(rows))
    kind = family_of(plan.model).class_score_kind(fitted.model)
    for column, label in zip(bundle.score_columns(spec, kind), spec.labels, strict=True):
        frame[column] = scores[:, spec.labels.index(label)]
    frame["class"] = np.asarray(y_pred).astype(int)
    return frame, kind


def dataset_root(tracks: Tracks, path: Path | None) -> Path:
    """The folder ``check.csv``'s files are relative to: the dataset's configured ``path`` when
    it holds every audio file, else the deepest folder that does (a generated dataset's)."""
    files = [Path(f).absolute() for f in tracks.table["audio_path"].astype(str)]
    if path is not None and all(f.is_relative_to(path.absolute()) for f in files):
        return path.absolute()
    return Path(os.path.commonpath([f.parent for f in files]))


def _is_number(value: Any) -> bool:
    """A recorded validation value (0.0 included), not missing or NaN."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
