"""Augmentation policies: what a candidate trains with, how, and from which seeds.

A candidate's policy is the augmentations after the colon of its name (``cnn2d@mel:specaugment``,
``cnn1d@raw:gain+pitch``). This module owns everything about a policy that needs no torch:

- checking at planning time that a policy fits a candidate (``check_policy``) and adding
  ``--augment`` policies beside plain candidates (``add_policies``);
- the mode of each waveform transform (``on-the-fly`` or ``pre-rendered``) and which strengths
  Optuna tunes (pre-rendered copies use the plugin's defaults, so one set of copies serves every
  fold, trial and candidate);
- seeds: one ``numpy.random.SeedSequence`` of (cell seed, epoch, sample index) per example and
  epoch, and of (cell seed, epoch, step) per batch; ``seeded`` also seeds Python's ``random``,
  numpy's and torch's global generators (which audiomentations and torchaudio draw from) for
  the length of one call, and restores them afterwards;
- pre-rendered copies of the clips (``render_copies``) and their fixed front-end features,
  cached on disk under the cache folder like decoded audio;
- ``prepare_training``: where each model input's training batches come from.

Augmentation touches training batches only: the torch loop applies it in ``_train_epoch``,
never when it predicts validation or test tracks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from merbench.audio import write_array
from merbench.errors import ConfigError, did_you_mean
from merbench.paths import cache_dir
from merbench.specs import (
    RUN_AUGMENT_MODES,
    AugmentationSpec,
    AugmentMode,
    FrontEndSpec,
    ModelSpec,
    RunAugmentMode,
)

if TYPE_CHECKING:
    from merbench.candidates import Candidate
    from merbench.data import Tracks
    from merbench.features import FeatureStore
    from merbench.registry import Registry

log = logging.getLogger(__name__)

RUN_MODES = RUN_AUGMENT_MODES
N_COPIES = 4
"""Pre-rendered augmented copies per clip."""
RENDER_CACHE_VERSION = 1
_BATCH_STREAM = 1  # spawn key of per-batch seeds, apart from the per-sample ones
_RENDER_STREAM = 2  # spawn key of pre-rendering seeds
_FRONTEND_BATCH = 16


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """One augmentation of a policy, built with its parameters."""

    spec: AugmentationSpec
    params: Mapping[str, Any]
    mode: AugmentMode
    transform: Callable[..., Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class Policy:
    """A candidate's built augmentations, in the order of its name."""

    steps: tuple[Step, ...]

    def _stage(self, stage: str, mode: str | None = None) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.spec.stage == stage and mode in (None, s.mode))

    @property
    def live_waveform(self) -> tuple[Step, ...]:
        """Waveform transforms applied afresh to every training example in every epoch."""
        return self._stage("waveform", "on-the-fly")

    @property
    def prerendered(self) -> tuple[Step, ...]:
        """Waveform transforms rendered into cached copies of each clip."""
        return self._stage("waveform", "pre-rendered")

    @property
    def spectrogram(self) -> tuple[Step, ...]:
        return self._stage("spectrogram")

    @property
    def batch(self) -> tuple[Step, ...]:
        return self._stage("batch")

    @property
    def mixes_labels(self) -> bool:
        return any(s.spec.labels == "mix" for s in self.steps)

    def describe(self) -> dict[str, Any]:
        """What the results store keeps about the policy of a cell."""
        return {
            "policy": "+".join(s.spec.name for s in self.steps),
            "modes": {s.spec.name: s.mode for s in self.steps},
            "copies": N_COPIES if self.prerendered else 0,
        }


# --- planning ---------------------------------------------------------------------------------


def check_run_mode(mode: str) -> RunAugmentMode:
    """Return ``mode`` if it is a run's augmentation mode.

    Raises:
        ConfigError: another value, with the allowed ones.
    """
    if mode not in RUN_MODES:
        raise ConfigError(
            f"Unknown augmentation mode '{mode}'.{did_you_mean(mode, RUN_MODES)} "
            f"Choose one of: {', '.join(RUN_MODES)}."
        )
    return mode  # type: ignore[return-value]


def effective_mode(spec: AugmentationSpec, run_mode: str = "auto") -> AugmentMode:
    """How ``spec`` is applied in a run: its own default unless the run forces a mode."""
    if spec.stage != "waveform":
        return "on-the-fly"
    if run_mode == "auto":
        return spec.mode
    return check_run_mode(run_mode)  # type: ignore[return-value]


def check_policy(
    model: ModelSpec, frontends: Sequence[FrontEndSpec], augmentations: Sequence[AugmentationSpec]
) -> str:
    """Return why a candidate cannot train with these augmentations, or ``""``."""
    if not augmentations:
        return ""
    names = [a.name for a in augmentations]
    policy = ":" + "+".join(names)
    if model.family != "torch":
        return (
            f"augmentations train torch models only and '{model.name}' is a scikit-learn model; "
            f"drop '{policy}' or pick a torch model"
        )
    if not frontends:
        return f"model '{model.name}' takes no input to augment; drop '{policy}'"
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        return f"augmentation '{repeated[0]}' appears twice in '{policy}'; name it once"
    clash = sorted(set(names) & {f.name for f in frontends})
    if clash:
        return (
            f"'{clash[0]}' names both a front-end and an augmentation of this candidate, so "
            "their tuned parameters would collide; disable one of the two plugins"
        )
    has_spectrogram = any(f.output == "spectrogram" for f in frontends)
    for augmentation in augmentations:
        if augmentation.stage == "spectrogram" and not has_spectrogram:
            return (
                f"augmentation '{augmentation.name}' masks spectrograms and no front-end of "
                "this candidate gives one; use it with a spectrogram front-end such as mel"
            )
    return ""


def parse_policies(texts: Sequence[str], registry: Registry) -> list[tuple[str, ...]]:
    """Parse ``--augment`` values (``specaugment``, ``gain+mixup``, comma-separated) into policies.

    Raises:
        ConfigError: an empty or unknown augmentation name (with a suggestion).
    """
    policies: list[tuple[str, ...]] = []
    for text in (t.strip() for value in texts for t in value.split(",") if t.strip()):
        names = tuple(part.strip() for part in text.split("+"))
        for name in names:
            if not name:
                raise ConfigError(
                    f"--augment '{text}': empty augmentation name. Write names joined by '+', "
                    "e.g. 'gain+mixup'."
                )
            if name not in registry.augmentations:
                known = ", ".join(sorted(registry.augmentations)) or "none installed"
                raise ConfigError(
                    f"--augment '{text}': unknown augmentation '{name}'."
                    f"{did_you_mean(name, registry.augmentations)} Known: {known}. "
                    "Run 'merbench list augmentations'."
                )
        policies.append(names)
    return list(dict.fromkeys(policies))


def add_policies(
    candidates: Sequence[Candidate], policies: Sequence[str], registry: Registry
) -> list[Candidate]:
    """Add, beside every plain torch candidate, the same candidate with each policy.

    A policy that does not fit a candidate (SpecAugment on raw audio) is not added to it.

    Raises:
        ConfigError: an unknown augmentation, or a policy that fits none of the candidates.
    """
    from merbench.candidates import Candidate

    out = list(candidates)
    for names in parse_policies(policies, registry):
        specs = [registry.augmentations[n] for n in names]
        added = 0
        for candidate in candidates:
            if candidate.augmentations:
                continue
            model = registry.models[candidate.model]
            frontends = [registry.frontends[f] for f in candidate.frontends]
            reason = check_policy(model, frontends, specs)
            if reason:
                log.info("--augment %s: not for %s: %s", "+".join(names), candidate.name, reason)
                continue
            out.append(
                Candidate(model=model.name, frontends=candidate.frontends, augmentations=names)
            )
            added += 1
        if not added:
            raise ConfigError(
                f"--augment '{'+'.join(names)}' fits none of the selected candidates "
                f"({', '.join(c.name for c in candidates)}). Augmentations train torch models; "
                "spectrogram augmentations need a spectrogram front-end."
            )
    return list(dict.fromkeys(out))


def tunable(augmentations: Sequence[AugmentationSpec], run_mode: str = "auto") -> list[Any]:
    """The augmentations whose strength Optuna tunes: every one that is not pre-rendered."""
    return [a for a in augmentations if effective_mode(a, run_mode) != "pre-rendered"]


def make_policy(
    augmentations: Sequence[AugmentationSpec],
    params: Mapping[str, Any],
    *,
    sample_rate: int,
    run_mode: str = "auto",
) -> Policy:
    """Build every augmentation with its ``<augmentation>.<key>`` parameters from ``params``."""
    steps = []
    for spec in augmentations:
        mode = effective_mode(spec, run_mode)
        own = {} if mode == "pre-rendered" else augmentation_params(params, spec.name)
        steps.append(
            Step(spec=spec, params=own, mode=mode, transform=spec.build(sample_rate, **own))
        )
    return Policy(steps=tuple(steps))


def augmentation_params(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The parameters of augmentation ``name`` in flat trial parameters, without the prefix."""
    prefix = f"{name}."
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


# --- seeds ------------------------------------------------------------------------------------


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one training example in one epoch: SeedSequence((seed, epoch, index))."""
    return np.random.default_rng(np.random.SeedSequence((seed, epoch, int(index))))


def batch_rng(seed: int, epoch: int, step: int) -> np.random.Generator:
    """The generator of one training batch (batch-stage augmentations such as mixup)."""
    sequence = np.random.SeedSequence((seed, epoch, step), spawn_key=(_BATCH_STREAM,))
    return np.random.default_rng(sequence)


@contextlib.contextmanager
def seeded(rng: np.random.Generator) -> Iterator[None]:
    """Seed Python's, numpy's and torch's global generators from ``rng``, then restore them.

    audiomentations draws from ``random`` and ``numpy.random``, torchaudio's masking from
    ``torch.rand``: under this context they repeat for the same ``rng``, and code outside it
    sees its own random state unchanged.
    """
    import torch

    seed = int(rng.integers(2**32))
    python_state, numpy_state = random.getstate(), np.random.get_state()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def call_seeded(transform: Callable[..., Any], *args: Any, rng: np.random.Generator) -> Any:
    """Call ``transform(*args, rng)`` with the global generators seeded from ``rng``."""
    with seeded(rng):
        return transform(*args, rng)


def augment_waveform(x: np.ndarray, steps: Sequence[Step], rng: np.random.Generator) -> np.ndarray:
    """Apply waveform transforms in order to one example ``[C, T]`` (a new float32 array)."""
    out = np.array(x, dtype=np.float32)
    for step in steps:
        out = np.asarray(call_seeded(step.transform, out, rng=rng), dtype=np.float32)
    return out


# --- pre-rendered copies ----------------------------------------------------------------------


def render_copies(
    waveforms: np.ndarray,
    track_ids: Sequence[str],
    steps: Sequence[Step],
    *,
    seed: int,
    key: Mapping[str, Any],
) -> tuple[np.ndarray, str]:
    """Render ``N_COPIES`` augmented copies of every clip, once per seed, cached on disk.

    Copy ``k`` of a track is seeded by (seed, k, the track id), so it does not depend on the
    order of the tracks or on the fold.

    Args:
        waveforms: the clips ``[N, C, T]``.
        track_ids: one id per clip.
        steps: the pre-rendered waveform transforms (built with their default strength).
        seed: the run's seed.
        key: what else identifies the clips (tracks fingerprint, audio settings).

    Returns:
        ``[N, N_COPIES, C, T']`` float32 (memory-mapped from the cache) and its cache key.
    """
    content = {
        "version": RENDER_CACHE_VERSION,
        "clips": dict(key),
        "seed": seed,
        "copies": N_COPIES,
        "steps": [_identity(s) for s in steps],
    }
    digest = _digest(content)
    path = cache_dir("augmented") / f"copies-{digest}.npy"
    cached = _read(path)
    if cached is not None:
        return cached, digest
    log.info("rendering %d augmented copies of %d clips", N_COPIES, len(waveforms))
    rendered = np.asarray(
        [
            [
                augment_waveform(waveforms[n], steps, _render_rng(seed, copy, track_ids[n]))
                for copy in range(N_COPIES)
            ]
            for n in range(len(waveforms))
        ],
        dtype=np.float32,
    )
    write_array(path, rendered)
    return rendered, digest


@dataclass(frozen=True, kw_only=True, slots=True)
class Copies:
    """Pre-rendered copies ``[N, K, C, T]`` and the cache key they were stored under."""

    array: np.ndarray
    key: str


def copy_features(
    copies: Copies, frontend: FrontEndSpec, params: Mapping[str, Any], *, sample_rate: int
) -> np.ndarray:
    """A fixed front-end's output for every pre-rendered copy, ``[N, K, ...]``, cached."""
    import torch

    content = {
        "copies": copies.key,
        "frontend": frontend.name,
        "plugin": _provenance(frontend),
        "params": sorted((k, repr(v)) for k, v in params.items()),
        "sample_rate": sample_rate,
    }
    path = cache_dir("augmented") / f"{frontend.name}-{_digest(content)}.npy"
    cached = _read(path)
    if cached is not None:
        return cached
    module = frontend.build(sample_rate, **params)
    if isinstance(module, torch.nn.Module):
        module.eval()
    flat = copies.array.reshape(-1, *copies.array.shape[2:])
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(flat), _FRONTEND_BATCH):
            batch = torch.from_numpy(np.array(flat[start : start + _FRONTEND_BATCH]))  # writable
            outputs.append(np.asarray(module(batch), dtype=np.float32))
    shape = (*copies.array.shape[:2], *outputs[0].shape[1:])
    features = np.concatenate(outputs).reshape(shape)
    write_array(path, features)
    return features


def _render_rng(seed: int, copy: int, track_id: str) -> np.random.Generator:
    entropy = (seed, copy, zlib.crc32(str(track_id).encode()))
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(_RENDER_STREAM,)))


def _identity(step: Step) -> list[Any]:
    params = sorted((k, repr(v)) for k, v in step.params.items())
    return [step.spec.name, _provenance(step.spec), params]


def _provenance(record: AugmentationSpec | FrontEndSpec) -> list[str] | None:
    p = record.provenance
    return [p.distribution, p.version] if p else None


def _digest(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:24]


def _read(path: Path) -> np.ndarray | None:
    try:
        return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError) as exc:
        log.warning("%s: unreadable augmentation cache entry (%s); rendering again", path, exc)
        return None


# --- training ---------------------------------------------------------------------------------

Source = Literal["cached", "waveform", "frontend", "copies"]


@dataclass(frozen=True, kw_only=True)
class Route:
    """Where the training batches of one model input come from.

    ``cached``: the input the model sees at validation too (fixed features, or waveforms for a
    trainable front-end); ``waveform``: the augmented waveforms (for a trainable front-end);
    ``frontend``: a fixed front-end run in the graph on augmented waveforms; ``copies``: the
    cached features of pre-rendered copies.
    """

    source: Source
    frontend: Any = None
    copies: np.ndarray | None = None


@dataclass(frozen=True, kw_only=True)
class TrainingAugmentation:
    """Everything the torch loop needs to augment one fit's training batches.

    Attributes:
        policy: the built augmentations.
        seed: the cell's seed.
        rows: the dataset row of each training example, in the order of the training arrays
            (the sample index of the per-example seeds).
        waveforms: every track's clip ``[N, C, T]``, or its copies ``[N, K, C, T]``; ``None``
            when no input needs waveforms.
        n_copies: ``K`` when the policy pre-renders, else 0.
        routes: one per model input.
    """

    policy: Policy
    seed: int
    rows: np.ndarray
    waveforms: np.ndarray | None
    n_copies: int
    routes: tuple[Route, ...]


@dataclass(frozen=True, kw_only=True)
class TrainingSetup:
    """What ``prepare_training`` needs from a cell."""

    policy: Policy
    features: FeatureStore
    tracks: Tracks
    frontends: Sequence[FrontEndSpec]
    frontend_params: Sequence[Mapping[str, Any]]
    rows: np.ndarray
    seed: int
    render_seed: int
    sample_rate: int


def prepare_training(setup: TrainingSetup) -> TrainingAugmentation:
    """Decide each input's route and render (or load) the pre-rendered copies it needs."""
    policy = setup.policy
    waveforms = setup.features.waveforms(setup.tracks)
    copies = None
    if policy.prerendered:
        key = {
            "tracks": setup.tracks.fingerprint(),
            "audio": repr(setup.features.audio.settings),
        }
        ids = setup.tracks.table["track_id"].astype(str).tolist()
        array, digest = render_copies(
            waveforms, ids, policy.prerendered, seed=setup.render_seed, key=key
        )
        copies = Copies(array=array, key=digest)
    has_waveform_step = bool(policy.live_waveform or policy.prerendered)
    routes = []
    for frontend, params in zip(setup.frontends, setup.frontend_params, strict=True):
        if frontend.trainable:
            routes.append(Route(source="waveform" if has_waveform_step else "cached"))
        elif policy.live_waveform:
            module = frontend.build(setup.sample_rate, **params)
            routes.append(Route(source="frontend", frontend=module))
        elif copies is not None:
            features = copy_features(copies, frontend, params, sample_rate=setup.sample_rate)
            routes.append(Route(source="copies", copies=features))
        else:
            routes.append(Route(source="cached"))
    needs_waveforms = any(r.source in ("waveform", "frontend") for r in routes)
    source = copies.array if copies is not None else waveforms
    return TrainingAugmentation(
        policy=policy,
        seed=setup.seed,
        rows=np.asarray(setup.rows),
        waveforms=source if needs_waveforms else None,
        n_copies=N_COPIES if copies is not None else 0,
        routes=tuple(routes),
    )
