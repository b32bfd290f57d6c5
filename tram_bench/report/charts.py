"""Every chart of the leaderboard: matplotlib figures rendered to inline SVG strings.

Each public function returns one ``<svg>`` element (no XML prolog, no DOCTYPE) ready to be pasted into a
page of the static site. The output is meant for a page whose Content-Security-Policy forbids inline styles
and every network load, so the rendered SVG is rewritten once after matplotlib:

- ``style="..."`` attributes become SVG presentation attributes and matplotlib's ``<style>`` element goes
  (a CSP ``style-src`` with a hash blocks both, presentation attributes are not styles);
- ``<metadata>`` goes (it names an external RDF vocabulary), ``xlink:href`` becomes SVG 2 ``href``;
- every element id gets a prefix derived from the chart's content, so several charts inlined in one page
  never share an id (matplotlib numbers ``figure_1``, ``axes_1`` ... from 1 in every file);
- the root gets ``role="img"``, an ``aria-label`` and a ``<title>`` (screen readers read the chart's title).

Bytes are deterministic: fixed ``svg.hashsalt``, no date or creator in the metadata, text kept as
``<text>`` (``svg.fonttype = none``, so no glyph paths and no font files), and figures built from
``matplotlib.figure.Figure`` directly (no pyplot, so no global figure state and no GUI backend).

Degenerate data never hangs or raises: NaN and infinite values are dropped and the chart says how many;
non-positive values on a logarithmic axis are dropped and said likewise; a single point, equal values or
values a few ulps apart get matplotlib's non-singular limits; a chart with nothing left to draw says so.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Mapping, Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, LogFormatter, MaxNLocator, NullLocator

from tram_bench.report.formatting import fmt

# Okabe & Ito's colour-blind-safe qualitative palette (black last; yellow is too light for thin marks).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
# After the palette's length, series also change marker, so two series never look alike.
MARKERS = ("o", "s", "D", "^", "v", "P", "X")
INK = "#24292f"  # axes, text
GRID = "#d8dee4"
# One colour per verdict of the paired comparison (tram_bench.stats.paired.VERDICTS), same palette.
VERDICT_COLOURS = {"better": "#0072B2", "worse": "#D55E00", "equivalent": "#009E73", "inconclusive": "#57606a",
                   "underpowered": "#8c959f"}

# The largest magnitude drawn: a larger one is treated like inf (dropped, said), since a range between two
# values beyond it overflows float64 inside matplotlib's transforms (a singular matrix, not a chart).
MAX_ABS = 1e307
# Beyond 1e±100 on a log axis, ticks come from the exponents (see _limits).
_LOG_LOCATOR_LIMIT = 100.0
WIDTH_PX = 700  # every chart's width in CSS pixels (the page's reading column)
# The longest shown text, in characters (longer: cut with an ellipsis; see _short).
TITLE_CHARS, AXIS_CHARS, NAME_CHARS, NOTE_CHARS = 90, 90, 36, 32
_PX_PER_INCH = 72  # matplotlib's SVG user unit is 1/72 inch: with this, 1 unit = 1 CSS pixel

# Applied around both figure construction (fonts, colours) and savefig (svg.*).
_RC = {
    "svg.hashsalt": "tram-bench",
    "svg.fonttype": "none",
    "svg.image_inline": True,
    "text.parse_math": False,  # labels are user strings: "$" is a character, never mathtext
    "text.usetex": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "axes.edgecolor": INK,
    "axes.labelcolor": INK,
    "text.color": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.formatter.useoffset": False,  # an offset ("+1e-16") next to the axis is easy to miss
    "figure.dpi": _PX_PER_INCH,
    "savefig.dpi": _PX_PER_INCH,
}
_METADATA = {"Date": None, "Creator": None, "Contributor": None, "Format": None, "Type": None}

# SVG presentation attributes (SVG 1.1 section 6.4, plus SVG 2's); matplotlib's inline CSS uses only these.
_PRESENTATION = frozenset({
    "alignment-baseline", "baseline-shift", "clip", "clip-path", "clip-rule", "color", "color-interpolation",
    "color-interpolation-filters", "color-rendering", "cursor", "direction", "display", "dominant-baseline",
    "fill", "fill-opacity", "fill-rule", "filter", "flood-color", "flood-opacity", "font-family", "font-size",
    "font-size-adjust", "font-stretch", "font-style", "font-variant", "font-weight", "image-rendering",
    "letter-spacing", "lighting-color", "marker-end", "marker-mid", "marker-start", "mask", "opacity",
    "overflow", "paint-order", "pointer-events", "shape-rendering", "stop-color", "stop-opacity", "stroke",
    "stroke-dasharray", "stroke-dashoffset", "stroke-linecap", "stroke-linejoin", "stroke-miterlimit",
    "stroke-opacity", "stroke-width", "text-anchor", "text-decoration", "text-rendering", "transform",
    "unicode-bidi", "vector-effect", "visibility", "white-space", "word-spacing", "writing-mode",
})
_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_URL_REF = re.compile(r"url\(#([^)]+)\)")
_TIP_GID = "tip-"  # gid prefix of an artist that gets a tooltip (<title>) after rendering


@dataclass(frozen=True)
class Point:
    """One scatter point: ``series`` picks the colour (legend entry), ``label`` names the point in its tooltip."""

    series: str
    label: str
    x: float
    y: float


@dataclass(frozen=True)
class ForestRow:
    """One method of a forest plot: ``mean`` and its interval ``[low, high]`` in the chart's unit,
    ``verdict`` (one of ``tram_bench.stats.paired.VERDICTS``, any other string is drawn in grey) and
    ``n`` paired seeds."""

    label: str
    mean: float
    low: float
    high: float
    verdict: str
    n: int


@dataclass(frozen=True)
class IntervalRow:
    """One row of an interval chart: ``value`` with its interval ``[low, high]``; ``note`` is printed at the
    right of the row (e.g. ``"rank 1"``, ``"n=5"``)."""

    label: str
    value: float
    low: float
    high: float
    note: str = ""


def _with_rc(fn):
    """Run a chart function inside the module's rcParams (fonts at construction, svg.* at save)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_RC):
            return fn(*args, **kwargs)

    return wrapper


def _finite(*values: float) -> bool:
    """Drawable: finite and within ``MAX_ABS`` (beyond it, spans overflow inside matplotlib's transforms)."""
    return all(isinstance(v, (int, float)) and math.isfinite(v) and abs(v) <= MAX_ABS for v in values)


def _short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis: a long label would squeeze the axes to nothing.
    The full text stays in the chart's tooltips and its ``aria-label``."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _names(names: Sequence[str], most: int = 4) -> str:
    """``a, b, c`` or ``a, b, c, d and 3 more``, each name cut to NAME_CHARS."""
    shown = ", ".join(_short(n, NAME_CHARS) for n in names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _Canvas:
    """A figure being built, with the notes (dropped values and the like) printed under it."""

    def __init__(self, height_px: float, constrained: bool = True) -> None:
        self.fig = Figure(figsize=(WIDTH_PX / _PX_PER_INCH, height_px / _PX_PER_INCH),
                          layout="constrained" if constrained else None)
        self.fig.patch.set_facecolor("white")
        if constrained:
            # Some slack around the edges: the browser may lay the text out in a slightly wider font than the
            # DejaVu Sans metrics matplotlib measured (svg.fonttype none keeps text as text).
            self.fig.get_layout_engine().set(w_pad=8 / _PX_PER_INCH, h_pad=6 / _PX_PER_INCH)
        self.notes: list[str] = []
        self.tips: dict[str, tuple[str, str]] = {}  # gid -> (css class, tooltip text)

    def tip(self, kind: str, text: str) -> str:
        """A fresh gid for an artist that gets ``text`` as its tooltip and ``kind`` as its CSS class."""
        gid = f"{_TIP_GID}{len(self.tips)}"
        self.tips[gid] = (kind, text)
        return gid

    def render(self, title: str) -> str:
        if self.notes:
            # Drawn in figure coordinates below the axes; constrained layout keeps room for it.
            self.fig.supxlabel("\n".join(_short(n, 2 * TITLE_CHARS) for n in self.notes), fontsize=10,
                               color="#57606a")
        buf = io.StringIO()
        self.fig.savefig(buf, format="svg", metadata=_METADATA, facecolor="white")
        return _inline(buf.getvalue(), title, self.tips)


def _style_to_attributes(el: ET.Element) -> None:
    style = el.attrib.pop("style", None)
    if not style:
        return
    for decl in style.split(";"):
        if not decl.strip():
            continue
        key, _, value = decl.partition(":")
        key, value = key.strip(), value.strip()
        if key not in _PRESENTATION:
            # A property with no attribute form would be lost silently: a matplotlib change must show here.
            raise ValueError(f"matplotlib SVG style property {key!r} has no SVG presentation attribute")
        el.set(key, value)


def _inline(svg: str, title: str, tips: Mapping[str, tuple[str, str]]) -> str:
    """matplotlib's SVG file -> one CSP-safe inline ``<svg>`` element (see the module docstring)."""
    root = ET.fromstring(svg)  # the parser drops the prolog and DOCTYPE
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.split("}", 1)[1]
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag in ("metadata", "style"):
                parent.remove(child)
    for parent in list(root.iter()):
        # <defs> left empty by removing <style> would be noise.
        for child in list(parent):
            if child.tag == "defs" and len(child) == 0:
                parent.remove(child)
    for el in root.iter():
        _style_to_attributes(el)
        if _XLINK_HREF in el.attrib:
            el.set("href", el.attrib.pop(_XLINK_HREF))
    # Ids: the prefix is a digest of the chart itself, so equal charts get equal bytes and different charts
    # (in one page) different ids.
    body = ET.tostring(root, encoding="unicode")
    prefix = "c" + hashlib.sha256((title + "\0" + body).encode("utf-8")).hexdigest()[:10] + "-"
    for el in root.iter():
        gid = el.get("id")
        if gid is not None:
            el.set("id", prefix + gid)
            if gid in tips:
                kind, text = tips[gid]
                el.set("class", kind)
                tip = ET.Element("title")
                tip.text = text
                el.insert(0, tip)
        for key, value in list(el.attrib.items()):
            if key == "href" and value.startswith("#"):
                el.set(key, "#" + prefix + value[1:])
            elif "url(#" in value:
                el.set(key, _URL_REF.sub(lambda m: f"url(#{prefix}{m.group(1)})", value))
    # The drawing's own units are CSS pixels (see _PX_PER_INCH); the page's CSS may scale it down.
    _, _, w, hgt = root.get("viewBox", "0 0 0 0").split()
    root.attrib.pop("version", None)
    attrs = {"xmlns": _SVG_NS, "class": "chart", "width": w, "height": hgt, "viewBox": root.get("viewBox"),
             "role": "img", "aria-label": title, "stroke-linejoin": "round", "stroke-linecap": "butt"}
    for key in ("width", "height", "viewBox"):
        root.attrib.pop(key, None)
    root.attrib.pop("xmlns", None)
    rest = dict(root.attrib)
    root.attrib.clear()
    root.attrib.update(attrs)
    root.attrib.update(rest)
    label = ET.Element("title", {"id": prefix + "title"})
    label.text = title
    root.insert(0, label)
    ET.indent(root, space="")
    return ET.tostring(root, encoding="unicode")


def _message_chart(title: str, message: str, notes: Sequence[str] = ()) -> str:
    """A chart with nothing to plot: the title and why (all values dropped, no rows)."""
    c = _Canvas(110)
    c.notes.extend(notes)
    c.fig.suptitle(_short(title, TITLE_CHARS), fontsize=13, fontweight="bold")
    c.fig.text(0.5, 0.45, message, ha="center", va="center", fontsize=12, color="#57606a")
    return c.render(title)


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _marker(i: int) -> str:
    return MARKERS[(i // len(PALETTE)) % len(MARKERS)]


@_with_rc
def scatter(points: Sequence[Point], *, x_label: str, y_label: str, title: str, zero_line: bool = True,
            log_x: bool = False, log_y: bool = False, x_name: str | None = None, y_name: str | None = None,
            height: int = 380) -> str:
    """A scatter plot, one colour (and, past 8 series, marker) per ``Point.series`` with a legend.

    Every point is an SVG group ``class="pt"`` whose ``<title>`` (the hover tooltip) reads
    ``"{series}, {label}: {x_name} {x}, {y_name} {y}"``; ``x_name``/``y_name`` default to the axis labels.
    ``zero_line`` draws y = 0 dashed and keeps it in range (for a y that is a signed difference).
    ``log_x``/``log_y`` use a log axis; points with a non-positive value there are dropped. Points with a
    NaN or infinite coordinate are dropped. Each drop is counted in a note under the chart.
    ``height`` is in CSS pixels (width is ``WIDTH_PX``). Returns an inline ``<svg>`` string; never raises
    on the values of ``points``.
    """
    x_name = x_label if x_name is None else x_name
    y_name = y_label if y_name is None else y_name
    notes = []
    finite = [p for p in points if _finite(p.x, p.y)]
    if len(finite) < len(points):
        lost = _plural(len(points) - len(finite), "point")
        notes.append(f"{lost} with a NaN, infinite or beyond ±1e307 value not shown")
    shown = [p for p in finite if (p.x > 0 or not log_x) and (p.y > 0 or not log_y)]
    if len(shown) < len(finite):
        axes = " and ".join(a for a, on in (("x", log_x), ("y", log_y)) if on)
        notes.append(f"{_plural(len(finite) - len(shown), 'point')} ≤ 0 not shown on the log {axes} axis")
    if not shown:
        return _message_chart(title, "no point to plot", notes)
    c = _Canvas(height)
    c.notes.extend(notes)
    ax = c.fig.add_subplot()
    # Scales and limits first: autoscaling data near the float limits overflows inside matplotlib.
    ax.set_xscale("log" if log_x else "linear")
    ax.set_yscale("log" if log_y else "linear")
    _limits(ax, "x", [p.x for p in shown], log_x)
    _limits(ax, "y", [p.y for p in shown] + ([0.0] if zero_line and not log_y else []), log_y)
    series = sorted({p.series for p in shown})
    style = {s: (_color(i), _marker(i)) for i, s in enumerate(series)}
    for p in shown:
        colour, marker = style[p.series]
        ax.plot([p.x], [p.y], linestyle="none", marker=marker, markersize=8, color=colour, alpha=0.9,
                markeredgecolor="white", markeredgewidth=0.6,
                gid=c.tip("pt", f"{p.series}, {p.label}: {x_name} {fmt(p.x)}, {y_name} {fmt(p.y)}"))
    if zero_line and not log_y:
        ax.axhline(0.0, color="#8c959f", linestyle=(0, (4, 3)), linewidth=1, zorder=0)
    # Legend entries are proxies (one per series), not the per-point artists.
    handles = [ax.plot([], [], linestyle="none", marker=style[s][1], markersize=8, color=style[s][0],
                       label=_short(s, NAME_CHARS))[0] for s in series]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
              handletextpad=0.3)
    ax.grid(True, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel(_short(x_label, AXIS_CHARS))
    ax.set_ylabel(_short(y_label, AXIS_CHARS * 3 // 5))  # the plot is 3/5 as high as it is wide
    ax.set_title(_short(title, TITLE_CHARS), loc="left")
    return c.render(title)


def _limits(ax, which: str, values: Sequence[float], log: bool) -> None:
    """Data limits with a margin, computed here so that equal, ulp-close or astronomically spread values
    give a finite, non-empty range (matplotlib's own margins overflow to inf near the float limits)."""
    lo, hi = min(values), max(values)
    if log:
        llo, lhi = math.log10(lo), math.log10(hi)
        pad = (lhi - llo) * 0.06 if lhi - llo > 1e-9 * max(1.0, abs(llo)) else 0.5
        lo, hi = 10 ** max(llo - pad, -307.0), 10 ** min(lhi + pad, 307.0)
    else:
        span = hi / 2 - lo / 2  # halves: hi - lo overflows for values near ±1.8e308
        scale = max(abs(lo), abs(hi))
        if span <= 1e-9 * scale or span == 0:
            # Equal or a few ulps apart: a range of ±5% around them (±0.5 around zero), so the axis shows
            # one value instead of ticks that differ in the 16th digit.
            pad = 0.05 * scale if scale > 0 else 0.5
        else:
            pad = span * 0.12
        lo, hi = max(lo - pad, -1.7e308), min(hi + pad, 1.7e308)
    (ax.set_xlim if which == "x" else ax.set_ylim)(lo, hi)
    axis = ax.xaxis if which == "x" else ax.yaxis
    if not log:
        axis.set_major_locator(MaxNLocator(nbins=6))
        return
    # The log scale's default formatters write mathtext ("$\\mathdefault{10^{1}}$"), which text.parse_math
    # off would print verbatim: plain "10", "0.01", "1e+05" instead (same choice of labelled ticks).
    axis.set_major_formatter(LogFormatter())
    axis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    if max(abs(math.log10(lo)), abs(math.log10(hi))) > _LOG_LOCATOR_LIMIT:
        # LogLocator steps whole strides of decades past the limits and overflows to inf near 1e±308: pick
        # the decades with MaxNLocator on the exponents instead.
        exps = MaxNLocator(nbins=6, integer=True).tick_values(math.log10(lo), math.log10(hi))
        axis.set_major_locator(FixedLocator([10.0 ** k for k in exps if math.log10(lo) <= k <= math.log10(hi)]))
        axis.set_minor_locator(NullLocator())


@dataclass(frozen=True)
class _Row:
    """One drawn row of an interval-style chart (forest plot, interval chart)."""

    label: str  # at the left (tick label)
    name: str  # in the note when the row is dropped
    value: float
    low: float
    high: float
    right: str  # at the right of the row
    colour: str
    tip: str  # tooltip of the dot


def _row_height(n: int) -> int:
    return 90 + 28 * n


def _interval_figure(rows: Sequence[_Row], *, unit: str, title: str, what: str, empty: str, no_bar: str,
                     reference: float | None, band: float | None) -> str:
    """Rows top to bottom: a dot at ``value`` and a bar over ``[low, high]`` (a non-finite bound: no bar,
    note ``no_bar``), the x axis in ``unit``; a row whose ``value`` cannot be drawn is dropped and named in a
    note (``what`` names the value); ``empty`` is said when no row is left."""
    kept = [r for r in rows if _finite(r.value)]
    notes = []
    if len(kept) < len(rows):
        names = _names([r.name for r in rows if not _finite(r.value)])
        notes.append(f"not shown ({what} NaN, infinite or beyond ±1e307): {names}")
    if not kept:
        return _message_chart(title, empty, notes)
    c = _Canvas(_row_height(len(kept)))
    c.notes.extend(notes)
    if any(not _finite(r.low, r.high) for r in kept):
        c.notes.append(no_bar)
    ax = c.fig.add_subplot()
    extent = [v for r in kept for v in (r.value, r.low, r.high) if _finite(v)]
    extent += ([reference] if reference is not None else []) + ([-band, band] if band is not None else [])
    _limits(ax, "x", extent, False)
    if band is not None:
        ax.axvspan(-band, band, color="#009E73", alpha=0.12, linewidth=0, zorder=0)
    if reference is not None:
        ax.axvline(reference, color="#57606a", linewidth=1, zorder=1)
    for y, r in enumerate(kept):
        if _finite(r.low, r.high):
            ax.plot([r.low, r.high], [y, y], color=r.colour, linewidth=2.2, solid_capstyle="butt", zorder=2)
            ax.plot([r.low, r.low], [y - 0.18, y + 0.18], color=r.colour, linewidth=1.4, zorder=2)
            ax.plot([r.high, r.high], [y - 0.18, y + 0.18], color=r.colour, linewidth=1.4, zorder=2)
        ax.plot([r.value], [y], linestyle="none", marker="o", markersize=7, color=r.colour, zorder=3,
                gid=c.tip("row", r.tip))
        if r.right:
            # The notes column: y in data rows, x just right of the axes (constrained layout makes room).
            ax.annotate(_short(r.right, NOTE_CHARS), xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(8, 0),
                        textcoords="offset points", va="center", ha="left", fontsize=11, annotation_clip=False)
    ax.set_yticks(range(len(kept)), [_short(r.label, NAME_CHARS) for r in kept])
    ax.set_ylim(len(kept) - 0.5, -0.5)  # first row on top
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    ax.grid(True, axis="x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_xlabel(_short(unit, AXIS_CHARS))
    ax.set_title(_short(title, TITLE_CHARS), loc="left")
    return c.render(title)


@_with_rc
def forest_plot(rows: Sequence[ForestRow], *, unit: str, delta: float | None, title: str) -> str:
    """Paired differences against a baseline, one row per method (first row on top).

    Each row: a dot at ``mean`` and a bar over ``[low, high]`` (in ``unit``, where > 0 = better), coloured
    by ``verdict``, the label with ``n`` at the left and the verdict at the right. A vertical line marks 0;
    ``delta`` (> 0, same unit) shades the equivalence band ``[-delta, +delta]`` (``None``: no band). A row
    whose mean is NaN, infinite or beyond ``MAX_ABS`` is dropped (said under the chart); such a bound draws
    the dot without a bar. Returns an inline ``<svg>`` string; never raises on the values of ``rows``.
    """
    band = delta if delta is not None and _finite(delta) and delta > 0 else None
    drawn = [_Row(f"{r.label} (n={r.n})", r.label, r.mean, r.low, r.high, r.verdict,
                  VERDICT_COLOURS.get(r.verdict, "#57606a"),
                  f"{r.label}: {fmt(r.mean)} [{fmt(r.low)}, {fmt(r.high)}] {unit}, n={r.n}, {r.verdict}")
             for r in rows]
    return _interval_figure(drawn, unit=unit, title=title, what="mean", empty="no comparison to plot",
                            no_bar="a dot without a bar: no interval (too few seeds)", reference=0.0, band=band)


@_with_rc
def interval_chart(rows: Sequence[IntervalRow], *, unit: str, title: str, reference: float | None = 0.0) -> str:
    """One value with its interval per row (first row on top): the across-task IQM of a method, a rank
    interval, a per-method mean with its 95% CI.

    ``reference`` draws a vertical line at that value (``None``: no line). ``IntervalRow.note`` is printed
    at the right of its row. Rows with a value NaN, infinite or beyond ``MAX_ABS`` are dropped (said under
    the chart); such a bound draws the dot without a bar. Returns an inline ``<svg>`` string; never raises
    on the values of ``rows``.
    """
    ref = reference if reference is not None and _finite(reference) else None
    drawn = [_Row(r.label, r.label, r.value, r.low, r.high, r.note, PALETTE[0],
                  f"{r.label}: {fmt(r.value)} [{fmt(r.low)}, {fmt(r.high)}] {unit}" + (f", {r.note}" if r.note else ""))
             for r in rows]
    return _interval_figure(drawn, unit=unit, title=title, what="value", empty="nothing to plot",
                            no_bar="a dot without a bar: no interval", reference=ref, band=None)


def _rank_text(rank: float) -> str:
    """Two decimals; a rank too large for fixed notation (bad input, but never a 300-digit label) in e-form."""
    return f"{rank:.2f}" if abs(rank) < 1e6 else f"{rank:.3g}"


@_with_rc
def cd_diagram(avg_ranks: Mapping[str, float], cliques: Sequence[Sequence[str]], *, title: str) -> str:
    """A critical-difference diagram (Demšar 2006): methods on an axis of average rank (1 = best, at the
    left), each named at the left or right edge; a thick bar joins each clique of methods whose pairwise
    differences are not significant (the caller's test, e.g. Wilcoxon with Holm's correction).

    ``avg_ranks``: method -> average rank over tasks. ``cliques``: groups of method names; names not in
    ``avg_ranks`` (or with a non-finite rank) are ignored, and a clique of fewer than two drawn methods is
    not drawn. Methods with a NaN or infinite rank are dropped (said under the chart). Returns an inline
    ``<svg>`` string; never raises on the values given.
    """
    ranks = {m: r for m, r in avg_ranks.items() if _finite(r)}
    notes = []
    if len(ranks) < len(avg_ranks):
        lost = _names([m for m in avg_ranks if m not in ranks])
        notes.append(f"not shown (rank NaN, infinite or beyond ±1e307): {lost}")
    if not ranks:
        return _message_chart(title, "no method to rank", notes)
    order = sorted(ranks, key=lambda m: (ranks[m], m))
    half = (len(order) + 1) // 2
    left, right = order[:half], order[half:]
    drawn = [sorted({m for m in cl if m in ranks}, key=lambda m: (ranks[m], m)) for cl in cliques]
    drawn = [cl for cl in drawn if len(cl) >= 2]
    rows = max(len(left), len(right))
    c = _Canvas(110 + 24 * rows + 10 * len(drawn))
    c.notes.extend(notes)
    ax = c.fig.add_subplot()
    lo_rank = min(1.0, min(ranks.values()))
    hi_rank = max(float(len(ranks)), max(ranks.values()))
    if hi_rank - lo_rank < 1:
        hi_rank = lo_rank + 1
    ax.set_xlim(lo_rank, hi_rank)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=min(10, max(2, int(hi_rank - lo_rank) + 1)), integer=True))
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("average rank (1 = best)")
    for side in ("left", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.spines["top"].set_visible(True)
    ax.set_yticks([])
    clique_gap = 0.35
    first_row = 0.6 + clique_gap * len(drawn)
    ax.set_ylim(first_row + rows, 0)  # y grows downwards from the axis line at 0
    for k, cl in enumerate(drawn):
        y = 0.35 + clique_gap * k
        ax.plot([ranks[cl[0]] - 0.03, ranks[cl[-1]] + 0.03], [y, y], color=INK, linewidth=4,
                solid_capstyle="round", gid=c.tip("clique", "not significantly different: " + ", ".join(cl)))
    # Each method: a line down from its rank to its row, then out to its side, where its name is.
    for names, edge, dx, ha in ((left, lo_rank, -6, "right"), (right, hi_rank, 6, "left")):
        for i, m in enumerate(names):
            y = first_row + i
            name, rank = _short(m, NAME_CHARS - 8), _rank_text(ranks[m])
            ax.plot([ranks[m], ranks[m], edge], [0, y, y], color=_color(order.index(m)), linewidth=1.4,
                    clip_on=False, gid=c.tip("method", f"{m}: average rank {rank}"))
            ax.annotate(f"{name} ({rank})" if ha == "right" else f"({rank}) {name}", xy=(edge, y), xytext=(dx, 0),
                        textcoords="offset points", ha=ha, va="center", fontsize=11, annotation_clip=False)
    ax.set_title(_short(title, TITLE_CHARS), loc="left")
    return c.render(title)


@dataclass(frozen=True)
class Series:
    """One line of a line chart: ``xs`` and ``ys`` of equal length (steps and values, say), drawn in order."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]


@dataclass(frozen=True)
class Panel:
    """One set of axes of :func:`line_panels`: its own title, y label and lines."""

    title: str
    y_label: str
    series: Sequence[Series]
    log_y: bool = False


# Coordinates are CSS pixels: a tenth of one is below what a screen shows, and matplotlib's six decimals
# double the bytes of a chart with long lines. Group ids nothing refers to are matplotlib's bookkeeping.
_LONG_DECIMAL = re.compile(r"(-?\d+\.\d{2,})")
_ATTR = re.compile(r'="([^"]*)"')
_GROUP_ID = re.compile(r'<g id="([^"]+)"')
_REF = re.compile(r'(?:href="#|url\(#)([^")]+)')


_NO_ROTATION = re.compile(r' transform="rotate\(-?0 [-\d.]+ [-\d.]+\)"')
_FONT = " font-family=\"'DejaVu Sans', sans-serif\""


def _compact(svg: str) -> str:
    """Fewer bytes, same drawing: unreferenced group ids and identity rotations dropped, coordinates to
    0.1 px, the font family set once on the root (text inherits it)."""
    used = set(_REF.findall(svg))
    svg = _GROUP_ID.sub(lambda m: '<g id="' + m.group(1) + '"' if m.group(1) in used else "<g", svg)
    svg = _NO_ROTATION.sub("", svg)
    if _FONT in svg:
        svg = svg.replace(_FONT, "").replace("<svg ", "<svg" + _FONT + " ", 1)
    return _ATTR.sub(lambda m: '="' + _LONG_DECIMAL.sub(lambda n: f"{float(n.group(1)):.1f}", m.group(1)) + '"',
                     svg)


PANEL_PX = 190  # height of one panel of line_panels, CSS pixels


@_with_rc
def line_panels(panels: Sequence[Panel], *, x_label: str, title: str) -> str:
    """Line charts stacked in one figure (training curves: one panel per quantity, a shared x axis), one
    colour per ``Series`` with a legend when a panel has several.

    Points with a NaN or infinite coordinate (or a non-positive y on a panel with ``log_y``) are dropped and
    counted in a note under the chart; a series left empty is named there. Each panel is ``PANEL_PX`` high,
    the width ``WIDTH_PX``; coordinates are rounded to 0.1 px. Returns an inline ``<svg>`` (``title`` is its
    accessible name); never raises on the values of ``panels``."""
    notes = []
    kept_panels = []
    dropped = 0
    for panel in panels:
        kept = []
        for s in panel.series:
            pts = [(x, y) for x, y in zip(s.xs, s.ys) if _finite(x, y) and (y > 0 or not panel.log_y)]
            dropped += len(s.xs) - len(pts)
            if pts:
                kept.append((s.name, [p[0] for p in pts], [p[1] for p in pts]))
            else:
                notes.append(f"{_short(s.name, NAME_CHARS)}: nothing to draw")
        if kept:
            kept_panels.append((panel, kept))
    if dropped:
        notes.append(f"{_plural(dropped, 'point')} with a NaN, infinite or (log axis) non-positive value not shown")
    if not kept_panels:
        return _message_chart(title, "no point to plot", notes)
    height = PANEL_PX * len(kept_panels) + 40 + 16 * len(notes)
    # Fixed margins instead of the constrained layout: it lays out a stack of panels several times over
    # (seconds per run page); labels here are short and cut to known lengths.
    c = _Canvas(height, constrained=False)
    c.notes.extend(notes)
    c.fig.subplots_adjust(left=78 / WIDTH_PX, right=1 - 12 / WIDTH_PX, top=1 - 28 / height,
                          bottom=(44 + 16 * len(notes)) / height, hspace=0.5)
    axes = c.fig.subplots(len(kept_panels), 1, sharex=True, squeeze=False)[:, 0]
    xs_all = [x for _, kept in kept_panels for _, xs, _ in kept for x in xs]
    for ax, (panel, kept) in zip(axes, kept_panels):
        ax.set_yscale("log" if panel.log_y else "linear")
        _limits(ax, "x", xs_all, False)
        _limits(ax, "y", [y for _, _, ys in kept for y in ys], panel.log_y)
        for i, (name, xs, ys) in enumerate(kept):
            ax.plot(xs, ys, color=_color(i), linewidth=1.4, label=_short(name, NAME_CHARS))
        ax.set_ylabel(_short(panel.y_label, AXIS_CHARS // 3))
        ax.set_title(_short(panel.title, TITLE_CHARS), loc="left", fontsize=12)
        if len(kept) > 1:
            ax.legend(loc="best", fontsize=10)
    axes[-1].set_xlabel(_short(x_label, AXIS_CHARS))
    return _compact(c.render(title))


__all__ = ["ForestRow", "IntervalRow", "PALETTE", "Panel", "Point", "Series", "VERDICT_COLOURS", "WIDTH_PX",
           "cd_diagram", "forest_plot", "interval_chart", "line_panels", "scatter"]
