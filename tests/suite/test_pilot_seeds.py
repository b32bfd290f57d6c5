"""Pilot seeds: ``pilot_seeds`` is checked like ``seeds`` and kept disjoint from it, and ``run --pilot``
runs those seeds into their own store ``RESULTS/pilot``."""

from __future__ import annotations

import json

import pytest

from tram_bench.cli import main
from tram_bench.suite.load import load_suite, pilot_suite, resolve_suite

GRID = """
suite: p
seeds: [0, 1]
{pilot}
tasks:
  - id: synthetic
    params: {{dim: 8, classes: 4, train_size: 64, eval_size: 64}}
    train: {{steps: 2, batch_size: 32, lr: 0.05, eval_every: 1}}
baseline: {{id: sgd}}
methods:
  - id: sgd
  - id: adam
"""


def _grid(write_suite, pilot: str):
    return write_suite(GRID.format(pilot=pilot))


def test_pilot_seeds_are_read_and_resolve_to_their_own_cells(write_suite):
    path = _grid(write_suite, "pilot_seeds: [100, 101, 102]")
    suite = resolve_suite(path)
    assert suite.config.pilot_seeds == (100, 101, 102)
    pilot = pilot_suite(suite)
    assert sorted({c.seed for c in pilot.cells}) == [100, 101, 102]
    assert pilot.design.tasks[0].seeds == (100, 101, 102)
    # Same tasks and methods: a pilot cell differs from the reported one by its seed only.
    assert {(c.task_label, c.method) for c in pilot.cells} == {(c.task_label, c.method) for c in suite.cells}
    assert not {c.run_id for c in pilot.cells} & {c.run_id for c in suite.cells}


@pytest.mark.parametrize("pilot,needle", [
    ("pilot_seeds: [100, 1]", "pilot_seeds[1]: seed 1 is also in seeds: pilot seeds must be disjoint"),
    ("pilot_seeds: [100, x]", "pilot_seeds[1]: a seed must be an int, got 'x'"),
    ("pilot_seeds: 100", "pilot_seeds: must be a list of ints, e.g. [100, 101, 102]; got 100"),
    ("pilot_seeds: [100, 100]", "pilot_seeds[1]: duplicate seed 100"),
    ("pilot_seeds: []", "pilot_seeds: must list at least one seed"),
])
def test_bad_pilot_seeds_are_one_line_naming_file_and_key_exit_2(write_suite, tmp_path, capsys, pilot, needle):
    path = _grid(write_suite, pilot)
    results = tmp_path / "results"
    assert main(["run", str(path), "--pilot", "--results", str(results), "--quiet"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1, out.err
    assert out.err.startswith(f"{path}:3: ") and needle in out.err
    assert not results.exists()


def test_run_pilot_without_pilot_seeds_is_one_line_exit_2(write_suite, tmp_path, capsys):
    path = _grid(write_suite, "")
    assert load_suite(path).pilot_seeds == ()
    assert main(["run", str(path), "--pilot", "--results", str(tmp_path / "r"), "--quiet"]) == 2
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and "declares no pilot_seeds" in out.err and str(path) in out.err
    assert not (tmp_path / "r").exists()


def test_run_pilot_writes_only_into_the_pilot_store(write_suite, tmp_path, capsys):
    import duckdb

    path = _grid(write_suite, "pilot_seeds: [100, 101]")
    results = tmp_path / "results"
    assert main(["run", str(path), "--pilot", "--results", str(results), "--quiet"]) == 0
    assert sorted(p.name for p in results.iterdir()) == ["pilot"]  # nothing in the reported store
    seeds = sorted(json.loads((d / "spec.json").read_text())["seed"] for d in (results / "pilot" / "runs").iterdir())
    assert seeds == [100, 100, 101, 101]
    con = duckdb.connect(str(results / "pilot" / "tram-bench.duckdb"), read_only=True)
    assert con.execute("SELECT DISTINCT n_seeds FROM suite_design WHERE suite = 'p'").fetchall() == [(2,)]
    con.close()
    capsys.readouterr()
    # plan reads the pilot's SD and still states the design of the reported seeds (n = 2).
    assert main(["plan", str(path), "--results", str(results)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("  synthetic:"))
    assert "n = 2 seeds" in line and "SD of paired differences " in line
    assert "cannot reach delta within this budget (alpha unreachable)" in line  # 2 * 2 / 2**2 = 1
