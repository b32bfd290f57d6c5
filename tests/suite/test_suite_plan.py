"""Plan rows (what `tram-bench plan` shows) and the plan file the collector reads."""

from __future__ import annotations

import json

from tests.suite.conftest import TOY_SAM, TOY_SGD, TOY_TASK
from tram_bench.suite.load import expand, load_suite
from tram_bench.suite.plan import PlanRow, plan_rows, write_plan_file
from tram_bench.suite.spec import RunSpec

SUITE = f"""
suite: planned
seeds: [0, 1]
tasks:
  - {{id: {TOY_TASK}, label: toy}}
methods:
  - id: {TOY_SGD}
  - id: {TOY_SAM}
    hparams: {{rho: [0.05, 0.1], base: adam, betas: [0.9, 0.999]}}
"""


def test_rows_show_only_values_that_differ_from_defaults(write_suite):
    specs = expand(load_suite(write_suite(SUITE)))
    status = {specs[0].run_id: "ok", specs[1].run_id: "failed"}
    rows = plan_rows(specs, lambda rid: status.get(rid, "pending"))
    assert [r.run_id for r in rows] == [s.run_id for s in specs]
    assert rows[0] == PlanRow("toy", TOY_SGD, "", 0, specs[0].run_id, "ok")
    assert rows[1].status == "failed" and rows[2].status == "pending"
    # rho 0.05 is ToySAM's default: the first SAM cell shows only base and betas (field order).
    assert [r.hparams for r in rows[2:]] == [
        "base=adam, betas=[0.9,0.999]", "base=adam, betas=[0.9,0.999]",
        "base=adam, betas=[0.9,0.999], rho=0.1", "base=adam, betas=[0.9,0.999], rho=0.1",
    ]
    assert rows[0].task == "toy"


def test_plan_file_round_trips_the_specs(write_suite, tmp_path):
    suite = load_suite(write_suite(SUITE))
    specs = expand(suite)
    path = write_plan_file(tmp_path / "results", suite.suite, suite.path, specs)
    assert path == tmp_path / "results" / "suites" / "planned.json"
    doc = json.loads(path.read_text())
    assert doc["suite"] == "planned" and doc["file"] == str(suite.path)
    assert [RunSpec.from_json(c) for c in doc["cells"]] == specs
    assert [c["run_id"] for c in doc["cells"]] == [s.run_id for s in specs]
