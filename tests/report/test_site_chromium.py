"""The site in a real browser: headless Chromium, driven over the DevTools protocol (pipe transport).

Chromium is Debian's ``chromium`` package (``.ci/run`` installs it). Without it these tests are skipped
with that reason; everything else about the site is covered by test_site.py.
"""

from __future__ import annotations

import pytest

from chromium_cdp import Browser, Tab, decode_png, find_chromium
from report_fixtures import build_demo, new_store
from tram_bench.report import build_site
from tram_bench.report.site import task_page_name

EVIL = "<script>alert(1)</script>"
CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    root = tmp_path_factory.mktemp("chromium")
    b = build_demo(new_store(), suite=EVIL)
    index = build_site(b.con, root / "site", None, family_of=lambda task: "vision")
    browser = Browser(CHROMIUM, root / "profile")
    try:
        t = Tab(browser)
        t.open((index.parent / task_page_name(EVIL, "digits")).as_uri())
        yield t
    finally:
        browser.close()


def first_board_rect(tab) -> dict:
    tab.evaluate_js("document.querySelector('table.leaderboard').scrollIntoView()")
    # Viewport coordinates (for clicks) and page coordinates (a screenshot clip is in page space).
    return tab.evaluate_js("(() => { const r = document.querySelector('table.leaderboard').getBoundingClientRect();"
                    " return {x: r.x, y: r.y, width: r.width, height: r.height,"
                    " page_x: r.x + window.scrollX, page_y: r.y + window.scrollY}; })()")


def column_values(tab, col: int) -> list[float]:
    return tab.evaluate_js(f"Array.from(document.querySelector('table.leaderboard').tBodies[0].rows)"
                    f".map(r => Number(r.cells[{col}].getAttribute('data-v')))")


def methods(tab) -> list[str]:
    return tab.evaluate_js("Array.from(document.querySelector('table.leaderboard').tBodies[0].rows)"
                    ".map(r => r.cells[0].textContent)")


def test_escaped_suite_name_is_text_and_no_script_ran(tab):
    assert EVIL in tab.evaluate_js("document.querySelector('h1').textContent")
    assert tab.evaluate_js("document.scripts.length") == 1  # only the inline sorter
    assert tab.evaluate_js("document.querySelectorAll('h1 *:not(span)').length") == 0
    assert tab.dialogs() == []


def test_table_is_visible_in_a_screenshot(tab):
    rect = first_board_rect(tab)
    assert rect["width"] > 600 and rect["height"] > 100
    assert tab.evaluate_js("document.querySelector('table.leaderboard').tBodies[0].rows.length") == 4
    width = min(rect["width"], 1000.0)
    png = tab.screenshot({"x": rect["page_x"], "y": rect["page_y"], "width": width, "height": rect["height"]})
    w, h, channels, px = decode_png(png)
    assert abs(w - width) <= 1 and abs(h - rect["height"]) <= 1  # CSS pixels, rounded by the browser
    pixels = [px[i:i + 3] for i in range(0, len(px), channels)]
    background = sum(1 for p in pixels if p == b"\xff\xff\xff")
    # Text, borders, header shading and the best-cell highlight cover a good part of the table.
    assert 1 - background / len(pixels) > 0.15
    assert len(set(pixels)) > 20


def test_clicking_a_header_sorts_the_column(tab):
    first_board_rect(tab)
    col = 3  # "blur ↑"
    before = column_values(tab, col)
    assert before != sorted(before) and before != sorted(before, reverse=True)
    button = tab.evaluate_js(f"(() => {{ const b = document.querySelector('table.leaderboard').tHead.rows[0]"
                      f".cells[{col}].querySelector('button'); const r = b.getBoundingClientRect();"
                      f" return {{x: r.x + r.width / 2, y: r.y + r.height / 2, text: b.textContent}}; }})()")
    assert button["text"] == "blur ↑"
    tab.click(button["x"], button["y"])
    assert column_values(tab, col) == sorted(before)
    assert methods(tab) == ["sam[rho=0.1]", "sgd", "sam[rho=0.05]", "tram-x"]  # ties keep their order
    assert tab.evaluate_js(f"document.querySelector('table.leaderboard').tHead.rows[0].cells[{col}]"
                    ".getAttribute('aria-sort')") == "ascending"
    tab.click(button["x"], button["y"])
    assert column_values(tab, col) == sorted(before, reverse=True)
    assert methods(tab)[0] == "tram-x"


def _figure_shot(tab, selector: str) -> tuple[dict, list[bytes]]:
    tab.evaluate_js(f"document.querySelector({selector!r}).scrollIntoView()")
    rect = tab.evaluate_js(f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
                           " return {width: r.width, height: r.height, page_x: r.x + window.scrollX,"
                           " page_y: r.y + window.scrollY}; })()")
    png = tab.screenshot({"x": rect["page_x"], "y": rect["page_y"], "width": rect["width"], "height": rect["height"]})
    _, _, channels, px = decode_png(png)
    return rect, [px[i:i + 3] for i in range(0, len(px), channels)]


def _drawn(pixels: list[bytes]) -> float:
    return 1 - sum(1 for p in pixels if p == b"\xff\xff\xff") / len(pixels)


def test_task_page_opens_with_a_visible_forest_plot(tab):
    # The first figure of the page, above the leaderboard, with one row per compared method.
    assert tab.evaluate_js("document.querySelector('figure').className") == "forest"
    assert tab.evaluate_js("document.querySelector('figure.forest').compareDocumentPosition("
                           "document.querySelector('table.leaderboard')) & Node.DOCUMENT_POSITION_FOLLOWING") > 0
    text = tab.evaluate_js("document.querySelector('figure.forest svg').textContent")
    assert "underpowered" in text and "equivalent" in text and "sam[rho=0.05] (n=5)" in text
    rect, pixels = _figure_shot(tab, "figure.forest svg")
    assert rect["width"] > 400 and rect["height"] > 100
    assert _drawn(pixels) > 0.03 and len(set(pixels)) > 10  # axes, bars, dots and text were painted
    body = tab.evaluate_js("document.body.innerText")
    assert "underpowered (smallest adjusted p 0.1875)" in body
    assert "significant difference" not in body.lower()


def test_index_shows_the_iqm_chart_and_rank_intervals(tab):
    task_url = tab.evaluate_js("document.location.href")
    tab.open(task_url.rsplit("/", 1)[0] + "/index.html")
    try:
        rect, pixels = _figure_shot(tab, "figure.iqm svg")
        assert rect["width"] > 400 and rect["height"] > 100
        assert _drawn(pixels) > 0.03 and len(set(pixels)) > 10
        body = tab.evaluate_js("document.body.innerText")
        assert "Rank intervals" in body and ("Best method:" in body or "No best method" in body)
    finally:
        tab.open(task_url)  # the other tests of this module read the task page
