"""Just enough SVG to draw the report's charts inline: no library, no script, nothing fetched.

The report must open from a file on a laptop with no network and print
well, so its charts are plain SVG elements written here. A :class:`Plot` maps
data to pixels inside margins and draws axes with round-numbered ticks; the
chart functions of :mod:`forewarn.report.charts` compose it.

>>> nice_ticks(0, 1, 5)
[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
>>> p = Plot(200, 100, (0, 10), (0, 1))
>>> p.x(5), p.y(1)
(121.0, 12.0)
>>> p.line(0, 0, 10, 1, cls="c").startswith("<line")
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

__all__ = ["nice_ticks", "Plot"]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` at a step of 1, 2 or 5 times a power of ten."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = [round(start, 10) + 0.0]
    # Keep going until a tick reaches ``hi``, so the data never runs off the last tick.
    while ticks[-1] < hi - step * 1e-9:
        ticks.append(round(ticks[-1] + step, 10) + 0.0)
    return ticks


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


class Plot:
    """A chart area of ``width`` × ``height`` pixels mapping ``x_range`` × ``y_range`` inside its margins."""

    def __init__(self, width: int, height: int, x_range: tuple[float, float], y_range: tuple[float, float],
                 margin: tuple[int, int, int, int] = (12, 16, 36, 58), title: str = "") -> None:
        self.width, self.height = width, height
        self.top, self.right, self.bottom, self.left = margin
        self.x0, self.x1 = x_range if x_range[1] > x_range[0] else (x_range[0], x_range[0] + 1)
        self.y0, self.y1 = y_range if y_range[1] > y_range[0] else (y_range[0], y_range[0] + 1)
        self.title = title
        self.parts: list[str] = []

    # -- coordinates ------------------------------------------------------------

    def x(self, v: float) -> float:
        span = self.width - self.left - self.right
        return round(self.left + (v - self.x0) / (self.x1 - self.x0) * span, 1)

    def y(self, v: float) -> float:
        span = self.height - self.top - self.bottom
        return round(self.top + (self.y1 - v) / (self.y1 - self.y0) * span, 1)

    # -- elements -----------------------------------------------------------------

    def add(self, element: str) -> str:
        self.parts.append(element)
        return element

    def line(self, xa: float, ya: float, xb: float, yb: float, cls: str = "") -> str:
        return self.add(f'<line x1="{self.x(xa)}" y1="{self.y(ya)}" x2="{self.x(xb)}" y2="{self.y(yb)}" class="{cls}"/>')

    def text(self, px: float, py: float, content: str, cls: str = "", anchor: str = "start") -> str:
        return self.add(f'<text x="{round(px, 1)}" y="{round(py, 1)}" text-anchor="{anchor}" class="{cls}">'
                        f'{escape(content)}</text>')

    def polyline(self, points: Sequence[tuple[float, float]], cls: str = "") -> str:
        pts = " ".join(f"{self.x(a)},{self.y(b)}" for a, b in points)
        return self.add(f'<polyline points="{pts}" class="{cls}"/>')

    def polygon(self, points: Sequence[tuple[float, float]], cls: str = "") -> str:
        pts = " ".join(f"{self.x(a)},{self.y(b)}" for a, b in points)
        return self.add(f'<polygon points="{pts}" class="{cls}"/>')

    def circle(self, a: float, b: float, r: float = 3.5, cls: str = "", label: str = "") -> str:
        title = f"<title>{escape(label)}</title>" if label else ""
        return self.add(f'<circle cx="{self.x(a)}" cy="{self.y(b)}" r="{r}" class="{cls}">{title}</circle>')

    def rect(self, xa: float, ya: float, xb: float, yb: float, cls: str = "", label: str = "") -> str:
        left, right = sorted((self.x(xa), self.x(xb)))
        top, bottom = sorted((self.y(ya), self.y(yb)))
        title = f"<title>{escape(label)}</title>" if label else ""
        return self.add(f'<rect x="{left}" y="{top}" width="{round(right - left, 1)}" '
                        f'height="{round(bottom - top, 1)}" class="{cls}">{title}</rect>')

    def axes(self, x_label: str = "", y_label: str = "", x_fmt: Callable[[float], str] = _num,
             y_fmt: Callable[[float], str] = _num, x_ticks: Sequence[float] | None = None,
             y_ticks: Sequence[float] | None = None) -> None:
        """Grid lines, tick labels and axis titles."""
        for v in y_ticks if y_ticks is not None else nice_ticks(self.y0, self.y1, 4):
            if self.y0 - 1e-9 <= v <= self.y1 + 1e-9:
                self.line(self.x0, v, self.x1, v, "grid")
                self.text(self.left - 6, self.y(v) + 4, y_fmt(v), "tick", "end")
        for v in x_ticks if x_ticks is not None else nice_ticks(self.x0, self.x1, 6):
            if self.x0 - 1e-9 <= v <= self.x1 + 1e-9:
                self.line(v, self.y0, v, self.y0, "")
                self.text(self.x(v), self.height - self.bottom + 16, x_fmt(v), "tick", "middle")
        self.add(f'<line x1="{self.left}" y1="{self.height - self.bottom}" x2="{self.width - self.right}" '
                 f'y2="{self.height - self.bottom}" class="axis"/>')
        if x_label:
            self.text((self.left + self.width - self.right) / 2, self.height - 4, x_label, "label", "middle")
        if y_label:
            cy = (self.top + self.height - self.bottom) / 2
            self.add(f'<text transform="translate(14 {cy}) rotate(-90)" text-anchor="middle" class="label">'
                     f'{escape(y_label)}</text>')

    def render(self, css_class: str = "chart") -> str:
        title = f"<title>{escape(self.title)}</title>" if self.title else ""
        return (f'<svg class="{css_class}" viewBox="0 0 {self.width} {self.height}" '
                f'width="{self.width}" height="{self.height}" role="img">{title}{"".join(self.parts)}</svg>')
