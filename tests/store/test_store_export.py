"""Export: Parquet and CSV files that read back to exactly the stored rows."""

from __future__ import annotations

import duckdb
import pytest

from tests.store.conftest import make_spec, metric, write_run
from tram_bench.store.collector import collect
from tram_bench.store.export import export
from tram_bench.store.query import StoreError, open_db
from tram_bench.suite.plan import write_plan_file

ORDER = {"runs": "run_id", "metrics": "run_id, checkpoint, domain, split, metric", "suite_cells": "suite, run_id",
         "suite_design": "suite, task_label"}


@pytest.fixture
def filled(results):
    specs = [make_spec(seed=s) for s in range(2)]
    write_run(results, specs[0], metrics=[metric("a", 0.1 + 0.2), metric("b", None, split="val", in_domain=True)])
    write_run(results, specs[1], status="failed", error='ValueError: bad "quote", comma')
    write_plan_file(results, "s", "suites/s.yaml", specs)
    collect(results)
    return results


def _stored(results):
    con = open_db(results)
    try:
        return {t: (con.execute(f"SELECT * FROM {t} ORDER BY {o}").fetchall(),
                    [(c[0], c[1]) for c in con.execute(f"DESCRIBE {t}").fetchall()]) for t, o in ORDER.items()}
    finally:
        con.close()


def test_parquet_round_trip(filled, tmp_path):
    stored = _stored(filled)
    paths = export(filled, tmp_path / "out", "parquet")
    assert [p.name for p in paths] == ["runs.parquet", "metrics.parquet", "suite_cells.parquet", "suite_design.parquet"]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for path in paths:
        rows, _ = stored[path.stem]
        assert con.execute(f"SELECT * FROM read_parquet('{path}')").fetchall() == rows
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_csv_round_trip(filled, tmp_path):
    stored = _stored(filled)
    paths = export(filled, tmp_path / "out", "csv")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for path in paths:
        rows, schema = stored[path.stem]
        types = ", ".join(f"'{name}': '{'VARCHAR' if t == 'JSON' else t}'" for name, t in schema)
        back = con.execute(f"SELECT * FROM read_csv('{path}', header = true, columns = {{{types}}})").fetchall()
        assert back == rows  # 0.1 + 0.2 = 0.30000000000000004 survives the text form exactly
    assert '"ValueError: bad ""quote"", comma"' in (tmp_path / "out" / "runs.csv").read_text()


def test_the_design_table_is_exported(filled, tmp_path):
    export(filled, tmp_path / "out", "csv")
    text = (tmp_path / "out" / "suite_design.csv").read_text().splitlines()
    assert text[0].startswith("suite,task_label,task,family,baseline_method,") and len(text) == 2


def test_a_database_from_before_the_design_table_exports_what_it_has(filled, tmp_path):
    con = duckdb.connect(str(filled / "tram-bench.duckdb"))
    con.execute("DROP TABLE suite_design")
    con.close()
    paths = export(filled, tmp_path / "out", "csv")
    assert [p.name for p in paths] == ["runs.csv", "metrics.csv", "suite_cells.csv"]


def test_unknown_format_and_missing_database(filled, tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'xlsx'"):
        export(filled, tmp_path / "out", "xlsx")
    with pytest.raises(StoreError, match="no results database"):
        export(tmp_path / "empty", tmp_path / "out", "csv")
