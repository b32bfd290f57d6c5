"""The terminal report: rich tables with mean ± std, n, direction arrows and the partial-grid warning."""

from __future__ import annotations

import io

import duckdb
from rich.console import Console

from report_fixtures import Metric, build_demo, new_store
from tram_bench.report import terminal_report


def render(con, width: int = 220, **kw) -> str:
    buf = io.StringIO()
    terminal_report(con, Console(file=buf, width=width, color_system=None), **kw)
    return buf.getvalue()


def test_report_shows_tables_arrows_and_partial_warning():
    b = build_demo(new_store())
    out = render(b.con, view="wide")
    assert "PARTIAL grid: 27 of 29 cells ok (1 failed, 0 diverged, 1 missing or pending)" in out  # suite
    assert "PARTIAL grid: 19 of 21 cells ok" in out  # task digits
    assert "complete: 8/8 runs ok" in out  # task letters
    assert "accuracy ↑ (higher is better), selected checkpoint" in out
    assert "src (ID) ↑" in out and "OOD avg ↑" in out
    # tram-x row: 4 of its 6 cells ok, flagged partial; sgd's src cell: mean ± std over 5 seeds.
    tram_line = next(line for line in out.splitlines() if line.startswith("│ tram-x") and "n=4" in line)
    assert "4/6 PARTIAL" in tram_line and "★ 0.9300 ± 0.0082 n=4" in tram_line
    sgd_line = next(line for line in out.splitlines() if line.startswith("│ sgd") and "n=5" in line)
    assert "0.9040 ± 0.0114 n=5" in sgd_line
    # Verdicts against the declared baseline: 5 seeds and 3 comparisons cannot reach alpha = 0.05.
    assert "verdicts against the baseline sgd" in out
    assert "smallest attainable adjusted p 0.0938: cannot reach alpha" in out
    line = next(line for line in out.splitlines() if line.startswith("│ sam[rho=0.05]") and "underpowered" in line)
    assert "underpowered (smallest adjusted p 0.1875)" in line
    assert "rank intervals across tasks" in out and "IQM of the paired differences" in out
    assert "shift severity (relative drop from in-domain, baseline sgd)" in out
    assert "significant difference" not in out.lower()


def test_task_filter_and_lower_is_better_arrow():
    b = new_store()
    for seed in (0, 1):
        b.add_run("lm", "m2d2", "adam", seed, [Metric("soc", 20.0 + seed, True, "perplexity"),
                                               Metric("math", 30.0 + seed, False, "perplexity")],
                  hparams={"base": "adam"})
    b.add_run("other", "digits", "sgd", 0, [Metric("a", 0.9, True)], hparams={"base": "sgd"})
    out = render(b.con, task="m2d2", view="domains")
    assert "perplexity ↓ (lower is better)" in out and "math ↓" in out
    assert "digits" not in out
    assert "20.50 ± 0.71 n=2" in out
    assert "no results for task 'nope'" in render(b.con, task="nope")


def test_markup_in_names_is_printed_literally():
    b = new_store()
    b.add_run("[bold]s[/bold]", "t", "sgd", 0, [Metric("[red]x[/red]", 0.5, True)], hparams={"base": "sgd"})
    out = render(b.con, view="domains")
    assert "suite [bold]s[/bold]" in out and "[red]x[/red] (ID)" in out


def test_report_on_a_read_only_store(tmp_path):
    db = tmp_path / "s.duckdb"
    build_demo(new_store(db)).con.close()
    con = duckdb.connect(str(db), read_only=True)
    assert "PARTIAL grid" in render(con)


def test_a_task_without_successful_runs():
    b = new_store()
    b.add_run("s", "t", "sgd", 0, [], hparams={"base": "sgd"}, status="diverged")
    out = render(b.con)
    assert "PARTIAL grid: 0 of 1 cells ok (0 failed, 1 diverged, 0 missing or pending)" in out
    assert "no successful runs with test metrics yet" in out
