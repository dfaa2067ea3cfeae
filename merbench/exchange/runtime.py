"""How an exported model of each family is written, read back and run on a file's windows.

One ``Runtime`` per weight format of a model family (``ModelFamily.weight_format``):
``safetensors`` holds a torch network, rebuilt by the installed plugins before its weights are
loaded, that predicts the mean of its window outputs (probabilities when classifying);
``skops`` holds a scikit-learn estimator that predicts from the mean of the window inputs. A
regression prediction is rescaled about the training mean as the run's cells rescale it
(``merbench.train.calibration``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from merbench.evaluation.tasks import TaskSpec
from merbench.exchange import bundle
from merbench.exchange.archive import skops_budget
from merbench.plugin.specs import FrontEndSpec, ModelSpec
from merbench.train.calibration import rescale
from merbench.train.family import family_of
from merbench.train.fit import tag_probabilities


class Predictor(Protocol):
    """What a runtime reads of a ``merbench.exchange.inference.Predictor``."""

    manifest: dict[str, Any]
    model: ModelSpec
    frontends: tuple[FrontEndSpec, ...]
    fitted: Any
    device: str

    @property
    def task(self) -> TaskSpec:
        """The task the model predicts."""
        ...

    def rates(self) -> list[int]:
        """Every rate the inputs need."""
        ...

    def inputs(self, waveforms: Mapping[int, np.ndarray]) -> list[np.ndarray]:
        """Per model input, every window's array."""
        ...


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """How an exported model of one weight format is saved, loaded and run."""

    file: str
    """The weights' file name in an export folder."""
    save: Callable[[Any, Path, ModelSpec], None]
    """Write the fitted network or estimator of a model to a path."""
    load: Callable[[Predictor, Path], Any]
    """Read the weights back for a predictor: the network on its device, or the estimator."""
    predict: Callable[[Predictor, Sequence[np.ndarray]], list[float]]
    """One file's prediction from every window's model inputs, in ``Predictor.columns()``
    order."""


def runtime_of(model: ModelSpec) -> Runtime:
    """The runtime of a model's family (``merbench.train.family.family_of``)."""
    return RUNTIMES[family_of(model).weight_format]


def _save_torch(net: Any, path: Path, model: ModelSpec) -> None:
    bundle.save_torch(net, path)


def _save_sklearn(estimator: Any, path: Path, model: ModelSpec) -> None:
    bundle.save_sklearn(estimator, path, model.name, model.trusted_types)


def _load_sklearn(predictor: Predictor, weights: Path) -> Any:
    budget = skops_budget(int(predictor.manifest["dataset"]["n_tracks"]))
    return bundle.load_sklearn(weights, predictor.model.trusted_types, budget)


def _predict_torch(predictor: Predictor, inputs: Sequence[np.ndarray]) -> list[float]:
    """The mean of the window outputs (probabilities when classifying), as a cell predicts."""
    outputs = window_outputs(
        predictor.fitted, inputs, predictor.task, predictor.manifest, predictor.device
    )
    mean = outputs.astype(np.float64).mean(axis=0, keepdims=True)
    task = predictor.task
    if task.is_regression:
        scaler = predictor.manifest["target_scaler"]
        values = mean * np.asarray(scaler["std"]) + np.asarray(scaler["mean"])
        return _rescaled(values, predictor.manifest)
    if task.is_multilabel:  # the mean of the windows' tag probabilities
        return [float(v) for v in mean[0]]
    label = task.labels[int(mean[0].argmax())]
    return [*map(float, mean[0]), float(label)]


def _predict_sklearn(predictor: Predictor, inputs: Sequence[np.ndarray]) -> list[float]:
    """The estimator's prediction from the mean of the window inputs, as a cell predicts."""
    pooled = [x.astype(np.float64).reshape(len(x), -1).mean(axis=0) for x in inputs]
    matrix = np.concatenate(pooled)[None, :]
    if predictor.task.is_multilabel:
        n_tags = len(predictor.task.targets)
        return [float(v) for v in tag_probabilities(predictor.fitted, matrix, n_tags)[0]]
    prediction = np.asarray(predictor.fitted.predict(matrix))
    task = predictor.task
    if task.is_regression:
        scaler = predictor.manifest["target_scaler"]
        values = prediction * np.asarray(scaler["std"]) + np.asarray(scaler["mean"])
        return _rescaled(values, predictor.manifest)
    scores = class_scores(predictor.fitted, matrix, task.labels)
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
    classifying, each tag's probability for a multilabel task), in the batches a run predicts
    with."""
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
            if task.is_multilabel:
                output = torch.sigmoid(output)
            elif not task.is_regression:
                output = torch.softmax(output, dim=1)
            outputs.append(output.cpu().numpy())
    return np.concatenate(outputs)


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


RUNTIMES: Mapping[str, Runtime] = {
    "safetensors": Runtime(
        file=bundle.TORCH_WEIGHTS, save=_save_torch, load=_network, predict=_predict_torch
    ),
    "skops": Runtime(
        file=bundle.SKLEARN_WEIGHTS,
        save=_save_sklearn,
        load=_load_sklearn,
        predict=_predict_sklearn,
    ),
}
"""Every runtime, by the weight format a family names (``ModelFamily.weight_format``)."""
