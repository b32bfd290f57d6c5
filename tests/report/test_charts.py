"""report/charts.py: every chart on degenerate data (issue 14 item 1), inline-SVG safety, determinism."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import threading
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Callable

import pytest

from report_fixtures import Metric, new_store
from tram_bench.report import build_site
from tram_bench.report.charts import ForestRow, IntervalRow, Point, cd_diagram, forest_plot, interval_chart, scatter
from tram_bench.report.site import task_page_name

TIME_LIMIT_S = 20.0
NAN, INF = float("nan"), float("inf")

# Degenerate value sets, each a list of values of one coordinate.
CASES = {
    "one": [0.5],
    "all-equal": [0.25, 0.25, 0.25],
    "ulps-0.1": [0.1, 0.1 + 1e-16, 0.1 + 2e-16],  # the example
    "ulps-1": [1.0, 1.0 + 2.2e-16, 1.0 + 4.4e-16],  # 1 and 2 ulps: the old axis loop's step did not advance
    "nan-inf": [0.2, NAN, INF, -INF, 0.3],
    "huge-range": [1e-300, 1e300, -1e300],
    "float-limits": [-1.7e308, 1.7e308, 0.0],
    "zeros": [0.0, 0.0],
    "negative": [-3.0, -1.0, -2.0],
}
NON_FINITE = {"nan-inf": 3, "float-limits": 2}  # values a chart must drop (and say so)


def timed(fn: Callable[[], str]) -> str:
    """Run ``fn`` in a thread and fail (instead of hanging the suite) past TIME_LIMIT_S."""
    out: dict[str, object] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as e:  # re-raised in the test's thread
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(TIME_LIMIT_S)
    assert not t.is_alive(), f"chart did not finish in {TIME_LIMIT_S} s"
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]  # type: ignore[return-value]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    for el in root.iter():
        el.tag = el.tag.rpartition("}")[2]
    return root


def text_of(root: ET.Element) -> str:
    return " ".join(t for el in root.iter("text") for t in el.itertext())


def check(svg: str, title: str) -> ET.Element:
    """Valid XML, one accessible <svg>, nothing external, nothing a style-src CSP would block."""
    assert not svg.startswith("<?xml") and "<!DOCTYPE" not in svg
    root = parse(svg)
    assert root.tag == "svg" and root.get("role") == "img" and root.get("aria-label") == title
    assert root[0].tag == "title" and root[0].text == title
    assert root.get("viewBox") and float(root.get("width")) == 700
    ids = set()
    for el in root.iter():
        assert el.tag not in ("style", "script", "foreignObject", "image", "metadata"), el.tag
        assert "style" not in el.attrib and not any(k.startswith("on") for k in el.attrib)
        for key, value in el.attrib.items():
            if key == "href":
                assert value.startswith("#"), value
            for ref in re.findall(r"url\(([^)]*)\)", value):
                assert ref.startswith("#"), ref
        if "id" in el.attrib:
            assert el.get("id") not in ids
            ids.add(el.get("id"))
    # Every reference points at an element of this chart.
    for el in root.iter():
        refs = [el.get("href", "#")[1:]] + re.findall(r"url\(#([^)]*)\)", " ".join(el.attrib.values()))
        assert all(r == "" or r in ids for r in refs)
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    return root


def charts_for(values: list[float], log: bool = False) -> dict[str, Callable[[], str]]:
    """Every chart function fed ``values`` (a scatter gets them as x against an increasing y and as y)."""
    n = len(values)
    pts_x = [Point("s" + str(i % 2), f"p{i}", v, float(i + 1)) for i, v in enumerate(values)]
    pts_y = [Point("s", f"p{i}", float(i + 1), v) for i, v in enumerate(values)]
    forest = [ForestRow(f"m{i}", v, v - 0.5, v + 0.5, "inconclusive", 5) for i, v in enumerate(values)]
    interval = [IntervalRow(f"m{i}", v, v - 1e-3, v + 1e-3, f"n={i}") for i, v in enumerate(values)]
    ranks = {f"m{i}": v for i, v in enumerate(values)}
    return {
        "scatter-x": lambda: scatter(pts_x, x_label="x", y_label="y", title="scatter x", log_x=log),
        "scatter-y": lambda: scatter(pts_y, x_label="x", y_label="y", title="scatter y", log_y=log, zero_line=False),
        "forest": lambda: forest_plot(forest, unit="points", delta=1.0, title="forest"),
        "interval": lambda: interval_chart(interval, unit="points", title="interval"),
        "interval-same-bounds": lambda: interval_chart(
            [IntervalRow(f"m{i}", v, v, v) for i, v in enumerate(values)], unit="u", title="same", reference=None),
        "cd": lambda: cd_diagram(ranks, [list(ranks)[: max(2, n)]], title="cd"),
    }


TITLES = {"scatter-x": "scatter x", "scatter-y": "scatter y", "forest": "forest", "interval": "interval",
          "interval-same-bounds": "same", "cd": "cd"}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("chart", sorted(TITLES))
def test_every_chart_on_degenerate_values_finishes_parses_and_repeats(case, chart):
    make = charts_for(CASES[case])[chart]
    first = timed(make)
    root = check(first, TITLES[chart])
    assert timed(make) == first  # deterministic bytes
    dropped = NON_FINITE.get(case, 0)
    text = text_of(root)
    if dropped and chart.startswith("scatter"):
        assert f"{dropped} points with a NaN, infinite or beyond ±1e307 value not shown" in text
    elif dropped and chart == "cd":
        assert "not shown (rank NaN, infinite or beyond ±1e307)" in text
    elif dropped:
        assert "not shown (" in text and "NaN, infinite or beyond ±1e307" in text
    else:
        assert "not shown" not in text


@pytest.mark.parametrize("case", sorted(CASES))
def test_log_axes_drop_non_positive_values_and_say_so(case):
    values = CASES[case]
    finite = [v for v in values if math.isfinite(v) and abs(v) <= 1e307]
    non_positive = sum(v <= 0 for v in finite)
    for chart in ("scatter-x", "scatter-y"):
        root = check(timed(charts_for(values, log=True)[chart]), TITLES[chart])
        text = text_of(root)
        if non_positive:
            axis = "x" if chart == "scatter-x" else "y"
            word = "point" if non_positive == 1 else "points"
            assert f"{non_positive} {word} ≤ 0 not shown on the log {axis} axis" in text
        if non_positive == len(finite):
            assert "no point to plot" in text
        else:
            assert len([g for g in root.iter("g") if g.get("class") == "pt"]) == len(finite) - non_positive


def test_ulp_close_values_get_one_readable_tick_label():
    """Values a few ulps apart are drawn at one place with plain tick labels (no 17-digit ticks, no offset)."""
    root = check(timed(charts_for(CASES["ulps-1"])["scatter-x"]), "scatter x")
    ticks = [t for t in text_of(root).split() if re.fullmatch(r"-?[0-9.]+", t)]
    assert ticks and all(len(t) <= 6 for t in ticks), ticks
    xs = {round(float(u.get("x")), 3) for g in root.iter("g") if g.get("class") == "pt" for u in g.iter("use")}
    assert len(xs) == 1


def test_empty_inputs_give_a_chart_that_says_so():
    assert "no point to plot" in text_of(check(scatter([], x_label="x", y_label="y", title="t"), "t"))
    assert "no comparison to plot" in text_of(check(forest_plot([], unit="u", delta=None, title="t"), "t"))
    assert "nothing to plot" in text_of(check(interval_chart([], unit="u", title="t"), "t"))
    assert "no method to rank" in text_of(check(cd_diagram({}, [], title="t"), "t"))


def test_every_label_is_literal_text():
    """User strings are text: markup is escaped, "$...$" is not mathtext, brackets stay."""
    evil = "<b>x</b> & $\\alpha$ [rho=0.05] [/x]"
    svgs = [
        scatter([Point(evil, evil, 1.0, 2.0)], x_label=evil, y_label=evil, title=evil),
        forest_plot([ForestRow(evil, 1.0, 0.5, 1.5, "better", 5)], unit=evil, delta=0.2, title=evil),
        interval_chart([IntervalRow(evil, 1.0, 0.5, 1.5, evil)], unit=evil, title=evil),
        cd_diagram({evil: 1.0, "b": 2.0}, [[evil, "b"]], title=evil),
    ]
    for svg in svgs:
        root = check(svg, evil)
        assert "<b>" not in svg
        assert evil in text_of(root) or any(evil in (t.text or "") for t in root.iter("title"))
        assert sum(evil in "".join(el.itertext()) for el in root.iter("text")) >= 1


def test_point_tooltips_and_verdicts():
    svg = scatter([Point("sam", "seed 0", 0.5, -0.25), Point("sgd", "seed 1", 1.5, 0.75)], x_label="severity",
                  y_label="gain", title="t", x_name="sev", y_name="g")
    tips = sorted(g.find("title").text for g in parse(svg).iter("g") if g.get("class") == "pt")
    assert tips == ["sam, seed 0: sev 0.5000, g -0.2500", "sgd, seed 1: sev 1.500, g 0.7500"]
    svg = forest_plot([ForestRow("sam", 1.0, 0.5, 1.5, "better", 5), ForestRow("asam", 0.2, NAN, NAN, "underpowered",
                                                                                  2)], unit="points", delta=1.0,
                      title="f")
    text = text_of(parse(svg))
    for s in ("sam (n=5)", "asam (n=2)", "better", "underpowered", "a dot without a bar"):
        assert s in text


def test_two_charts_in_one_page_share_no_id():
    a = scatter([Point("a", "p", 1.0, 2.0)], x_label="x", y_label="y", title="first")
    b = scatter([Point("a", "p", 1.0, 2.0)], x_label="x", y_label="y", title="second")
    ids_a = {el.get("id") for el in parse(a).iter() if el.get("id")}
    ids_b = {el.get("id") for el in parse(b).iter() if el.get("id")}
    assert ids_a and ids_b and not ids_a & ids_b


def test_site_build_with_ulp_close_analysis_values_finishes(tmp_path: Path):
    """The issue's hang, through the site builder: a sharpness (and CKA) scatter whose x values are a few
    ulps apart, and a severity scatter whose x values are all equal."""
    b = new_store()
    for seed, (sharp, cka) in enumerate([(1.0, 0.1), (1.0 + 2.2e-16, 0.1 + 1e-16), (1.0 + 4.4e-16, 0.1 + 2e-16)]):
        for method, hp, acc in (("adam", {"base": "adam"}, 0.6), ("sam", {"base": "adam", "rho": 0.05}, 0.7)):
            b.add_run("s", "xnli-mini", method, seed, [
                Metric("en", 0.8, True), Metric("de", acc + 0.01 * seed, False),
                Metric("en", 2.0, True, metric="sharpness"), Metric("de", sharp, False, metric="sharpness"),
                Metric("en", 0.5, True, metric="cka"), Metric("de", cka, False, metric="cka"),
            ], hparams=hp)
    index = timed(lambda: build_site(b.con, tmp_path / "lb", None, family_of=lambda task: None))
    page = (index.parent / task_page_name("s", "xnli-mini")).read_text(encoding="utf-8")
    assert re.findall(r'<figure class="analysis-scatter" data-metric="([^"]*)">', page) == ["sharpness", "cka"]
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) >= 3  # the two analysis scatters and at least one leaderboard chart
    for svg in svgs:
        check(svg, parse(svg).get("aria-label"))
    # One page, many charts: ids stay unique, and nothing needs a style-src exception beyond the page's CSS.
    ids = re.findall(r'\sid="([^"]*)"', page)
    assert len(ids) == len(set(ids))
    assert page.count("<style") == 1 and ' style="' not in page


def test_long_labels_are_cut_on_the_chart_and_kept_whole_in_tooltips():
    long = "tram-fisher[rho=0.05,sigma=0.1,divergence=kl,base=adamw,weight_decay=0.01,betas=[0.9,0.999]]"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns when the layout collapses the axes to nothing
        svgs = [
            forest_plot([ForestRow(long, 1.0, 0.5, 1.5, "better", 5)], unit=long, delta=1.0, title=long * 2),
            interval_chart([IntervalRow(long, 1.0, 0.5, 1.5, long)], unit="points", title="t"),
            scatter([Point(long, "seed 0", 1.0, 2.0)], x_label=long * 2, y_label=long, title=long),
            cd_diagram({long + str(i): 1.0 + i for i in range(15)}, [[long + "0", long + "1"]], title="many"),
        ]
    for svg in svgs:
        root = parse(svg)
        assert long not in text_of(root) and "…" in text_of(root)
        assert any(long in (t.text or "") for g in root.iter("g") for t in g.findall("title"))


def test_many_dropped_rows_are_counted_not_listed():
    rows = [IntervalRow(f"m{i}", NAN, 0.0, 1.0) for i in range(9)] + [IntervalRow("ok", 1.0, 0.5, 1.5)]
    text = text_of(parse(interval_chart(rows, unit="u", title="t")))
    assert "not shown (value NaN, infinite or beyond ±1e307): m0, m1, m2, m3 and 5 more" in text


def test_bytes_are_the_same_in_a_fresh_process():
    code = ("from tram_bench.report.charts import Point, scatter\n"
            "import sys\n"
            "sys.stdout.write(scatter([Point('a', 'p', 1.0, 2.0), Point('b', 'q', 3.0, -1.0)], x_label='x', "
            "y_label='y', title='t'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    here = scatter([Point("a", "p", 1.0, 2.0), Point("b", "q", 3.0, -1.0)], x_label="x", y_label="y", title="t")
    assert out.stdout == here


@pytest.mark.parametrize("values", [[1.0, 10.0, 100.0], [2.0, 3.0, 5.0], [1e-5, 1e5], [1e-200, 1e200]])
def test_log_axis_tick_labels_are_plain_text(values):
    """Log-axis ticks read as numbers, never as raw mathtext: with text.parse_math off, matplotlib's
    default log formatter would print "$\\mathdefault{10^{1}}$" into the page."""
    pts = [Point("s", f"p{i}", v, v) for i, v in enumerate(values)]
    for kwargs in ({"log_x": True}, {"log_y": True, "zero_line": False}):
        text = text_of(check(timed(lambda: scatter(pts, x_label="x", y_label="y", title="t", **kwargs)), "t"))
        assert "$" not in text and "mathdefault" not in text
        assert re.search(r"\d", text)
