"""The paper's published numbers as data, and how our tasks map onto them.

Every table lives in ``published/tableN.csv`` (long format: one printed cell per row) and is described
in ``published/tables.yaml`` (citation, title, caption). ``published/mapping.yaml`` says which of our
tasks reproduce a published setup (exact match, compared cell by cell) and which tables to show,
labelled "different setup", beside the other tasks of a family.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PUBLISHED_DIR = Path(__file__).with_name("published")

CSV_COLUMNS = (
    "table",
    "split",
    "model",
    "method",
    "method_label",
    "hparams",
    "domain",
    "domain_label",
    "metric",
    "statistic",
    "value",
    "pm",
    "pm_kind",
    "in_domain",
    "is_average",
    "higher_is_better",
    "seeds",
)
PM_KINDS = ("ci95", "std", "std_across_domains", "unspecified", "none")
STATISTICS = ("mean", "std")
CHECKPOINTS = ("selected", "final")


class PublishedDataError(ValueError):
    """A malformed published-table or mapping file (the message names the file, row and key)."""


@dataclass(frozen=True)
class PublishedCell:
    """One printed number of one paper table.

    ``value_text`` keeps the number exactly as printed so that its precision (decimals) is known.
    ``statistic`` is ``mean`` for ordinary cells and ``std`` for Table 13 (a spread over seeds).
    ``hparams`` holds only the hyperparameters that distinguish the row (Table 14's divergence).
    """

    table: str
    split: str
    model: str
    method: str
    method_label: str
    hparams: dict[str, Any]
    domain: str
    domain_label: str
    metric: str
    statistic: str
    value_text: str
    pm_text: str  # the ± as printed ("" when none)
    pm_kind: str
    in_domain: bool
    is_average: bool
    higher_is_better: bool
    seeds: int

    @property
    def value(self) -> float:
        return float(self.value_text)

    @property
    def pm(self) -> float | None:
        return float(self.pm_text) if self.pm_text else None

    @property
    def decimals(self) -> int:
        return len(self.value_text.split(".")[1]) if "." in self.value_text else 0


@dataclass(frozen=True)
class TableInfo:
    id: str
    file: str
    title: str
    caption: str


@dataclass(frozen=True)
class Citation:
    authors: str
    title: str
    venue: str
    arxiv: str
    url: str
    bibtex_key: str

    def text(self) -> str:
        return f"{self.authors}. {self.title}. {self.venue} (arXiv {self.arxiv})."


@dataclass(frozen=True)
class TaskMapping:
    """An exact match between one of our tasks and a published setup."""

    task: str
    table: str
    split: str
    metric: str
    scale: float
    tolerance: float
    checkpoint: str
    domains: dict[str, str]
    zs_avg: bool = False


@dataclass(frozen=True)
class PublishedMapping:
    families: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tasks: tuple[TaskMapping, ...] = ()


@dataclass(frozen=True)
class PublishedData:
    citation: Citation
    tables: dict[str, TableInfo]
    cells: tuple[PublishedCell, ...]
    mapping: PublishedMapping


# --- reading ------------------------------------------------------------------------------------


def _bool(text: str, where: str, key: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise PublishedDataError(f"{where}: column {key!r} must be 'true' or 'false', got {text!r}")


def _number(text: str, where: str, key: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise PublishedDataError(f"{where}: column {key!r} is not a number: {text!r}") from None
    if not math.isfinite(x):
        raise PublishedDataError(f"{where}: column {key!r} is not finite: {text!r}")
    return x


def _parse_cell(row: dict[str, str], where: str) -> PublishedCell:
    for key in CSV_COLUMNS:
        if row.get(key) is None:
            raise PublishedDataError(f"{where}: missing column {key!r}")
    if row["statistic"] not in STATISTICS:
        raise PublishedDataError(f"{where}: statistic {row['statistic']!r} is not one of {STATISTICS}")
    if row["pm_kind"] not in PM_KINDS:
        raise PublishedDataError(f"{where}: pm_kind {row['pm_kind']!r} is not one of {PM_KINDS}")
    if (row["pm"] == "") != (row["pm_kind"] == "none"):
        raise PublishedDataError(f"{where}: pm {row['pm']!r} and pm_kind {row['pm_kind']!r} disagree")
    try:
        hparams = json.loads(row["hparams"])
    except json.JSONDecodeError:
        raise PublishedDataError(f"{where}: column 'hparams' is not JSON: {row['hparams']!r}") from None
    if not isinstance(hparams, dict):
        raise PublishedDataError(f"{where}: column 'hparams' must be a JSON object, got {row['hparams']!r}")
    _number(row["value"], where, "value")
    if row["pm"]:
        _number(row["pm"], where, "pm")
    seeds = _number(row["seeds"], where, "seeds")
    if seeds != int(seeds) or seeds < 1:
        raise PublishedDataError(f"{where}: column 'seeds' must be a positive integer, got {row['seeds']!r}")
    return PublishedCell(
        table=row["table"],
        split=row["split"],
        model=row["model"],
        method=row["method"],
        method_label=row["method_label"],
        hparams=hparams,
        domain=row["domain"],
        domain_label=row["domain_label"],
        metric=row["metric"],
        statistic=row["statistic"],
        value_text=row["value"],
        pm_text=row["pm"],
        pm_kind=row["pm_kind"],
        in_domain=_bool(row["in_domain"], where, "in_domain"),
        is_average=_bool(row["is_average"], where, "is_average"),
        higher_is_better=_bool(row["higher_is_better"], where, "higher_is_better"),
        seeds=int(seeds),
    )


def read_table_csv(path: Path, table_id: str) -> list[PublishedCell]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise PublishedDataError(f"{path}: header must be {','.join(CSV_COLUMNS)}")
        cells = [_parse_cell(row, f"{path}:{i + 2}") for i, row in enumerate(reader)]
    for i, c in enumerate(cells):
        if c.table != table_id:
            raise PublishedDataError(f"{path}:{i + 2}: table {c.table!r} but tables.yaml lists the file as {table_id!r}")
    keys = [(c.split, c.method, json.dumps(c.hparams, sort_keys=True), c.domain, c.metric, c.statistic) for c in cells]
    if len(set(keys)) != len(keys):
        raise PublishedDataError(f"{path}: a (split, method, hparams, domain, metric, statistic) cell appears twice")
    return cells


def _require(d: dict[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise PublishedDataError(f"{where}: missing key {key!r}")
    return d[key]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PublishedDataError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise PublishedDataError(f"{path}: top level must be a mapping")
    return data


def read_mapping(path: Path, known_tables: dict[str, TableInfo]) -> PublishedMapping:
    data = _read_yaml(path)
    families: dict[str, tuple[str, ...]] = {}
    for fam, tables in (data.get("families") or {}).items():
        if not isinstance(tables, list):
            raise PublishedDataError(f"{path}: families.{fam} must be a list of table ids")
        for t in tables:
            if str(t) not in known_tables:
                raise PublishedDataError(f"{path}: families.{fam} names unknown table {t!r}")
        families[str(fam)] = tuple(str(t) for t in tables)
    mappings = []
    for i, entry in enumerate(data.get("tasks") or []):
        where = f"{path}: tasks[{i}]"
        if not isinstance(entry, dict):
            raise PublishedDataError(f"{where} must be a mapping")
        table = str(_require(entry, "table", where))
        if table not in known_tables:
            raise PublishedDataError(f"{where}: unknown table {table!r}")
        checkpoint = str(entry.get("checkpoint", "selected"))
        if checkpoint not in CHECKPOINTS:
            raise PublishedDataError(f"{where}: checkpoint {checkpoint!r} is not one of {CHECKPOINTS}")
        domains = _require(entry, "domains", where)
        if not isinstance(domains, dict) or not domains:
            raise PublishedDataError(f"{where}: domains must be a non-empty mapping of our domain -> paper domain")
        raw_scale, raw_tolerance = _require(entry, "scale", where), _require(entry, "tolerance", where)
        try:
            scale, tolerance = float(raw_scale), float(raw_tolerance)
        except (TypeError, ValueError):
            raise PublishedDataError(f"{where}: scale and tolerance must be numbers") from None
        if tolerance < 0 or scale <= 0:
            raise PublishedDataError(f"{where}: scale must be > 0 and tolerance >= 0")
        mappings.append(
            TaskMapping(
                task=str(_require(entry, "task", where)),
                table=table,
                split=str(_require(entry, "split", where)),
                metric=str(_require(entry, "metric", where)),
                scale=scale,
                tolerance=tolerance,
                checkpoint=checkpoint,
                domains={str(k): str(v) for k, v in domains.items()},
                zs_avg=bool(entry.get("zs_avg", False)),
            )
        )
    return PublishedMapping(families=families, tasks=tuple(mappings))


def read_published(directory: Path | None = None, mapping_path: Path | None = None) -> PublishedData:
    """Read and validate every published table, the citation and the task mapping."""
    directory = Path(directory) if directory is not None else PUBLISHED_DIR
    meta_path = directory / "tables.yaml"
    meta = _read_yaml(meta_path)
    c = _require(meta, "citation", str(meta_path))
    citation = Citation(**{k: str(_require(c, k, f"{meta_path}: citation")) for k in Citation.__dataclass_fields__})
    tables: dict[str, TableInfo] = {}
    cells: list[PublishedCell] = []
    for tid, info in (_require(meta, "tables", str(meta_path)) or {}).items():
        where = f"{meta_path}: tables.{tid}"
        t = TableInfo(
            id=str(tid),
            file=str(_require(info, "file", where)),
            title=str(_require(info, "title", where)),
            caption=str(_require(info, "caption", where)),
        )
        tables[t.id] = t
        cells.extend(read_table_csv(directory / t.file, t.id))
    mapping = read_mapping(Path(mapping_path) if mapping_path else directory / "mapping.yaml", tables)
    for m in mapping.tasks:
        paper_domains = {c.domain for c in cells if c.table == m.table and c.split == m.split and c.metric == m.metric}
        if not paper_domains:
            raise PublishedDataError(f"mapping for task {m.task!r}: table {m.table} has no split {m.split!r} with metric {m.metric!r}")
        for ours, theirs in m.domains.items():
            if theirs not in paper_domains:
                raise PublishedDataError(
                    f"mapping for task {m.task!r}: domain {ours!r} maps to {theirs!r}, not a domain of table {m.table} {m.split}"
                )
    return PublishedData(citation=citation, tables=tables, cells=tuple(cells), mapping=mapping)


# --- loading into DuckDB ------------------------------------------------------------------------


def _create(con, name: str, columns: str, temporary: bool) -> None:
    con.execute(f"CREATE OR REPLACE {'TEMP ' if temporary else ''}TABLE {name} ({columns})")


def insert_rows(con, table: str, rows: list[tuple]) -> None:
    """Bulk insert through one Arrow table (DuckDB's executemany costs milliseconds per row)."""
    if not rows:
        return
    import pyarrow as pa

    names = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    arrow = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    con.register("_tram_bench_rows", arrow)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _tram_bench_rows")
    finally:
        con.unregister("_tram_bench_rows")


def load_published(con, data: PublishedData | None = None, *, temporary: bool = True) -> PublishedData:
    """Create ``published``, ``published_tables``, ``published_task_map`` and ``published_family_map``.

    Temporary by default: the store file is written only by the collector, and a temp table works on
    a read-only connection too.
    """
    data = data if data is not None else read_published()
    _create(
        con,
        "published",
        "table_id VARCHAR, split VARCHAR, model VARCHAR, method VARCHAR, method_label VARCHAR, hparams JSON, "
        "domain VARCHAR, domain_label VARCHAR, metric VARCHAR, statistic VARCHAR, value DOUBLE, "
        "value_text VARCHAR, pm DOUBLE, pm_text VARCHAR, pm_kind VARCHAR, in_domain BOOLEAN, is_average BOOLEAN, "
        "higher_is_better BOOLEAN, seeds INTEGER, position INTEGER",
        temporary,
    )
    insert_rows(
        con,
        "published",
        [
            (
                c.table, c.split, c.model, c.method, c.method_label, json.dumps(c.hparams, sort_keys=True),
                c.domain, c.domain_label, c.metric, c.statistic, c.value, c.value_text, c.pm,
                c.pm_text or None, c.pm_kind, c.in_domain, c.is_average, c.higher_is_better, c.seeds, position,
            )
            for position, c in enumerate(data.cells)
        ],
    )
    _create(
        con,
        "published_tables",
        "table_id VARCHAR, file VARCHAR, title VARCHAR, caption VARCHAR, citation VARCHAR, url VARCHAR",
        temporary,
    )
    insert_rows(
        con,
        "published_tables",
        [(t.id, t.file, t.title, t.caption, data.citation.text(), data.citation.url) for t in data.tables.values()],
    )
    _create(
        con,
        "published_task_map",
        "task VARCHAR, table_id VARCHAR, split VARCHAR, metric VARCHAR, scale DOUBLE, tolerance DOUBLE, "
        "checkpoint VARCHAR, our_domain VARCHAR, paper_domain VARCHAR, zs_avg BOOLEAN",
        temporary,
    )
    rows = [
        (m.task, m.table, m.split, m.metric, m.scale, m.tolerance, m.checkpoint, ours, theirs, m.zs_avg)
        for m in data.mapping.tasks
        for ours, theirs in m.domains.items()
    ]
    insert_rows(con, "published_task_map", rows)
    _create(con, "published_family_map", "family VARCHAR, table_id VARCHAR, position INTEGER", temporary)
    rows = [(fam, t, i) for fam, tables in data.mapping.families.items() for i, t in enumerate(tables)]
    insert_rows(con, "published_family_map", rows)
    return data
