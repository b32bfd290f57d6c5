"""Method kind and task family travel in the run record; records written before get them resolved once at
collect time (tram_bench.store.records), so the report needs neither registry."""

from __future__ import annotations

import dataclasses

import duckdb

from tests.store.conftest import make_spec, write_run
from tram_bench.methods import kinds
from tram_bench.store.collector import collect, db_path
from tram_bench.suite.spec import RunSpec, typed


def _descriptions(results) -> dict[str, tuple]:
    con = duckdb.connect(str(db_path(results)), read_only=True)
    try:
        return {r[0]: r[1:] for r in con.execute("SELECT run_id, task_family, method_kind FROM runs").fetchall()}
    finally:
        con.close()


def test_a_cell_carries_kind_and_family_without_changing_its_run_id():
    old = dataclasses.replace(make_spec(), method="tram-prev", hparams={})  # as written before cells carried them
    cell = typed(old)
    assert (cell.task_family, cell.method_kind) == ("synthetic", kinds.TRAM)
    doc = cell.to_json()
    assert (doc["task_family"], doc["method_kind"]) == ("synthetic", kinds.TRAM)
    blank = dataclasses.replace(cell.doc, task_family="", method_kind="")
    assert (blank.run_id, blank.data_seed, blank.method_seed) == (cell.run_id, cell.data_seed, cell.method_seed)
    assert RunSpec.from_json(doc).method_kind == kinds.TRAM


def test_old_records_get_kind_and_family_at_collect_time_and_recorded_ones_are_kept(results):
    old = make_spec(seed=0, method="sam")  # no task_family / method_kind in its spec
    recorded = dataclasses.replace(make_spec(seed=1, method="sgd"), task_family="lm", method_kind=kinds.TRAM)
    write_run(results, old)
    write_run(results, recorded)
    collect(results)
    rows = _descriptions(results)
    assert rows[old.run_id] == ("synthetic", kinds.SAM_FAMILY)
    # What the record says wins over the registries (a plugin's kind, a family the task had when it ran).
    assert rows[recorded.run_id] == ("lm", kinds.TRAM)


def test_a_method_that_no_longer_resolves_is_other(results):
    lost = dataclasses.replace(make_spec(method="no_such_pkg.methods:Gone"), task="no_such_pkg.tasks:Gone")
    write_run(results, lost)
    collect(results)
    assert _descriptions(results)[lost.run_id] == (None, kinds.OTHER)
