"""Frozen pretrained audio encoders as fixed front-ends: ``mert`` (music) and ``clap`` (audio-text).

Each maps waveforms ``[B, C, T]`` (mixed to mono) to one embedding per window ``[B, D]``
(output kind ``vector``), with the weights frozen; the core computes it once per window and
caches it like any fixed front-end, so probes (``ridge``, ``svr``, ``mlp``) train on the cached
embeddings. Both need the optional extra, ``pip install "merbench[encoders]"`` (the model code
is ``transformers``'); discovering this plugin imports neither ``transformers`` nor ``torch``.

- ``mert``: MERT-v0 (``m-a-p/MERT-v0``, 95M parameters, 16 kHz, 12 transformer layers of 768
  units plus the convolutional front's output: 13 hidden states), loaded into ``transformers``'
  ``HubertModel``. The hidden state (``layer``, 0-12) is tuned; frames (50 per second) are
  pooled over time by their mean, or mean and standard deviation (``pooling``).
- ``mert-layers``: the same encoder, every hidden state pooled the same way, a row each
  (output kind ``sequence``, ``[B, 13, D]``), for heads that learn a weighted sum of the layers
  (``layer-mlp``).
- ``clap``: LAION's CLAP trained on music (``laion/larger_clap_music``, 48 kHz), loaded into
  ``ClapModel``; the audio tower reads 10-second log-mel inputs (longer windows are split into
  10-second pieces whose embeddings are averaged; shorter ones are repeated and padded, as the
  model was trained). ``layer`` is ``pooled`` (the audio tower's pooled output, 768 units) or
  ``projection`` (the 512-unit joint audio-text embedding).

Every hidden state's pooled statistics are computed in one pass and kept on disk
(``cache_dir("encoders", "layers")``), keyed by the window samples and the weights' sha256:
trying another ``layer`` or ``pooling`` reads them instead of running the encoder again. Weights
are found as ``_pretrained`` says (``$MERBENCH_ENCODERS`` or a download on first use).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import merbench
from merbench.space import CategoricalDistribution, IntDistribution
from merbench_plugins.frontends._pretrained import (
    Weights,
    folder_name,
    load_model,
    locate,
    quiet_transformers,
    require_extra,
)

if TYPE_CHECKING:
    import torch

MERBENCH_PLUGIN_API = 1
LAYER_CACHE_VERSION = 1
POOLINGS = ("mean", "mean+std")
CLAP_LAYERS = ("pooled", "projection")
MERT_LAYERS = 13
ALL = "all"
"""The ``layer`` of a module that returns every hidden state (``mert-layers``)."""
CLAP_OPTIONS = frozenset(
    {
        "feature_size",
        "hop_length",
        "max_length_s",
        "fft_window_size",
        "frequency_min",
        "frequency_max",
        "top_db",
    }
)
"""Keys of a ``preprocessor_config.json`` that ``clap`` passes to its feature extractor."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Encoder:
    """One pretrained encoder: which weights, at which rate, and how it embeds a batch.

    ``embed(model, weights, audio)`` maps mono audio ``[B, T]`` at ``sample_rate`` (a float32
    tensor on the model's device) to named per-window statistics ``{name: [B, D]}``.
    """

    name: str
    model_id: str
    revision: str
    sample_rate: int
    model_class: str
    model_type: str
    embed: Callable[[Any, Weights, torch.Tensor], dict[str, torch.Tensor]]


def _mert_embed(model: Any, weights: Weights, audio: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean and standard deviation over frames of every hidden state: ``{"3/mean": [B, D]}``."""
    if weights.preprocessor().get("do_normalize", True):
        # Wav2Vec2FeatureExtractor's normalisation: zero mean, unit variance per example.
        mean = audio.mean(dim=1, keepdim=True)
        audio = (audio - mean) / (audio.var(dim=1, keepdim=True, unbiased=False) + 1e-7).sqrt()
    states = model(input_values=audio, output_hidden_states=True).hidden_states
    out = {}
    for index, state in enumerate(states):
        out[f"{index}/mean"] = state.mean(dim=1)
        out[f"{index}/std"] = state.std(dim=1, unbiased=False)
    return out


def _clap_embed(model: Any, weights: Weights, audio: torch.Tensor) -> dict[str, torch.Tensor]:
    """The audio tower's pooled output and its projection, averaged over 10-second pieces."""
    import torch
    from transformers import ClapFeatureExtractor

    options = {k: v for k, v in weights.preprocessor().items() if k in CLAP_OPTIONS}
    extractor = ClapFeatureExtractor(sampling_rate=48000, **options)
    # A model without fusion reads one log-mel channel ("rand_trunc" features); pieces never
    # exceed the maximum length, so nothing is cropped at random, and is_longer is always False
    # (the feature extractor would mark one input at random when none is longer).
    fused = bool(model.config.audio_config.enable_fusion)
    piece = int(extractor.nb_max_samples)
    n = audio.shape[1]
    starts = list(range(0, max(n - piece, 0) + 1, piece)) or [0]
    if starts[-1] + piece < n:
        starts.append(n - piece)
    rows = audio.detach().cpu().numpy()
    pieces = [row[s : s + piece] for row in rows for s in starts]
    features = extractor(
        pieces,
        sampling_rate=48000,
        truncation="fusion" if fused else "rand_trunc",
        padding="repeatpad",
        return_tensors="pt",
    )
    mel = features["input_features"].to(audio.device, dtype=torch.float32)
    is_longer = torch.zeros((len(pieces), 1), dtype=torch.bool, device=audio.device)
    pooled = model.audio_model(input_features=mel, is_longer=is_longer).pooler_output
    projection = model.audio_projection(pooled)
    k = len(starts)
    return {
        "pooled/mean": pooled.reshape(len(rows), k, -1).mean(dim=1),
        "projection/mean": projection.reshape(len(rows), k, -1).mean(dim=1),
    }


ENCODERS = {
    "mert": Encoder(
        name="mert",
        model_id="m-a-p/MERT-v0",
        revision="main",
        sample_rate=16000,
        model_class="HubertModel",
        model_type="hubert",
        embed=_mert_embed,
    ),
    "clap": Encoder(
        name="clap",
        model_id="laion/larger_clap_music",
        revision="main",
        sample_rate=48000,
        model_class="ClapModel",
        model_type="clap",
        embed=_clap_embed,
    ),
}


def describe(encoder: Encoder) -> dict[str, Any]:
    """The weights an encoder reads: model id, revision, source and files' sha256."""
    require_extra(encoder.name)
    return locate(encoder.name, encoder.model_id, encoder.revision).describe()


def _cache_root() -> Path:
    from merbench.paths import cache_dir

    return cache_dir("encoders", "layers")


def _build_module(encoder: Encoder, sample_rate: int, layer: str, pooling: str) -> Any:
    """The front-end module (``torch`` is imported here, not when the plugin is discovered)."""
    import torch

    class EncoderFrontEnd(torch.nn.Module):
        """A frozen encoder: waveforms ``[B, C, T]`` at ``sample_rate`` -> ``[B, D]`` (one
        layer) or ``[B, L, D]`` (``layer == ALL``: every hidden state).

        Waveforms at another rate than the encoder's (the run's rate, where the core runs a
        fixed front-end inside the model graph) are resampled first.
        """

        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.input_rate = encoder, int(sample_rate)
            self.layer, self.pooling = layer, pooling
            self.weights = locate(encoder.name, encoder.model_id, encoder.revision)
            self.identity = json.dumps(self.weights.describe(), sort_keys=True)
            self.model: Any = None
            self.computed = 0
            self.loaded = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            audio = x.detach().to(torch.float32).cpu()
            audio = audio.mean(dim=1) if audio.ndim == 3 else audio
            if self.input_rate != encoder.sample_rate:
                import torchaudio.functional as audio_functional

                audio = audio_functional.resample(audio, self.input_rate, encoder.sample_rate)
            stats = self.statistics(audio.contiguous())
            layers = [str(i) for i in range(MERT_LAYERS)] if self.layer == ALL else [self.layer]
            pooled = []
            for layer in layers:
                names = [f"{layer}/mean"]
                if self.pooling == "mean+std":
                    names.append(f"{layer}/std")
                pooled.append(np.concatenate([stats[n] for n in names], axis=1))
            if self.layer == ALL:  # [B, L, D]: every hidden state, a row each
                return torch.from_numpy(np.stack(pooled, axis=1))
            return torch.from_numpy(pooled[0])

        def statistics(self, audio: torch.Tensor) -> dict[str, np.ndarray]:
            """Every hidden state's pooled statistics of this batch, from disk when cached."""
            digest = hashlib.sha256(f"{LAYER_CACHE_VERSION}{self.identity}".encode())
            digest.update(str(tuple(audio.shape)).encode())
            digest.update(audio.numpy().tobytes())
            try:
                folder = _cache_root() / folder_name(encoder.model_id)
            except OSError:  # no writable cache folder (a read-only install): compute only
                folder = None
            path = None if folder is None else folder / f"{digest.hexdigest()[:32]}.npz"
            cached = None if path is None else _read(path)
            if cached is not None:
                self.loaded += 1
                return cached
            stats = self.embed(audio)
            if path is not None:
                with contextlib.suppress(OSError):  # used as computed; only the cache is lost
                    _write(path, stats)
            self.computed += 1
            return stats

        def embed(self, audio: torch.Tensor) -> dict[str, np.ndarray]:
            import transformers

            if self.model is None:
                model_class = getattr(transformers, encoder.model_class)
                model = load_model(model_class, self.weights, encoder.name, encoder.model_type)
                self.model = model.to("cuda" if torch.cuda.is_available() else "cpu")
            device = next(self.model.parameters()).device
            with torch.inference_mode():
                out = encoder.embed(self.model, self.weights, audio.to(device))
            return {k: v.float().cpu().numpy() for k, v in out.items()}

    return EncoderFrontEnd()


def _read(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: np.asarray(stored[name]) for name in stored.files}
    except (OSError, ValueError, EOFError, KeyError):  # missing, or a broken entry: recompute
        return None


def _write(path: Path, stats: Mapping[str, np.ndarray]) -> None:
    """Write through a unique temporary file, moved into place (a reader sees all or none)."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            arrays: dict[str, Any] = {k: np.asarray(v, dtype=np.float32) for k, v in stats.items()}
            np.savez(stream, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def build_mert(
    sample_rate: int,
    *,
    layer: int = 6,
    pooling: str = "mean",
    model_id: str = ENCODERS["mert"].model_id,
    revision: str = ENCODERS["mert"].revision,
) -> Any:
    """MERT-v0's hidden state ``layer`` pooled over time: ``[B, C, T]`` -> ``[B, D]``.

    Args:
        sample_rate: the rate of the input (resampled to 16 kHz when it differs).
        layer: the hidden state, 0 (the convolutional front's output) to 12 (the last layer).
        pooling: ``"mean"`` over frames (768 units) or ``"mean+std"`` (1536 units).
        model_id: the Hub id of the weights (a checkpoint of the same architecture).
        revision: the Hub revision downloaded when there is no local copy.
    """
    require_extra("mert")
    encoder = replace(ENCODERS["mert"], model_id=model_id, revision=revision)
    return _build_module(encoder, sample_rate, str(layer), pooling)


def build_mert_layers(
    sample_rate: int,
    *,
    pooling: str = "mean",
    model_id: str = ENCODERS["mert"].model_id,
    revision: str = ENCODERS["mert"].revision,
) -> Any:
    """Every hidden state of MERT-v0 pooled over time: ``[B, C, T]`` -> ``[B, 13, D]``.

    For heads that learn which layers to use (``layer-mlp``'s weighted sum) rather than a
    tuned single ``layer``; the same cached statistics as ``mert``.

    Args:
        sample_rate: the rate of the input (resampled to 16 kHz when it differs).
        pooling: ``"mean"`` over frames (768 units) or ``"mean+std"`` (1536 units) per layer.
        model_id: the Hub id of the weights (a checkpoint of the same architecture).
        revision: the Hub revision downloaded when there is no local copy.
    """
    require_extra("mert-layers")
    encoder = replace(ENCODERS["mert"], model_id=model_id, revision=revision)
    return _build_module(encoder, sample_rate, ALL, pooling)


def build_clap(
    sample_rate: int,
    *,
    layer: str = "projection",
    model_id: str = ENCODERS["clap"].model_id,
    revision: str = ENCODERS["clap"].revision,
) -> Any:
    """CLAP's audio embedding: ``[B, C, T]`` -> ``[B, D]``.

    Args:
        sample_rate: the rate of the input (resampled to 48 kHz when it differs).
        layer: ``"pooled"`` (the audio tower's pooled output) or ``"projection"`` (the joint
            audio-text embedding, not normalised).
        model_id: the Hub id of the weights (a checkpoint of the same architecture).
        revision: the Hub revision downloaded when there is no local copy.
    """
    require_extra("clap")
    encoder = replace(ENCODERS["clap"], model_id=model_id, revision=revision)
    return _build_module(encoder, sample_rate, layer, "mean")


@merbench.hookimpl
def merbench_frontends() -> Iterator[merbench.FrontEndSpec]:
    mert, clap = ENCODERS["mert"], ENCODERS["clap"]
    yield merbench.FrontEndSpec(
        name="mert",
        output="vector",
        build=build_mert,
        search_space={
            "layer": IntDistribution(0, MERT_LAYERS - 1),
            "pooling": CategoricalDistribution(list(POOLINGS)),
        },
        sample_rate=mert.sample_rate,
        describe=lambda: describe(mert),
        summary="Frozen MERT-v0 (music, 16 kHz): a hidden layer pooled over time.",
    )
    yield merbench.FrontEndSpec(
        name="mert-layers",
        output="sequence",
        build=build_mert_layers,
        search_space={"pooling": CategoricalDistribution(list(POOLINGS))},
        sample_rate=mert.sample_rate,
        describe=lambda: describe(mert),
        summary="Frozen MERT-v0 (music, 16 kHz): every hidden layer pooled over time, a row each.",
    )
    yield merbench.FrontEndSpec(
        name="clap",
        output="vector",
        build=build_clap,
        search_space={"layer": CategoricalDistribution(list(CLAP_LAYERS))},
        sample_rate=clap.sample_rate,
        describe=lambda: describe(clap),
        summary="Frozen LAION CLAP audio tower (music, 48 kHz): audio or joint embedding.",
    )


def save_tiny_weights(root: Path, *, seed: int = 0) -> dict[str, Path]:
    """Save randomly initialised, tiny models of every encoder under ``root`` (no download).

    The folders follow the ``$MERBENCH_ENCODERS`` layout (``root/m-a-p--MERT-v0/``, ...) with
    each real model's architecture (MERT-v0's 13 hidden states, CLAP's audio tower) at a few
    units per layer: for tests and benchmarks of the loading, resampling and caching code.

    Returns:
        Each encoder's folder, by front-end name.
    """
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    hubert = tf.HubertConfig(
        hidden_size=8,
        num_hidden_layers=MERT_LAYERS - 1,
        num_attention_heads=2,
        intermediate_size=16,
        conv_dim=(8,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    audio = tf.ClapAudioConfig(
        depths=[1, 1, 1, 1],
        num_attention_heads=[1, 1, 1, 1],
        patch_embeds_hidden_size=8,
        hidden_size=64,
        projection_dim=8,
        enable_fusion=False,
    )
    text = tf.ClapTextConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=8,
        projection_dim=8,
        max_position_embeddings=16,
    )
    clap = tf.ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=8)
    models = {"mert": tf.HubertModel(hubert), "clap": tf.ClapModel(clap)}
    folders = {}
    with quiet_transformers():
        for name, model in models.items():
            folder = root / folder_name(ENCODERS[name].model_id)
            model.save_pretrained(folder)
            folders[name] = folder
    return folders
