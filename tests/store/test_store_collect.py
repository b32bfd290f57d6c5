"""The collector: run directories and plan files into DuckDB, idempotently and robustly."""

from __future__ import annotations

import datetime as dt
import json
import math
import os

import pytest

from tests.store.conftest import make_record, make_spec, metric, write_run
from tram_bench.store.collector import CollectorError, collect
from tram_bench.store.query import open_db
from tram_bench.suite.plan import write_plan_file
from tram_bench.train import rundir


def _rows(results, table: str, order: str = "ALL"):
    con = open_db(results)
    try:
        return con.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    finally:
        con.close()


def _counts(results):
    return {t: len(_rows(results, t)) for t in ("runs", "metrics", "suite_cells")}


def test_ok_run_values_land_in_runs_and_metrics(results):
    spec = make_spec(seed=3)
    write_run(results, spec, metrics=[metric("mnist", 0.9), metric("svhn", 0.25, checkpoint="final")])
    stats = collect(results)
    assert (stats.ingested, stats.updated, stats.skipped, stats.failed_dirs) == (1, 0, 0, [])
    con = open_db(results)
    row = con.execute("""SELECT run_id, suite, task, task_label, method, seed, status, started_at, wall_time_s,
                                steps, forward, peak_memory_mb, tokens_per_s, torch_version, cuda_version,
                                world_size, error, CAST(hparams AS VARCHAR), CAST(train AS VARCHAR)
                         FROM runs""").fetchall()
    metrics = con.execute("SELECT * FROM metrics ORDER BY domain").fetchall()
    con.close()
    (r,) = row
    assert r[:7] == (spec.run_id, "s", "synthetic", "synth", "sam", 3, "ok")
    assert r[7] == dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.timezone.utc)
    assert r[8:17] == (2.5, 5, 10, 120.5, None, "2.4.0", None, 1, None)
    assert json.loads(r[17]) == {"rho": 0.05, "betas": [0.9, 0.99]}
    assert json.loads(r[18]) == spec.train
    assert metrics == [(spec.run_id, "selected", "mnist", "test", "accuracy", 0.9, False, True),
                       (spec.run_id, "final", "svhn", "test", "accuracy", 0.25, False, True)]


def test_collecting_twice_changes_nothing(results):
    for seed in range(3):
        write_run(results, make_spec(seed=seed), metrics=[metric("a", 0.1 * seed), metric("b", None)])
    first = collect(results)
    snapshot = {t: _rows(results, t) for t in ("runs", "metrics", "suite_cells", "_ingest")}
    second = collect(results)
    assert (first.ingested, first.skipped) == (3, 0)
    assert (second.ingested, second.updated, second.skipped, second.failed_dirs) == (0, 0, 3, [])
    assert {t: _rows(results, t) for t in snapshot} == snapshot


def test_failed_and_diverged_runs_are_stored_with_their_error(results):
    failed = make_spec(seed=0)
    diverged = make_spec(seed=1)
    write_run(results, failed, status="failed", error="RuntimeError: boom")
    write_run(results, diverged, status="diverged", error="non-finite loss=nan at step 3")
    collect(results)
    rows = dict((r[0], r[1:]) for r in _rows(results, "runs"))
    assert rows[failed.run_id][10:11] == ("failed",)
    assert rows[failed.run_id][-4:-2] == ("RuntimeError: boom", None)  # error, analysis_error
    assert rows[diverged.run_id][10] == "diverged"
    assert _rows(results, "metrics") == []


def test_pending_dirs_are_ignored(results):
    spec = make_spec()
    rundir.start(rundir.run_path(results, spec.run_id), spec.to_json())  # started, never finished
    stats = collect(results)
    assert (stats.pending, stats.ingested, stats.failed_dirs) == (1, 0, [])
    assert _counts(results)["runs"] == 0


def test_corrupt_records_are_reported_and_the_rest_ingested(results):
    good = make_spec(seed=0)
    write_run(results, good, metrics=[metric("a", 0.5)])
    cases = {}

    def corrupt(seed, mutate):
        spec = make_spec(seed=seed)
        run_dir = write_run(results, spec)
        mutate(run_dir, spec)
        cases[str(run_dir)] = spec

    corrupt(1, lambda d, s: (d / "record.json").write_text('{"run_id": "'))
    corrupt(2, lambda d, s: (d / "record.json").write_text(json.dumps({**make_record(s), "run_id": "other"})))
    corrupt(3, lambda d, s: (d / "done").write_text("failed\n"))
    corrupt(4, lambda d, s: (d / "record.json").write_text(
        json.dumps(make_record(s, metrics=[metric("a", "high")]))))
    corrupt(5, lambda d, s: (d / "record.json").unlink())
    corrupt(6, lambda d, s: (d / "record.json").write_text(json.dumps({**make_record(s), "status": "running"})))
    stats = collect(results)
    reasons = {path: reason for path, reason in stats.failed_dirs}
    assert set(reasons) == set(cases)
    expected = {1: "not valid JSON", 2: "does not match the directory name", 3: "done marker says 'failed'",
                4: "metrics[0].value must be a number, got str 'high'", 5: "record.json is missing", 6: "status 'running'"}
    for path, spec in cases.items():
        assert expected[spec.seed] in reasons[path], reasons[path]
    assert [r[0] for r in _rows(results, "runs")] == [good.run_id]
    # A corrupt record is retried (and reported) on every collection until it is fixed.
    assert len(collect(results).failed_dirs) == len(cases)


def test_a_rerun_replaces_the_runs_rows(results):
    spec = make_spec()
    write_run(results, spec, status="failed", error="RuntimeError: boom")
    collect(results)
    write_run(results, spec, metrics=[metric("a", 0.75), metric("b", 0.5)])  # retried: start() + finish()
    stats = collect(results)
    assert (stats.ingested, stats.updated, stats.skipped) == (0, 1, 0)
    (row,) = _rows(results, "runs")
    assert row[11] == "ok" and row[-4:-2] == (None, None)  # error, analysis_error
    assert [(m[2], m[5]) for m in _rows(results, "metrics", "domain")] == [("a", 0.75), ("b", 0.5)]
    # Re-running a finished run with fewer metrics leaves none of the old ones behind.
    write_run(results, spec, metrics=[metric("c", 0.125)])
    collect(results)
    assert [(m[2], m[5]) for m in _rows(results, "metrics")] == [("c", 0.125)]


def test_rows_of_a_deleted_run_dir_are_removed(results):
    keep, drop = make_spec(seed=0), make_spec(seed=1)
    write_run(results, keep, metrics=[metric("a", 0.5)])
    drop_dir = write_run(results, drop, metrics=[metric("a", 0.6)])
    collect(results)
    for f in drop_dir.iterdir():
        f.unlink()
    drop_dir.rmdir()
    stats = collect(results)
    assert stats.removed == 1
    assert [r[0] for r in _rows(results, "runs")] == [keep.run_id]
    assert [m[0] for m in _rows(results, "metrics")] == [keep.run_id]


def test_non_finite_metric_values_survive(results):
    spec = make_spec()
    write_run(results, spec, metrics=[metric("a", float("nan"), metric_name="loss")])
    collect(results)
    (m,) = _rows(results, "metrics")
    assert math.isnan(m[5])


def test_plan_files_fill_suite_cells_and_are_replaced(results):
    specs = [make_spec(seed=s, rho=r, suite="grid") for r in (0.1, 0.2) for s in (0, 1)]
    write_plan_file(results, "grid", "suites/grid.yaml", specs)
    stats = collect(results)
    assert stats.suites == 1
    cells = _rows(results, "suite_cells", "run_id")
    assert sorted(c[1] for c in cells) == sorted(s.run_id for s in specs)
    by_id = {s.run_id: s for s in specs}
    for suite, run_id, task, label, method, hparams, seed, baseline in cells:
        s = by_id[run_id]
        assert (suite, task, label, method, json.loads(hparams), seed, baseline) == (
            "grid", "synthetic", "synth", "sam", s.hparams, s.seed, None)  # no plain method: no baseline
    write_plan_file(results, "grid", "suites/grid.yaml", specs[:1])
    collect(results)
    assert [c[1] for c in _rows(results, "suite_cells")] == [specs[0].run_id]
    (results / "suites" / "grid.json").unlink()
    collect(results)
    assert _rows(results, "suite_cells") == []


def test_bad_plan_files_are_reported(results):
    (results / "suites").mkdir()
    (results / "suites" / "a.json").write_text('{"suite": "b", "cells": []}')
    (results / "suites" / "c.json").write_text('{"suite": "c", "cells": [{"task": "x"}]}')
    spec_doc = make_spec().to_json()
    (results / "suites" / "d.json").write_text(json.dumps({"suite": "d", "cells": [{**spec_doc, "run_id": "x"}]}))
    stats = collect(results)
    reasons = {os.path.basename(p): r for p, r in stats.failed_dirs}
    assert set(reasons) == {"a.json", "c.json", "d.json"}
    assert "suite 'b' does not match the file name 'a'.json" in reasons["a.json"]
    assert "cells[0] is not a RunSpec" in reasons["c.json"]
    assert "cells[0] run_id 'x' does not match its spec" in reasons["d.json"]


def test_schema_version_change_rebuilds_the_tables(results):
    write_run(results, make_spec(), metrics=[metric("a", 0.5)])
    collect(results)
    con = open_db(results, read_only=False)
    con.execute("UPDATE _meta SET value = '0' WHERE key = 'schema_version'")
    con.close()
    stats = collect(results)
    assert (stats.ingested, stats.skipped) == (1, 0)
    assert _counts(results)["metrics"] == 1


def test_missing_results_dir_is_a_clear_error(tmp_path):
    with pytest.raises(CollectorError, match="does not exist"):
        collect(tmp_path / "nope")


def test_unchanged_signature_skips_even_if_content_differs(results):
    """Skipping compares the record file's (mtime, size) only; a rewrite changes mtime."""
    spec = make_spec()
    run_dir = write_run(results, spec, metrics=[metric("a", 0.5)])
    collect(results)
    rec = run_dir / "record.json"
    st = rec.stat()
    rec.write_text(rec.read_text().replace('"value": 0.5', '"value": 0.7'))
    os.utime(rec, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert collect(results).skipped == 1
    os.utime(rec, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert collect(results).updated == 1
    assert _rows(results, "metrics")[0][5] == 0.7


@pytest.mark.parametrize("mutate, reason", [
    (lambda r: r["spec"].update(seed="0"), "spec.seed must be an integer, got str '0'"),
    (lambda r: r.update(wall_time_s=True), "wall_time_s must be a number, got bool True"),
    (lambda r: r.update(started_at="yesterday"), "started_at is not an ISO-8601 time: 'yesterday'"),
    (lambda r: r.pop("spec"), "spec is missing"),
    (lambda r: r["spec"].pop("hparams"), "spec.hparams is missing"),
    (lambda r: r.update(metrics={"a": 1}), "metrics must be a list"),
    (lambda r: r.update(cost=[1]), "cost must be an object"),
    (lambda r: r["metrics"][0].update(value=False), "metrics[0].value must be a number, got bool False"),
    (lambda r: r["metrics"][1].pop("domain"), "metrics[1].domain is missing"),
    (lambda r: r["metrics"].append(dict(r["metrics"][0])), "metrics[2] repeats selected/a/test/accuracy"),
])
def test_parse_record_names_the_bad_field(mutate, reason):
    from tram_bench.store.records import RecordError, parse_record

    spec = make_spec()
    record = json.loads(json.dumps(make_record(spec, metrics=[metric("a", 0.5), metric("b", 1)])))
    parse_record(spec.run_id, json.loads(json.dumps(record)), "ok\n")  # the unmodified record parses
    mutate(record)
    with pytest.raises(RecordError) as info:
        parse_record(spec.run_id, record, "ok\n")
    assert reason in str(info.value)


def test_parse_record_int_metric_value_and_naive_time_are_accepted():
    from tram_bench.store.records import parse_record

    spec = make_spec()
    record = make_record(spec, metrics=[metric("a", 1)])
    record["started_at"] = "2024-05-01T10:00:00"  # no offset: taken as UTC
    parsed = parse_record(spec.run_id, record, "")
    assert parsed.metrics[0][5] == 1.0 and type(parsed.metrics[0][5]) is float
    assert parsed.row[12] == 1714557600 * 10**6  # 2024-05-01T10:00:00Z in epoch microseconds
