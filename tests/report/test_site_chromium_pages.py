"""Every kind of page in headless Chromium at 1400 and 400 CSS pixels wide: painted, nothing sideways off
the page, key elements visible; the sticky method column and the index filters at work; and axe-core's
accessibility check with no serious or critical violation.

Chromium is Debian's ``chromium`` and axe-core the npm package, both installed by ``.ci/run``; without
them these tests are skipped with that reason (which fails a CI run)."""

from __future__ import annotations

import pytest

from chromium_cdp import Browser, Tab, decode_png, find_chromium
from site_browser import axe_violations, find_axe, open_at, shoot
from site_store import build_embedded_like
from tram_bench.report import build_site
from tram_bench.report.site import task_page_name

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
EVIL = "<b>suite</b> & co"
WIDTHS = (1400, 400)
# Per page: elements a reader must see (each has a box inside the viewport's width).
KEY = {"index": ("h1", "form.filters", "table", "figure.iqm svg"),
       "task": ("h1", "figure.forest svg", "table.leaderboard", "span.dl a"),
       "run": ("h1", "dl.facts", "figure.curves svg"),
       "claims": ("h1", "table")}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    results = root / "results"
    store = build_embedded_like(results, steps=300, suite=EVIL, seeds=2, methods=("sgd", "sam", "tram-prev", "r3f"),
                                tasks=("mnist-to-uci", "bbc-topics"), task_ids=("digits", "lm-bbc"))
    index = build_site(store.con, root / "site", results, family_of=lambda task: "lm" if task == "lm-bbc" else "vision")
    run = sorted((index.parent / "runs").glob("*.html"))
    tram = next(p for p in run if "<dd>tram-prev</dd>" in p.read_text())
    pages = {"index": index, "task": index.parent / task_page_name(EVIL, "mnist-to-uci"), "run": tram,
             "claims": index.parent / "claims.html"}
    browser = Browser(CHROMIUM, root / "profile")
    try:
        yield {k: v.as_uri() for k, v in pages.items()}, Tab(browser)
    finally:
        browser.close()


def _boxes(tab, selectors) -> dict[str, dict]:
    return {s: tab.evaluate_js(f"(() => {{ const e = document.querySelector({s!r}); if (!e) return null;"
                               " const r = e.getBoundingClientRect(); const st = getComputedStyle(e);"
                               " return {x: r.x, w: r.width, h: r.height, shown: st.display !== 'none'"
                               " && st.visibility !== 'hidden'}; })()") for s in selectors}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", list(KEY))
def test_page_is_painted_fits_the_width_and_shows_its_key_elements(site, kind, width):
    urls, tab = site
    shot = shoot(tab, urls[kind], width, max_height=1000)  # the top of the page; decode_png is pure Python
    w, h, channels, px = decode_png(shot.png)
    assert abs(w - width) <= 1 and h > 300
    pixels = [px[i:i + 3] for i in range(0, len(px), channels * 7)]  # every 7th pixel is plenty
    drawn = 1 - sum(1 for p in pixels if p == b"\xff\xff\xff") / len(pixels)
    assert drawn > 0.02 and len(set(pixels)) > 20, (kind, width, drawn)
    # Wide tables scroll inside their own box; the page itself never scrolls sideways.
    assert shot.scroll_width <= width, (kind, width, shot.scroll_width)
    for sel, box in _boxes(tab, KEY[kind]).items():
        assert box is not None and box["shown"] and box["w"] > 0 and box["h"] > 0, (kind, width, sel, box)
        assert 0 <= box["x"] < width, (kind, width, sel, box)


def test_method_column_stays_visible_while_a_wide_table_scrolls(site):
    urls, tab = site
    open_at(tab, urls["task"], 400)
    r = tab.evaluate_js(
        "(() => { const t = document.querySelector('table.leaderboard'); const box = t.parentElement;"
        " box.scrollLeft = 400; const b = box.getBoundingClientRect();"
        " const first = t.tBodies[0].rows[0].cells[0].getBoundingClientRect();"
        " const third = t.tBodies[0].rows[0].cells[2].getBoundingClientRect();"
        " return {scrolled: box.scrollLeft, box: b.x, first: first.x, third: third.x}; })()")
    assert r["scrolled"] > 100  # the table is wider than the phone screen
    assert abs(r["first"] - r["box"]) < 1 and r["third"] < r["box"]


def test_index_filters_rows_by_method_kind_and_task_family(site):
    urls, tab = site
    open_at(tab, urls["index"], 1400)

    def shown(value_kind: str, value_family: str) -> dict:
        return tab.evaluate_js(
            f"(() => {{ const k = document.querySelector('select[data-filter=kind]');"
            f" const f = document.querySelector('select[data-filter=family]');"
            f" k.value = {value_kind!r}; f.value = {value_family!r};"
            " k.dispatchEvent(new Event('change')); f.dispatchEvent(new Event('change'));"
            " const vis = s => Array.from(document.querySelectorAll(s)).filter(r => r.offsetParent !== null);"
            " return {kinds: vis('tr[data-kind]').map(r => r.dataset.kind),"
            " families: vis('tr[data-family]').map(r => r.dataset.family),"
            " all_kinds: document.querySelectorAll('tr[data-kind]').length}; })()")

    everything = shown("", "")
    assert len(everything["kinds"]) == everything["all_kinds"] > 0
    tram = shown("TRAM", "")
    assert tram["kinds"] and set(tram["kinds"]) == {"TRAM"} and tram["families"] == everything["families"]
    assert sorted(everything["families"]) == ["lm", "vision"]
    lm = shown("", "lm")
    assert lm["families"] == ["lm"] and len(lm["kinds"]) == everything["all_kinds"]
    both = shown("SAM family", "vision")
    assert set(both["kinds"]) == {"SAM family"} and both["families"] == ["vision"]


@pytest.mark.skipif(find_axe() is None, reason="axe-core not installed (.ci/run: npm install axe-core)")
@pytest.mark.parametrize("kind", list(KEY))
def test_no_serious_accessibility_violation(site, kind):
    urls, tab = site
    open_at(tab, urls[kind], 1400)
    bad = [v for v in axe_violations(tab, find_axe()) if v["impact"] in ("serious", "critical")]
    assert bad == [], bad
