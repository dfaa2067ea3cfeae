"""The model card of an exported model: ``README.md``, a Hugging Face model card.

Its metadata is huggingface_hub's ``ModelCardData``: the Hub's task id (``pipeline_tag``),
``library_name: merbench``, the dataset, the pretrained encoders the model is built on
(``base_model``) and the candidate's cross-validated results as ``model-index`` entries, the same
entries ``merbench leaderboard --format eval-results`` writes (``merbench.results.model_index``),
read into ``EvalResult``s by huggingface_hub's own parser. The text says how the numbers were
made (nested cross-validation, its grouping, folds, repeats and trials), the trivial baselines
and chance levels of the same folds (references, never listed as the model's metrics), how the
final weights were trained, and the licences that apply to them. The written card is read back
with ``ModelCard.load`` (offline) before the export is done, so a card the Hub's parser cannot
read is never written silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from merbench import markdown as md
from merbench.errors import RunError
from merbench.evaluation.scoring import find_metric, is_chance_level, metric_label
from merbench.evaluation.tasks import get_task
from merbench.results.model_index import metric_entry, result_entry
from merbench.results.store import Store
from merbench.results.summaries import INTERVAL_ENDS, metric_columns, summarize_store

CARD = "README.md"
HOMEPAGE = "https://github.com/merbench/merbench"
PROTOCOL_TEXT = {
    "grouped": "artist-grouped k-fold cross-validation (no artist in two folds)",
    "random": "ungrouped (random) k-fold cross-validation",
    "official": "the dataset's official split",
}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def write_card(folder: Path, store: Store, manifest: Mapping[str, Any]) -> Path:
    """Write ``README.md`` into an export ``folder`` and read it back with huggingface_hub.

    Raises:
        RunError: huggingface_hub cannot read the card back with every result.
    """
    from huggingface_hub import ModelCard

    card = model_card(store, manifest)
    path = folder / CARD
    card.save(path)
    expected = len(card.data.eval_results or [])
    loaded = ModelCard.load(path)  # a local path: parsed here, nothing is fetched
    if len(loaded.data.eval_results or []) != expected:
        raise RunError(f"{path}: huggingface_hub read back a model-index other than written.")
    return path


def model_card(store: Store, manifest: Mapping[str, Any]) -> Any:
    """The ``huggingface_hub.ModelCard`` of an exported model (``manifest``: its ``model.json``)."""
    from huggingface_hub import ModelCard, ModelCardData
    from huggingface_hub.repocard_data import model_index_to_eval_results

    facts = _Facts.read(store, manifest)
    index = facts.model_index()
    eval_results = model_index_to_eval_results(index)[1] if index else None
    spec = get_task(facts.task)
    data = ModelCardData(
        model_name=facts.candidate,
        library_name="merbench",
        pipeline_tag=spec.hub_task,
        tags=["merbench", "music-emotion-recognition", "audio", facts.task],
        datasets=[facts.dataset],
        base_model=facts.base_models or None,
        eval_results=eval_results,
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{facts.body()}")


class _Facts:
    """What the card says, read from the run's store and the model's ``model.json``."""

    def __init__(self, manifest: Mapping[str, Any], run: Mapping[str, Any]) -> None:
        self.manifest = manifest
        self.candidate = str(manifest["candidate"])
        self.dataset = str(manifest["dataset"]["name"])
        self.task = str(manifest["task"]["name"])
        self.protocol = str(manifest["run"].get("split") or "grouped")
        datasets = (run.get("provenance") or {}).get("datasets") or {}
        meta = datasets.get(self.dataset) if isinstance(datasets, Mapping) else None
        self.dataset_meta: Mapping[str, Any] = meta if isinstance(meta, Mapping) else {}
        self.rows = pd.DataFrame()
        self.split: Mapping[str, Any] = {"protocol": self.protocol}
        self.weights = [
            f["weights"] for f in manifest.get("frontends", []) if f.get("weights") is not None
        ]
        self.base_models = [str(w["model_id"]) for w in self.weights if w.get("model_id")]

    @classmethod
    def read(cls, store: Store, manifest: Mapping[str, Any]) -> _Facts:
        facts = cls(manifest, store.read_run() or {})
        summary = summarize_store(store.url)
        if not summary.empty:
            page = (summary["dataset"] == facts.dataset) & (summary["task"] == facts.task)
            facts.rows = summary[page & (summary["status"] == "done")]
        for split in store.table("splits"):
            key = (split["dataset"], split["task"], split.get("protocol") or "grouped")
            if key == (facts.dataset, facts.task, facts.protocol):
                facts.split = split
        return facts

    @property
    def row(self) -> Mapping[str, Any] | None:
        if self.rows.empty:
            return None
        mine = self.rows[self.rows["candidate"] == self.candidate]
        return None if mine.empty else {str(k): v for k, v in mine.iloc[0].items()}

    @property
    def audit(self) -> Mapping[str, Any]:
        audit = self.split.get("audit")
        return audit if isinstance(audit, Mapping) else {}

    def metrics(self) -> list[dict[str, Any]]:
        """The candidate's model-index metrics: every page metric but the chance levels."""
        row = self.row
        if row is None:
            return []
        columns = [c for c in metric_columns(self.rows, self.task) if not is_chance_level(c)]
        entries = (metric_entry(row, c, metric_label(c), row.get("n_folds")) for c in columns)
        return [e for e in entries if e is not None]

    def model_index(self) -> list[dict[str, Any]]:
        metrics = self.metrics()
        if not metrics:
            return []
        version = self.dataset_meta.get("version")
        version = str(version) if version not in (None, "") else None
        result = result_entry(self.task, self.dataset, version, self.split, metrics)
        return [{"name": self.candidate, "results": [result]}]

    def body(self) -> str:
        spec = get_task(self.task)
        parts = [
            f"# {md.text(self.candidate)}: {md.text(self.task)} on {md.text(self.dataset)}",
            f"A music emotion recognition model made with [merbench]({HOMEPAGE}): "
            f"{md.text(spec.summary)} It predicts from audio files with `merbench predict`:",
            "```console\npip install merbench\nmerbench predict . song.mp3 --out predictions.csv"
            "\n```",
            "## Evaluation",
            self.protocol_text(),
            self.results_table(),
            "## Reference levels",
            self.references(),
            "## Training",
            self.training_text(),
            "## Licences",
            self.licence_text(),
        ]
        return "\n\n".join(p for p in parts if p) + "\n"

    def protocol_text(self) -> str:
        audit, budget = self.audit, self.manifest.get("budget") or {}
        folds, repeats = audit.get("n_folds"), audit.get("repeats")
        how = PROTOCOL_TEXT.get(self.protocol, f"the {self.protocol} split")
        parts = [f"Scored by nested {how}"]
        if folds is not None:
            times = f", repeated {repeats} times" if repeats not in (None, 1) else ""
            parts.append(f": {folds} outer folds{times}")
        groups = audit.get("n_groups")
        if groups is not None:
            tracks = self.manifest["dataset"].get("n_tracks")
            parts.append(f", {groups} artists (groups) over {tracks} tracks")
        trials = budget.get("trials")
        tuned = f"{trials} Optuna trials" if trials is not None else "Optuna"
        return (
            "".join(parts) + f". In each outer training part the hyperparameters were tuned with "
            f"{tuned} on an inner artist-grouped validation split, then the model was refitted "
            "and scored on the outer test fold it never saw. Values are means over the outer "
            "test folds with 95 % confidence intervals (the corrected resampled t interval), "
            f"self-reported. Folds manifest SHA-256: {md.code(self.split.get('hash', 'unknown'))}."
        )

    def results_table(self) -> str:
        metrics = self.metrics()
        if not metrics:
            return "The run holds no finished cross-validated result of this candidate."
        lines = ["| metric | mean | 95 % CI |", "| --- | --- | --- |"]
        for m in metrics:
            args = m.get("args") or {}
            ci = f"[{args['ci_low']:.3f}, {args['ci_high']:.3f}]" if "ci_low" in args else ""
            lines.append(f"| {md.text(m['name'])} | {m['value']:.3f} | {ci} |")
        return "\n".join(lines)

    def references(self) -> str:
        """Chance levels and the trivial baselines of the same folds, in prose."""
        row, lines = self.row or {}, []
        for column, value in row.items():
            if not _is_reference(str(column)):
                continue
            if isinstance(value, float) and value == value:
                lines.append(f"- {md.text(metric_label(str(column)))}: {value:.3f} (chance level)")
        primary = get_task(self.task).primary
        if "is_baseline" in self.rows:
            baselines = self.rows[self.rows["is_baseline"].fillna(False).astype(bool)]
            for base in baselines.to_dict("records"):
                value = base.get(primary)
                if isinstance(value, float) and value == value:
                    name, label = md.code(base["candidate"]), md.text(metric_label(primary))
                    lines.append(f"- baseline {name}: {label} {value:.3f} on the same folds")
        intro = (
            "What predicting without listening scores under the same protocol. These are "
            "references, not results of this model, and are left out of its metadata."
        )
        return intro + ("\n\n" + "\n".join(lines) if lines else " The run recorded none.")

    def training_text(self) -> str:
        chosen = self.manifest.get("params_chosen") or {}
        method = chosen.get("method", "final-study")
        how = {
            "final-study": "a new study with the run's budget on all tracks, then the refit",
            "best-fold": "the best parameters of the fold cell with the best validation value",
        }.get(str(method), str(method))
        n_tracks = self.manifest["dataset"].get("n_tracks")
        params = ", ".join(md.code(f"{k}={v}") for k, v in self.manifest["params"].items())
        return (
            f"These weights were trained on all {n_tracks} tracks of {md.text(self.dataset)} "
            f"({md.code(f'--params {method}')}: {how}), so no track of the dataset is unseen "
            "by them; the numbers above measure the procedure. "
            f"Parameters: {params or 'the defaults'}. "
            "`model.json` holds the full recipe and provenance; `check.csv` the model's "
            "predictions of the dataset's own tracks."
        )

    def licence_text(self) -> str:
        licence = str(self.dataset_meta.get("license") or "").strip()
        lines = [
            f"- The training data, {md.text(self.dataset)}: "
            + (md.text(licence) if licence else "its licence was not recorded by its plugin")
            + ". Weights trained on it are subject to its terms."
        ]
        for weights in self.weights:
            model_id = str(weights.get("model_id", ""))
            revision = str(weights.get("revision") or "main")
            link = f"<https://huggingface.co/{model_id}>"
            where = link if _HUB_ID.fullmatch(model_id) else "its model card"
            lines.append(
                f"- Pretrained encoder {md.code(model_id)} (revision {md.code(revision)}), "
                "frozen "
                f"inside this model: its licence applies to any use of this model; see {where}."
            )
        lines.append("- merbench, the code that trains and runs the model: MIT.")
        return "\n".join(lines)


def _is_reference(column: str) -> bool:
    """A chance-level column the card lists: not an interval's end, and of a per-tag chance
    level (``prevalence_<tag>``) only the mean over tags."""
    if not is_chance_level(column) or column.endswith(INTERVAL_ENDS):
        return False
    spec = find_metric(column)
    return spec is None or spec.per != "dimensions" or spec.part(column) == "mean"
