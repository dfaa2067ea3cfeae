"""What ``model.json`` of an exported model says: everything ``merbench predict`` needs to
rebuild the pipeline (candidate, parameters, task, label scale, target scaler and rescaling,
audio and window settings, front-ends with their weights' description) and the provenance a
reader checks (plugin distributions and versions, budget, run, merbench's version).

``merbench.exchange.export`` trains the model; ``merbench.exchange.bundle`` writes and reads the
files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from merbench.data.features import FeatureStore
from merbench.evaluation.budgets import budget_record
from merbench.exchange import bundle
from merbench.pipeline.fitting import CellPlan
from merbench.pipeline.record import window_info
from merbench.results.store import Store
from merbench.train.fit import Fitted
from merbench.train.tuning import default_reprs, split_params
from merbench.version import __version__


@dataclass(frozen=True, kw_only=True)
class FinalModel:
    """The model fitted on every track and how its parameters were chosen."""

    fitted: Fitted
    params: dict[str, Any]
    slopes: list[float] | None
    chosen: dict[str, Any]


def model_manifest(
    plan: CellPlan,
    features: FeatureStore,
    final: FinalModel,
    store: Store,
    centre: np.ndarray | None,
) -> dict[str, Any]:
    """``model.json`` of an exported model, without the weights' entry and the files' hashes."""
    model_params, per_frontend = split_params(final.params, plan.frontends, plan.augmentations)
    spec = plan.problem.task
    scaler = final.fitted.target_scaler
    run = store.read_run() or {}
    return {
        "format_version": bundle.FORMAT_VERSION,
        "merbench_version": __version__,
        "candidate": plan.candidate.name,
        "model": {"name": plan.model.name, "family": plan.model.family},
        "model_params": model_params,
        "frontends": [
            {
                "name": f.name,
                "output": f.output,
                "trainable": f.trainable,
                "params": params,
                "defaults": default_reprs(f.builder),
                **({} if f.sample_rate is None else {"sample_rate": f.sample_rate}),
                **({} if f.describe is None else {"weights": dict(f.describe())}),
            }
            for f, params in zip(plan.frontends, per_frontend, strict=True)
        ],
        "augmentations": [a.name for a in plan.augmentations],
        "params": final.params,
        "params_chosen": final.chosen,
        "task": {
            "name": spec.name,
            "kind": spec.kind,
            "targets": list(spec.targets),
            "classes": [[label, name] for label, name in spec.classes],
        },
        "dataset": _dataset_record(plan),
        "target_scaler": None if scaler is None else {"mean": scaler.mean, "std": scaler.std},
        "rescaling": None
        if final.slopes is None or centre is None
        else {"slopes": list(final.slopes), "centre": centre},
        **_audio_record(plan, features),
        "precision": plan.problem.precision,
        "budget": budget_record(plan.problem.budget),
        "plugins": _plugins(plan),
        "run": {
            "name": run.get("name"),
            "id": run.get("id"),
            "created_at": run.get("created_at"),
            "seed": plan.render_seed,
            "split": plan.key.split,
        },
        "n_params": final.fitted.n_params,
    }


def _dataset_record(plan: CellPlan) -> dict[str, Any]:
    """The dataset trained on and its label scale (the scale of regression predictions)."""
    scale, targets = plan.tracks.scale, list(plan.problem.task.targets)
    return {
        "name": plan.tracks.name,
        "plugin": plan.tracks.spec.name,
        "n_tracks": len(plan.tracks.table),
        "label_scale": {"low": scale.low, "high": scale.high, "targets": targets},
    }


def _audio_record(plan: CellPlan, features: FeatureStore) -> dict[str, Any]:
    """How audio becomes windows (``audio``), and the cell's record of them (``windows``)."""
    settings = features.audio.settings
    rows = np.arange(len(plan.tracks.table))
    audio = {
        "sample_rate": settings.sample_rate,
        "mono": settings.mono,
        "crop": settings.crop,
        "window_seconds": settings.seconds,
        "hop_fraction": settings.hop_fraction,
        "windowing": settings.windowing,
        "max_seconds": features.cap(plan.tracks),
    }
    return {"audio": audio, "windows": window_info(plan, features, rows, np.zeros(0, int))}


def _plugins(plan: CellPlan) -> list[dict[str, Any]]:
    """The distributions (and versions) that gave the candidate's model, front-ends, policy."""
    found: dict[str, dict[str, Any]] = {}
    records: list[Any] = [plan.model, *plan.frontends, *plan.augmentations]
    for record in records:
        provenance = record.provenance
        if provenance is None:
            continue
        entry = found.setdefault(
            provenance.distribution,
            {
                "distribution": provenance.distribution,
                "version": provenance.version,
                "provides": [],
            },
        )
        entry["provides"].append(
            f"{type(record).__name__.removesuffix('Spec').lower()} {record.name}"
        )
    return list(found.values())
