"""Augmentation policies: which augmentations a candidate trains with, and how each is applied.

A candidate's policy is the augmentations after the colon of its name (``cnn2d@mel:specaugment``,
``cnn1d@raw:gain+pitch``). This module checks at planning time that a policy fits a candidate
(``check_policy``), decides the mode of each waveform transform (``on-the-fly`` or
``pre-rendered``) and which strengths Optuna tunes (pre-rendered copies use the plugin's
defaults, so one set of copies serves every fold, trial and candidate), and builds a policy with
a trial's parameters. It imports neither torch nor the plugins' libraries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from merbench.errors import ConfigError, did_you_mean
from merbench.plugin.specs import (
    RUN_AUGMENT_MODES,
    AugmentationSpec,
    AugmentMode,
    FrontEndSpec,
    ModelSpec,
    RunAugmentMode,
)

RUN_MODES = RUN_AUGMENT_MODES
N_COPIES = 4
"""Pre-rendered augmented copies per clip."""


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
    model: ModelSpec,
    frontends: Sequence[FrontEndSpec],
    augmentations: Sequence[AugmentationSpec],
    *,
    augments: bool,
) -> str:
    """Return why a candidate cannot train with these augmentations, or ``""``; ``augments``:
    whether the model's family trains with them (``ModelFamily.augments``)."""
    if not augmentations:
        return ""
    names = [a.name for a in augmentations]
    policy = ":" + "+".join(names)
    if not augments:
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
            Step(spec=spec, params=own, mode=mode, transform=spec.builder(sample_rate, **own))
        )
    return Policy(steps=tuple(steps))


def augmentation_params(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The parameters of augmentation ``name`` in flat trial parameters, without the prefix."""
    prefix = f"{name}."
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
