"""The small frontier store behind the committed fixture ``tests/fixtures/frontier/``.

Built with the report tests' store helpers (:mod:`report_fixtures`) and exported with
``tram_bench.store.export`` exactly as ``tram-bench export --format csv --suite frontier`` writes a real
one; ``python tests/report/frontier_fixture.py`` rewrites the export, the step-cost file and the README
(whose frontier charts are written next to the export by ``tram-bench readme-tables``).

- suite ``frontier``, task ``digits`` (accuracy): in-domain ``clean``, OOD ``mnist`` and ``rot``;
  sgd (the baseline, margin ±1 point), sam, tram-prev, looksam (close to sam), msam (3 points below);
  6 seeds. Passes per step are report_fixtures' (sam 2+2, tram-prev 3+2, others 1+1).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "frontier"
EXPORT = FIXTURE / "export"
BENCH = FIXTURE / "step_cost.json"
README = FIXTURE / "README.md"
SUITE = "frontier"

# method -> OOD accuracy (fraction, as tasks record it) and its per-seed spread.
OOD = {"sgd": (0.600, 0.004), "sam": (0.620, 0.003), "tram-prev": (0.625, 0.005), "looksam": (0.619, 0.003),
       "msam": (0.590, 0.003)}
JITTER = (0.1, -0.2, 0.3, -0.1, 0.0, -0.1)
# step_cost.py --json rows: measured step time / sgd's on the cnn workload (looksam's at its defaults).
RATIOS = {"sgd": 1.0, "sam": 2.1, "tram-prev": 2.5, "looksam": 1.25, "msam": 1.02}


def build_store(results: Path) -> None:
    """Write ``results/tram-bench.duckdb`` with the frontier suite's runs and design."""
    from report_fixtures import Metric, new_store

    results.mkdir(parents=True, exist_ok=True)
    b = new_store(results / "tram-bench.duckdb")
    try:
        for method, (level, spread) in OOD.items():
            for seed, j in enumerate(JITTER):
                ood = level + spread * j * 10
                metrics = [Metric("clean", 0.95 + j / 100, True), Metric("mnist", ood, False),
                           Metric("rot", ood - 0.01, False)]
                b.add_run(SUITE, "digits", method, seed, metrics)
        b.declare(SUITE, "digits", "sgd", delta=1.0)
    finally:
        b.con.close()


def bench_json() -> str:
    """The fixture's step_cost.py --json file."""
    rows = [{"workload": "cnn", "device": "cpu", "method": m, "ratio_to_base": r} for m, r in RATIOS.items()]
    return json.dumps({"rows": rows}, indent=2) + "\n"


def readme_template() -> str:
    """The fixture README before generation: both kinds of markers, text around them to keep."""
    return ("# Fixture README\n\n"
            "<!-- tram-bench:results frontier begin -->\n<!-- tram-bench:results frontier end -->\n\n## Frontier\n\n"
            "<!-- tram-bench:frontier frontier begin -->\n<!-- tram-bench:frontier frontier end -->\n\n"
            "Text after the block is kept.\n")


def write_export(out: Path, scratch: Path) -> list[Path]:
    """Build the store under ``scratch`` and export the suite as CSV into ``out``."""
    from tram_bench.store.export import export

    build_store(scratch)
    return export(scratch, out, "csv", suite=SUITE)


if __name__ == "__main__":  # regenerate the committed fixture (run from the repository root)
    import tempfile

    from tram_bench.report.frontier import FrontierOptions
    from tram_bench.report.readme_tables import regenerate

    with tempfile.TemporaryDirectory() as tmp:
        for p in write_export(EXPORT, Path(tmp)):
            print(p)
    BENCH.write_text(bench_json(), encoding="utf-8")
    README.write_text(readme_template(), encoding="utf-8")
    print(regenerate(README, [EXPORT], frontier=FrontierOptions(bench=BENCH)))
    sys.exit(0)
