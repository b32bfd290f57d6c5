"""Asset time and analysis errors (store schema 2) are shown where a run is listed: the leaderboard's
"Runs and provenance" table and ``tram-bench report`` (issue 14 items 2 and 3)."""

from __future__ import annotations

import io

from rich.console import Console

from report_fixtures import build_demo, new_store
from test_site import Page, pages
from tram_bench.report import build_site, terminal_report
from tram_bench.report.formatting import fmt
from tram_bench.report.site import task_page_name

CKA_ERROR = "cka: needs at least 2 examples per domain, got 1"


def _store_with_notes():
    b = build_demo(new_store())
    b.con.execute("ALTER TABLE runs ADD COLUMN asset_time_s DOUBLE")
    b.con.execute("ALTER TABLE runs ADD COLUMN analysis_error VARCHAR")
    b.con.execute("UPDATE runs SET asset_time_s = 0.0")
    b.con.execute("UPDATE runs SET asset_time_s = 7.25 WHERE run_id = ?", [b.run_ids[0]])
    b.con.execute("UPDATE runs SET analysis_error = ? WHERE run_id = ?", [CKA_ERROR, b.run_ids[1]])
    return b


def test_report_lists_asset_time_and_analysis_errors_in_every_view():
    b = _store_with_notes()
    for view in ("compact", "domains", "wide"):
        buf = io.StringIO()
        terminal_report(b.con, Console(file=buf, width=400, color_system=None), task="digits", view=view)
        lines = buf.getvalue().splitlines()
        asset = [ln for ln in lines if "building or waiting for shared assets" in ln]
        errors = [ln for ln in lines if "analysis error" in ln]
        assert len(asset) == 1 and asset[0].startswith(f"run {b.run_ids[0]} (") and f"{fmt(7.25)} s building" in asset[0], view
        assert len(errors) == 1 and errors[0].startswith(f"run {b.run_ids[1]} (") and errors[0].endswith(CKA_ERROR)


def test_report_without_notes_or_schema_2_columns_adds_no_lines():
    b = build_demo(new_store())  # a store from before schema 2: no such columns
    buf = io.StringIO()
    terminal_report(b.con, Console(file=buf, width=400, color_system=None), task="digits", view="wide")
    assert "shared assets" not in buf.getvalue() and "analysis error" not in buf.getvalue()


def test_provenance_table_has_asset_time_and_analysis_error_columns(tmp_path):
    b = _store_with_notes()
    index = build_site(b.con, tmp_path / "leaderboard", None, family_of=lambda task: "vision")
    page = Page(pages(index)[task_page_name("demo", "digits")])
    prov = next(t for t in page.tables if [c for c, _ in t["head"][0]][:4] == ["run", "method", "seed", "status"])
    head = [c for c, _ in prov["head"][0]]
    asset, error = head.index("asset time (s)"), head.index("analysis error")
    rows = {r[0][0]: r for r in prov["rows"]}
    assert rows[b.run_ids[0]][asset][0] == fmt(7.25) and rows[b.run_ids[0]][error][0] == "–"
    assert rows[b.run_ids[1]][asset][0] == fmt(0.0) and rows[b.run_ids[1]][error][0] == CKA_ERROR
