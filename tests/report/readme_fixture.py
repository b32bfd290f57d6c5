"""The small store behind the committed fixture export ``tests/fixtures/readme_tables/export/``.

Written in the collector's own schema (``tram_bench.store.schema``) and exported with
``tram_bench.store.export``, exactly as ``tram-bench export --format csv`` writes a real one. Values are
closed-form in (method, seed, domain), so the fixture can be rebuilt and compared byte for byte
(``python tests/report/readme_fixture.py`` rewrites it).

- suite ``demo``, task ``cnn`` (vision, accuracy): in-domain ``src``, OOD ``rot``, ``noise``, ``blur``;
  sgd (the baseline), sam, asam, fisher_sam, tram-prev, tram-x; 10 seeds; epsilon-sharpness for sgd
  and tram-prev. tram-prev gains more where the shift is severe, tram-x loses more there.
- task ``bbc`` (lm, perplexity): in-domain ``ent``, OOD ``sport``, ``tech``, ``business``; adam (the
  baseline), sam, tram-prev, asam+trpo, zero-shot; 5 seeds (the exact test cannot reach alpha).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "readme_tables"
EXPORT = FIXTURE / "export"
SUITE = "demo"

CNN_OOD = {"rot": 0.62, "noise": 0.70, "blur": 0.80}
# method -> (in-domain offset, OOD offset per unit severity, flat OOD offset), accuracy fractions
CNN = {"sgd": (0.0, 0.0, 0.0), "sam": (0.002, 0.0, 0.004), "asam": (0.001, 0.0, 0.003),
       "fisher_sam": (0.002, 0.0, 0.005), "tram-prev": (0.003, 0.05, 0.008), "tram-x": (-0.001, -0.04, 0.0)}
BBC_OOD = {"sport": 300.0, "tech": 270.0, "business": 260.0}
BBC = {"zero-shot": 1.30, "adam": 1.0, "sam": 1.01, "tram-prev": 0.995, "asam+trpo": 1.03}


def _noise(method: str, seed: int, domain: str) -> float:
    """A deterministic wiggle in [-0.002, 0.002] so that seeds differ."""
    h = int(hashlib.sha256(f"{method}/{domain}/{seed}".encode()).hexdigest()[:8], 16)
    return ((h % 41) - 20) / 10000.0


def _runs():
    for seed in range(10):
        for method, (id_off, per_sev, flat) in CNN.items():
            rows = [("src", 0.95 + id_off + _noise(method, seed, "src"), True, "accuracy")]
            for domain, base in CNN_OOD.items():
                severity = (0.95 - base) / 0.95
                rows.append((domain, base + flat + per_sev * severity + _noise(method, seed, domain), False,
                             "accuracy"))
            if method in ("sgd", "tram-prev"):
                level = 2.0 if method == "sgd" else 1.2
                rows += [(d, level + 10 * _noise(method, seed, d), d == "src", "sharpness")
                         for d in ("src", *CNN_OOD)]
            yield "cnn", "vision", method, {"base": "sgd"}, seed, rows
    for seed in range(5):
        for method, factor in BBC.items():
            rows = [("ent", 230.0 * (1.35 if method == "zero-shot" else 1.0) * (1 + _noise(method, seed, "ent")), True,
                     "perplexity")]
            rows += [(d, p * factor * (1 + _noise(method, seed, d)), False, "perplexity") for d, p in BBC_OOD.items()]
            yield "bbc", "lm", method, {} if method == "zero-shot" else {"base": "adam"}, seed, rows


def build_store(results: Path) -> None:
    """Write ``results/tram-bench.duckdb`` in the collector's schema."""
    import duckdb

    from tram_bench.store.records import resolve_kind
    from tram_bench.store.schema import TABLES, column_names, create_table_sql

    results.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(results / "tram-bench.duckdb"))
    try:
        for table in TABLES:
            con.execute(create_table_sql(table))
        designs = {}
        for task, family, method, hparams, seed, rows in _runs():
            run_id = f"{task}-{method}-{seed}"
            hp = json.dumps(hparams, sort_keys=True)
            baseline = method == ("sgd" if task == "cnn" else "adam")
            run = dict.fromkeys(column_names("runs"))
            run.update(run_id=run_id, suite=SUITE, task=task, task_label=task, task_version="1", method=method,
                       method_version="1", hparams=hp, task_params="{}", train="{}", seed=seed, status="ok",
                       started_at="2026-01-01 00:00:00+00", finished_at="2026-01-01 00:01:00+00", wall_time_s=10.0,
                       steps=100, selected_step=100, forward=100, backward=100, device="cpu", precision="fp32",
                       world_size=1, git_commit="fixture", task_family=family, method_kind=resolve_kind(method))
            cols = list(run)
            con.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [run[c] for c in cols])
            for domain, value, in_domain, metric in rows:
                con.execute("INSERT INTO metrics VALUES (?, 'selected', ?, 'test', ?, ?, ?, ?)",
                            [run_id, domain, metric, value, in_domain, metric == "accuracy"])
            con.execute("INSERT INTO suite_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [SUITE, run_id, task, task, method, hp, seed, baseline])
            designs.setdefault(task, (family, set(), set()))
            designs[task][1].add(seed)
            if method not in ("zero-shot",) and not baseline:
                designs[task][2].add(method)
        for task, (family, seeds, compared) in designs.items():
            base = "sgd" if task == "cnn" else "adam"
            units, delta = ("points", 1.0) if family == "vision" else ("log_ratio", 0.01)
            con.execute("INSERT INTO suite_design VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0.05, ?, ?)",
                        [SUITE, task, task, family, base, json.dumps({"base": "sgd" if task == "cnn" else "adam"}),
                         delta, units, len(compared), len(seeds)])
    finally:
        con.close()


def write_export(out: Path, scratch: Path) -> list[Path]:
    """Build the store under ``scratch`` and export it as CSV into ``out``."""
    from tram_bench.store.export import export

    build_store(scratch)
    return export(scratch, out, "csv")


if __name__ == "__main__":  # regenerate the committed fixture
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for p in write_export(EXPORT, Path(tmp)):
            print(p)
    sys.exit(0)
