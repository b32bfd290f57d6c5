"""The collector: finished run directories and suite plan files -> ``results/tram-bench.duckdb``.

- A run directory counts when it has a ``done`` marker; without one it is pending and ignored (rows
  from an earlier finished attempt stay until the new attempt finishes and replaces them).
- A record whose file (mtime, size) matches what was ingested last time is skipped, so re-collecting
  is cheap and changes nothing; a changed record replaces all rows of that run in one transaction.
- A directory that disappeared takes its rows with it (the database mirrors ``results/``).
- A record that cannot be read or parsed is reported in ``failed_dirs`` and the rest is ingested.
- One writer at a time: an exclusive ``flock`` on ``results/.collector.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

import pyarrow as pa

from tram_bench.store.records import ParsedPlan, ParsedRun, RecordError, loads, parse_plan, parse_record
from tram_bench.store.schema import TABLES, ensure_schema

DB_NAME = "tram-bench.duckdb"
LOCK_NAME = ".collector.lock"
_POLL_S = 0.05

_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}


class CollectorError(RuntimeError):
    """The collection could not run at all (one-line message)."""


class CollectorBusy(CollectorError):
    """Another collector (or another writer of the database) kept it locked past the timeout."""


class FailedDir(NamedTuple):
    """A run directory or plan file that was not ingested, and why (unpacks as ``path, reason``)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class CollectStats:
    ingested: int = 0  # runs new to the database
    updated: int = 0  # runs whose rows were replaced (the record changed, e.g. a retried failure)
    skipped: int = 0  # finished runs whose record is unchanged since the last collection
    failed_dirs: list[FailedDir] = field(default_factory=list)  # run dirs / plan files not ingested
    pending: int = 0  # run dirs without a done marker
    removed: int = 0  # runs whose directory no longer exists (their rows were deleted)
    suites: int = 0  # plan files (re)ingested


def db_path(results_dir: str | Path) -> Path:
    return Path(results_dir) / DB_NAME


def collect(results_dir: str | Path, *, lock_timeout_s: float = 60.0,
            on_wait: Callable[[], None] | None = None) -> CollectStats:
    """Ingest ``results_dir/runs/*/`` and ``results_dir/suites/*.json`` into the database.

    ``on_wait`` is called once if another collector holds the lock (e.g. to print "waiting").
    Raises :class:`CollectorBusy` after ``lock_timeout_s`` seconds of waiting.
    """
    results = Path(results_dir)
    if not results.is_dir():
        raise CollectorError(f"results directory {results} does not exist")
    deadline = time.monotonic() + lock_timeout_s
    with collector_lock(results, deadline, on_wait):
        con = _connect_rw(db_path(results), deadline)
        try:
            ensure_schema(con)
            return _collect(con, results)
        finally:
            con.close()


@contextlib.contextmanager
def collector_lock(results: Path, deadline: float, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    path = results / LOCK_NAME
    fh = open(path, "a+")
    try:
        waited = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                if time.monotonic() >= deadline:
                    holder = _read_holder(path)
                    raise CollectorBusy(
                        f"another collector{holder} holds {path}; gave up waiting (lock timeout)"
                    ) from None
                time.sleep(_POLL_S)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()


def _read_holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


def _connect_rw(path: Path, deadline: float):
    import duckdb

    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if "lock" not in text.lower():
                raise CollectorError(f"cannot open {path}: {text}") from None
            if time.monotonic() >= deadline:
                raise CollectorBusy(f"cannot open {path} for writing: another process has it open ({text})") from None
            time.sleep(_POLL_S)
        except duckdb.Error as exc:
            raise CollectorError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None


# --- scanning -------------------------------------------------------------------------------

@dataclass
class _Scan:
    runs: list[tuple[ParsedRun, str, int, int]] = field(default_factory=list)  # (parsed, path, mtime, size)
    present: set[str] = field(default_factory=set)  # every run dir name (finished or not)
    plans: list[tuple[ParsedPlan, str, int, int]] = field(default_factory=list)
    plan_paths: set[str] = field(default_factory=set)


def _collect(con, results: Path) -> CollectStats:
    stats = CollectStats()
    known = {path: (mtime, size) for path, mtime, size in
             con.execute("SELECT path, mtime_ns, size FROM _ingest").fetchall()}
    scan = _Scan()
    _scan_runs(results / "runs", known, scan, stats)
    _scan_plans(results / "suites", known, scan, stats)
    _write(con, scan, known, stats)
    return stats


def _scan_runs(root: Path, known: dict, scan: _Scan, stats: CollectStats) -> None:
    # Plain strings and os calls here: pathlib objects cost more than the stats for 10k dirs.
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return
    for entry in entries:
        name = entry.name
        if name.startswith(".") or not entry.is_dir():
            continue
        scan.present.add(name)
        run_dir = entry.path
        try:
            done_size = os.stat(os.path.join(run_dir, "done")).st_size
        except FileNotFoundError:
            stats.pending += 1
            continue
        rel = f"runs/{name}"
        record_path = os.path.join(run_dir, "record.json")
        try:
            st = os.stat(record_path)
        except FileNotFoundError:
            stats.failed_dirs.append(FailedDir(run_dir, "done marker present but record.json is missing"))
            continue
        if known.get(rel) == (st.st_mtime_ns, st.st_size):
            stats.skipped += 1
            continue
        try:
            done_text = ""
            if done_size:
                with open(os.path.join(run_dir, "done"), errors="replace") as fh:
                    done_text = fh.read()
            with open(record_path, "rb") as fh:
                raw = fh.read()
            parsed = parse_record(name, loads(raw), done_text)
        except RecordError as exc:
            stats.failed_dirs.append(FailedDir(run_dir, f"record.json: {exc}"))
            continue
        except OSError as exc:
            stats.failed_dirs.append(FailedDir(run_dir, f"cannot read: {exc.strerror or exc}"))
            continue
        scan.runs.append((parsed, rel, st.st_mtime_ns, st.st_size))


def _scan_plans(root: Path, known: dict, scan: _Scan, stats: CollectStats) -> None:
    try:
        files = sorted(p for p in root.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
    except FileNotFoundError:
        return
    for path in files:
        rel = f"suites/{path.name}"
        scan.plan_paths.add(rel)
        try:
            st = path.stat()
            if known.get(rel) == (st.st_mtime_ns, st.st_size):
                continue
            plan = parse_plan(path.stem, loads(path.read_bytes()))
        except RecordError as exc:
            stats.failed_dirs.append(FailedDir(str(path), str(exc)))
            continue
        except OSError as exc:
            stats.failed_dirs.append(FailedDir(str(path), f"cannot read: {exc.strerror or exc}"))
            continue
        scan.plans.append((plan, rel, st.st_mtime_ns, st.st_size))


# --- writing --------------------------------------------------------------------------------

def _arrow(table: str, rows: list[tuple]) -> pa.Table:
    cols = TABLES[table]
    schema = pa.schema([(name, _ARROW_TYPES[sqltype.split()[0]]) for name, sqltype in cols])
    columns = list(zip(*rows)) if rows else [() for _ in cols]
    arrays = []
    for values, f in zip(columns, schema):
        if pa.types.is_timestamp(f.type):  # given as epoch microseconds (see records._timestamp)
            arrays.append(pa.array(values, type=pa.int64()).cast(f.type))
        else:
            arrays.append(pa.array(values, type=f.type))
    return pa.table(arrays, schema=schema)


def _write(con, scan: _Scan, known: dict, stats: CollectStats) -> None:
    new_runs = _arrow("runs", [p.row for p, *_ in scan.runs])
    new_metrics = _arrow("metrics", [row for p, *_ in scan.runs for row in p.metrics])
    gone_runs = [path for path in known if path.startswith("runs/") and path[5:] not in scan.present]
    gone_plans = [path for path in known if path.startswith("suites/") and path not in scan.plan_paths]
    ingest_rows = [(rel, "run", p.run_id, m, s) for p, rel, m, s in scan.runs]
    ingest_rows += [(rel, "suite", plan.suite, m, s) for plan, rel, m, s in scan.plans]
    new_ingest = _arrow("_ingest", ingest_rows)
    new_cells = _arrow("suite_cells", [row for plan, *_ in scan.plans for row in plan.cells])
    new_design = _arrow("suite_design", [row for plan, *_ in scan.plans for row in plan.design])
    gone = pa.table({"path": pa.array(gone_runs + gone_plans, type=pa.string())})
    if not (scan.runs or scan.plans or gone_runs or gone_plans):
        return

    views = {"_new_runs": new_runs, "_new_metrics": new_metrics, "_new_ingest": new_ingest,
             "_new_cells": new_cells, "_new_design": new_design, "_gone": gone}
    for name, table in views.items():
        con.register(name, table)
    try:
        stats.updated = con.execute(
            "SELECT count(*) FROM runs WHERE run_id IN (SELECT run_id FROM _new_runs)").fetchone()[0]
        stats.ingested = len(scan.runs) - stats.updated
        stats.removed = len(gone_runs)
        stats.suites = len(scan.plans)
        con.execute("BEGIN TRANSACTION")
        try:
            # Rows of re-run and of vanished runs go first, then the new rows of every changed record.
            con.execute("""DELETE FROM metrics WHERE run_id IN (SELECT run_id FROM _new_runs)
                           OR run_id IN (SELECT key FROM _ingest WHERE path IN (SELECT path FROM _gone)
                                         AND kind = 'run')""")
            con.execute("""DELETE FROM runs WHERE run_id IN (SELECT run_id FROM _new_runs)
                           OR run_id IN (SELECT key FROM _ingest WHERE path IN (SELECT path FROM _gone)
                                         AND kind = 'run')""")
            for table in ("suite_cells", "suite_design"):
                con.execute(f"""DELETE FROM {table} WHERE suite IN (SELECT key FROM _new_ingest WHERE kind = 'suite')
                                OR suite IN (SELECT key FROM _ingest WHERE path IN (SELECT path FROM _gone)
                                             AND kind = 'suite')""")
            con.execute("""DELETE FROM _ingest WHERE path IN (SELECT path FROM _new_ingest)
                           OR path IN (SELECT path FROM _gone)""")
            con.execute("INSERT INTO runs SELECT * FROM _new_runs")
            con.execute("INSERT INTO metrics SELECT * FROM _new_metrics")
            con.execute("INSERT INTO suite_cells SELECT * FROM _new_cells")
            con.execute("INSERT INTO suite_design SELECT * FROM _new_design")
            con.execute("INSERT INTO _ingest SELECT * FROM _new_ingest")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        for name in views:
            con.unregister(name)
