"""SVG plots of the leaderboard, drawn at build time: no JavaScript, readable in print.

Each function returns a ``svg.Plot`` (shapes the ``_svg.html`` macro writes out): confidence
intervals per candidate, the labels of a dataset, a critical-difference diagram of mean ranks,
and a one-line glyph for table cells (a candidate's per-fold plots are in ``fold_plots``). Names
from plugins only reach the SVG as text the template escapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from merbench.leaderboard.figures.svg import (
    CHAR_WIDTH,
    FOLD_COLORS,
    GRID,
    INK,
    MONO,
    MUTED,
    TIER_COLORS,
    Plot,
    Scale,
    Shape,
    circle,
    diamond,
    domain,
    line,
    text,
    x_axis,
    y_axis,
)
from merbench.leaderboard.ranks import RankComparison


@dataclass(frozen=True, kw_only=True)
class CiRow:
    """One candidate of a confidence-interval plot."""

    name: str
    mean: float
    low: float | None
    high: float | None
    tier: str  # leader, best, worse, cannot tell or baseline
    folds: tuple[float, ...] = ()


def ci_plot(
    rows: Sequence[CiRow],
    *,
    plot_id: str,
    metric: str,
    higher_is_better: bool,
    references: Sequence[tuple[str, float]] = (),
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> Plot:
    """Mean and 95 % CI of one metric per candidate (best first), with per-fold scores.

    The axis spans the means, fold scores and references, widened on each side by their own
    span or twice the median half-width of the intervals, whichever is more (at least 0.05),
    and never past ``bounds``, the metric's range: one wide interval does
    not squeeze the others into a corner. An interval that runs past the axis is drawn cut
    there, with an arrowhead instead of a cap; its tooltip keeps its ends.

    Args:
        rows: candidates in rank order.
        plot_id: a document-unique id (not from plugin data).
        metric: the metric's label, for the axis.
        higher_is_better: the metric's direction, shown beside the axis label.
        references: labelled vertical lines, e.g. ``("noise ceiling", 0.95)``.
        bounds: the metric's possible range, e.g. ``(0, 1)`` for accuracy.
    """
    left = max(max((len(r.name) for r in rows), default=8) * CHAR_WIDTH + 24, 120.0)
    top, row_height, width = 52.0, 30.0, max(900.0, left + 520.0)
    bottom = top + row_height * len(rows)
    view = axis_window(rows, references, bounds)
    values = [v for r in rows for v in (r.mean, r.low, r.high, *r.folds) if v is not None]
    values = [min(max(v, view[0]), view[1]) for v in values]
    scale = Scale(*domain([*values, *(v for _, v in references)]), left, width - 70.0)
    arrow = "higher is better \N{RIGHTWARDS ARROW}" if higher_is_better else "lower is better"
    shapes = x_axis(scale, top - 8, bottom, f"{metric}   ({arrow})")
    shapes += _references(scale, references, top - 8, bottom)
    for i, row in enumerate(rows):
        shapes += _ci_row(row, scale, top + row_height * (i + 0.5), left, view)
    is_cut = any(
        r.low is not None and r.high is not None and (r.low < view[0] or r.high > view[1])
        for r in rows
    )
    shapes += _ci_legend(left, is_cut, has_cannot_tell=any(r.tier == "cannot tell" for r in rows))
    return Plot(
        id=plot_id,
        width=width,
        height=bottom + 52,
        title=f"{metric}: mean and 95 % confidence interval over outer folds, per candidate",
        description="; ".join(f"{r.name}: {r.mean:.3f}" for r in rows),
        shapes=shapes,
    )


def axis_window(
    rows: Sequence[CiRow],
    references: Sequence[tuple[str, float]],
    bounds: tuple[float, float],
) -> tuple[float, float]:
    """The values a CI plot's axis may show: see ``ci_plot``."""
    points = [v for r in rows for v in (r.mean, *r.folds)] + [v for _, v in references]
    finite = [v for v in points if math.isfinite(v)]
    if not finite:
        return bounds
    low, high = min(finite), max(finite)
    halves = [(r.high - r.low) / 2 for r in rows if r.low is not None and r.high is not None]
    typical = float(np.median([h for h in halves if math.isfinite(h)] or [0.0]))
    margin = max(high - low, 2 * typical, 0.05)
    return max(low - margin, bounds[0]), min(high + margin, bounds[1])


def _references(
    scale: Scale, references: Sequence[tuple[str, float]], top: float, bottom: float
) -> list[Shape]:
    shapes = []
    for name, value in references:
        x = scale(value)
        shapes.append(line(x, top, x, bottom, MUTED, dash="4 3"))
        shapes.append(text(x + 4, top + 10, name, size=11, fill=MUTED))
    return shapes


def _ci_row(
    row: CiRow, scale: Scale, y: float, left: float, bounds: tuple[float, float]
) -> list[Shape]:
    color = TIER_COLORS[row.tier]
    is_baseline = row.tier == "baseline"
    shapes = [
        text(
            left - 12,
            y + 4,
            row.name,
            anchor="end",
            size=12.5,
            family=MONO,
            fill=MUTED if is_baseline else INK,
            style="italic" if is_baseline else "",
        ),
    ]
    shapes += [
        circle(scale(v), y, 3.0, MUTED, opacity=0.4, tip=f"one outer fold: {v:.3f}")
        for v in row.folds
    ]
    if row.low is not None and row.high is not None:
        shapes += _interval(row.low, row.high, scale, y, color, bounds)
    x = scale(row.mean)
    tip = f"{row.name}: {row.mean:.3f}"
    if is_baseline:
        shapes.append(diamond(x, y, 6, color, tip))
    elif row.tier == "worse":
        shapes.append(circle(x, y, 4.5, "#ffffff", stroke=color, width=2.2, tip=tip))
    else:
        shapes.append(circle(x, y, 5.5 if row.tier == "leader" else 4.5, color, tip=tip))
    value = f"{row.mean:.3f}".replace("-", "\N{MINUS SIGN}")
    shapes.append(text(scale.end + 10, y + 4, value, size=12.5, family=MONO, fill=color))
    return shapes


def _interval(
    low: float, high: float, scale: Scale, y: float, color: str, bounds: tuple[float, float]
) -> list[Shape]:
    """An interval bar with caps; an end past ``bounds`` is cut there and ends in an arrowhead."""
    x1, x2 = scale(max(low, bounds[0])), scale(min(high, bounds[1]))
    interval = f"95 % CI [{low:.3f}, {high:.3f}]"
    shapes = [line(x1, y, x2, y, color, width=2.5, tip=interval)]
    for x, is_cut, direction in ((x1, low < bounds[0], -1), (x2, high > bounds[1], 1)):
        if is_cut:
            d = f"M{x - 6 * direction},{y - 5}L{x},{y}L{x - 6 * direction},{y + 5}"
            shapes.append({"kind": "path", "d": d, "stroke": color, "width": 2, "tip": interval})
        else:
            shapes.append(line(x, y - 5, x, y + 5, color, width=2))
    return shapes


def _ci_legend(left: float, is_cut: bool = False, has_cannot_tell: bool = False) -> list[Shape]:
    entries = [
        ("leader", "leader"),
        ("best", "≈ best"),
        ("worse", "worse"),
        ("baseline", "baseline"),
    ]
    if has_cannot_tell:
        entries = [("cannot tell", "cannot tell"), ("worse", "worse"), ("baseline", "baseline")]
    shapes: list[Shape] = []
    x = left
    for tier, name in entries:
        color = TIER_COLORS[tier]
        if tier == "baseline":
            shapes.append(diamond(x, 14, 5, color, name))
        elif tier == "worse":
            shapes.append(circle(x, 14, 4, "#ffffff", stroke=color, width=2))
        else:
            shapes.append(circle(x, 14, 4.5, color))
        shapes.append(text(x + 9, 18, name, size=12, fill=MUTED))
        x += 24 + len(name) * 7
    shapes.append(circle(x, 14, 3.0, MUTED, opacity=0.4))
    shapes.append(text(x + 8, 18, "one outer fold", size=12, fill=MUTED))
    if is_cut:
        x += 24 + len("one outer fold") * 7
        d = f"M{x - 5},{9}L{x + 1},{14}L{x - 5},{19}"
        shapes.append({"kind": "path", "d": d, "stroke": MUTED, "width": 2, "tip": ""})
        shapes.append(text(x + 8, 18, "interval runs past the axis", size=12, fill=MUTED))
    return shapes


def rank_plot(comparison: RankComparison, *, plot_id: str) -> Plot:
    """Demšar's critical-difference diagram: mean ranks on an axis; bars join the undistinct."""
    k = len(comparison.candidates)
    label_width = (max(len(c) for c in comparison.candidates) + 6) * CHAR_WIDTH + 40
    width = max(760.0, 2 * label_width + 260)
    axis_y, half = 64.0, math.ceil(k / 2)
    scale = Scale(1.0, float(max(k, 2)), label_width, width - label_width)
    shapes = _rank_axis(scale, axis_y, k, comparison.critical_difference)
    ranked = list(zip(comparison.candidates, comparison.mean_ranks, strict=True))
    for i, (name, rank) in enumerate(ranked):
        level = i if i < half else k - 1 - i
        side = (label_width - 20) if i < half else (width - label_width + 20)
        shapes += _rank_label(name, rank, scale(rank), axis_y, axis_y + 41 + 22 * level, side)
    for j, (first, last) in enumerate(comparison.groups):
        x1 = scale(comparison.mean_ranks[first]) - 4
        x2 = scale(comparison.mean_ranks[last]) + 4
        shapes.append(line(x1, axis_y + 10 + 7 * j, x2, axis_y + 10 + 7 * j,
                           TIER_COLORS["best"], width=4))  # fmt: skip
    return Plot(
        id=plot_id,
        width=width,
        height=axis_y + 30 + 22 * half + 10,
        title="Mean rank of each candidate over the compared pages (1 = best)",
        description="; ".join(f"{c}: {r:.2f}" for c, r in ranked),
        shapes=shapes,
    )


def _rank_label(
    name: str, rank: float, x: float, axis_y: float, y: float, end: float
) -> list[Shape]:
    """An elbow from the axis at ``x`` down to ``y`` and out to ``end``, with the label."""
    is_left = end < x
    label = f"{name}  {rank:.2f}" if is_left else f"{rank:.2f}  {name}"
    elbow = f"{x},{axis_y} {x},{y} {end},{y}"
    return [
        {"kind": "polyline", "points": elbow, "stroke": INK, "width": 1},
        text(end + (-6 if is_left else 6), y + 4, label, size=12.5, family=MONO,
             anchor="end" if is_left else "start"),
    ]  # fmt: skip


def _rank_axis(scale: Scale, y: float, k: int, cd: float) -> list[Shape]:
    shapes = [line(scale.start, y, scale.end, y, INK, width=1.2)]
    for rank in range(1, max(k, 2) + 1):
        shapes.append(line(scale(rank), y - 5, scale(rank), y, INK))
        shapes.append(text(scale(rank), y - 9, str(rank), anchor="middle", size=12, fill=MUTED))
    x2 = min(scale(1 + cd), scale.end)
    shapes.append(line(scale(1), 18, x2, 18, INK, width=2))
    shapes += [line(x, 13, x, 23, INK, width=1.5) for x in (scale(1), x2)]
    shapes.append(text(x2 + 6, 22, f"CD = {cd:.2f}", size=12, fill=INK))
    return shapes


def score_bar(
    mean: float, low: float | None, high: float | None, baseline: float | None, *, plot_id: str
) -> Plot:
    """A one-line glyph for a table cell: the leader's interval and the baseline on 0..1."""
    values = [v for v in (mean, low, high, baseline) if v is not None and math.isfinite(v)]
    scale = Scale(min(0.0, *values), max(1.0, *values), 6.0, 154.0)
    y = 11.0
    shapes = [line(scale.start, y, scale.end, y, GRID, width=4)]
    shapes.append(line(scale(0.0), y - 6, scale(0.0), y + 6, MUTED))
    if baseline is not None and math.isfinite(baseline):
        shapes.append(diamond(scale(baseline), y, 5, TIER_COLORS["baseline"], "baseline"))
    if low is not None and high is not None:
        shapes.append(line(scale(low), y, scale(high), y, TIER_COLORS["leader"], width=4))
    shapes.append(circle(scale(mean), y, 4.5, TIER_COLORS["leader"], tip=f"leader: {mean:.3f}"))
    return Plot(
        id=plot_id,
        width=160,
        height=22,
        title="Leader (green, with its 95 % interval) and baseline (grey diamond), 0 to 1",
        description=f"leader {mean:.3f}" + (f", baseline {baseline:.3f}" if baseline else ""),
        shapes=shapes,
    )


def label_plot(
    points: Sequence[tuple[float, float]],
    *,
    plot_id: str,
    scale: tuple[float, float] | None = None,
) -> Plot:
    """Tracks in the valence-arousal plane; with a known scale, its midlines and quadrants."""
    left, top, size = 56.0, 20.0, 320.0
    width, height = left + size + 16, top + size + 48
    values = [v for p in points for v in p]
    low, high = domain([*scale, *values], pad=0.03) if scale else domain(values, pad=0.04)
    x_scale = Scale(low, high, left, left + size)
    y_scale = Scale(low, high, top + size, top)
    shapes = x_axis(x_scale, top, top + size, "valence")
    shapes += y_axis(y_scale, left, left + size, "arousal")
    if scale:
        mid = (scale[0] + scale[1]) / 2  # the scale's midpoint splits high from low
        shapes.append(line(x_scale(mid), top, x_scale(mid), top + size, MUTED, dash="4 3"))
        shapes.append(line(left, y_scale(mid), left + size, y_scale(mid), MUTED, dash="4 3"))
        right, upper, lower = left + size - 8, top + 16, top + size - 8
        corners = [
            ("Q1", right, upper),
            ("Q2", left + 8, upper),
            ("Q3", left + 8, lower),
            ("Q4", right, lower),
        ]
        for name, x, y in corners:
            anchor = "end" if x == right else "start"
            shapes.append(text(x, y, name, anchor=anchor, size=12, fill=MUTED))
    shapes += [circle(x_scale(v), y_scale(a), 2.6, FOLD_COLORS[0], opacity=0.45) for v, a in points]
    return Plot(
        id=plot_id,
        width=width,
        height=height,
        title="True valence and arousal of every track",
        description=f"{len(points)} tracks",
        shapes=shapes,
    )
