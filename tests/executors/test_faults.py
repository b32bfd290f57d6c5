"""Fault tolerance: workers killed at random points, and a results directory that cannot be written."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tram_bench.cli import main

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests/fixtures/suites/synthetic.yaml"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _metrics(results: Path) -> dict[str, list]:
    out = {}
    for d in (results / "runs").iterdir():
        if (d / "done").exists():
            rec = json.loads((d / "record.json").read_text())
            out[d.name] = sorted((m["checkpoint"], m["domain"], m["split"], m["metric"], m["value"])
                                 for m in rec["metrics"])
    return out


@pytest.mark.slow
def test_chaos_killed_workers_then_reruns_match_an_undisturbed_grid(tmp_path):
    base = ["run", str(SUITE), "--quiet", "--threads", "1", "--workers", "2"]
    calm = tmp_path / "calm"
    assert main(base + ["--results", str(calm)]) == 0
    expected = _metrics(calm)
    assert len(expected) == 6

    chaos = tmp_path / "chaos"
    rng = random.Random(20241125)
    kills = 0
    for attempt in range(12):
        proc = subprocess.Popen([sys.executable, "-m", "tram_bench", *base, "--results", str(chaos)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env())
        kill_after = rng.randint(0, 2)  # finished-run lines to wait for before killing a worker
        seen = 0
        for line in proc.stdout:
            if "to run" in line and line.rstrip().endswith(" 0 to run"):
                break
            if line.startswith("["):
                seen += 1
            if seen >= kill_after and line.startswith(("[", "synthetic-test")):
                workers = [p for p in _children(proc.pid) if p != proc.pid]
                if workers:
                    try:
                        os.kill(rng.choice(workers), signal.SIGKILL)
                    except ProcessLookupError:
                        continue  # the worker finished between listing and killing: try at the next line
                    kills += 1
                    break
        proc.wait(timeout=300)
        if len(_metrics(chaos)) == 6:
            break
    # Finish whatever is still pending, undisturbed.
    assert main(base + ["--results", str(chaos)]) == 0
    assert kills >= 1
    got = _metrics(chaos)
    assert got == expected  # exactly one record per cell, identical metrics

    import duckdb

    con = duckdb.connect(str(chaos / "tram-bench.duckdb"), read_only=True)
    assert con.execute("select count(*), count(distinct run_id) from runs").fetchone() == (6, 6)
    con.close()


def test_disk_full_is_a_clear_error_and_keeps_finished_runs(tmp_path, monkeypatch, capsys):
    results = tmp_path / "r"
    one = ["run", str(SUITE), "--results", str(results), "--quiet", "--no-collect", "-O", "seeds=[0]"]
    assert main(one + ["--only", "sgd"]) == 0
    before = _metrics(results)
    assert len(before) == 1

    from tram_bench.util import files

    real = files.atomic_write_bytes

    def full(path, data):
        if Path(path).name == "record.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(files, "atomic_write_bytes", full)
    code = main(one)
    err = capsys.readouterr().err
    assert code == 2 and "No space left on device" in err and "Traceback" not in err
    monkeypatch.setattr(files, "atomic_write_bytes", real)
    assert _metrics(results) == before  # the finished run is intact; the interrupted one is pending
    assert main(one) == 0
    assert len(_metrics(results)) == 3
