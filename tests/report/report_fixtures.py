"""Fixture stores: DuckDB databases written directly in the documented schema (docs/architecture.md),
so the report layer is tested without the collector. (A uniquely named module, not conftest, so that test
files can import the builders without clashing with other directories' conftest modules.)"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

# What the collector fills in for a record without them: the registries' family and kind.
from tram_bench.store.records import resolve_family, resolve_kind

SCHEMA = (
    """CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY, suite VARCHAR, task VARCHAR, task_label VARCHAR, task_version VARCHAR,
        method VARCHAR, method_version VARCHAR, hparams JSON, task_params JSON, train JSON, seed BIGINT,
        status VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, wall_time_s DOUBLE, train_time_s DOUBLE,
        eval_time_s DOUBLE, steps BIGINT, selected_step BIGINT, forward BIGINT, backward BIGINT,
        step_time_s DOUBLE, peak_memory_mb DOUBLE, examples_per_s DOUBLE, tokens_per_s DOUBLE,
        git_commit VARCHAR, tram_bench_version VARCHAR, torch_version VARCHAR, cuda_version VARCHAR,
        device VARCHAR, device_name VARCHAR, precision VARCHAR, world_size INTEGER, error VARCHAR,
        task_family VARCHAR, method_kind VARCHAR)""",
    """CREATE TABLE metrics (
        run_id VARCHAR, checkpoint VARCHAR, domain VARCHAR, split VARCHAR, metric VARCHAR, value DOUBLE,
        in_domain BOOLEAN, higher_is_better BOOLEAN)""",
    """CREATE TABLE suite_cells (
        suite VARCHAR, run_id VARCHAR, task VARCHAR, task_label VARCHAR, method VARCHAR, hparams JSON,
        seed BIGINT)""",
)
# The comparison design (store schema 2): suite_cells.baseline and suite_design.
DESIGN_SCHEMA = (
    "ALTER TABLE suite_cells ADD COLUMN baseline BOOLEAN",
    """CREATE TABLE suite_design (
        suite VARCHAR, task_label VARCHAR, task VARCHAR, family VARCHAR, baseline_method VARCHAR,
        baseline_hparams JSON, delta DOUBLE, units VARCHAR, alpha DOUBLE, comparisons INTEGER, n_seeds INTEGER,
        PRIMARY KEY (suite, task_label))""",
)

PASSES = {"sgd": (1, 1), "adam": (1, 1), "sam": (2, 2), "tram-x": (3, 2), "tram-prev": (3, 2), "r3f": (2, 1)}


@dataclass
class Metric:
    domain: str
    value: float
    in_domain: bool
    metric: str = "accuracy"
    split: str = "test"
    checkpoint: str = "selected"
    higher_is_better: bool | None = None

    def hib(self) -> bool:
        if self.higher_is_better is not None:
            return self.higher_is_better
        return self.metric not in ("perplexity", "loss", "sharpness")


@dataclass
class StoreBuilder:
    con: duckdb.DuckDBPyConnection
    run_ids: list[str] = field(default_factory=list)

    @staticmethod
    def run_id(task: str, label: str, method: str, hparams: dict[str, Any], seed: int, steps: int) -> str:
        key = json.dumps([task, label, method, hparams, seed, steps], sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def plan(self, suite: str, task: str, method: str, seed: int, hparams: dict[str, Any] | None = None,
             label: str | None = None, steps: int = 100) -> str:
        hp = dict(hparams or {})
        rid = self.run_id(task, label or task, method, hp, seed, steps)
        self.con.execute(
            "INSERT INTO suite_cells (suite, run_id, task, task_label, method, hparams, seed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [suite, rid, task, label or task, method, json.dumps(hp, sort_keys=True), seed],
        )
        return rid

    def declare(self, suite: str, task: str, method: str | None, hparams: dict[str, Any] | None = None,
                label: str | None = None, *, delta: float | None = 1.0, units: str = "points", alpha: float = 0.05,
                family: str = "vision") -> None:
        """The suite design of one task, as the collector writes it: a suite_design row, and
        suite_cells.baseline true for the baseline's cells (call after planning the task's cells)."""
        label = label or task
        hp = None if method is None else json.dumps(dict(hparams or {}), sort_keys=True)
        configs, seeds = self.con.execute(
            "SELECT count(DISTINCT (method, CAST(hparams AS VARCHAR))), count(DISTINCT seed) FROM suite_cells "
            "WHERE suite = ? AND task_label = ?", [suite, label]).fetchone()
        self.con.execute("INSERT INTO suite_design VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [suite, label, task, family, method, hp, delta, units, alpha,
                          configs - (1 if method else 0), seeds])
        self.con.execute(
            "UPDATE suite_cells SET baseline = CASE WHEN ? IS NULL THEN NULL "
            "ELSE method = ? AND CAST(hparams AS VARCHAR) = ? END WHERE suite = ? AND task_label = ?",
            [method, method, hp, suite, label])

    def add_run(self, suite: str, task: str, method: str, seed: int, metrics: list[Metric],
                hparams: dict[str, Any] | None = None, status: str = "ok", label: str | None = None,
                planned: bool = True, steps: int = 100, wall_time_s: float = 10.0, step_time_s: float = 0.05,
                peak_memory_mb: float = 100.0, git_commit: str = "abc1234", device: str = "cpu") -> str:
        hp = dict(hparams or {})
        rid = self.plan(suite, task, method, seed, hp, label, steps) if planned else self.run_id(
            task, label or task, method, hp, seed, steps)
        fwd, bwd = PASSES.get(method, (1, 1))
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, '1', ?, '1', ?, '{}', ?, ?, ?, TIMESTAMPTZ '2024-01-01 00:00:00+00', "
            "TIMESTAMPTZ '2024-01-01 00:01:00+00', ?, ?, 1.0, ?, ?, ?, ?, ?, ?, 1000.0, NULL, ?, '0.1.0', '2.5.0', NULL, "
            "?, 'test cpu', 'fp32', 1, ?, ?, ?)",
            [
                rid, suite, task, label or task, method, json.dumps(hp, sort_keys=True),
                json.dumps({"steps": steps}), seed, status, wall_time_s, wall_time_s - 1.0, steps, steps,
                fwd * steps, bwd * steps, step_time_s, peak_memory_mb, git_commit, device,
                None if status == "ok" else "boom", resolve_family(task), resolve_kind(method),
            ],
        )
        if status == "ok" and metrics:
            # One multi-row statement: executemany costs milliseconds per row.
            rows = [(rid, m.checkpoint, m.domain, m.split, m.metric, m.value, m.in_domain, m.hib()) for m in metrics]
            marks = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows))
            self.con.execute(f"INSERT INTO metrics VALUES {marks}", [x for r in rows for x in r])
        self.run_ids.append(rid)
        return rid


def new_store(path: Path | None = None, *, design: bool = True) -> StoreBuilder:
    """An empty store; ``design=False`` gives the schema before comparison designs (no baseline)."""
    con = duckdb.connect(str(path) if path else ":memory:")
    for ddl in SCHEMA + (DESIGN_SCHEMA if design else ()):
        con.execute(ddl)
    return StoreBuilder(con)


# --- the main fixture: one vision-like suite, two tasks, a partial grid ---------------------------------
#
# Task "digits" (accuracy, higher is better): in-domain "src", OOD "rot", "noise", "blur".
# Accuracy per (config, seed) for each domain; tram-x has seed 4 failed and seed 5 planned but missing.
SEEDS = (0, 1, 2, 3, 4)
SGD = {"base": "sgd", "momentum": 0.9}
SAM_A = {"base": "sgd", "momentum": 0.9, "rho": 0.05}
SAM_B = {"base": "sgd", "momentum": 0.9, "rho": 0.1}
TRAMX = {"base": "sgd", "momentum": 0.9, "sigma": 0.01, "divergence": "kl"}

DIGITS = {
    # config: {seed: (src, rot, noise, blur)}
    "sgd": {0: (0.90, 0.60, 0.70, 0.80), 1: (0.92, 0.58, 0.72, 0.81), 2: (0.91, 0.61, 0.69, 0.79),
            3: (0.89, 0.59, 0.71, 0.82), 4: (0.90, 0.62, 0.70, 0.80)},
    "sam_a": {0: (0.91, 0.63, 0.71, 0.80), 1: (0.92, 0.62, 0.73, 0.82), 2: (0.92, 0.64, 0.70, 0.80),
              3: (0.90, 0.61, 0.72, 0.83), 4: (0.91, 0.65, 0.71, 0.81)},
    "sam_b": {0: (0.90, 0.61, 0.70, 0.81), 1: (0.91, 0.60, 0.72, 0.80), 2: (0.91, 0.62, 0.70, 0.79),
              3: (0.90, 0.60, 0.71, 0.82), 4: (0.90, 0.63, 0.70, 0.80)},
    "tramx": {0: (0.93, 0.70, 0.74, 0.81), 1: (0.93, 0.69, 0.75, 0.83), 2: (0.94, 0.71, 0.73, 0.81),
              3: (0.92, 0.68, 0.74, 0.84)},
}
DIGITS_HP = {"sgd": ("sgd", SGD), "sam_a": ("sam", SAM_A), "sam_b": ("sam", SAM_B), "tramx": ("tram-x", TRAMX)}
DOMAINS = ("src", "rot", "noise", "blur")
# Final checkpoint = selected - 0.01 everywhere (so the two checkpoints are distinguishable).
FINAL_OFFSET = -0.01

# Task "letters": a second task for the aggregate rank; one OOD domain; all runs complete.
LETTERS = {
    "sgd": {0: (0.80, 0.50), 1: (0.82, 0.52)},
    "sam_a": {0: (0.81, 0.55), 1: (0.80, 0.53)},
    "sam_b": {0: (0.79, 0.56), 1: (0.80, 0.58)},
    "tramx": {0: (0.83, 0.55), 1: (0.84, 0.55)},
}


def digits_metrics(values: tuple[float, ...], domains=DOMAINS) -> list[Metric]:
    out = []
    for ckpt, off in (("selected", 0.0), ("final", FINAL_OFFSET)):
        for i, (d, v) in enumerate(zip(domains, values)):
            out.append(Metric(d, v + off, in_domain=(i == 0), checkpoint=ckpt))
            out.append(Metric(d, 1.0 - v + off, in_domain=(i == 0), metric="loss", checkpoint=ckpt))
        out.append(Metric(domains[0], values[0] - 0.005, in_domain=True, split="val", checkpoint=ckpt))
    return out


def build_demo(builder: StoreBuilder, suite: str = "demo") -> StoreBuilder:
    for key, per_seed in DIGITS.items():
        method, hp = DIGITS_HP[key]
        for seed, vals in per_seed.items():
            builder.add_run(suite, "digits", method, seed, digits_metrics(vals), hparams=hp,
                            wall_time_s=10.0 * (2 if method == "sam" else 3 if method == "tram-x" else 1),
                            peak_memory_mb=100.0 * (1.5 if method == "tram-x" else 1.0))
    builder.add_run(suite, "digits", "tram-x", 4, [], hparams=TRAMX, status="failed")
    builder.plan(suite, "digits", "tram-x", 5, TRAMX)  # planned, never run: missing
    for key, per_seed in LETTERS.items():
        method, hp = DIGITS_HP[key]
        for seed, vals in per_seed.items():
            builder.add_run(suite, "letters", method, seed, digits_metrics(vals, ("clean", "shifted")), hparams=hp)
    if _has_design(builder):
        for task in ("digits", "letters"):
            builder.declare(suite, task, "sgd", SGD)
    return builder


def _has_design(builder: StoreBuilder) -> bool:
    return bool(builder.con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'suite_design'").fetchone()[0])
