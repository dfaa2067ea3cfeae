"""Study plots of one candidate: which hyperparameters mattered, and how each one scored.

The stored trials (``trials`` table) of each outer fold are rebuilt as Optuna ``FrozenTrial``s
of an in-memory study, with the distributions the cell's study used (``info["search_space"]``;
for stores written before cells kept it, inferred from the values: a number range or the
choices seen). Parameter importance is fANOVA's (``optuna.importance``, fixed seed) per fold
with at least ``MIN_IMPORTANCE_TRIALS`` completed trials (below that, one line says why not),
shown as the mean over folds with each fold's value as a dot.
Each parameter is then plotted against the validation score of every completed trial: on a log
axis when its distribution is log-uniform, as strips for categorical ones. Optuna is imported
only for a candidate that has something to plot.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from merbench.leaderboard.figures.svg import (
    CHAR_WIDTH,
    FOLD_COLORS,
    GRID,
    INK,
    MUTED,
    Plot,
    Scale,
    Shape,
    circle,
    domain,
    line,
    nice_ticks,
    text,
    x_axis,
    y_axis,
)
from merbench.train.tuning import quiet_optuna

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

IMPORTANCE_SEED = 0
"""Seed of the fANOVA evaluator: the same trials give the same importances on every render."""
IMPORTANCE_TREES = 16
"""Trees of the fANOVA forest. Optuna's default, 64, takes 3.9 s of CPU time for a candidate page
of 15 folds of 30 trials and 8 parameters, 16 take 0.9 s; a full-budget site has dozens of pages."""
MIN_TRIALS = 2
"""Completed trials a candidate needs for any study plot (each parameter against the score)."""
MIN_IMPORTANCE_TRIALS = 10
"""Completed trials an outer fold needs for its fANOVA importances. fANOVA (Hutter et al. 2014)
splits the variance of a random forest fitted to the trials: with a handful of trials each tree
sees a few points, the forest interpolates between them, and the split says more about which
parameters the sampler happened to vary than about the score. 10 is Optuna's own floor before
its TPE sampler models the trials (``n_startup_trials``): the ``full`` budget's 30 trials pass,
``smoke`` (2) and ``default`` (4) do not."""


@dataclass(frozen=True, kw_only=True)
class FoldTrials:
    """The completed trials of one outer fold, rebuilt for Optuna."""

    label: str
    index: int
    """The fold's place on the page: its colour, as in the tuning plot."""
    trials: list[FrozenTrial]


def study_section(
    trials: pd.DataFrame,
    cells: pd.DataFrame,
    folds: Sequence[Mapping[str, Any]],
    stem: str,
    metric: str = "score",
) -> dict[str, Any] | None:
    """The study plots of a candidate page, a note when there are too few trials, or ``None``
    when nothing was tuned.

    Args:
        trials: ``Collected.trials`` (with ``uid``).
        cells: the candidate's raw cells (``uid`` and ``info``).
        folds: the page's fold rows (``uid``, ``label``), in page order.
        stem: the candidate page's file name without ``.html`` (plot ids).
        metric: the label of the validation metric (the task's primary metric).
    """
    if trials.empty or "params" not in trials:
        return None
    mine = trials[trials["uid"].isin({f["uid"] for f in folds})]
    if not any(bool(p) for p in mine["params"]):
        return None  # no search space: nothing was tuned
    complete = mine[(mine["state"] == "complete") & mine["value"].notna()]
    if len(complete) < MIN_TRIALS:
        return {"importance": None, "params": [], "note": _too_few(len(complete))}
    spaces = {uid: (info or {}).get("search_space") or {} for uid, info in _infos(cells)}
    per_fold = [_fold_trials(complete, f, i, spaces.get(f["uid"], {})) for i, f in enumerate(folds)]
    per_fold = [f for f in per_fold if f.trials]
    importance = importance_plot(per_fold, plot_id=f"importance-{stem}")
    names = sorted({n for f in per_fold for t in f.trials for n in t.distributions})
    plots = [
        _param_plot(per_fold, name, plot_id=f"param-{i}-{stem}", metric=metric)
        for i, name in enumerate(names)
    ]
    most = max((len(f.trials) for f in per_fold), default=0)
    note = None
    if most < MIN_IMPORTANCE_TRIALS:
        note = (
            f"No importance plot: fANOVA needs at least {MIN_IMPORTANCE_TRIALS} completed "
            f"trials in an outer fold to say which hyperparameter matters; these folds have at "
            f"most {most} (raise the budget's trials, e.g. --set trials={MIN_IMPORTANCE_TRIALS})."
        )
    elif importance is None:
        note = (
            "No parameter importance: the completed trials of every outer fold scored the same "
            "on validation."
        )
    return {"importance": importance, "params": plots, "note": note}


def _too_few(n: int) -> str:
    return (
        f"{n} completed trial{'s' if n != 1 else ''}: the study plots need at least {MIN_TRIALS}."
    )


def _infos(cells: pd.DataFrame) -> list[tuple[str, Any]]:
    if cells.empty or "info" not in cells:
        return []
    return list(zip(cells["uid"], cells["info"], strict=True))


def _fold_trials(
    complete: pd.DataFrame, fold: Mapping[str, Any], index: int, space: Mapping[str, Any]
) -> FoldTrials:
    """The fold's completed trials as ``FrozenTrial``s (a trial outside its space is left out)."""
    from optuna.trial import create_trial

    rows = complete[complete["uid"] == fold["uid"]].sort_values("number")
    params = [dict(p or {}) for p in rows["params"]]
    distributions = _distributions(space, params)
    out = []
    for values, score in zip(params, rows["value"].astype(float), strict=True):
        known = {k: v for k, v in values.items() if k in distributions}
        try:
            trial = create_trial(
                params=known,
                distributions={k: distributions[k] for k in known},
                value=float(score),
            )
        except ValueError:  # a value its stored distribution does not hold
            continue
        out.append(trial)
    return FoldTrials(label=str(fold["label"]), index=index, trials=out)


def _distributions(
    space: Mapping[str, Any], params: Sequence[Mapping[str, Any]]
) -> dict[str, BaseDistribution]:
    """The stored distributions, and ones inferred from the values for parameters without."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
        json_to_distribution,
    )

    out: dict[str, BaseDistribution] = {}
    for name, record in space.items():
        try:
            out[str(name)] = json_to_distribution(json.dumps(record))
        except (ValueError, KeyError, TypeError):
            continue
    for name in sorted({k for p in params for k in p} - set(out)):
        values = [p[name] for p in params if name in p]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == len(values) and all(isinstance(v, int) for v in numbers):
            out[name] = IntDistribution(int(min(numbers)), int(max(numbers)))
        elif len(numbers) == len(values) and all(math.isfinite(v) for v in numbers):
            out[name] = FloatDistribution(min(numbers), max(numbers))
        else:
            choices = [json.loads(c) for c in sorted({json.dumps(v, default=str) for v in values})]
            out[name] = CategoricalDistribution(choices)
    return out


def fold_importances(per_fold: Sequence[FoldTrials]) -> dict[str, list[float]]:
    """fANOVA importance of each parameter in every fold with enough trials (normalised)."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    quiet_optuna()
    out: dict[str, list[float]] = {}
    for fold in per_fold:
        if len(fold.trials) < MIN_IMPORTANCE_TRIALS or not any(t.params for t in fold.trials):
            continue
        study = optuna.create_study(direction="maximize")
        study.add_trials(fold.trials)
        evaluator = FanovaImportanceEvaluator(n_trees=IMPORTANCE_TREES, seed=IMPORTANCE_SEED)
        try:
            values = get_param_importances(study, evaluator=evaluator)
        except (ValueError, RuntimeError):  # no common parameter, or the scores do not vary
            continue
        for name, value in values.items():
            out.setdefault(str(name), []).append(float(value))
    return out


def importance_plot(per_fold: Sequence[FoldTrials], *, plot_id: str) -> Plot | None:
    """Mean importance over folds as bars, one dot per fold; ``None`` without importances."""
    importances = fold_importances(per_fold)
    if not importances:
        return None
    names = sorted(importances, key=lambda n: (-float(np.mean(importances[n])), n))
    left = min(16 + CHAR_WIDTH * max(len(n) for n in names), 260.0)
    width, top, row = left + 360.0, 12.0, 24.0
    height = top + row * len(names) + 46
    x = Scale(0.0, 1.0, left, width - 20)
    shapes = x_axis(x, top, height - 46, "importance (fANOVA, share of the variance)")
    for i, name in enumerate(names):
        y = top + row * i + row / 2
        mean = float(np.mean(importances[name]))
        shapes.append(_bar(x, y, mean, f"{name}: {mean:.3f} (mean of {len(importances[name])})"))
        shapes += [circle(x(v), y, 3.0, INK, opacity=0.7) for v in importances[name]]
        shapes.append(text(left - 8, y + 4, _clip(name, left), anchor="end", size=12))
    return Plot(
        id=plot_id,
        width=width,
        height=height,
        title="Hyperparameter importance: mean over outer folds (bars) and each fold (dots)",
        description=f"fANOVA importances of {len(names)} parameters",
        shapes=shapes,
    )


def _bar(x: Scale, y: float, value: float, tip: str) -> Shape:
    return {
        "kind": "polygon",
        "points": f"{x(0)},{y - 7} {x(value)},{y - 7} {x(value)},{y + 7} {x(0)},{y + 7}",
        "fill": "#9cc3e6",
        "stroke": "none",
        "tip": tip,
    }


def _clip(name: str, room: float) -> str:
    most = max(4, int((room - 16) / CHAR_WIDTH))
    return name if len(name) <= most else name[: most - 1] + "\N{HORIZONTAL ELLIPSIS}"


def _param_plot(per_fold: Sequence[FoldTrials], name: str, *, plot_id: str, metric: str) -> Plot:
    """The validation score of every completed trial against one parameter, a colour per fold."""
    left, top, size, height = 56.0, 30.0, 250.0, 250.0
    points = [
        (fold, t.params[name], float(t.value or 0.0))
        for fold in per_fold
        for t in fold.trials
        if name in t.params
    ]
    distribution = next(
        t.distributions[name] for f in per_fold for t in f.trials if name in t.params
    )
    y = Scale(*domain([p[2] for p in points]), height - 44, top)
    axis, place = _x_axis(distribution, left, left + size, top, height - 44, name)
    shapes = [text(left, 16, _clip(name, size + left), size=13, weight="600"), *axis]
    shapes += y_axis(y, left, left + size, f"validation {metric}")
    for k, (fold, value, score) in enumerate(points):
        color = FOLD_COLORS[fold.index % len(FOLD_COLORS)]
        tip = f"{fold.label}: {name} = {value}, {metric} {score:.4f}"
        shapes.append(circle(place(value, k), y(score), 3.0, color, opacity=0.75, tip=tip))
    return Plot(
        id=plot_id,
        width=left + size + 16,
        height=height,
        title=f"Validation {metric} against {name}, every completed trial (a colour per fold)",
        description=f"{len(points)} trials",
        shapes=shapes,
    )


def _x_axis(
    distribution: BaseDistribution, start: float, end: float, top: float, bottom: float, name: str
) -> tuple[list[Shape], Any]:
    """The x axis of a parameter and a function placing ``(value, point index)`` on it."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return _strips(distribution, start, end, top, bottom, name)
    low, high = float(distribution.low), float(distribution.high)  # type: ignore[attr-defined]
    if getattr(distribution, "log", False) and low > 0:
        return _log_axis(low, high, start, end, top, bottom, name)
    scale = Scale(*domain([low, high], pad=0.04), start, end)
    ticks = nice_ticks(scale.low, scale.high, 5)
    if isinstance(distribution, IntDistribution):  # whole numbers only
        ticks = [t for t in ticks if t == int(t)] or ticks
    return x_axis(scale, top, bottom, name, ticks), lambda value, _: scale(float(value))


def _strips(
    distribution: Any, start: float, end: float, top: float, bottom: float, name: str
) -> tuple[list[Shape], Any]:
    choices = list(distribution.choices)
    step = (end - start) / len(choices)
    jitter = np.random.default_rng(IMPORTANCE_SEED).uniform(-0.12, 0.12, size=4096)
    centre = {json.dumps(c, default=str): start + step * (i + 0.5) for i, c in enumerate(choices)}
    shapes = [line(start, bottom, end, bottom, MUTED)]
    for choice in choices:
        x = centre[json.dumps(choice, default=str)]
        shapes.append(line(x, top, x, bottom, GRID))
        label = _clip(str(choice), step + 16)
        shapes.append(text(x, bottom + 16, label, anchor="middle", size=12, fill=MUTED))
    shapes.append(text((start + end) / 2, bottom + 34, name, anchor="middle", size=13))

    def place(value: Any, k: int) -> float:
        x = centre.get(json.dumps(value, default=str), start)
        return round(x + float(jitter[k % len(jitter)]) * step, 1)

    return shapes, place


def _log_axis(
    low: float, high: float, start: float, end: float, top: float, bottom: float, name: str
) -> tuple[list[Shape], Any]:
    """A log10 axis: ticks at powers of ten (or round exponents over a narrow range)."""
    lo, hi = math.log10(low), math.log10(high)
    pad = (hi - lo) * 0.04 or 0.5
    scale = Scale(lo - pad, hi + pad, start, end)
    exponents = list(range(math.ceil(lo), math.floor(hi) + 1))
    every = max(1, math.ceil(len(exponents) / 5))
    ticks = [float(e) for e in exponents[::every]] if len(exponents) >= 2 else nice_ticks(lo, hi, 4)
    shapes = [line(scale(t), top, scale(t), bottom, GRID) for t in ticks]
    shapes.append(line(start, bottom, end, bottom, MUTED))
    for t in ticks:
        label = f"{10**t:.3g}"
        shapes.append(text(scale(t), bottom + 16, label, anchor="middle", size=12, fill=MUTED))
    label = f"{name} (log scale)"
    shapes.append(text((start + end) / 2, bottom + 34, label, anchor="middle", size=13))
    return shapes, lambda value, _: scale(math.log10(max(float(value), 1e-300)))
