"""Predictions of an exported model on any audio: the run's windows, front-ends and aggregation.

``load_predictor`` reads an export folder (``merbench.exchange.bundle``: format version, plugins,
sha256 and format of the weights, none of it executed) and rebuilds the model with the installed
plugins. ``Predictor.predict`` decodes a file as a run does (soundfile, soxr at the export's
sample rate, ``merbench.data.audio.decode``), cuts the same windows (``merbench.data.windows``:
window, hop, windowing, seconds cap), runs fixed front-ends with the same parameters, and aggregates
as the run's cells do: the mean of the window outputs rescaled about the training mean (torch
regression, ``merbench.train.calibration``), the mean of the window inputs (scikit-learn), the mean
of the window probabilities (torch classification).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from merbench.data.audio import decode
from merbench.data.windows import Windows, place_window
from merbench.errors import ConfigError, DatasetError, MerbenchError
from merbench.evaluation.tasks import TaskSpec, get_task
from merbench.exchange import bundle
from merbench.plugin.registry import Registry
from merbench.plugin.specs import FrontEndSpec, ModelSpec
from merbench.train.calibration import rescale

FRONTEND_BATCH = 16
"""Windows per fixed front-end call, as the feature cache computes them."""


@dataclass(kw_only=True)
class Predictor:
    """An exported model ready to predict files."""

    folder: Path
    manifest: dict[str, Any]
    model: ModelSpec
    frontends: tuple[FrontEndSpec, ...]
    fitted: Any
    """The torch network (on ``device``, in eval mode) or the scikit-learn estimator."""
    device: str = "cpu"
    modules: list[Any] = field(default_factory=list)
    """Per front-end: the fixed one built with its exported parameters (``None``: trainable)."""

    @property
    def task(self) -> TaskSpec:
        """The task the model predicts."""
        return get_task(str(self.manifest["task"]["name"]))

    def columns(self) -> list[str]:
        """The columns of a prediction row, after ``file``."""
        task = self.task
        if task.is_regression:
            return list(task.targets)
        return [*bundle.score_columns(task, self.manifest.get("class_scores")), "class"]

    def predict(self, path: Path) -> list[float]:
        """One file's prediction, in ``columns()`` order.

        Raises:
            DatasetError: the file cannot be decoded (naming it).
        """
        inputs = self.inputs(self.windows(path))
        if self.model.family == "torch":
            return self._predict_torch(inputs)
        return self._predict_sklearn(inputs)

    @property
    def rate(self) -> int:
        """The run's sample rate (Hz): the rate windows are placed at."""
        return int(self.manifest["audio"]["sample_rate"])

    def rates(self) -> list[int]:
        """Every rate the inputs need: the run's, and each fixed front-end's own."""
        own = [f.sample_rate for f in self.frontends if not f.trainable and f.sample_rate]
        return list(dict.fromkeys([self.rate, *map(int, own)]))

    def windows(self, path: Path) -> dict[int, np.ndarray]:
        """The windows of one file ``[W, C, T]`` float32 at each of ``rates()``, cut as the run
        cut its tracks: placed at the run's rate, and the same windows in seconds decoded at a
        front-end's own rate (as ``FeatureStore.cut`` does)."""
        settings = self.manifest["audio"]
        seconds, cap = float(settings["window_seconds"]), settings.get("max_seconds")
        placed: Windows | None = None
        out: dict[int, np.ndarray] = {}
        for rate in self.rates():  # the run's rate first: it places the windows
            audio = decode(path, rate, mono=bool(settings["mono"]))
            audio = audio[np.newaxis] if audio.ndim == 1 else audio
            size = round(seconds * rate)
            limit = None if cap is None else round(float(cap) * rate)
            if placed is None:
                length = audio.shape[-1] if limit is None else min(audio.shape[-1], limit)
                hop = max(1, round(size * float(settings["hop_fraction"])))
                centre = settings.get("crop", "centre") != "start"
                windowing = settings["windowing"]
                placed = Windows.build([length], size, hop, windowing=windowing, centre=centre)
            windows = np.zeros((len(placed), audio.shape[0], size), dtype=np.float32)
            for row, start in enumerate(placed.start):
                place_window(windows[row], audio, start, scale=rate / self.rate, limit=limit)
            out[rate] = windows
        return out

    def inputs(self, waveforms: Mapping[int, np.ndarray]) -> list[np.ndarray]:
        """Per model input, every window's array: waveforms at the run's rate for trainable
        front-ends (they run inside the network), fixed front-ends' outputs otherwise (each fed
        the windows at its own rate when it declares one)."""
        import torch

        arrays = []
        for frontend, module in zip(self.frontends, self.modules, strict=True):
            if frontend.trainable:
                arrays.append(waveforms[self.rate])
                continue
            source = waveforms[int(frontend.sample_rate or self.rate)]
            parts = []
            with torch.inference_mode():
                for start in range(0, len(source), FRONTEND_BATCH):
                    batch = torch.from_numpy(source[start : start + FRONTEND_BATCH])
                    parts.append(np.asarray(module(batch), dtype=np.float32))
            arrays.append(np.concatenate(parts))
        return arrays

    def _predict_torch(self, inputs: Sequence[np.ndarray]) -> list[float]:
        outputs = window_outputs(self.fitted, inputs, self.task, self.manifest, self.device)
        mean = outputs.astype(np.float64).mean(axis=0, keepdims=True)
        task = self.task
        if task.is_regression:
            scaler = self.manifest["target_scaler"]
            values = mean * np.asarray(scaler["std"]) + np.asarray(scaler["mean"])
            return _rescaled(values, self.manifest)
        label = task.labels[int(mean[0].argmax())]
        return [*map(float, mean[0]), float(label)]

    def _predict_sklearn(self, inputs: Sequence[np.ndarray]) -> list[float]:
        pooled = [x.astype(np.float64).reshape(len(x), -1).mean(axis=0) for x in inputs]
        matrix = np.concatenate(pooled)[None, :]
        prediction = np.asarray(self.fitted.predict(matrix))
        task = self.task
        if task.is_regression:
            scaler = self.manifest["target_scaler"]
            values = prediction * np.asarray(scaler["std"]) + np.asarray(scaler["mean"])
            return _rescaled(values, self.manifest)
        scores = class_scores(self.fitted, matrix, task.labels)
        return [*map(float, scores[0]), float(prediction[0])]


def _rescaled(values: np.ndarray, manifest: Mapping[str, Any]) -> list[float]:
    rescaling = manifest.get("rescaling")
    if rescaling:
        values = rescale(values, rescaling["slopes"], np.asarray(rescaling["centre"]))
    return [float(v) for v in np.asarray(values)[0]]


def class_scores(estimator: Any, x: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Class probabilities (or decision scores) in ``labels`` order, as a cell scores them."""
    if hasattr(estimator, "predict_proba"):
        raw = np.asarray(estimator.predict_proba(x), dtype=np.float64)
    else:
        raw = np.asarray(estimator.decision_function(x), dtype=np.float64)
        if raw.ndim == 1:
            raw = np.stack([-raw, raw], axis=1)
    out = np.full((len(x), len(labels)), -np.inf if raw.min() < 0 else 0.0)
    for column, label in enumerate(estimator.classes_):
        out[:, list(labels).index(int(label))] = raw[:, column]
    return out


def window_outputs(
    net: Any, inputs: Sequence[np.ndarray], task: TaskSpec, manifest: Mapping[str, Any], device: str
) -> np.ndarray:
    """The network's output for every window ``[W, n_outputs]`` (probabilities when
    classifying), in the batches a run predicts with."""
    import torch

    from merbench.train.loop import PREDICT_BATCH, SPECTROGRAM_PREDICT_BATCH

    size = SPECTROGRAM_PREDICT_BATCH if any(x.ndim == 4 for x in inputs) else PREDICT_BATCH
    bf16 = manifest.get("precision") == "bf16"
    device_type = torch.device(device).type
    outputs = []
    with (
        torch.inference_mode(),
        torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16),
    ):
        for start in range(0, len(inputs[0]), size):
            batch = [
                torch.as_tensor(x[start : start + size], dtype=torch.float32, device=device)
                for x in inputs
            ]
            batch = [
                t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t for t in batch
            ]
            output = net(*batch).float()
            if not task.is_regression:
                output = torch.softmax(output, dim=1)
            outputs.append(output.cpu().numpy())
    return np.concatenate(outputs)


def load_predictor(folder: Path, registry: Registry, device: str | None = None) -> Predictor:
    """Read an export folder and rebuild its model with the installed plugins.

    Raises:
        ConfigError: not an export, another format version, a changed weights file (sha256),
            or a file that is not valid safetensors or skops with trusted types.
        PluginError: the model's plugins are missing or at another major version.
    """
    from merbench.train.fit import pick_device

    manifest = bundle.read_manifest(folder)
    bundle.check_plugins(manifest, folder / bundle.MODEL_JSON)
    weights = bundle.weights_path(folder, manifest)
    model = registry.model(str(manifest["model"]["name"]))
    frontends = tuple(registry.frontend(str(f["name"])) for f in manifest["frontends"])
    device = device or (pick_device() if model.family == "torch" else "cpu")
    predictor = Predictor(
        folder=folder,
        manifest=manifest,
        model=model,
        frontends=frontends,
        fitted=None,
        device=device,
    )
    _check_weights(frontends, manifest, folder / bundle.MODEL_JSON)
    _check_defaults(frontends, manifest, folder / bundle.MODEL_JSON)
    predictor.modules = _frontend_modules(frontends, manifest)
    if model.family == "torch":
        predictor.fitted = _network(predictor, weights)
    else:
        predictor.fitted = bundle.load_sklearn(weights, model.trusted_types)
    return predictor


def _check_weights(
    frontends: Sequence[FrontEndSpec], manifest: Mapping[str, Any], where: Path
) -> None:
    """Refuse a front-end whose pretrained weights here differ from those the model was trained
    on (the sha256 of each file its ``describe()`` names).

    Raises:
        ConfigError: naming the front-end, the model id and the files that differ.
    """
    for frontend, record in zip(frontends, manifest["frontends"], strict=True):
        exported = record.get("weights")
        if not exported or frontend.describe is None:
            continue
        here = dict(frontend.describe())
        wanted, found = dict(exported.get("sha256", {})), dict(here.get("sha256", {}))
        # a file on one side only differs too: a preprocessor_config.json changes the inputs
        differ = sorted(n for n in set(wanted) | set(found) if found.get(n) != wanted.get(n))
        if differ:
            model_id, revision = exported.get("model_id"), exported.get("revision")
            fetch = "Provide that copy in $MERBENCH_ENCODERS to predict with this model."
            if exported.get("source") == "hub" and model_id and revision:
                folder = str(model_id).replace("/", "--")
                fetch = (
                    f"Fetch that revision to predict with this model: hf download {model_id} "
                    f'--revision {revision} --local-dir "$MERBENCH_ENCODERS/{folder}".'
                )
            raise ConfigError(
                f"{where}: front-end '{frontend.name}' was trained on {model_id} at revision "
                f"{revision}, but this machine's copy differs in {', '.join(differ)} (sha256). "
                f"{fetch}"
            )


def _check_defaults(
    frontends: Sequence[FrontEndSpec], manifest: Mapping[str, Any], where: Path
) -> None:
    """Refuse a front-end whose installed build defaults differ from those recorded at export
    (a minor release that changed a hop or a band edge would feed the model other inputs).

    Raises:
        ConfigError: naming the front-end and each default that differs.
    """
    from merbench.train.tuning import default_reprs

    for frontend, record in zip(frontends, manifest["frontends"], strict=True):
        recorded = record.get("defaults")
        if recorded is None:
            continue
        here = default_reprs(frontend.build)
        tuned = set(record.get("params") or {})
        differ = sorted(
            k
            for k in set(recorded) | set(here)
            if k not in tuned and recorded.get(k) != here.get(k)
        )
        if differ:
            changes = ", ".join(f"{k} {recorded.get(k)} -> {here.get(k)}" for k in differ)
            raise ConfigError(
                f"{where}: front-end '{frontend.name}' was exported with other build defaults "
                f"than the installed plugin's ({changes}). Install the plugin versions model.json "
                "lists under 'plugins' to predict with this model."
            )


def _frontend_modules(frontends: Sequence[FrontEndSpec], manifest: Mapping[str, Any]) -> list[Any]:
    """Fixed front-ends built with their exported parameters (``None`` for trainable ones)."""
    import torch

    rate = int(manifest["audio"]["sample_rate"])
    modules: list[Any] = []
    for frontend, record in zip(frontends, manifest["frontends"], strict=True):
        if frontend.trainable:
            modules.append(None)
            continue
        module = frontend.build(int(frontend.sample_rate or rate), **dict(record["params"]))
        if isinstance(module, torch.nn.Module):
            module.eval()
        modules.append(module)
    return modules


def _network(predictor: Predictor, weights: Path) -> Any:
    """The exported network, built by the installed plugins, its weights loaded."""
    import torch

    from merbench.evaluation.budgets import budget_from_record
    from merbench.plugin.torch_space import TORCH_SEARCH_SPACE_KEYS
    from merbench.train.fit import Problem, Trainable
    from merbench.train.torch_net import build_network

    manifest = predictor.manifest
    task = predictor.task
    problem = Problem(
        task=task,
        labels=task.labels,
        budget=budget_from_record(manifest["budget"]),
        sample_rate=int(manifest["audio"]["sample_rate"]),
        precision="bf16" if manifest.get("precision") == "bf16" else "fp32",
    )
    seconds = float(manifest["audio"]["window_seconds"])
    channels = 1 if manifest["audio"]["mono"] else 2
    silence = {
        rate: np.zeros((1, channels, round(seconds * rate)), dtype=np.float32)
        for rate in predictor.rates()
    }
    sample = predictor.inputs(silence)
    trainables = [
        Trainable(spec=f, params=dict(record["params"])) if f.trainable else None
        for f, record in zip(predictor.frontends, manifest["frontends"], strict=True)
    ]
    params = {k: v for k, v in manifest["model_params"].items() if k not in TORCH_SEARCH_SPACE_KEYS}
    torch.manual_seed(0)
    net = build_network(predictor.model, params, sample, trainables, problem)
    net = net.to(predictor.device).to(memory_format=torch.channels_last)
    bundle.load_torch(net, weights, predictor.device)
    return net.eval()


def audio_files(targets: Sequence[Path]) -> list[Path]:
    """The files to predict: files as given, and every audio file under a folder (sorted).

    A folder's audio files are those with an extension soundfile reads.

    Raises:
        DatasetError: a path that does not exist, or no audio file at all.
    """
    import soundfile

    extensions = {f".{name.lower()}" for name in soundfile.available_formats()}
    extensions |= {".mp3", ".oga", ".aif"}
    found: list[Path] = []
    for target in targets:
        if target.is_dir():
            inside = (p for p in target.rglob("*") if p.is_file())
            found += sorted(p for p in inside if p.suffix.lower() in extensions)
        elif target.exists():
            found.append(target)
        else:
            raise DatasetError(f"{target}: no such file or folder. Pass audio files or folders.")
    if not found:
        names = ", ".join(str(t) for t in targets)
        raise DatasetError(
            f"{names}: no audio file found (extensions soundfile reads: .wav, .flac, .ogg, "
            ".mp3, ...). Pass audio files or folders that hold some."
        )
    return found


@dataclass(frozen=True, kw_only=True)
class Predictions:
    """The rows predicted and the files that failed (each with its one-line reason)."""

    columns: list[str]
    rows: list[tuple[str, list[float]]]
    failed: list[str]


def predict_files(
    predictor: Predictor,
    files: Sequence[Path],
    on_file: Callable[[Path, str | None], None] | None = None,
) -> Predictions:
    """Predict every file; one that cannot be read is reported and skipped.

    Args:
        predictor: the loaded model.
        files: the audio files.
        on_file: called after each file with the error message (``None`` when predicted).
    """
    rows: list[tuple[str, list[float]]] = []
    failed: list[str] = []
    for path in files:
        try:
            values = predictor.predict(path)
        except MerbenchError as exc:
            failed.append(str(exc))
            if on_file is not None:
                on_file(path, str(exc))
            continue
        rows.append((os.fspath(path), values))
        if on_file is not None:
            on_file(path, None)
    return Predictions(columns=predictor.columns(), rows=rows, failed=failed)
