"""``tram-bench report`` in an 80-column terminal: the compact default view, and --domains / --wide."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from report_fixtures import Metric, SGD, new_store
from tram_bench.report import terminal_report

DOMAINS = ["clean"] + [f"corruption-{i:02d}" for i in range(15)]
METHODS = {"sgd": SGD, "sam": {**SGD, "rho": 0.05}, "tram-prev": {**SGD, "eta": 0.0}, "fisher_sam": {**SGD, "rho": 0.1}}


def wide_store():
    """One task with 1 in-domain and 15 OOD domains, four methods, three seeds, a declared baseline."""
    b = new_store()
    for k, (method, hp) in enumerate(METHODS.items()):
        for seed in range(3):
            ms = [Metric(d, 0.9 - 0.02 * i - 0.001 * k + 0.003 * seed, in_domain=(i == 0))
                  for i, d in enumerate(DOMAINS)]
            b.add_run("vision", "digits-uci-to-mnist-with-a-long-label", method, seed, ms, hparams=hp)
    b.declare("vision", "digits-uci-to-mnist-with-a-long-label", "sgd", SGD)
    return b


def render(con, view: str | None, width: int = 80) -> str:
    buf = io.StringIO()
    kw = {} if view is None else {"view": view}
    terminal_report(con, Console(file=buf, width=width, color_system=None), **kw)
    return buf.getvalue()


def test_default_view_fits_80_columns_with_15_domains():
    b = wide_store()
    out = render(b.con, None)
    too_long = [line for line in out.splitlines() if len(line) > 80]
    assert too_long == []
    # The compact columns, and every method on its own row with its worst domain named.
    assert "OOD avg ↑" in out and "worst OOD" in out and "verdict" in out
    for method in ("sgd", "sam", "tram-prev", "fisher_sam"):
        assert any(line.lstrip().startswith(method) for line in out.splitlines()), method
    # The worst domain (lowest accuracy) of every method, with its mean below it.
    assert out.count("corruption-14") == 4 and "0.6030" in out
    assert "baseline" in out and "equivalent" in out
    # Every number of the compact table stays on one line (no "±" cut from its value).
    assert "0.9030 ± 0.0030" in out and "★0.7430 ± 0.0030" in out
    # No per-domain column in the default view.
    assert "corruption-03" not in out


def test_domains_and_wide_views_show_the_full_table():
    b = wide_store()
    domains = render(b.con, "domains", width=400)
    assert all(d in domains for d in DOMAINS)
    assert "verdicts against the baseline" not in domains
    wide = render(b.con, "wide", width=400)
    assert all(d in wide for d in DOMAINS) and "verdicts against the baseline sgd" in wide
    assert "shift severity" in wide


def test_unknown_view_is_refused():
    with pytest.raises(ValueError, match="view 'tall'"):
        render(new_store().con, "tall")


def test_cli_default_is_compact_and_flags_select_the_view(tmp_path, capsys, monkeypatch):
    from tram_bench.cli import main

    wide_store_db = tmp_path / "tram-bench.duckdb"
    b = wide_store()
    b.con.execute(f"ATTACH '{wide_store_db}' AS f")
    b.con.execute("COPY FROM DATABASE memory TO f")
    b.con.execute("DETACH f")
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["report", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "worst OOD" in out and "corruption-03" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert main(["report", "--results", str(tmp_path), "--domains"]) == 0
    out = capsys.readouterr().out
    # The per-domain table keeps its natural width (read with less -S) instead of one character a cell.
    assert "corruption-03 ↑" in out and "0.8430 ± 0.0030 n=3" in out
    assert main(["report", "--results", str(tmp_path), "--wide"]) == 0
    assert "verdicts against the baseline sgd" in capsys.readouterr().out
