"""The frontier from a committed export: ``tram-bench frontier --export`` prints what ``--results`` prints,
and ``readme-tables`` regenerates a README's frontier block and its SVG charts from the fixture export
``tests/fixtures/frontier/`` (round trip, ``--check`` byte for byte, bad input one line exit 2)."""

from __future__ import annotations

import shutil

import pytest
from frontier_fixture import BENCH, EXPORT, FIXTURE, README, SUITE, bench_json, write_export

from tram_bench.cli import main
from tram_bench.report.readme_tables import FRONTIER_BEGIN, FRONTIER_END

CHARTS = ("frontier-digits-passes.svg", "frontier-digits-step-time.svg")


def _copy(tmp_path):
    """The fixture directory (README, export with its charts, step-cost file) under tmp_path."""
    root = tmp_path / "fixture"
    shutil.copytree(FIXTURE, root)
    return root, ["readme-tables", str(root / "export"), "--readme", str(root / "README.md"),
                  "--bench", str(root / "step_cost.json")]


def test_the_fixture_is_what_export_and_the_generator_write_today(tmp_path):
    out = tmp_path / "export"
    for p in write_export(out, tmp_path / "results"):
        assert p.read_bytes() == (EXPORT / p.name).read_bytes(), p.name
    assert BENCH.read_text(encoding="utf-8") == bench_json()
    assert sorted(p.name for p in EXPORT.glob("*.svg")) == sorted(CHARTS)


def test_round_trip_generates_then_check_passes(tmp_path, capsys):
    root, argv = _copy(tmp_path)
    readme = root / "README.md"
    begin, end = FRONTIER_BEGIN.format(suite=SUITE), FRONTIER_END.format(suite=SUITE)
    text = readme.read_text(encoding="utf-8")
    emptied = text[:text.index(begin) + len(begin)] + "\n" + text[text.index(end):]
    readme.write_text(emptied, encoding="utf-8")
    for name in CHARTS:
        (root / "export" / name).unlink()
    assert main(argv + ["--check"]) == 1
    assert "frontier frontier" in capsys.readouterr().err
    assert main(argv) == 0
    assert readme.read_bytes() == README.read_bytes()
    for name in CHARTS:
        assert (root / "export" / name).read_bytes() == (EXPORT / name).read_bytes()
    assert main(argv + ["--check"]) == 0
    block = text[text.index(begin):text.index(end)]
    # Relative to the README, as GitHub resolves them; the verdict with its margin, Holm p and seeds.
    assert "![digits: OOD score against passes per step](export/frontier-digits-passes.svg)" in block
    assert "Equivalence (TOST, margin ±1, Holm over 4 pairs)" in block
    assert "| looksam | sam | 6 | -0.10 |" in block and "| msam | sam | 6 | -3.00 | 1 | 1 | equivalence not shown |" in block
    assert "| looksam | 2.00 ★ | 1.25 ★ | 61.40 | 6 |" in block


@pytest.mark.parametrize("edit", ["number", "chart"])
def test_a_changed_number_or_chart_fails_check_and_is_regenerated(tmp_path, capsys, edit):
    root, argv = _copy(tmp_path)
    readme, chart = root / "README.md", root / "export" / CHARTS[1]
    if edit == "number":
        readme.write_text(readme.read_text(encoding="utf-8").replace("| 61.40 |", "| 61.50 |"), encoding="utf-8")
    else:
        chart.write_bytes(chart.read_bytes().replace(b"looksam", b"lookSAM"))
    stale = (readme.read_bytes(), chart.read_bytes())
    assert stale != (README.read_bytes(), (EXPORT / CHARTS[1]).read_bytes())
    assert main(argv + ["--check"]) == 1
    assert "frontier frontier" in capsys.readouterr().err
    assert (readme.read_bytes(), chart.read_bytes()) == stale  # --check writes nothing
    assert main(argv) == 0
    assert (readme.read_bytes(), chart.read_bytes()) == (README.read_bytes(), (EXPORT / CHARTS[1]).read_bytes())


def test_the_export_path_prints_and_draws_what_the_store_path_does(tmp_path, capsys):
    from frontier_fixture import build_store

    results = tmp_path / "results"
    build_store(results)
    common = ["frontier", SUITE, "--bench", str(BENCH)]
    assert main(common + ["--results", str(results), "--out", str(tmp_path / "store")]) == 0
    from_store = capsys.readouterr().out
    assert main(common + ["--export", str(EXPORT), "--out", str(tmp_path / "export")]) == 0
    assert capsys.readouterr().out == from_store and "| msam | sam | 6 | -3.00 |" in from_store
    names = sorted(p.name for p in (tmp_path / "store").iterdir())
    assert names == ["digits-passes.svg", "digits-step-time.svg"]
    for name in names:
        assert (tmp_path / "store" / name).read_bytes() == (tmp_path / "export" / name).read_bytes()
        # the README's charts are the same drawings
        assert (tmp_path / "store" / name).read_bytes() == (EXPORT / f"frontier-{name}").read_bytes()


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err
    return err


def test_bad_input_to_frontier_is_one_line_exit_2(tmp_path, capsys):
    base = ["frontier", SUITE, "--bench", str(BENCH)]
    assert main(base + ["--export", str(tmp_path / "none")]) == 2
    assert "no such export directory" in _one_line(capsys)
    assert main(base + ["--export", str(EXPORT), "--results", str(tmp_path)]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["frontier", "other", "--bench", str(BENCH), "--export", str(EXPORT)]) == 2
    assert "suite 'other': no configuration with an OOD score" in _one_line(capsys)


@pytest.mark.parametrize("case", ["bench", "markers"])
def test_bad_input_to_readme_tables_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, case):
    root, argv = _copy(tmp_path)
    readme, chart = root / "README.md", root / "export" / CHARTS[0]
    chart.write_bytes(b"stale")
    if case == "bench":
        (root / "step_cost.json").write_text("{}", encoding="utf-8")
        needle = "not a step_cost.py --json file"
    else:
        readme.write_text(readme.read_text(encoding="utf-8").replace(FRONTIER_END.format(suite=SUITE), ""),
                          encoding="utf-8")
        needle = "tram-bench:frontier frontier end"
    before = readme.read_bytes()
    assert main(argv) == 2
    assert needle in _one_line(capsys)
    assert readme.read_bytes() == before and chart.read_bytes() == b"stale"


def test_a_readme_without_frontier_markers_needs_no_step_cost_file(tmp_path):
    root, argv = _copy(tmp_path)
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    begin, end = FRONTIER_BEGIN.format(suite=SUITE), FRONTIER_END.format(suite=SUITE)
    readme.write_text(text[:text.index(begin)] + text[text.index(end) + len(end):], encoding="utf-8")
    (root / "step_cost.json").unlink()
    assert main(argv + ["--check"]) == 0
