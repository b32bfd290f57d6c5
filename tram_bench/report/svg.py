"""Inline SVG: per-cell error bars and scatter plots (no script, no external resource)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tram_bench.report.formatting import fmt
from tram_bench.report.htmlkit import h

# Colour-blind-safe qualitative palette (Okabe & Ito), then greys.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#999999",
           "#666666")


def error_bar(mean: float, lo: float, hi: float, axis_lo: float, axis_hi: float, *, width: int = 64,
              best: bool = False) -> str:
    """A horizontal bar from ``lo`` to ``hi`` with a dot at ``mean`` on the column's common axis."""
    span = axis_hi - axis_lo
    if not (math.isfinite(span) and span > 0):
        return ""

    def x(v: float) -> float:
        return 2 + (width - 4) * (min(max(v, axis_lo), axis_hi) - axis_lo) / span

    colour = "#116329" if best else "#57606a"
    return (
        f'<svg class="eb" width="{width}" height="10" viewBox="0 0 {width} 10" role="img" '
        f'aria-label="{h(f"95% CI {fmt(lo)} to {fmt(hi)}")}">'
        f'<line x1="{x(lo):.2f}" y1="5" x2="{x(hi):.2f}" y2="5" stroke="{colour}" stroke-width="1.5"/>'
        f'<line x1="{x(lo):.2f}" y1="2" x2="{x(lo):.2f}" y2="8" stroke="{colour}"/>'
        f'<line x1="{x(hi):.2f}" y1="2" x2="{x(hi):.2f}" y2="8" stroke="{colour}"/>'
        f'<circle cx="{x(mean):.2f}" cy="5" r="2.5" fill="{colour}"/></svg>'
    )


@dataclass(frozen=True)
class Point:
    series: str
    label: str
    x: float
    y: float


def _ticks(lo: float, hi: float) -> list[float]:
    if hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / 4))
    for mult in (1, 2, 5, 10):
        if (hi - lo) / (step * mult) <= 6:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    out, v = [], first
    while v <= hi + 1e-12:
        out.append(round(v, 12))
        v += step
    return out


def scatter(points: list[Point], *, x_label: str, y_label: str, title: str, zero_line: bool = True,
            x_name: str | None = None, y_name: str | None = None, width: int = 560, height: int = 340) -> str:
    """A scatter plot with one colour per series and a legend; every point (``class="pt"``) has a
    tooltip (``<title>``) naming its values as ``x_name``/``y_name`` (default: the axis labels).
    ``zero_line`` puts y = 0 in range and dashes it, for a y that is a signed difference."""
    if not points:
        return ""
    x_name = x_label if x_name is None else x_name
    y_name = y_label if y_name is None else y_name
    left, right, top, bottom = 64, 170, 28, 44
    pw, ph = width - left - right, height - top - bottom
    xs = [p.x for p in points]
    ys = [p.y for p in points] + ([0.0] if zero_line else [])
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    pad_x = (x_hi - x_lo) * 0.08 or abs(x_hi) * 0.1 or 1.0
    pad_y = (y_hi - y_lo) * 0.08 or abs(y_hi) * 0.1 or 1.0
    x_lo, x_hi, y_lo, y_hi = x_lo - pad_x, x_hi + pad_x, y_lo - pad_y, y_hi + pad_y

    def sx(v: float) -> float:
        return left + pw * (v - x_lo) / (x_hi - x_lo)

    def sy(v: float) -> float:
        return top + ph * (1 - (v - y_lo) / (y_hi - y_lo))

    series = sorted({p.series for p in points})
    colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}
    out = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{h(title)}">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#ffffff" stroke="#d0d7de"/>',
        f'<text x="{left}" y="16" font-size="13" font-weight="600">{h(title)}</text>',
    ]
    for t in _ticks(x_lo, x_hi):
        out.append(f'<line x1="{sx(t):.1f}" y1="{top + ph}" x2="{sx(t):.1f}" y2="{top + ph + 4}" stroke="#57606a"/>')
        out.append(f'<text x="{sx(t):.1f}" y="{top + ph + 16}" font-size="11" text-anchor="middle">{h(fmt(t, 3 if abs(t) < 1 else 2))}</text>')
    for t in _ticks(y_lo, y_hi):
        out.append(f'<line x1="{left - 4}" y1="{sy(t):.1f}" x2="{left}" y2="{sy(t):.1f}" stroke="#57606a"/>')
        out.append(f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" font-size="11" text-anchor="end">{h(fmt(t, 3 if abs(t) < 1 else 2))}</text>')
    if zero_line:
        out.append(f'<line x1="{left}" y1="{sy(0):.1f}" x2="{left + pw}" y2="{sy(0):.1f}" stroke="#8c959f" '
                   'stroke-dasharray="4 3"/>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 8}" font-size="12" text-anchor="middle">{h(x_label)}</text>')
    out.append(
        f'<text transform="translate(14 {top + ph / 2:.1f}) rotate(-90)" font-size="12" text-anchor="middle">{h(y_label)}</text>'
    )
    for p in points:
        out.append(
            f'<circle class="pt" cx="{sx(p.x):.1f}" cy="{sy(p.y):.1f}" r="4.5" fill="{colour[p.series]}" '
            f'fill-opacity="0.85"><title>{h(f"{p.series}, {p.label}: {x_name} {fmt(p.x)}, {y_name} {fmt(p.y)}")}'
            "</title></circle>"
        )
    for i, s in enumerate(series):
        y = top + 8 + 18 * i
        out.append(f'<circle class="key" cx="{left + pw + 16}" cy="{y}" r="5" fill="{colour[s]}"/>')
        out.append(f'<text x="{left + pw + 26}" y="{y + 4}" font-size="12">{h(s)}</text>')
    out.append("</svg>")
    return "".join(out)
