"""Candidates: a model with its front-end(s) and augmentation policy, and their names.

A candidate is written ``model@frontend[+frontend...][:augmentation[+augmentation...]]``, e.g.
``cnn2d@learnable-mel``, ``hybrid@raw+handcrafted`` or ``cnn1d@raw:gain+mixup``. A model that
needs no input (a trivial baseline) is written by its name alone (``mean``). ``--augment``
policies are added beside the plain candidates here (``add_policies``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from merbench.errors import ConfigError, did_you_mean
from merbench.plugin.registry import Registry
from merbench.plugin.specs import ModelSpec
from merbench.train.family import family_of
from merbench.train.policy import check_policy

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """One entrant of a comparison."""

    model: str
    frontends: tuple[str, ...] = ()
    augmentations: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The candidate's name, e.g. ``cnn2d@mel:specaugment``."""
        text = self.model
        if self.frontends:
            text += "@" + "+".join(self.frontends)
        if self.augmentations:
            text += ":" + "+".join(self.augmentations)
        return text

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, kw_only=True, slots=True)
class Unavailable:
    """A requested candidate that cannot run with the installed plugins, and why."""

    name: str
    reason: str


def parse_candidate(text: str) -> Candidate:
    """Parse ``model@frontend+frontend:augmentation`` into a ``Candidate``.

    Raises:
        ConfigError: an empty part, such as ``cnn2d@`` or ``cnn2d@mel+``.
    """
    head, _, augmentation_part = text.strip().partition(":")
    model, has_at, frontend_part = head.partition("@")
    frontends = tuple(frontend_part.split("+")) if has_at else ()
    augmentations = tuple(augmentation_part.split("+")) if augmentation_part else ()
    if not model or "" in frontends or "" in augmentations or text.strip().endswith(":"):
        raise ConfigError(
            f"Candidate '{text}' is malformed. Write model[@frontend[+frontend]][:augmentation], "
            "e.g. 'ridge@handcrafted' or 'hybrid@raw+handcrafted'."
        )
    return Candidate(model=model, frontends=frontends, augmentations=augmentations)


def default_candidates(model: ModelSpec) -> list[Candidate]:
    """Return the candidates of ``model`` over its default front-ends and policies.

    Each default front-end combination runs plain, then with each of the model's default
    augmentation policies, so that the leaderboard compares them under the same folds.
    """
    if not model.accepts:
        return [Candidate(model=model.name)]
    policies = [(), *(tuple(p.split("+")) for p in model.default_augmentations)]
    return [
        Candidate(model=model.name, frontends=tuple(entry.split("+")), augmentations=policy)
        for entry in model.default_frontends
        for policy in policies
    ]


def needs_weights(candidate: Candidate, registry: Registry) -> bool:
    """Whether a front-end of ``candidate`` reads pretrained weights (declares ``describe``)."""
    frontends = (registry.frontends.get(name) for name in candidate.frontends)
    return any(f is not None and f.describe is not None for f in frontends)


def check_candidate(candidate: Candidate, registry: Registry) -> str:
    """Return why ``candidate`` cannot run with ``registry``'s plugins, or ``""``."""
    model = registry.models.get(candidate.model)
    if model is None:
        hint = did_you_mean(candidate.model, registry.models)
        return f"unknown model '{candidate.model}'.{hint}"
    if len(candidate.frontends) != len(model.accepts):
        wanted = ", ".join(model.accepts) or "no input"
        return (
            f"model '{model.name}' takes {len(model.accepts)} input(s) ({wanted}); "
            f"'{candidate.name}' gives {len(candidate.frontends)}"
        )
    for frontend_name, kind in zip(candidate.frontends, model.accepts, strict=True):
        frontend = registry.frontends.get(frontend_name)
        if frontend is None:
            hint = did_you_mean(frontend_name, registry.frontends)
            return f"unknown front-end '{frontend_name}'.{hint}"
        if frontend.output != kind:
            return (
                f"front-end '{frontend_name}' gives {frontend.output} but model "
                f"'{model.name}' expects {kind} there"
            )
    for augmentation in candidate.augmentations:
        if augmentation not in registry.augmentations:
            hint = did_you_mean(augmentation, registry.augmentations)
            return f"unknown augmentation '{augmentation}'.{hint}"
    return check_policy(
        model,
        [registry.frontends[f] for f in candidate.frontends],
        [registry.augmentations[a] for a in candidate.augmentations],
        augments=family_of(model).augments,
    )


def expand_candidates(
    selectors: Sequence[str], registry: Registry
) -> tuple[list[Candidate], list[Unavailable]]:
    """Expand ``--models`` selectors into runnable candidates.

    ``all`` is every registered model over its default front-ends, except candidates with a
    front-end that reads pretrained weights (one that declares ``describe``): those are asked
    for by name. A bare model name is that model over its default front-ends;
    ``model@frontend`` is exactly that candidate.

    Returns:
        The runnable candidates (in order, without duplicates) and those that cannot run.

    Raises:
        PluginError: a selector that names no model at all (with a suggestion).
    """
    requested: list[Candidate] = []
    for selector in selectors:
        if selector == "all":
            for name in registry.names("model"):
                requested += [
                    c
                    for c in default_candidates(registry.models[name])
                    if not needs_weights(c, registry)
                ]
            continue
        candidate = parse_candidate(selector)
        if candidate.model not in registry.models:
            registry.get("model", candidate.model)  # raises with a suggestion
        is_bare = "@" not in selector and ":" not in selector
        requested += (
            default_candidates(registry.models[candidate.model]) if is_bare else [candidate]
        )
    runnable: list[Candidate] = []
    unavailable: list[Unavailable] = []
    for candidate in dict.fromkeys(requested):
        reason = check_candidate(candidate, registry)
        if reason:
            unavailable.append(Unavailable(name=candidate.name, reason=reason))
        else:
            runnable.append(candidate)
    return runnable, unavailable


def baseline_candidates(registry: Registry, tasks: Collection[str]) -> list[Candidate]:
    """The baselines a run adds beside its candidates: every baseline model serving one of
    ``tasks`` (``mean`` for regression, ``majority`` for classification, ``artist-prior`` for
    both, and any other plugin's ``is_baseline`` model), over its default front-ends."""
    out: list[Candidate] = []
    for name in registry.names("model"):
        model = registry.models[name]
        if not model.is_baseline or not set(model.tasks) & set(tasks):
            continue
        out += [
            c
            for c in default_candidates(model)
            if not check_candidate(c, registry) and not needs_weights(c, registry)
        ]
    return out


def split_by_tasks(
    candidates: Sequence[Candidate],
    selectors: Sequence[str],
    registry: Registry,
    tasks: Collection[str],
) -> tuple[list[Candidate], list[Unavailable]]:
    """Keep the candidates whose model serves at least one of the run's ``tasks``.

    A candidate named in ``selectors`` (by model or in full) that serves none of them is
    returned as unavailable, with the tasks it serves; one that only ``all`` brought in is
    left out quietly (``all`` means every model that fits).
    """
    named = {parse_candidate(s).model for s in selectors if s != "all"}
    kept: list[Candidate] = []
    unfit: list[Unavailable] = []
    for candidate in candidates:
        model = registry.models[candidate.model]
        if set(model.tasks) & set(tasks):
            kept.append(candidate)
        elif candidate.model in named:
            reason = (
                f"model '{model.name}' serves {', '.join(model.tasks)}, none of this run's "
                f"tasks ({', '.join(sorted(tasks))}); pick a task it serves with --tasks"
            )
            unfit.append(Unavailable(name=candidate.name, reason=reason))
        else:
            log.info("--models all: %s serves none of this run's tasks", candidate.name)
    return kept, unfit


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
    out = list(candidates)
    for names in parse_policies(policies, registry):
        specs = [registry.augmentations[n] for n in names]
        added = 0
        for candidate in candidates:
            if candidate.augmentations:
                continue
            model = registry.models[candidate.model]
            frontends = [registry.frontends[f] for f in candidate.frontends]
            reason = check_policy(model, frontends, specs, augments=family_of(model).augments)
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
