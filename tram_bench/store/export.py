"""Export the store's tables as Parquet or CSV files (published beside the static leaderboard)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tram_bench.store.query import open_db

FORMATS = ("parquet", "csv")
# A fixed row order makes two exports of the same data byte-comparable.
_TABLE_ORDER = {
    "runs": "run_id",
    "metrics": "run_id, checkpoint, domain, split, metric",
    "suite_cells": "suite, run_id",
    "suite_design": "suite, task_label",
}


def export(results_dir: str | Path, out_dir: str | Path, fmt: str) -> list[Path]:
    """Write ``runs``, ``metrics``, ``suite_cells`` and ``suite_design`` to ``out_dir/<table>.<fmt>``;
    returns the paths. A database collected before a table existed exports the tables it has.

    Each file is written under a temporary name and renamed, so a reader never sees half a file.
    Timestamps are written in UTC; JSON columns are written as JSON text.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    written = []
    con = open_db(results_dir, read_only=True)
    try:
        present = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        for table, order in _TABLE_ORDER.items():
            if table not in present:
                continue
            final = out / f"{table}.{fmt}"
            tmp = out / f".{table}.{fmt}.tmp"
            try:
                con.execute(f"COPY (SELECT * FROM {table} ORDER BY {order}) TO {_sql_string(tmp)} ({options})")
                os.replace(tmp, final)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            written.append(final)
    finally:
        con.close()
    return written


def _sql_string(path: Path) -> str:
    # COPY takes no bound parameter for its target; quote the path as an SQL string literal.
    return "'" + str(path).replace("'", "''") + "'"
