"""Pages of the built site in headless Chromium: full-page screenshots at a given width, layout facts, and
the axe-core accessibility check injected over the DevTools protocol (the pages' CSP admits only their own
inline script, so axe cannot be loaded by the page itself). Used by test_site_chromium_pages.py and by
tools/screenshots.py (the README's screenshots)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chromium_cdp import Tab

REPO = Path(__file__).resolve().parents[2]
# Where .ci/run installs axe-core (npm); TRAM_BENCH_AXE_JS names another copy of axe.min.js.
AXE_PATHS = (REPO / "node_modules" / "axe-core" / "axe.min.js",)
MAX_SHOT_PX = 4000  # a screenshot stops here: the top of a long page is what a reader sees first


def find_axe() -> Path | None:
    env = os.environ.get("TRAM_BENCH_AXE_JS")
    for p in ([Path(env)] if env else []) + list(AXE_PATHS):
        if p.is_file():
            return p
    return None


@dataclass
class Shot:
    png: bytes
    width: int  # CSS pixels
    height: int
    scroll_width: int  # the document's width: more than ``width`` means the page scrolls sideways


def open_at(tab: Tab, url: str, width: int, height: int = 900) -> None:
    tab.send("Emulation.setDeviceMetricsOverride",
             {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    tab.open(url)


def shoot(tab: Tab, url: str, width: int, max_height: int = MAX_SHOT_PX) -> Shot:
    """A screenshot of the page at ``url`` laid out ``width`` CSS pixels wide, from the top, at most
    ``max_height`` high."""
    open_at(tab, url, width)
    dims = tab.evaluate_js("({h: document.documentElement.scrollHeight, w: document.documentElement.scrollWidth})")
    height = min(int(dims["h"]), max_height)
    import base64

    data = tab.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                               "clip": {"x": 0, "y": 0, "width": width, "height": height,
                                                        "scale": 1}})["data"]
    return Shot(base64.b64decode(data), width, height, int(dims["w"]))


def axe_violations(tab: Tab, axe_js: Path) -> list[dict[str, Any]]:
    """axe-core's violations on the open page (WCAG 2.x A and AA rules and best practices), each
    ``{"id", "impact", "help", "targets"}``."""
    r = tab.send("Runtime.evaluate", {"expression": axe_js.read_text(encoding="utf-8"), "returnByValue": True})
    if "exceptionDetails" in r:
        raise RuntimeError(f"axe-core did not load: {r['exceptionDetails']}")
    run = ("axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations.map(v => "
           "({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map(n => n.target.join(' '))}))))")
    r = tab.send("Runtime.evaluate", {"expression": run, "awaitPromise": True, "returnByValue": True})
    if "exceptionDetails" in r:
        raise RuntimeError(f"axe-core failed: {r['exceptionDetails']}")
    return json.loads(r["result"]["value"])
