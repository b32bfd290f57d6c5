"""``tram-bench readme-tables``: the README's results regenerate from committed exports (round trip on a
fixture export), numbers checked by hand against the CSV, and every bad input is one line, exit 2."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest

from readme_fixture import EXPORT, FIXTURE, write_export
from tram_bench.cli import main
from tram_bench.report.readme_tables import BEGIN, END, ExportError, export_blocks, regenerate

README = FIXTURE / "README.md"


def test_the_fixture_export_is_what_export_writes_today(tmp_path):
    """The committed export is rebuilt byte for byte by tram-bench's own export (suite_design included)."""
    out = tmp_path / "export"
    written = write_export(out, tmp_path / "results")
    assert sorted(p.name for p in written) == ["metrics.csv", "runs.csv", "suite_cells.csv", "suite_design.csv"]
    for p in written:
        assert p.read_bytes() == (EXPORT / p.name).read_bytes(), p.name


def test_fixture_readme_holds_what_the_generator_writes(tmp_path):
    copy = tmp_path / "README.md"
    shutil.copy(README, copy)
    assert regenerate(copy, [EXPORT], check=True) == []
    assert main(["readme-tables", str(EXPORT), "--readme", str(copy), "--check"]) == 0
    assert copy.read_bytes() == README.read_bytes()


def _ood_mean_std(method: str, task: str = "cnn") -> tuple[float, float]:
    runs = {r["run_id"]: r for r in csv.DictReader(open(EXPORT / "runs.csv", encoding="utf-8"))}
    per_run: dict[str, list[float]] = {}
    for m in csv.DictReader(open(EXPORT / "metrics.csv", encoding="utf-8")):
        r = runs[m["run_id"]]
        if r["task_label"] == task and r["method"] == method and m["in_domain"] == "false" and m["metric"] == "accuracy":
            per_run.setdefault(m["run_id"], []).append(100 * float(m["value"]))
    avgs = [sum(v) / len(v) for v in per_run.values()]
    mean = sum(avgs) / len(avgs)
    return mean, math.sqrt(sum((a - mean) ** 2 for a in avgs) / (len(avgs) - 1))


def test_numbers_in_the_block_are_the_exports_by_hand():
    (block,) = export_blocks(EXPORT)
    mean, std = _ood_mean_std("tram-prev")
    row = next(line for line in block.markdown.splitlines() if line.startswith("| tram-prev[base=sgd] |"))
    assert f"{mean:.2f} ± {std:.2f}" in row and "| 10 |" in row and "better (Holm p" in row
    # Baseline first, then by name: no ranking implied by the order.
    cnn = block.markdown.split("**cnn**")[1]
    assert cnn.index("| sgd |") < cnn.index("| asam |") < cnn.index("| tram-x |")
    for verdict in ("| reproduced |", "| contradicted |", "| inconclusive |", "| not testable here |"):
        assert verdict in block.markdown


def test_a_stale_block_is_rewritten_and_check_reports_it(tmp_path, capsys):
    copy = tmp_path / "README.md"
    text = README.read_text(encoding="utf-8")
    stale = text.replace("| tram-x |", "| tram-x (edited by hand) |")
    assert stale != text
    copy.write_text(stale, encoding="utf-8")
    assert main(["readme-tables", str(EXPORT), "--readme", str(copy), "--check"]) == 1
    assert "demo" in capsys.readouterr().err and copy.read_text(encoding="utf-8") == stale
    assert main(["readme-tables", str(EXPORT), "--readme", str(copy)]) == 0
    assert copy.read_text(encoding="utf-8") == text
    assert "Text after the block is kept." in text


@pytest.mark.parametrize("readme_text", [
    "no markers at all\n",
    f"{END.format(suite='demo')}\n{BEGIN.format(suite='demo')}\n",
    f"{BEGIN.format(suite='demo')}\n{BEGIN.format(suite='demo')}\n{END.format(suite='demo')}\n",
])
def test_bad_markers_are_one_line_exit_2_and_nothing_written(tmp_path, capsys, readme_text):
    copy = tmp_path / "README.md"
    copy.write_text(readme_text, encoding="utf-8")
    assert main(["readme-tables", str(EXPORT), "--readme", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(copy) in err and "tram-bench:results demo begin" in err
    assert copy.read_text(encoding="utf-8") == readme_text


def test_a_missing_table_or_directory_is_one_line_exit_2(tmp_path, capsys):
    partial = tmp_path / "partial"
    shutil.copytree(EXPORT, partial)
    (partial / "runs.csv").unlink()
    copy = tmp_path / "README.md"
    shutil.copy(README, copy)
    for target, needle in ((partial, "no runs.csv or runs.parquet"), (tmp_path / "none", "no such export directory")):
        assert main(["readme-tables", str(target), "--readme", str(copy)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and needle in err and str(target) in err
    assert copy.read_bytes() == README.read_bytes()


def test_a_file_that_is_not_the_table_is_refused(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(EXPORT, broken)
    (broken / "metrics.csv").write_text("run_id,value\nx,not-a-number\n", encoding="utf-8")
    with pytest.raises(ExportError, match="metrics.csv: not a metrics export"):
        export_blocks(broken)


def test_an_export_without_suite_design_still_regenerates(tmp_path):
    """An export of a store collected before designs existed: no baseline, said in the block."""
    old = tmp_path / "old"
    shutil.copytree(EXPORT, old)
    (old / "suite_design.csv").unlink()
    rows = list(csv.reader(open(EXPORT / "suite_cells.csv", encoding="utf-8")))
    assert rows[0][-1] == "baseline"
    with open(old / "suite_cells.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(r[:-1] for r in rows)
    (block,) = export_blocks(old)
    assert "no declared baseline" in block.markdown


def test_export_of_one_suite_holds_only_its_rows(tmp_path, capsys):
    """The fixture store plus a second suite: --suite demo exports exactly the fixture export; an unknown
    suite is one line, exit 2, and nothing is written."""
    import duckdb

    from readme_fixture import build_store

    results = tmp_path / "results"
    build_store(results)
    con = duckdb.connect(str(results / "tram-bench.duckdb"))
    con.execute("INSERT INTO runs SELECT * REPLACE ('other-' || run_id AS run_id, 'other' AS suite) FROM runs")
    con.execute("INSERT INTO metrics SELECT * REPLACE ('other-' || run_id AS run_id) FROM metrics")
    con.execute("INSERT INTO suite_cells SELECT * REPLACE ('other' AS suite, 'other-' || run_id AS run_id) "
                "FROM suite_cells")
    con.execute("INSERT INTO suite_design SELECT * REPLACE ('other' AS suite) FROM suite_design")
    con.close()
    out = tmp_path / "demo"
    assert main(["export", "--results", str(results), "--format", "csv", "--suite", "demo", "--out", str(out)]) == 0
    for name in ("runs.csv", "metrics.csv", "suite_cells.csv", "suite_design.csv"):
        assert (out / name).read_bytes() == (EXPORT / name).read_bytes(), name
    capsys.readouterr()
    assert main(["export", "--results", str(results), "--format", "csv", "--suite", "nope",
                 "--out", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'nope'" in err and "demo, other" in err
    assert not (tmp_path / "nope").exists()


def test_the_readme_results_are_what_the_committed_exports_generate(monkeypatch):
    """The README's result tables, verdicts, claims and frontier blocks equal the generator's output from
    the exports committed under docs/results/ (and the frontier charts beside them, byte for byte);
    ``check=True`` compares and writes nothing. The README itself is checked (not a copy): the chart
    links are relative to its location."""
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)
    readme = repo / "README.md"
    before = readme.read_bytes()
    exports = [repo / "docs" / "results" / name for name in ("vision", "frontier", "lm", "xling")]
    assert regenerate(readme, exports, check=True) == []
    assert readme.read_bytes() == before
