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


# Rows of one suite: its planned cells and design, the runs they name (a run id does not hold the suite
# name, so a cell may name a run another suite ran) and the runs recorded under its name without a plan.
_SUITE_FILTER = {
    "runs": "run_id IN (SELECT run_id FROM suite_cells WHERE suite = $suite) OR suite = $suite",
    "metrics": "run_id IN (SELECT run_id FROM suite_cells WHERE suite = $suite) "
               "OR run_id IN (SELECT run_id FROM runs WHERE suite = $suite)",
    "suite_cells": "suite = $suite",
    "suite_design": "suite = $suite",
}


class UnknownSuite(ValueError):
    """``export(..., suite=NAME)`` for a suite the database does not hold (one line, names what it holds)."""


def export(results_dir: str | Path, out_dir: str | Path, fmt: str, suite: str | None = None) -> list[Path]:
    """Write ``runs``, ``metrics``, ``suite_cells`` and ``suite_design`` to ``out_dir/<table>.<fmt>``;
    returns the paths. A database collected before a table existed exports the tables it has.

    With ``suite``, only that suite's rows (its cells and design, the runs its cells name and the runs
    recorded under its name): the compact export committed under ``docs/results/<suite>/``. Raises
    :class:`UnknownSuite`, before anything is written, when the database holds no such suite.

    Each file is written under a temporary name and renamed, so a reader never sees half a file.
    Timestamps are written in UTC; JSON columns are written as JSON text.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    if suite is not None:
        _check_suite(results_dir, suite)
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
            where, params = ("", {}) if suite is None else (f" WHERE {_SUITE_FILTER[table]}", {"suite": suite})
            try:
                con.execute(f"COPY (SELECT * FROM {table}{where} ORDER BY {order}) TO {_sql_string(tmp)} ({options})",
                            params)
                os.replace(tmp, final)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            written.append(final)
    finally:
        con.close()
    return written


def _check_suite(results_dir: str | Path, suite: str) -> None:
    con = open_db(results_dir, read_only=True)
    try:
        names = sorted({r[0] for r in con.execute(
            "SELECT suite FROM suite_cells UNION SELECT suite FROM runs WHERE suite IS NOT NULL").fetchall()})
    finally:
        con.close()
    if suite not in names:
        raise UnknownSuite(f"--suite {suite!r}: the database holds no such suite (it holds: "
                           f"{', '.join(names) or 'none'})")


def _sql_string(path: Path) -> str:
    # COPY takes no bound parameter for its target; quote the path as an SQL string literal.
    return "'" + str(path).replace("'", "''") + "'"
