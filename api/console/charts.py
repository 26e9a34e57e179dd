"""Inline SVG charts for the console: no JavaScript, no charting library, readable by screen
readers (each chart has a title, a description, and the page shows the same data as a table).

Prices are step functions (a price holds until the next row replaces it), so the history chart
draws steps, not interpolated lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 16, 16, 36
PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4b5563")


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[datetime, Decimal]]  # (from, value), sorted by time


def _scale(lo: float, hi: float, out_lo: float, out_hi: float, value: float) -> float:
    if hi == lo:
        return (out_lo + out_hi) / 2
    return out_lo + (value - lo) * (out_hi - out_lo) / (hi - lo)


def _fmt_money(value: Decimal) -> str:
    return f"${value.normalize():f}" if value else "$0"


def step_chart(title: str, series: Sequence[Series], until: datetime, unit: str = "") -> str:
    """A step chart of each series from its first point to ``until``.

    Coordinates are floats only for drawing; the values shown as text are the exact Decimals.
    """
    all_points = [p for s in series for p in s.points]
    if not all_points:
        return ""
    t0 = min(t for t, _ in all_points).timestamp()
    t1 = max(until.timestamp(), t0 + 86400)
    v_max = float(max(v for _, v in all_points)) or 1.0
    x_of = lambda t: _scale(t0, t1, PAD_LEFT, WIDTH - PAD_RIGHT, t.timestamp())  # noqa: E731
    y_of = lambda v: _scale(0, v_max * 1.1, HEIGHT - PAD_BOTTOM, PAD_TOP, float(v))  # noqa: E731

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="chart" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(_describe(series, unit))}</desc>',
        _axes(t0, t1, v_max, y_of, unit),
    ]
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(_step_path(s, until, x_of, y_of, colour))
        for t, v in s.points:
            parts.append(
                f'<circle cx="{x_of(t):.1f}" cy="{y_of(v):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(s.label)}: {_fmt_money(v)} from {t:%Y-%m-%d}</title></circle>"
            )
    parts.append(_legend(series))
    parts.append("</svg>")
    return "".join(parts)


def _step_path(s: Series, until: datetime, x_of, y_of, colour: str) -> str:
    d = []
    for i, (t, v) in enumerate(s.points):
        end = s.points[i + 1][0] if i + 1 < len(s.points) else until
        y = y_of(v)
        d.append(f"M{x_of(t):.1f},{y:.1f}" if i == 0 else f"V{y:.1f}")
        d.append(f"H{x_of(end):.1f}")
    return f'<path d="{" ".join(d)}" fill="none" stroke="{colour}" stroke-width="2"/>'


def _axes(t0: float, t1: float, v_max: float, y_of, unit: str) -> str:
    base = HEIGHT - PAD_BOTTOM
    out = [
        f'<line x1="{PAD_LEFT}" y1="{base}" x2="{WIDTH - PAD_RIGHT}" y2="{base}" stroke="#999"/>',
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{base}" stroke="#999"/>',
    ]
    for frac in (0, 0.5, 1):
        value = Decimal(str(round(v_max * frac, 6)))
        y = y_of(value)
        out.append(
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{escape(_fmt_money(value))}</text>"
        )
    for frac in (0, 0.5, 1):
        t = datetime.fromtimestamp(t0 + (t1 - t0) * frac)
        x = _scale(0, 1, PAD_LEFT, WIDTH - PAD_RIGHT, frac)
        anchor = "start" if frac == 0 else "end" if frac == 1 else "middle"
        out.append(
            f'<text x="{x:.1f}" y="{base + 16}" text-anchor="{anchor}" font-size="11">'
            f"{t:%Y-%m-%d}</text>"
        )
    if unit:
        out.append(f'<text x="4" y="{PAD_TOP + 4}" font-size="10">{escape(unit)}</text>')
    return "".join(out)


def _legend(series: Sequence[Series]) -> str:
    out = []
    for i, s in enumerate(series[:8]):
        x = PAD_LEFT + 8 + (i % 3) * 190
        y = PAD_TOP + 8 + (i // 3) * 14
        colour = PALETTE[i % len(PALETTE)]
        out.append(
            f'<rect x="{x}" y="{y - 8}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{y + 1}" font-size="11">{escape(s.label[:28])}</text>'
        )
    return "".join(out)


def _describe(series: Sequence[Series], unit: str) -> str:
    parts = []
    for s in series:
        steps = ", ".join(f"{_fmt_money(v)} from {t:%Y-%m-%d}" for t, v in s.points)
        parts.append(f"{s.label}: {steps}")
    return f"Price history ({unit}). " + "; ".join(parts)


def bar_chart(title: str, bars: Sequence[tuple[str, Decimal]]) -> str:
    """Horizontal bars (spend by class or provider); labels carry the exact amounts."""
    if not bars:
        return ""
    row_h = 22
    height = PAD_TOP + row_h * len(bars) + 8
    top = max(v for _, v in bars) or Decimal(1)
    label_w = 150
    span = WIDTH - label_w - 110
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'class="chart" aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(bars):
        y = PAD_TOP + i * row_h
        w = float(value / top) * span if top else 0
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="14" fill="{colour}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}" font-size="12">'
            f"{escape(_fmt_money(value))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
