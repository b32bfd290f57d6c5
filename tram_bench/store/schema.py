"""The DuckDB schema of ``results/tram-bench.duckdb`` (docs/architecture.md, "DuckDB store").

The database is derived data: run directories and plan files are the truth. When the schema
version stored in ``_meta`` differs from :data:`SCHEMA_VERSION`, the collector's tables are dropped
and every run is ingested again (``published`` belongs to the report layer and is left alone).

No secondary indexes: DuckDB scans columns with min/max zone maps, which serves every query the
reports make (whole-table aggregates), while ART indexes slow bulk inserts and turn duplicate keys
inside one batch into errors. The primary keys below are the integrity checks we want.
"""

from __future__ import annotations

SCHEMA_VERSION = 3  # 2: suite_design, suite_cells.baseline; runs.asset_time_s, runs.analysis_error;
# 3: runs.task_family, runs.method_kind

# (column, SQL type) in the order of architecture.md; the collector fills them in this order.
RUNS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR PRIMARY KEY"),
    ("suite", "VARCHAR"),
    ("task", "VARCHAR NOT NULL"),
    ("task_label", "VARCHAR NOT NULL"),
    ("task_version", "VARCHAR"),
    ("method", "VARCHAR NOT NULL"),
    ("method_version", "VARCHAR"),
    ("hparams", "JSON"),
    ("task_params", "JSON"),
    ("train", "JSON"),
    ("seed", "BIGINT"),
    ("status", "VARCHAR NOT NULL"),
    ("started_at", "TIMESTAMPTZ"),
    ("finished_at", "TIMESTAMPTZ"),
    ("wall_time_s", "DOUBLE"),
    ("train_time_s", "DOUBLE"),
    ("eval_time_s", "DOUBLE"),
    ("asset_time_s", "DOUBLE"),
    ("steps", "BIGINT"),
    ("selected_step", "BIGINT"),
    ("forward", "BIGINT"),
    ("backward", "BIGINT"),
    ("step_time_s", "DOUBLE"),
    ("peak_memory_mb", "DOUBLE"),
    ("examples_per_s", "DOUBLE"),
    ("tokens_per_s", "DOUBLE"),
    ("git_commit", "VARCHAR"),
    ("tram_bench_version", "VARCHAR"),
    ("torch_version", "VARCHAR"),
    ("cuda_version", "VARCHAR"),
    ("device", "VARCHAR"),
    ("device_name", "VARCHAR"),
    ("precision", "VARCHAR"),
    ("world_size", "INTEGER"),
    ("error", "VARCHAR"),
    ("analysis_error", "VARCHAR"),
    ("task_family", "VARCHAR"),
    ("method_kind", "VARCHAR"),  # NULL only in an export made before the column existed
)

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
