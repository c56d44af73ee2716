"""Small server-side SVG charts for documents that run no script (the weekly review's PDF:
WeasyPrint draws inline SVG, not ECharts).

Three shapes, enough for a one-page report: vertical bars in groups (one bar per series and
category), lines (one per series) and horizontal bars (a ranking). Every chart is drawn in its own
coordinate system (``viewBox``), so the page's CSS decides its printed size; text inherits the
page's font (the CJK font of the PDF). All text given is escaped; the result is safe to put in a
template as it is.

Values are numbers (``int`` or ``Decimal``); the caller formats the labels written beside them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

Number: TypeAlias = int | Decimal

INK = "#1d1d1f"
MUTED = "#777777"
GRID = "#e3e3e3"
THIS = "#8b1e1e"  # the school's red: this week
BEFORE = "#b9b9b9"  # grey: the week before
FONT = 'font-family="Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif"'


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[Number]
    color: str


def nice_ceiling(value: Number, ticks: int = 4) -> tuple[Decimal, Decimal]:
    """The top of a value axis and its step: the step is 1, 2 or 5 times a power of ten, about a
    ``ticks``-th of ``value`` (at least 1 once ``value`` is), the top the first step at or above it.

    7 → (8, 2); 4500 → (6000, 2000); 3 → (3, 1); 0 → (``ticks``, 1).
    """
    value = Decimal(value)
    if value <= 0:
        return Decimal(ticks), Decimal(1)
    raw = value / ticks
    magnitude = Decimal(1)
    while magnitude * 10 <= raw:
        magnitude *= 10
    while magnitude > raw:
        magnitude /= 10
    step = next(magnitude * factor for factor in (1, 2, 5, 10) if magnitude * factor >= raw)
    if value >= 1:
        step = max(step, Decimal(1))
    return step * math.ceil(value / step), step


def _num(value: Decimal | float) -> str:
    """A coordinate, one decimal at most."""
    return f"{float(value):.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, text: str, *, size: float = 10, anchor: str = "middle", color: str = INK) -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{_num(size)}" text-anchor="{anchor}" fill="{color}">'
        f"{escape(text)}</text>"
    )


def _short(text: str, length: int) -> str:
    return text if len(text) <= length else f"{text[: length - 1]}…"


def _svg(width: int, height: int, body: list[str], title: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every piece of text was escaped above
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'{FONT} role="img"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _legend(series: Sequence[Series], width: int) -> list[str]:
    parts, x = [], width - 6.0
    for item in reversed(series):
        label_width = 10 * len(item.label) * 0.95 + 4
        x -= label_width
        parts.append(_text(x + 2, 11, item.label, size=9, anchor="start", color=MUTED))
        parts.append(f'<rect x="{_num(x - 11)}" y="3" width="9" height="9" fill="{item.color}"/>')
        x -= 22
    return parts


@dataclass(frozen=True)
class _Frame:
    """The plot area of a chart with a value axis on the left and categories along the bottom."""

    width: int
    height: int
    left: float = 40
    right: float = 6
    top: float = 20
    bottom: float = 28

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, value: Number, top: Decimal) -> float:
        return self.top + self.plot_height * (1 - float(Decimal(value) / top))


def _axis(frame: _Frame, top: Decimal, step: Decimal, fmt: Callable[[Decimal], str]) -> list[str]:
    parts = []
    tick = Decimal(0)
    while tick <= top:
        y = frame.y(tick, top)
        parts.append(
            f'<line x1="{_num(frame.left)}" y1="{_num(y)}" x2="{_num(frame.width - frame.right)}" y2="{_num(y)}" '
            f'stroke="{GRID}" stroke-width="0.6"/>'
        )
        parts.append(_text(frame.left - 4, y + 3, fmt(tick), size=8, anchor="end", color=MUTED))
        tick += step
    return parts


def _categories(frame: _Frame, categories: Sequence[tuple[str, str]]) -> list[str]:
    """Two lines under each category: its name and a smaller note (e.g. 周一 / 03-02)."""
    parts = []
    band = frame.plot_width / max(len(categories), 1)
    base = frame.height - frame.bottom
    for index, (name, note) in enumerate(categories):
        x = frame.left + band * (index + 0.5)
        parts.append(_text(x, base + 11, name, size=9))
        if note:
            parts.append(_text(x, base + 21, note, size=7.5, color=MUTED))
    return parts


def _axis_number(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.1f}"


def bar_chart(
    *,
    title: str,
    categories: Sequence[tuple[str, str]],
    series: Sequence[Series],
    width: int = 360,
    height: int = 185,
    value_label: Callable[[Number], str] | None = None,
    axis_label: Callable[[Decimal], str] = _axis_number,
) -> SafeString:
    """Bars side by side for each category, one per series (this week next to the week before)."""
    frame = _Frame(width, height)
    peak = max((Decimal(v) for s in series for v in s.values), default=Decimal(0))
    top, step = nice_ceiling(peak)
    body = [*_legend(series, width), *_axis(frame, top, step, axis_label), *_categories(frame, categories)]
    band = frame.plot_width / max(len(categories), 1)
    bar = band * 0.7 / max(len(series), 1)
    for index in range(len(categories)):
        start = frame.left + band * index + band * 0.15
        for position, item in enumerate(series):
            value = item.values[index]
            y = frame.y(value, top)
            x = start + bar * position
            base = frame.height - frame.bottom
            body.append(
                f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(bar * 0.92)}" height="{_num(max(base - y, 0))}" '
                f'fill="{item.color}"/>'
            )
            if value_label is not None and value:
                body.append(_text(x + bar * 0.46, y - 2, value_label(value), size=7, color=INK))
    return _svg(width, height, body, title)


def line_chart(
    *,
    title: str,
    categories: Sequence[tuple[str, str]],
    series: Sequence[Series],
    width: int = 360,
    height: int = 185,
    value_label: Callable[[Number], str] | None = None,
    axis_label: Callable[[Decimal], str] = _axis_number,
) -> SafeString:
    """One line per series across the categories; the first series' non-zero points are labelled."""
    frame = _Frame(width, height, left=46)
    peak = max((Decimal(v) for s in series for v in s.values), default=Decimal(0))
    top, step = nice_ceiling(peak)
    body = [*_legend(series, width), *_axis(frame, top, step, axis_label), *_categories(frame, categories)]
    band = frame.plot_width / max(len(categories), 1)
    for position, item in enumerate(reversed(series)):
        points = [(frame.left + band * (index + 0.5), frame.y(value, top)) for index, value in enumerate(item.values)]
        path = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
        width_line = 1.8 if position == len(series) - 1 else 1.2
        body.append(f'<polyline points="{path}" fill="none" stroke="{item.color}" stroke-width="{width_line}"/>')
        for x, y in points:
            body.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="2" fill="{item.color}"/>')
    if value_label is not None and series:
        first = series[0]
        for index, value in enumerate(first.values):
            if value:
                x = frame.left + band * (index + 0.5)
                body.append(_text(x, frame.y(value, top) - 5, value_label(value), size=7))
    return _svg(width, height, body, title)


def ranking_chart(
    *,
    title: str,
    rows: Sequence[tuple[str, Number, str]],
    empty: str,
    width: int = 360,
    height: int = 150,
    color: str = THIS,
    label_length: int = 12,
) -> SafeString:
    """Horizontal bars, one per row (label, value, the value as written), longest first as given."""
    if not rows:
        return _svg(width, height, [_text(width / 2, height / 2, empty, size=10, color=MUTED)], title)
    left, right, top = 118.0, 58.0, 6.0
    row_height = min((height - top * 2) / len(rows), 26.0)
    peak = max((Decimal(value) for _label, value, _text_value in rows), default=Decimal(0)) or Decimal(1)
    body = []
    for index, (label, value, written) in enumerate(rows):
        y = top + row_height * index
        length = (width - left - right) * float(Decimal(value) / peak)
        body.append(_text(left - 6, y + row_height * 0.62, _short(label, label_length), size=9, anchor="end"))
        body.append(
            f'<rect x="{_num(left)}" y="{_num(y + row_height * 0.18)}" width="{_num(max(length, 0.5))}" '
            f'height="{_num(row_height * 0.64)}" fill="{color}"/>'
        )
        body.append(_text(left + length + 4, y + row_height * 0.62, written, size=8.5, anchor="start"))
    return _svg(width, height, body, title)


def empty_chart(*, title: str, empty: str, width: int = 360, height: int = 170) -> SafeString:
    return _svg(width, height, [_text(width / 2, height / 2, empty, size=10, color=MUTED)], title)
