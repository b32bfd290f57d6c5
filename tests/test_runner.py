"""The grid runner end to end on the generated task: records, resume, failures, determinism."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tram_bench.cli import main
from tram_bench.train import rundir

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "tests/fixtures/suites/synthetic.yaml"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _records(results: Path) -> dict[str, dict]:
    out = {}
    for d in sorted((results / "runs").iterdir()):
        if (d / "done").exists():
            out[d.name] = json.loads((d / "record.json").read_text())
    return out


def _metric_values(record: dict) -> list[tuple]:
    return sorted((m["checkpoint"], m["domain"], m["split"], m["metric"], m["value"]) for m in record["metrics"])


def test_run_writes_one_record_per_cell_and_collects(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["run", str(SUITE), "--results", str(results), "--quiet"]) == 0
    records = _records(results)
    assert len(records) == 6
    for run_id, rec in records.items():
        assert rec["status"] == "ok" and rec["run_id"] == run_id
        assert (results / "runs" / run_id / "spec.json").exists()
        assert (results / "runs" / run_id / "metrics.jsonl").read_text().strip()
        checkpoints = {m["checkpoint"] for m in rec["metrics"]}
        assert checkpoints == {"selected", "final"}
        domains = {(m["domain"], m["split"]) for m in rec["metrics"]}
        assert ("train-domain", "test") in domains and ("shift-1", "test") in domains
        assert rec["provenance"]["torch"] and rec["cost"]["forward"] > 0
    passes = {rec["spec"]["method"]: (rec["cost"]["forward"], rec["cost"]["backward"]) for rec in records.values()}
    assert passes == {"sgd": (6, 6), "sam": (12, 12), "tram-prev": (18, 12)}

    import duckdb

    con = duckdb.connect(str(results / "tram-bench.duckdb"), read_only=True)
    assert con.execute("select count(*) from runs").fetchone()[0] == 6
    assert con.execute("select count(distinct run_id) from metrics").fetchone()[0] == 6
    con.close()
    # A second run finds everything done and recomputes nothing.
    mtimes = {d.name: (d / "record.json").stat().st_mtime_ns for d in (results / "runs").iterdir()}
    capsys.readouterr()
    assert main(["run", str(SUITE), "--results", str(results), "--quiet"]) == 0
    assert "6 already finished, 0 to run" in capsys.readouterr().out
    assert mtimes == {d.name: (d / "record.json").stat().st_mtime_ns for d in (results / "runs").iterdir()}


def test_same_cell_twice_gives_identical_metrics(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for results in (a, b):
        assert main(["run", str(SUITE), "--results", str(results), "--quiet", "--only", "tram-prev",
                     "--no-collect"]) == 0
    ra, rb = _records(a), _records(b)
    assert ra.keys() == rb.keys() and len(ra) == 2
    for run_id in ra:
        assert _metric_values(ra[run_id]) == _metric_values(rb[run_id])


def test_methods_see_the_same_data_order_and_initial_head(tmp_path):
    """Pairing: for one seed, every method's first pass-1 loss is the same (same batch, same weights)."""
    results = tmp_path / "r"
    assert main(["run", str(SUITE), "--results", str(results), "--quiet", "--no-collect", "-O", "seeds=[0]"]) == 0
    first_losses = set()
    for d in (results / "runs").iterdir():
        first = json.loads((d / "metrics.jsonl").read_text().splitlines()[0])
        first_losses.add(round(first["loss"], 12))
    assert len(first_losses) == 1


def test_failed_run_is_recorded_and_not_cached_as_success(tmp_path, capsys):
    results = tmp_path / "r"
    args = ["run", str(SUITE), "--results", str(results), "--quiet", "--only", "sgd", "-O", "seeds=[0]",
            "-O", "tasks.0.params.fail_at_step=2"]
    assert main(args) == 1
    (rec,) = _records(results).values()
    assert rec["status"] == "failed" and "synthetic failure injected" in rec["error"]
    run_dir = results / "runs" / rec["run_id"]
    assert "Traceback" in (run_dir / "error.txt").read_text()
    assert rundir.status(results, rec["run_id"]) == "failed"
    capsys.readouterr()
    main(args)  # not retried without --retry-failed
    assert "1 already finished, 0 to run" in capsys.readouterr().out
    main(args + ["--retry-failed"])
    assert "0 already finished, 1 to run" in capsys.readouterr().out

    import duckdb

    con = duckdb.connect(str(results / "tram-bench.duckdb"), read_only=True)
    assert con.execute("select status from runs").fetchall() == [("failed",)]
    con.close()


@pytest.mark.slow
def test_sigkill_mid_grid_then_resume_gives_one_record_per_cell(tmp_path):
    results = tmp_path / "r"
    cmd = [sys.executable, "-m", "tram_bench", "run", str(SUITE), "--results", str(results), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    # Kill the runner as soon as the first run has finished: later cells are then mid-run or not started.
    for line in proc.stdout:
        if line.startswith("[1/"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished_before = _records(results)
    assert 1 <= len(finished_before) < 6
    before = {k: _metric_values(v) for k, v in finished_before.items()}

    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=True).stdout
    assert f"{len(finished_before)} already finished" in out
    after = _records(results)
    assert len(after) == 6
    assert all(after[k]["started_at"] == finished_before[k]["started_at"] for k in finished_before)
    assert {k: _metric_values(after[k]) for k in before} == before

    import duckdb

    con = duckdb.connect(str(results / "tram-bench.duckdb"), read_only=True)
    assert con.execute("select count(*), count(distinct run_id) from runs").fetchone() == (6, 6)
    con.close()


def test_second_runner_on_the_same_results_is_refused(tmp_path, capsys):
    import fcntl

    results = tmp_path / "r"
    results.mkdir()
    with open(results / ".run.lock", "w") as fh:
        fh.write("12345")
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_EX)
        code = main(["run", str(SUITE), "--results", str(results), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "in use by another tram-bench run" in err and "Traceback" not in err
    assert not (results / "runs").exists()


def test_parallel_workers_give_the_same_records_as_sequential(tmp_path):
    seq, par = tmp_path / "seq", tmp_path / "par"
    base = ["run", str(SUITE), "--quiet", "--no-collect", "--threads", "1", "-O", "seeds=[0]"]
    assert main(base + ["--results", str(seq)]) == 0
    assert main(base + ["--results", str(par), "--workers", "2"]) == 0
    rs, rp = _records(seq), _records(par)
    assert rs.keys() == rp.keys() and len(rs) == 3
    for run_id in rs:
        assert _metric_values(rs[run_id]) == _metric_values(rp[run_id])


def test_zero_shot_row_evaluates_the_pretrained_model_without_steps(tmp_path):
    results = tmp_path / "r"
    assert main(["run", str(SUITE), "--results", str(results), "--quiet", "--no-collect", "-O", "seeds=[0]",
                 "-O", "methods=[{id: zero-shot}]"]) == 0
    (rec,) = _records(results).values()
    assert rec["status"] == "ok" and rec["steps"] == 0 and rec["selected_step"] == 0
    assert rec["cost"]["forward"] == 0 and rec["cost"]["backward"] == 0
    selected = {(m["domain"], m["metric"]): m["value"] for m in rec["metrics"] if m["checkpoint"] == "selected"}
    final = {(m["domain"], m["metric"]): m["value"] for m in rec["metrics"] if m["checkpoint"] == "final"}
    assert selected == final and ("shift-1", "accuracy") in selected


def test_analyses_run_on_the_selected_checkpoint_and_land_in_the_store(tmp_path):
    results = tmp_path / "r"
    assert main(["run", str(SUITE), "--results", str(results), "--quiet", "-O", "seeds=[0]", "--only", "sgd",
                 "-O", "analysis=[sharpness, cka]", "-O", "train.analysis_examples=64",
                 "-O", "train.sharpness_steps=2"]) == 0
    (rec,) = _records(results).values()
    rows = [m for m in rec["metrics"] if m["metric"] in ("sharpness", "cka")]
    domains = {(m["domain"], m["split"]) for m in rec["metrics"] if m["metric"] == "accuracy"}
    assert {(m["domain"], m["split"]) for m in rows if m["metric"] == "cka"} == domains
    assert {(m["domain"], m["split"]) for m in rows if m["metric"] == "sharpness"} == domains
    assert all(m["checkpoint"] == "selected" for m in rows)
    assert all(0.0 <= m["value"] <= 1.0 + 1e-9 for m in rows if m["metric"] == "cka")
    assert all(m["value"] >= 0.0 for m in rows if m["metric"] == "sharpness")
    assert rec["analysis_time_s"] > 0

    import duckdb

    con = duckdb.connect(str(results / "tram-bench.duckdb"), read_only=True)
    n = con.execute("select count(*) from metrics where metric in ('sharpness', 'cka')").fetchone()[0]
    con.close()
    assert n == len(rows)
