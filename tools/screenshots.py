"""Regenerate the README's leaderboard screenshots (docs/screenshots/*.png) from the code in this checkout.

Runs a small real suite (the synthetic task at two shift strengths, sgd / sam / r3f / tram-prev, 3 seeds,
150 steps: about two minutes on two cores) into a temporary results directory with ``tram-bench run``,
builds the leaderboard with ``tram-bench leaderboard``, and photographs its index, a task page, a TRAM run's
page and the claims page in headless Chromium at 1400 and 400 CSS pixels wide (the top of each page, at
most ``HEIGHT`` pixels). The PNGs are reduced to a 64-colour palette with Pillow (matplotlib's own
dependency) to keep the repository small.

Usage (Debian's chromium installed)::

    .venv/bin/python tools/screenshots.py [--out docs/screenshots] [--results DIR]

``--results DIR`` reuses (or keeps) the results directory instead of a temporary one.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "report"))  # the DevTools client the browser tests use

from chromium_cdp import Browser, Tab, find_chromium  # noqa: E402
from site_browser import shoot  # noqa: E402

SUITE = """\
suite: screenshots
description: "A small real suite for the README's leaderboard screenshots (tools/screenshots.py)"
seeds: [0, 1, 2]
tasks:
  - id: synthetic
    label: blobs-mild-shift
    params: {shifts: [0.5, 1.0]}
    train: {steps: 150, eval_every: 10}
  - id: synthetic
    label: blobs-strong-shift
    params: {shifts: [1.5, 2.5]}
    train: {steps: 150, eval_every: 10}
methods:
  - id: sgd
  - id: sam
  - id: r3f
  - id: tram-prev
"""
WIDTHS = {"desktop": 1400, "phone": 400}
HEIGHT = {"desktop": 1100, "phone": 1600}
COLOURS = 64


def tram(cmd: list[str]) -> None:
    exe = Path(sys.executable).with_name("tram-bench")
    subprocess.run([str(exe), *cmd], check=True)


def small_png(data: bytes) -> bytes:
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB").quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def pages(site: Path) -> dict[str, Path]:
    task = sorted(site.glob("task-*--blobs-strong-shift-*.html"))[0]
    run = next(p for p in sorted((site / "runs").glob("*.html")) if "<dd>tram-prev</dd>" in p.read_text())
    return {"index": site / "index.html", "task": task, "run": run, "claims": site / "claims.html"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    ap.add_argument("--results", type=Path, default=None)
    args = ap.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print("screenshots: chromium not found (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        results = args.results or tmp_path / "results"
        suite = tmp_path / "screenshots.yaml"
        suite.write_text(SUITE)
        tram(["run", str(suite), "--results", str(results), "--workers", "2", "--quiet"])
        site = tmp_path / "site"
        tram(["leaderboard", "--results", str(results), "--out", str(site)])
        args.out.mkdir(parents=True, exist_ok=True)
        browser = Browser(chromium, tmp_path / "profile")
        try:
            tab = Tab(browser)
            for kind, page in pages(site).items():
                for device, width in WIDTHS.items():
                    shot = shoot(tab, page.as_uri(), width, max_height=HEIGHT[device])
                    target = args.out / f"{kind}-{device}.png"
                    target.write_bytes(small_png(shot.png))
                    print(f"{target.relative_to(REPO) if target.is_relative_to(REPO) else target}: "
                          f"{width}x{shot.height}, {target.stat().st_size // 1024} KiB")
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
