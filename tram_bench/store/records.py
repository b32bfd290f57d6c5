"""Run records and plan files turned into table rows (pure functions; no database here).

A record that does not follow the run-directory format of docs/architecture.md raises
:class:`RecordError` with a one-line reason; the collector reports it and ingests the rest.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from tram_bench.store.schema import RUN_FIELDS
from tram_bench.suite.design import SuiteDesign, default_design
from tram_bench.suite.spec import CellDoc
from tram_bench.train.rundir import FINISHED


try:  # orjson is several times faster on 10k records; json is the fallback (and reads NaN)
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


class RecordError(ValueError):
    """A record or plan file that cannot be ingested (the message is the reason)."""


def loads(data: bytes) -> Any:
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass  # e.g. NaN, which Python's json writes for a diverged loss and orjson refuses
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(f"not valid JSON ({exc})") from None


@dataclass(frozen=True)
class ParsedRun:
    run_id: str
    row: tuple  # in the column order of schema.RUNS_COLUMNS (times as epoch microseconds)
    metrics: list[tuple]  # rows in the column order of schema.METRICS_COLUMNS


@dataclass(frozen=True)
class ParsedPlan:
    suite: str
    cells: list[tuple]  # rows in the column order of schema.SUITE_CELLS_COLUMNS
    design: list[tuple] = field(default_factory=list)  # rows in the order of schema.SUITE_DESIGN_COLUMNS


_KIND_NAMES = {"str": "a string", "int": "an integer", "num": "a number", "bool": "true/false",
               "json": "an object", "time": "an ISO-8601 time string", "list": "a list"}

# Positions in RUN_FIELDS of the values checked or filled in after the loop.
_POSITION = {f.column: i for i, f in enumerate(RUN_FIELDS)}
_TASK, _LABEL, _METHOD, _STATUS = _POSITION["task"], _POSITION["task_label"], _POSITION["method"], _POSITION["status"]
_FAMILY, _KIND = _POSITION["task_family"], _POSITION["method_kind"]
# The (source, key, kind, required) of each column, unpacked in the parser's loop.
_READS = tuple((f.source, f.key, f.kind, f.required) for f in RUN_FIELDS)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND = dt.timedelta(microseconds=1)
_JSON_COLUMN = json.JSONEncoder(sort_keys=True, allow_nan=True)  # built once (json.dumps(**kw) builds one per call)


def dumps_json_column(value: Any) -> str:
    """The text stored in a JSON column: keys sorted, so equal dicts compare and group equal."""
    return _JSON_COLUMN.encode(value)


def _epoch_us(text: str, key: str) -> int:
    """Microseconds since the Unix epoch (UTC): an int column converts to Arrow without pandas."""
    try:
        ts = dt.datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"{key} is not an ISO-8601 time: {text!r:.60}") from None
    # A time without an offset is taken as UTC (what the training loop writes).
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.timezone.utc)
    return (ts - _EPOCH) // _MICROSECOND


def _wrong(where: str, key: str, kind: str, value: Any) -> RecordError:
    return RecordError(f"{where}{key} must be {_KIND_NAMES[kind]}, got {type(value).__name__} {value!r:.60}")


def _object(record: dict, key: str) -> dict:
    value = record.get(key)
    if value is None:
        return {}
    if type(value) is not dict:
        raise _wrong("", key, "json", value)
    return value


@functools.lru_cache(maxsize=None)
def resolve_family(task: str) -> str | None:
    """The ``family`` of a registered task, for a record written before cells carried it (resolved once
    per task id and collector process); None when the task cannot be imported (a lost plugin)."""
    from tram_bench.tasks.registry import TASKS

    try:
        return getattr(TASKS.get(task), "family", None) or None
    except Exception:  # noqa: BLE001 - a task that no longer resolves only loses its family
        return None


@functools.lru_cache(maxsize=None)
def resolve_kind(method: str) -> str:
    """The ``kind`` of a registered method (tram_bench.methods.kinds), for a record written before cells
    carried it (resolved once per method id and collector process); "other" when it cannot be imported."""
    from tram_bench.methods import kinds
    from tram_bench.methods.registry import METHODS

    try:
        return str(METHODS.get(method).kind)
    except Exception:  # noqa: BLE001 - a method that no longer resolves is "other"
        return kinds.OTHER


def parse_record(dir_name: str, record: Any, done_text: str) -> ParsedRun:
    """Rows for one finished run. ``done_text`` is the content of its ``done`` marker."""
    if type(record) is not dict:
        raise RecordError(f"record.json must hold a JSON object, got {type(record).__name__}")
    if record.get("spec") is None:
        raise RecordError("spec is missing")
    sources = {"": record, "spec.": _object(record, "spec"), "cost.": _object(record, "cost"),
               "provenance.": _object(record, "provenance")}
    row: list[Any] = []
    # Exact type() checks in one loop: this runs for every record of a cold collection.
    for where, key, kind, required in _READS:
        v = sources[where].get(key)
        if v is None:
            if required:
                raise RecordError(f"{where}{key} is missing")
            row.append(None)
            continue
        t = type(v)
        if kind == "str":
            if t is not str:
                raise _wrong(where, key, kind, v)
        elif kind == "num":
            if t is not float:
                if t is not int:
                    raise _wrong(where, key, kind, v)
                v = float(v)
        elif kind == "int":
            if t is not int:
                raise _wrong(where, key, kind, v)
        elif kind == "json":
            if t is not dict:
                raise _wrong(where, key, kind, v)
            v = _JSON_COLUMN.encode(v)
        elif kind == "time":
            if t is not str:
                raise _wrong(where, key, kind, v)
            v = _epoch_us(v, key)
        row.append(v)

    run_id, status = row[0], row[_STATUS]
    if run_id != dir_name:
        raise RecordError(f"run_id {run_id!r} does not match the directory name {dir_name!r}")
    if status not in FINISHED:
        raise RecordError(f"status {status!r} is not one of {', '.join(FINISHED)}")
    marker = done_text.strip()
    if marker and marker != status:
        raise RecordError(f"the done marker says {marker!r} but record.json says {status!r}")
    if not row[_LABEL]:
        row[_LABEL] = row[_TASK]
    if not row[_FAMILY]:
        row[_FAMILY] = resolve_family(row[_TASK])
    if not row[_KIND]:
        row[_KIND] = resolve_kind(row[_METHOD])
    metrics = record.get("metrics")
    if metrics is not None and type(metrics) is not list:
        raise _wrong("", "metrics", "list", metrics)
    return ParsedRun(run_id=run_id, row=tuple(row), metrics=_metrics(run_id, metrics or []))


def _metrics(run_id: str, items: list) -> list[tuple]:
    rows = []
    seen: set[tuple] = set()
    for i, m in enumerate(items):
        # Inline exact checks for the common case; the checked path names the bad field.
        if type(m) is dict:
            ck, dom, sp, name = m.get("checkpoint"), m.get("domain"), m.get("split"), m.get("metric")
            v, ind, hib = m.get("value"), m.get("in_domain"), m.get("higher_is_better")
            if not (type(ck) is str and type(dom) is str and type(sp) is str and type(name) is str
                    and (type(v) is float or v is None) and (ind is None or type(ind) is bool)
                    and (hib is None or type(hib) is bool)):
                ck, dom, sp, name, v, ind, hib = _metric_checked(i, m)
        else:
            ck, dom, sp, name, v, ind, hib = _metric_checked(i, m)
        key = (ck, dom, sp, name)
        if key in seen:
            raise RecordError(f"metrics[{i}] repeats {'/'.join(key)}")
        seen.add(key)
        rows.append((run_id, ck, dom, sp, name, v, ind, hib))
    return rows


_METRIC_FIELDS = (("checkpoint", "str", True), ("domain", "str", True), ("split", "str", True),
                  ("metric", "str", True), ("value", "num", False), ("in_domain", "bool", False),
                  ("higher_is_better", "bool", False))


def _metric_checked(i: int, m: Any) -> tuple:
    w = f"metrics[{i}]."
    if type(m) is not dict:
        raise RecordError(f"metrics[{i}] must be an object, got {type(m).__name__}")
    out = []
    for key, kind, required in _METRIC_FIELDS:
        v = m.get(key)
        if v is None:
            if required:
                raise RecordError(f"{w}{key} is missing")
        elif kind == "num":
            if type(v) not in (int, float):  # bool is excluded: type(True) is bool
                raise _wrong(w, key, kind, v)
            v = float(v)
        elif type(v) is not (str if kind == "str" else bool):
            raise _wrong(w, key, kind, v)
        out.append(v)
    return tuple(out)


def parse_plan(file_stem: str, doc: Any) -> ParsedPlan:
    """Rows of ``suite_cells`` and ``suite_design`` from one ``results/suites/<suite>.json``.

    A plan without a ``design`` key (written before designs existed) gets the default design of its
    cells (:func:`tram_bench.suite.design.default_design`: NULL baseline where it is ambiguous).
    """
    if type(doc) is not dict:
        raise RecordError(f"a plan file must hold a JSON object, got {type(doc).__name__}")
    suite, cells = doc.get("suite"), doc.get("cells")
    if type(suite) is not str:
        raise _wrong("", "suite", "str", suite)
    if suite != file_stem:
        raise RecordError(f"suite {suite!r} does not match the file name {file_stem!r}.json")
    if type(cells) is not list:
        raise _wrong("", "cells", "list", cells)
    rows = []
    specs: list[CellDoc] = []
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        if type(cell) is not dict:
            raise RecordError(f"cells[{i}] must be an object")
        try:
            spec = CellDoc.from_json(cell)
            run_id = spec.run_id
        except Exception as exc:  # noqa: BLE001 - any malformed cell is a reason, not a crash
            raise RecordError(f"cells[{i}] is not a RunSpec ({type(exc).__name__}: {exc})") from None
        if "run_id" in cell and cell["run_id"] != run_id:
            raise RecordError(f"cells[{i}] run_id {cell['run_id']!r} does not match its spec (expected {run_id!r})")
        if run_id in seen:
            raise RecordError(f"cells[{i}] repeats run {run_id}")
        seen.add(run_id)
        if type(spec.hparams) is not dict or type(spec.seed) is not int:
            raise RecordError(f"cells[{i}] has malformed hparams or seed")
        specs.append(spec)
    design = _plan_design(suite, doc, specs)
    baseline_of = {t.task_label: set(t.baseline_run_ids) if t.baseline_method is not None else None
                   for t in design.tasks}
    for spec in specs:
        ids = baseline_of.get(spec.task_label)
        rows.append((suite, spec.run_id, spec.task, spec.task_label, spec.method, dumps_json_column(spec.hparams),
                     spec.seed, None if ids is None else spec.run_id in ids))
    design_rows = [(suite, t.task_label, t.task, t.family or None, t.baseline_method,
                    None if t.baseline_hparams is None else dumps_json_column(t.baseline_hparams),
                    t.delta, t.units, design.alpha, t.comparisons, len(t.seeds)) for t in design.tasks]
    return ParsedPlan(suite=suite, cells=rows, design=design_rows)


def _plan_design(suite: str, doc: dict, specs: list[CellDoc]) -> SuiteDesign:
    raw = doc.get("design")
    if raw is None:
        return default_design(suite, specs)
    try:
        design = SuiteDesign.from_json(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecordError(f"design is malformed ({type(exc).__name__}: {exc})") from None
    if design.suite != suite:
        raise RecordError(f"design.suite {design.suite!r} does not match the plan's suite {suite!r}")
    labels = [t.task_label for t in design.tasks]
    if len(set(labels)) != len(labels):
        raise RecordError("design.tasks repeats a task label")
    return design
