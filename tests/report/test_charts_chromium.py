"""The charts in a real browser under the site's Content-Security-Policy (headless Chromium, as in
test_site_chromium.py): the CSP blocks inline styles, so charts.py turns matplotlib's ``style`` attributes
into presentation attributes. A raw matplotlib SVG in the same page is the control: its colours are lost."""

from __future__ import annotations

import io

import pytest
from matplotlib.figure import Figure

from chromium_cdp import Browser, Tab, find_chromium
from tram_bench.report.charts import ForestRow, IntervalRow, Point, cd_diagram, forest_plot, interval_chart, scatter
from tram_bench.report.htmlkit import page

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")


def raw_matplotlib_svg() -> str:
    fig = Figure(figsize=(2, 1))
    fig.add_subplot().plot([0, 1], [0, 1], color="#0072B2", gid="raw-line")
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    return buf.getvalue().split("?>", 1)[1].split("]>", 1)[-1]  # no prolog, no DOCTYPE


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    root = tmp_path_factory.mktemp("charts")
    body = "".join(f'<figure id="{name}">{svg}</figure>' for name, svg in (
        ("scatter", scatter([Point("sam", "seed 0", 0.1, 0.2), Point("sgd", "seed 0", 0.3, -0.1)], x_label="x",
                            y_label="y", title="scatter")),
        ("forest", forest_plot([ForestRow("sam", 1.0, 0.5, 1.5, "better", 5)], unit="points", delta=0.8,
                               title="forest")),
        ("interval", interval_chart([IntervalRow("sam", 1.0, 0.5, 1.5, "n=5")], unit="points", title="interval")),
        ("cd", cd_diagram({"a": 1.2, "b": 2.0, "c": 2.8}, [["a", "b"]], title="cd")),
        ("raw", raw_matplotlib_svg()),
    ))
    path = root / "charts.html"
    path.write_text(page("charts", body), encoding="utf-8")
    browser = Browser(CHROMIUM, root / "profile")
    try:
        t = Tab(browser)
        t.open(path.as_uri())
        yield t
    finally:
        browser.close()


def computed(tab, selector: str, prop: str) -> str:
    return tab.evaluate_js(f"getComputedStyle(document.querySelector({selector!r})).{prop}")


def test_chart_colours_and_fonts_survive_the_csp(tab):
    assert computed(tab, "#scatter g.pt use", "fill") == "rgb(0, 114, 178)"  # Okabe-Ito blue, first series
    assert computed(tab, "#forest g.row use", "fill") == "rgb(0, 114, 178)"  # verdict "better"
    assert computed(tab, "#scatter text", "fontSize") == "11px"
    for fig in ("scatter", "forest", "interval", "cd"):
        box = tab.evaluate_js(f"(() => {{ const r = document.querySelector('#{fig} svg').getBoundingClientRect();"
                              " return [r.width, r.height]; })()")
        assert box[0] == 700 and box[1] > 80, (fig, box)
        assert tab.evaluate_js(f"document.querySelector('#{fig} svg').getAttribute('aria-label')") == fig


def test_control_raw_matplotlib_styles_are_blocked(tab):
    # Without the rewrite the line would fall back to the SVG defaults (no stroke).
    assert computed(tab, "#raw #raw-line path", "stroke") == "none"
