"""What earlier runs of a suite measured, for planning the next one (``tram-bench plan``).

Apart from :mod:`tram_bench.report.power` (pure arithmetic on a design) because it reads the store
through the report's views, which themselves use the power computations: kept here, the imports run
one way (earlier_runs -> views -> significance -> power).
"""

from __future__ import annotations

from pathlib import Path


def earlier_sds(results_dir: str | Path, suite: str) -> dict[str, float]:
    """Task label -> SD of the paired primary differences measured on the runs of ``suite`` that the
    results directory's database already holds (the report's ``task_tests.sd_pooled``); empty without
    a database or without runs. Opens the database read-only and writes nothing."""
    from tram_bench.report.views import create_views
    from tram_bench.store.collector import db_path
    from tram_bench.store.query import open_db

    if not db_path(results_dir).exists():
        return {}
    con = open_db(results_dir, read_only=True)
    try:
        create_views(con)
        rows = con.execute("SELECT task_label, sd_pooled FROM task_tests WHERE suite = ? AND sd_pooled IS NOT NULL",
                           [suite]).fetchall()
    finally:
        con.close()
    return {label: float(sd) for label, sd in rows}


__all__ = ["earlier_sds"]
