"""Drawing primitives for the leaderboard's SVG plots: shapes as dicts, scales, ticks, axes.

A ``Plot`` is a size, a title, a description and a list of shapes (plain dicts with a ``kind``:
``line``, ``rect``, ``circle``, ``polygon``, ``path``, ``polyline``, ``text``) that the
``_svg.html`` macro writes out, escaping every text. Coordinates are numbers computed here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

INK = "#1d2433"
MUTED = "#5b6475"
GRID = "#e3e7ee"
TIER_COLORS = {
    "leader": "#1f7a4d",
    "best": "#3f9b6c",
    "worse": "#b5483f",
    "cannot tell": "#9a6b12",
    "baseline": "#7d838d",
}
FOLD_COLORS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000")
MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"
CHAR_WIDTH = 7.6  # of a 12.5 px monospace character, for sizing label margins
Shape = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Plot:
    """One figure: ``width`` x ``height`` user units of shapes."""

    id: str
    width: float
    height: float
    title: str
    description: str
    shapes: list[Shape] = field(default_factory=list)


@dataclass(frozen=True)
class Scale:
    """Map ``[low, high]`` onto ``[start, end]`` (pixels)."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        return round(
            self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start), 1
        )


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]``: steps of 1, 2, 2.5 or 5 times a power of 10."""
    span = high - low if high > low else 1.0
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = min((m * power for m in (1, 2, 2.5, 5, 10)), key=lambda m: abs(span / m - count))
    first = math.ceil(low / step - 1e-9)
    ticks = [round((first + i) * step, 10) for i in range(int(span / step) + 2)]
    return [t for t in ticks if low - 1e-9 <= t <= high + 1e-9]


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """A tick value with as many decimals as the tick spacing needs."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = len(f"{step:.6f}".rstrip("0").split(".")[1])
    text = f"{value:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text.replace("-", "\N{MINUS SIGN}")


def domain(values: Sequence[float], pad: float = 0.06) -> tuple[float, float]:
    """The range of the finite ``values``, widened by ``pad`` of it on each side."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    margin = (high - low) * pad
    return low - margin, high + margin


def line(x1: float, y1: float, x2: float, y2: float, stroke: str = INK, **kw: Any) -> Shape:
    """A straight line."""
    return {"kind": "line", "x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": stroke} | _style(kw)


def text(x: float, y: float, content: str, **kw: Any) -> Shape:
    """A text label; ``anchor`` is start, middle or end."""
    shape = {"kind": "text", "x": x, "y": y, "text": content, "anchor": "start", "fill": INK}
    return shape | {"size": 13, "weight": "normal", "family": "", "style": ""} | kw


def circle(cx: float, cy: float, r: float, fill: str, **kw: Any) -> Shape:
    """A dot; ``tip`` becomes its tooltip."""
    shape = {"kind": "circle", "cx": cx, "cy": cy, "r": r, "fill": fill, "tip": ""}
    return shape | {"stroke": "none"} | _style(kw)


def _style(kw: dict[str, Any]) -> dict[str, Any]:
    return {"width": 1, "dash": "", "opacity": 1, "tip": ""} | kw


def diamond(cx: float, cy: float, r: float, fill: str, tip: str) -> Shape:
    """A diamond marker (baselines)."""
    points = f"{cx},{cy - r} {cx + r},{cy} {cx},{cy + r} {cx - r},{cy}"
    return {"kind": "polygon", "points": points, "fill": fill, "stroke": "none", "tip": tip}


def x_axis(
    scale: Scale, top: float, bottom: float, label: str, ticks: Sequence[float] = ()
) -> list[Shape]:
    """A horizontal axis at ``bottom`` with vertical grid lines up to ``top`` and a label."""
    ticks = ticks or nice_ticks(scale.low, scale.high, 6)
    shapes = [line(scale(t), top, scale(t), bottom, GRID) for t in ticks]
    shapes += [line(scale.start, bottom, scale.end, bottom, MUTED)]
    shapes += [
        text(scale(t), bottom + 16, tick_label(t, ticks), anchor="middle", size=12, fill=MUTED)
        for t in ticks
    ]
    middle = (scale.start + scale.end) / 2
    return [*shapes, text(middle, bottom + 34, label, anchor="middle", size=13, fill=INK)]


def y_axis(scale: Scale, left: float, right: float, label: str) -> list[Shape]:
    """A vertical axis at ``left`` with horizontal grid lines across to ``right`` and a label."""
    ticks = nice_ticks(scale.low, scale.high, 5)
    shapes = [line(left, scale(t), right, scale(t), GRID) for t in ticks]
    shapes += [line(left, scale.start, left, scale.end, MUTED)]
    shapes += [
        text(left - 6, scale(t) + 4, tick_label(t, ticks), anchor="end", size=12, fill=MUTED)
        for t in ticks
    ]
    middle = (scale.start + scale.end) / 2
    return [*shapes, text(14, middle, label, anchor="middle", size=13, rotate=-90)]
