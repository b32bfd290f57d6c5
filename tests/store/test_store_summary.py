"""The terminal summary: mean, sample std (ddof=1) and n over seeds, per cell."""

from __future__ import annotations

import math

from tests.store.conftest import make_spec, metric, write_run
from tram_bench.store.collector import collect
from tram_bench.store.query import open_db, summary


def test_mean_std_n_over_seeds_per_cell(results):
    values = [0.5, 0.75, 0.875]
    for seed, v in enumerate(values):
        write_run(results, make_spec(seed=seed, rho=0.05), metrics=[metric("shift", v), metric("shift", v / 2, "final")])
    write_run(results, make_spec(seed=3, rho=0.05), status="failed", error="boom")
    write_run(results, make_spec(seed=0, rho=0.1), metrics=[metric("shift", 0.25)])
    collect(results)
    con = open_db(results)
    rows = summary(con)
    con.close()

    mean = (0.5 + 0.75 + 0.875) / 3
    std = math.sqrt(((0.5 - mean) ** 2 + (0.75 - mean) ** 2 + (0.875 - mean) ** 2) / (3 - 1))
    by_key = {(r.hparams["rho"], r.checkpoint): r for r in rows}
    assert set(by_key) == {(0.05, "selected"), (0.05, "final"), (0.1, "selected")}
    sel = by_key[(0.05, "selected")]
    assert (sel.n, sel.not_ok, sel.domain, sel.metric, sel.higher_is_better) == (3, 1, "shift", "accuracy", True)
    assert math.isclose(sel.mean, mean, rel_tol=0, abs_tol=1e-15)
    assert math.isclose(sel.std, std, rel_tol=0, abs_tol=1e-15)
    final = by_key[(0.05, "final")]
    assert math.isclose(final.mean, mean / 2, abs_tol=1e-15) and math.isclose(final.std, std / 2, abs_tol=1e-15)
    single = by_key[(0.1, "selected")]
    assert (single.n, single.mean, single.std, single.not_ok) == (1, 0.25, None, 0)
    # Selected before final within a cell.
    assert [(r.hparams["rho"], r.checkpoint) for r in rows] == [(0.05, "selected"), (0.05, "final"), (0.1, "selected")]
