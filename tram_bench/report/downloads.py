"""Every aggregated table of the site as CSV and JSON files beside its page.

A table is written twice from the same rows, under ``<site>/tables/<page stem>--<table>.{csv,json}``:

- CSV: a header row of column names, then one line per row (``csv`` module, ``\\n`` line ends); a missing
  or non-finite number is an empty field, booleans are ``true``/``false``;
- JSON: ``{"columns": [...], "rows": [[...], ...]}`` with ``null`` for a missing or non-finite number.

Rows come from the report model's dataclasses (:func:`rows_of`): nested dataclasses become dotted
columns (``severity.mean``). Bytes depend only on the rows, so a rebuild from the same store writes the
same files.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

TABLES_DIR = "tables"


@dataclass
class TableFile:
    """One downloadable table: ``columns`` and ``rows`` of plain values (str, int, float, bool, None)."""

    name: str  # unique within its page, file-name safe
    columns: list[str]
    rows: list[list[Any]]


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _flat(f"{prefix}{f.name}.", getattr(value, f.name), out)
    elif isinstance(value, dict):
        for k in value:  # the caller's order: a dict row's keys are its columns
            _flat(f"{prefix}{k}.", value[k], out)
    elif isinstance(value, (set, frozenset, list, tuple)):
        out[prefix[:-1]] = "; ".join(str(v) for v in sorted(value, key=str)) if isinstance(
            value, (set, frozenset)) else "; ".join(str(v) for v in value)
    else:
        out[prefix[:-1]] = value


def rows_of(name: str, items: Iterable[Any]) -> TableFile:
    """A table of dataclass instances (or plain dicts), one row each, columns in field order."""
    flat = []
    for item in items:
        d: dict[str, Any] = {}
        _flat("", item, d)
        flat.append(d)
    columns: list[str] = []
    for d in flat:
        for k in d:
            if k not in columns:
                columns.append(k)
    return TableFile(name, columns, [[d.get(c) for c in columns] for d in flat])


def _plain(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def csv_text(t: TableFile) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(t.columns)
    for row in t.rows:
        w.writerow(["" if (p := _plain(v)) is None else ("true" if p is True else "false" if p is False else p)
                    for v in row])
    return buf.getvalue()


def json_text(t: TableFile) -> str:
    return json.dumps({"columns": t.columns, "rows": [[_plain(v) for v in r] for r in t.rows]},
                      ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"


def file_base(page_stem: str, table: str) -> str:
    """``tables/<page stem>--<table>``: the path of a table's files relative to the site root, no extension."""
    return f"{TABLES_DIR}/{page_stem}--{table}"


@dataclass
class PageTables:
    """The downloadable tables of one page, collected while the page is built. ``stem``: the page's file
    name without ``.html``; ``prefix``: the path from the page to the site root (``""`` or ``"../"``)."""

    stem: str
    prefix: str = ""
    files: list[TableFile] = dataclasses.field(default_factory=list)

    def add(self, table: TableFile) -> str:
        """Keep ``table`` for writing; returns its files' path relative to the page, without extension
        (``HtmlTable.download``)."""
        self.files.append(table)
        return self.prefix + file_base(self.stem, table.name)


def write_tables(out_dir: Path, page_stem: str, tables: Sequence[TableFile], write) -> list[str]:
    """Write each table's CSV and JSON with ``write(path, text)``; returns the written paths relative to
    ``out_dir``. Raises ValueError when two tables of one page share a name."""
    names = [t.name for t in tables]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate table names on {page_stem}: {sorted(n for n in names if names.count(n) > 1)}")
    (out_dir / TABLES_DIR).mkdir(parents=True, exist_ok=True)
    written = []
    for t in tables:
        base = file_base(page_stem, t.name)
        for ext, text in (("csv", csv_text(t)), ("json", json_text(t))):
            write(out_dir / f"{base}.{ext}", text)
            written.append(f"{base}.{ext}")
    return written


__all__ = ["PageTables", "TABLES_DIR", "TableFile", "csv_text", "file_base", "json_text", "rows_of", "write_tables"]
