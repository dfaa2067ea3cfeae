"""Predictions of an exported model on any audio: the run's windows, front-ends and aggregation.

``load_predictor`` reads an export folder (``merbench.exchange.bundle``: format version, plugins,
sha256 and format of the weights, none of it executed) and rebuilds the model with the installed
plugins. ``Predictor.predict`` decodes a file as a run does (soundfile, soxr at the export's
sample rate, ``merbench.data.decoding.decode``), cuts the same windows (``merbench.data.windows``:
window, hop, windowing, seconds cap), runs fixed front-ends with the same parameters, and aggregates
as the run's cells do (``merbench.exchange.runtime``, one per model family): the mean of the window
outputs rescaled about the training mean (torch regression, ``merbench.train.calibration``), the
mean of the window inputs (scikit-learn), the mean of the window probabilities (torch
classification).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from merbench.data.decoding import decode
from merbench.data.windows import Windows, place_window
from merbench.errors import AudioFileError, ConfigError, DatasetError
from merbench.evaluation.tasks import TaskSpec, get_task
from merbench.exchange import bundle
from merbench.exchange.predictions import PLAUSIBLE_WIDTHS, plausible_range
from merbench.exchange.runtime import runtime_of
from merbench.plugin.registry import Registry
from merbench.plugin.specs import FrontEndSpec, ModelSpec
from merbench.train.family import family_of

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
        """The task the model predicts (a multilabel task with the exported tags)."""
        spec = get_task(str(self.manifest["task"]["name"]))
        return spec.with_tags(self.manifest["task"]["targets"]) if spec.is_multilabel else spec

    def columns(self) -> list[str]:
        """The columns of a prediction row, after ``file``."""
        task = self.task
        if not task.is_classification:  # regression targets, or each tag's probability
            return list(task.targets)
        return [*bundle.score_columns(task, self.manifest.get("class_scores")), "class"]

    def predict(self, path: Path) -> list[float]:
        """One file's prediction, in ``columns()`` order.

        Raises:
            DatasetError: the file cannot be decoded (naming it).
        """
        inputs = self.inputs(self.windows(path))
        values = runtime_of(self.model).predict(self, inputs)
        self.check(path, values)
        return values

    def check(self, path: Path, values: Sequence[float]) -> None:
        """Refuse a prediction that is not finite, or (regression) further outside the label
        scale than ``PLAUSIBLE_WIDTHS`` times the scale's width on either side: a model or
        ``model.json`` changed after export (an edited scaler, say), not a song.

        Raises:
            ConfigError: naming the weights file, the audio file, the column and the value.
        """
        weights = self.folder / str(self.manifest["weights"]["file"])
        for column, value in zip(self.columns(), values, strict=True):
            if not np.isfinite(value):
                raise ConfigError(
                    f"{weights}: predicted {column} = {value} for {path}; a model predicts finite "
                    "values. The model was changed after export; export it again."
                )
        if self.task.is_multilabel:
            self._check_probabilities(path, weights, values)
        if not self.task.is_regression:
            return
        scale = self.manifest["dataset"]["label_scale"]
        low, high = float(scale["low"]), float(scale["high"])
        lo, hi = plausible_range(low, high)
        for column, value in zip(self.columns(), values, strict=True):
            outside = max(lo - value, value - hi)
            if outside > 0:
                raise ConfigError(
                    f"{weights}: predicted {column} = {value:.6g} for {path}, {outside:.6g} "
                    f"outside the plausible range {lo:g}..{hi:g} (the label scale "
                    f"{low:g}..{high:g} widened by {PLAUSIBLE_WIDTHS} times its width). The "
                    "model or its model.json was changed after export; export it again."
                )

    def _check_probabilities(self, path: Path, weights: Path, values: Sequence[float]) -> None:
        """Refuse a tag probability outside [0, 1] (a changed model, not a song).

        Raises:
            ConfigError: naming the weights file, the audio file, the tag and the value.
        """
        for column, value in zip(self.columns(), values, strict=True):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"{weights}: predicted {column} = {value:.6g} for {path}; a tag's "
                    "probability is between 0 and 1. The model was changed after export; "
                    "export it again."
                )

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


def load_predictor(folder: Path, registry: Registry, device: str | None = None) -> Predictor:
    """Read an export folder and rebuild its model with the installed plugins.

    Raises:
        ConfigError: not an export, another format version, a changed weights file (sha256),
            or a file that is not valid safetensors or skops with trusted types.
        PluginError: the model's plugins are missing or at another major version.
    """
    manifest = bundle.read_manifest(folder)
    bundle.check_plugins(manifest, folder / bundle.MODEL_JSON)
    weights = bundle.weights_path(folder, manifest)
    model = registry.model(str(manifest["model"]["name"]))
    frontends = tuple(registry.frontend(str(f["name"])) for f in manifest["frontends"])
    device = device or family_of(model).device()
    predictor = Predictor(
        folder=folder,
        manifest=manifest,
        model=model,
        frontends=frontends,
        fitted=None,
        device=device,
    )
    _check_params(model, frontends, manifest, folder / bundle.MODEL_JSON)
    _check_weights(frontends, manifest, folder / bundle.MODEL_JSON)
    _check_defaults(frontends, manifest, folder / bundle.MODEL_JSON)
    predictor.modules = _frontend_modules(frontends, manifest)
    predictor.fitted = runtime_of(model).load(predictor, weights)
    return predictor


def _check_params(
    model: ModelSpec, frontends: Sequence[FrontEndSpec], manifest: Mapping[str, Any], where: Path
) -> None:
    """Refuse parameters the installed plugins' builds do not take, or values outside their
    search spaces: a width or a band count out of the space a study samples could size a
    network or a filter bank far beyond the exported one.

    Raises:
        ConfigError: naming the field of ``model.json``, the value and the allowed range.
    """
    from merbench.space import optuna_space
    from merbench.train.tuning import is_in_range, keyword_defaults

    groups = [
        (
            "model_params",
            model.name,
            {**model.search_space, **family_of(model).search_space()},
            model.builder,
            manifest["model_params"],
        ),
        *(
            (f"frontends[{i}].params", f.name, f.search_space, f.builder, record["params"])
            for i, (f, record) in enumerate(zip(frontends, manifest["frontends"], strict=True))
        ),
    ]
    for part, name, declared, build, params in groups:
        space = optuna_space(declared)
        keywords = keyword_defaults(build)
        for key, value in params.items():
            if key not in space and key not in keywords:
                raise ConfigError(
                    f"{where}: '{part}.{key}' is not a parameter of '{name}' (it takes "
                    f"{', '.join(sorted({*space, *keywords})) or 'none'}). The file was edited "
                    "after export; export the model again with 'merbench export'."
                )
            if key in space and not is_in_range(space[key], value):
                raise ConfigError(
                    f"{where}: '{part}.{key}' is {value!r}, outside the search space of '{name}' "
                    f"({space[key]!r}). The file was edited after export, or the plugin's space "
                    "changed; export the model again with 'merbench export'."
                )


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
        here = default_reprs(frontend.builder)
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
        module = frontend.builder(int(frontend.sample_rate or rate), **dict(record["params"]))
        if isinstance(module, torch.nn.Module):
            module.eval()
        modules.append(module)
    return modules


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

    Raises:
        ConfigError: an implausible prediction (``Predictor.check``): the model, not the file.

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
        except DatasetError as exc:  # a file; any other refusal is the model's, for every file
            # "file: problem", without the advice for a dataset's copy ('merbench verify')
            message = exc.line if isinstance(exc, AudioFileError) else str(exc)
            failed.append(message)
            if on_file is not None:
                on_file(path, message)
            continue
        rows.append((os.fspath(path), values))
        if on_file is not None:
            on_file(path, None)
    return Predictions(columns=predictor.columns(), rows=rows, failed=failed)
