"""The DuckDB schema of ``results/tram-bench.duckdb`` (docs/architecture.md, "DuckDB store").

The database is derived data: run directories and plan files are the truth. When the schema
version stored in ``_meta`` differs from :data:`SCHEMA_VERSION`, the collector's tables are dropped
and every run is ingested again (``published`` belongs to the report layer and is left alone).

No secondary indexes: DuckDB scans columns with min/max zone maps, which serves every query the
reports make (whole-table aggregates), while ART indexes slow bulk inserts and turn duplicate keys
inside one batch into errors. The primary keys below are the integrity checks we want.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 4  # 2: suite_design, suite_cells.baseline; runs.asset_time_s, runs.analysis_error;
# 3: runs.task_family, runs.method_kind; 4: runs.forward_examples


@dataclass(frozen=True)
class RunField:
    """One column of ``runs`` and where the collector reads it in a run's ``record.json``: the key
    ``key`` of the object ``source`` ("" the record itself, "spec.", "cost.", "provenance."), of JSON
    kind ``kind`` (str, int, num, bool, json, time); a missing required value rejects the record."""

    column: str
    sql: str
    source: str
    key: str
    kind: str
    required: bool


# The runs table, column by column, in the order of architecture.md: the one list that both the
# table's columns (RUNS_COLUMNS) and the collector's parser (store/records.py) read.
RUN_FIELDS: tuple[RunField, ...] = (
    RunField("run_id", "VARCHAR PRIMARY KEY", "", "run_id", "str", True),
    RunField("suite", "VARCHAR", "spec.", "suite", "str", False),
    RunField("task", "VARCHAR NOT NULL", "spec.", "task", "str", True),
    RunField("task_label", "VARCHAR NOT NULL", "spec.", "label", "str", False),
    RunField("task_version", "VARCHAR", "spec.", "task_version", "str", False),
    RunField("method", "VARCHAR NOT NULL", "spec.", "method", "str", True),
    RunField("method_version", "VARCHAR", "spec.", "method_version", "str", False),
    RunField("hparams", "JSON", "spec.", "hparams", "json", True),
    RunField("task_params", "JSON", "spec.", "task_params", "json", True),
    RunField("train", "JSON", "spec.", "train", "json", True),
    RunField("seed", "BIGINT", "spec.", "seed", "int", True),
    RunField("status", "VARCHAR NOT NULL", "", "status", "str", True),
    RunField("started_at", "TIMESTAMPTZ", "", "started_at", "time", False),
    RunField("finished_at", "TIMESTAMPTZ", "", "finished_at", "time", False),
    RunField("wall_time_s", "DOUBLE", "", "wall_time_s", "num", False),
    RunField("train_time_s", "DOUBLE", "", "train_time_s", "num", False),
    RunField("eval_time_s", "DOUBLE", "", "eval_time_s", "num", False),
    RunField("asset_time_s", "DOUBLE", "", "asset_time_s", "num", False),
    RunField("steps", "BIGINT", "", "steps", "int", False),
    RunField("selected_step", "BIGINT", "", "selected_step", "int", False),
    RunField("forward", "BIGINT", "cost.", "forward", "int", False),
    RunField("backward", "BIGINT", "cost.", "backward", "int", False),
    RunField("forward_examples", "BIGINT", "cost.", "forward_examples", "int", False),
    RunField("step_time_s", "DOUBLE", "cost.", "step_time_s", "num", False),
    RunField("peak_memory_mb", "DOUBLE", "cost.", "peak_memory_mb", "num", False),
    RunField("examples_per_s", "DOUBLE", "cost.", "examples_per_s", "num", False),
    RunField("tokens_per_s", "DOUBLE", "cost.", "tokens_per_s", "num", False),
    RunField("git_commit", "VARCHAR", "provenance.", "git_commit", "str", False),
    RunField("tram_bench_version", "VARCHAR", "provenance.", "tram_bench_version", "str", False),
    RunField("torch_version", "VARCHAR", "provenance.", "torch", "str", False),
    RunField("cuda_version", "VARCHAR", "provenance.", "cuda", "str", False),
    RunField("device", "VARCHAR", "provenance.", "device", "str", False),
    RunField("device_name", "VARCHAR", "provenance.", "device_name", "str", False),
    RunField("precision", "VARCHAR", "provenance.", "precision", "str", False),
    RunField("world_size", "INTEGER", "provenance.", "world_size", "int", False),
    RunField("error", "VARCHAR", "", "error", "str", False),
    RunField("analysis_error", "VARCHAR", "", "analysis_error", "str", False),
    # NULL only in an export made before the column existed; "" or missing in records written before
    # cells carried them (the collector resolves those).
    RunField("task_family", "VARCHAR", "spec.", "task_family", "str", False),
    RunField("method_kind", "VARCHAR", "spec.", "method_kind", "str", False),
)
RUNS_COLUMNS: tuple[tuple[str, str], ...] = tuple((f.column, f.sql) for f in RUN_FIELDS)

METRICS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR NOT NULL"),
    ("checkpoint", "VARCHAR NOT NULL"),
    ("domain", "VARCHAR NOT NULL"),
    ("split", "VARCHAR NOT NULL"),
    ("metric", "VARCHAR NOT NULL"),
    ("value", "DOUBLE"),
    ("in_domain", "BOOLEAN"),
    ("higher_is_better", "BOOLEAN"),
)

SUITE_CELLS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("suite", "VARCHAR NOT NULL"),
    ("run_id", "VARCHAR NOT NULL"),
    ("task", "VARCHAR NOT NULL"),
    ("task_label", "VARCHAR NOT NULL"),
    ("method", "VARCHAR NOT NULL"),
    ("hparams", "JSON"),
    ("seed", "BIGINT"),
    # True for the cells of the task's baseline configuration (the plan's design); false for the
    # others; NULL for every cell of a task without a baseline (e.g. an ambiguous default).
    ("baseline", "BOOLEAN"),
)

# The comparison design of each task of each suite (tram_bench.suite.design.TaskDesign), one row per
# task label. baseline_method / baseline_hparams are NULL when the task has no baseline.
SUITE_DESIGN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("suite", "VARCHAR NOT NULL"),
    ("task_label", "VARCHAR NOT NULL"),
    ("task", "VARCHAR NOT NULL"),
    ("family", "VARCHAR"),
    ("baseline_method", "VARCHAR"),
    ("baseline_hparams", "JSON"),
    ("delta", "DOUBLE"),  # equivalence margin, in `units`
    ("units", "VARCHAR"),  # "points" (accuracy x 100) or "log_ratio" (log perplexity ratio)
    ("alpha", "DOUBLE"),
    ("comparisons", "INTEGER"),  # m: trained non-baseline configurations
    ("n_seeds", "INTEGER"),
)

# Bookkeeping: which source file produced which rows, and its (mtime, size) when ingested.
INGEST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("path", "VARCHAR PRIMARY KEY"),  # relative to the results dir: runs/<id> or suites/<file>
    ("kind", "VARCHAR NOT NULL"),  # "run" or "suite"
    ("key", "VARCHAR NOT NULL"),  # the run id or the suite name
    ("mtime_ns", "BIGINT NOT NULL"),
    ("size", "BIGINT NOT NULL"),
)

TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "runs": RUNS_COLUMNS,
    "metrics": METRICS_COLUMNS,
    "suite_cells": SUITE_CELLS_COLUMNS,
    "suite_design": SUITE_DESIGN_COLUMNS,
    "_ingest": INGEST_COLUMNS,
}
_TABLE_CONSTRAINTS = {"suite_cells": ", PRIMARY KEY (suite, run_id)", "suite_design": ", PRIMARY KEY (suite, task_label)"}


def create_table_sql(table: str) -> str:
    cols = ", ".join(f"{name} {sqltype}" for name, sqltype in TABLES[table])
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols}{_TABLE_CONSTRAINTS.get(table, '')})"


def column_names(table: str) -> list[str]:
    return [name for name, _ in TABLES[table]]


def ensure_schema(con) -> bool:
    """Create the tables (rebuilding them on a schema version change). True if (re)built empty."""
    con.execute("CREATE TABLE IF NOT EXISTS _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    row = con.execute("SELECT value FROM _meta WHERE key = 'schema_version'").fetchone()
    if row is not None and row[0] == str(SCHEMA_VERSION):
        return False
    con.execute("BEGIN TRANSACTION")
    try:
        for table in TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(create_table_sql(table))
        con.execute("INSERT OR REPLACE INTO _meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return True
