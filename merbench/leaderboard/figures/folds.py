"""SVG plots of one candidate's folds, drawn at build time: tuning curves and predicted against
true values. Names from plugins only reach the SVG as text the template escapes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from merbench.leaderboard.figures.svg import (
    FOLD_COLORS,
    INK,
    MUTED,
    Plot,
    Scale,
    Shape,
    circle,
    domain,
    line,
    text,
    x_axis,
    y_axis,
)


@dataclass(frozen=True, kw_only=True)
class Series:
    """One fold's points, ``(x, y)`` pairs, in a tuning or scatter plot."""

    label: str
    points: tuple[tuple[float, float], ...]
    pruned: tuple[tuple[float, float], ...] = ()


def tuning_plot(series: Sequence[Series], *, plot_id: str, metric: str) -> Plot:
    """Best validation value so far against Optuna trial number, one line per outer fold.

    ``series`` points are ``(trial number, value)`` of complete trials (maximised); ``pruned``
    ones are drawn as crosses at their last reported value.
    """
    left, right, top, bottom, width, height = 60.0, 110.0, 16.0, 44.0, 620.0, 300.0
    xs = [p[0] for s in series for p in (*s.points, *s.pruned)]
    ys = [p[1] for s in series for p in (*s.points, *s.pruned)]
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    x_scale = Scale(x_low - 0.3, max(x_high, x_low + 1) + 0.3, left, width - right)
    y_scale = Scale(*domain(ys), height - bottom, top)
    step = max(1, math.ceil((x_high - x_low) / 8))
    trials = [float(t) for t in range(int(x_low), int(x_high) + 1, step)]
    shapes = x_axis(x_scale, top, height - bottom, "trial", trials)
    shapes += y_axis(y_scale, left, width - right, f"validation {metric}")
    for i, one in enumerate(series):
        color = FOLD_COLORS[i % len(FOLD_COLORS)]
        shapes += _tuning_series(one, x_scale, y_scale, color)
        y = top + 10 + 18 * i
        shapes += [line(width - right + 12, y, width - right + 30, y, color, width=2)]
        shapes += [text(width - right + 36, y + 4, one.label, size=12, fill=INK)]
    return Plot(
        id=plot_id,
        width=width,
        height=height,
        title=f"Tuning: best validation {metric} so far against trial number, per outer fold",
        description=f"{len(series)} folds, {len(xs)} trials",
        shapes=shapes,
    )


def _tuning_series(one: Series, x: Scale, y: Scale, color: str) -> list[Shape]:
    shapes: list[Shape] = []
    best = -math.inf
    steps: list[tuple[float, float]] = []
    for number, value in sorted(one.points):
        shapes.append(
            circle(
                x(number),
                y(value),
                2.6,
                color,
                opacity=0.45,
                tip=f"{one.label}, trial {number:.0f}: {value:.4f}",
            )
        )
        if value > best:
            if steps:
                steps.append((x(number), y(best)))
            best = value
        steps.append((x(number), y(best)))
    if steps:
        points = " ".join(f"{a},{b}" for a, b in steps)
        shapes.append({"kind": "polyline", "points": points, "stroke": color, "width": 2})
    for number, value in one.pruned:
        cx, cy, r = x(number), y(value), 3.0
        d = f"M{cx - r},{cy - r}L{cx + r},{cy + r}M{cx - r},{cy + r}L{cx + r},{cy - r}"
        shapes.append(
            {
                "kind": "path",
                "d": d,
                "stroke": color,
                "width": 1.4,
                "tip": f"{one.label}, trial {number:.0f}: pruned",
            }
        )
    return shapes


def scatter_plot(
    series: Sequence[Series],
    *,
    plot_id: str,
    target: str,
    scale: tuple[float, float] | None = None,
    note: str = "",
) -> Plot:
    """Predicted against true values of one target, one colour per outer fold, with y = x."""
    left, top, size = 56.0, 28.0, 300.0
    legend, legend_height = _fold_legend([s.label for s in series], left, top + size + 58, size)
    width, height = left + size + 16, top + size + 48 + legend_height
    values = [v for s in series for p in s.points for v in p]
    low, high = domain([*values, *(scale or ())], pad=0.04)
    x_scale = Scale(low, high, left, left + size)
    y_scale = Scale(low, high, top + size, top)
    shapes = x_axis(x_scale, top, top + size, f"true {target}")
    shapes += y_axis(y_scale, left, left + size, f"predicted {target}")
    shapes.append(line(x_scale(low), y_scale(low), x_scale(high), y_scale(high), MUTED, dash="5 4"))
    shapes.append(text(left, 16, target.capitalize(), size=14, weight="600"))
    if note:
        shapes.append(text(left + size, 16, note, anchor="end", size=11, fill=MUTED))
    for i, one in enumerate(series):
        color = FOLD_COLORS[i % len(FOLD_COLORS)]
        shapes += [circle(x_scale(a), y_scale(b), 2.4, color, opacity=0.6) for a, b in one.points]
    shapes += legend
    return Plot(
        id=plot_id,
        width=width,
        height=height,
        title=f"{target.capitalize()}: predicted against true value on the outer test folds",
        description=f"{sum(len(s.points) for s in series)} test predictions; dashed line: y = x",
        shapes=shapes,
    )


def _fold_legend(
    labels: Sequence[str], left: float, top: float, width: float
) -> tuple[list[Shape], float]:
    """A dot and a label per fold in rows of at most ``width``; the shapes and their height."""
    shapes: list[Shape] = []
    x, y = left, top
    for i, label in enumerate(labels):
        entry = 14 + len(label) * 6.6 + 12
        if x > left and x + entry > left + width:
            x, y = left, y + 17
        shapes.append(circle(x + 4, y - 4, 3.6, FOLD_COLORS[i % len(FOLD_COLORS)]))
        shapes.append(text(x + 12, y, label, size=11.5, fill=MUTED))
        x += entry
    return shapes, (y - top + 20 if labels else 0.0)
