"""The claims ledger as typed data: :class:`Claim` rows read from ``paper_claims.yaml`` and checked.

A claim names its methods before any run (no "best variant" picked from results), the score it is
about, the direction the paper states, and the paper's own evidence as references to cells of
``tram_bench/report/published/``. :func:`load_claims` refuses a malformed file with one line that
names the file, the claim and the key (:class:`ClaimsDataError`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tram_bench.report.published import PublishedCell, PublishedData, read_published
from tram_bench.suite.design import DEFAULT_DELTA

CLAIMS_FILE = Path(__file__).with_name("paper_claims.yaml")
#: ``competitors`` entry that stands for the task's declared baseline (its plain base optimizer).
BASELINE = "@baseline"
KINDS = ("compare", "severity_slope")
#: ``primary`` is the task's primary metric (accuracy or perplexity); the others are analysis metrics.
METRICS = ("primary", "sharpness", "cka")
GROUPS = ("ood_avg", "id_avg")
DIRECTIONS = ("better", "worse")
#: Task families a claim may be about: those the suite design knows (each has a default margin there).
FAMILIES = tuple(DEFAULT_DELTA)
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_KEYS = {"id", "statement", "source", "families", "kind", "subject", "competitors", "metric", "group",
         "direction", "evidence", "note"}
_REQUIRED = ("id", "statement", "source", "kind", "subject", "competitors", "metric", "group", "direction",
             "evidence")


class ClaimsDataError(ValueError):
    """A malformed claims file; the message is one line naming the file, the claim and the key."""


@dataclass(frozen=True)
class Source:
    """Where the paper makes a claim: ``section`` as printed (``"4.2"``) and a published ``table`` id."""

    section: str
    table: str

    def text(self) -> str:
        return f"Section {self.section}, Table {self.table}"


@dataclass(frozen=True)
class EvidenceRef:
    """Cells of one published table row set: (table, split, domain, metric) for each of ``methods``."""

    table: str
    split: str
    domain: str
    metric: str
    methods: tuple[str, ...]


@dataclass(frozen=True)
class Evidence:
    """One resolved published cell (a method's printed number) behind a claim."""

    table: str
    split: str
    domain_label: str
    method: str
    method_label: str
    metric: str
    value_text: str
    higher_is_better: bool


@dataclass(frozen=True)
class Claim:
    """One headline claim of the paper, as tram-bench tests it (keys documented in ``paper_claims.yaml``).

    ``families`` empty means every task family. ``competitors`` may hold :data:`BASELINE`.
    ``evidence`` is filled by :func:`load_claims` from the published cells the file references.
    """

    id: str
    statement: str
    source: Source
    families: tuple[str, ...]
    kind: str
    subject: str
    competitors: tuple[str, ...]
    metric: str
    group: str
    direction: str
    evidence_refs: tuple[EvidenceRef, ...]
    evidence: tuple[Evidence, ...]
    note: str = ""

    def applies_to(self, family: str | None) -> bool:
        return not self.families or family in self.families

    def methods(self) -> tuple[str, ...]:
        """The subject and the named competitors (without :data:`BASELINE`)."""
        return (self.subject, *(c for c in self.competitors if c != BASELINE))

    def evidence_text(self) -> str:
        """The paper's numbers, grouped by table cell: ``T4 wikipedia ZS Avg.: tram-prev 22.5, sam 26.1``."""
        groups: dict[tuple[str, str, str, str], list[str]] = {}
        for e in self.evidence:
            groups.setdefault((e.table, e.split, e.domain_label, e.metric), []).append(f"{e.method} {e.value_text}")
        return "; ".join(f"T{t} {s} {d} {m}: {', '.join(v)}" for (t, s, d, m), v in groups.items())


def _fail(where: str, message: str) -> ClaimsDataError:
    return ClaimsDataError(f"{where}: {message}")


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{where}.{key}", f"must be non-empty text, got {value!r}")
    return value.strip()


def _choice(entry: dict[str, Any], key: str, options: tuple[str, ...], where: str) -> str:
    value = entry.get(key)
    if value not in options:
        raise _fail(f"{where}.{key}", f"{value!r} is not one of {', '.join(options)}")
    return value


def _method(value: Any, where: str, known: set[str]) -> str:
    if value == BASELINE:
        return value
    if not isinstance(value, str) or value not in known:
        raise _fail(where, f"{value!r} is not a registered method id (tram-bench list methods)")
    return value


def _resolve(ref: EvidenceRef, cells: tuple[PublishedCell, ...], where: str) -> list[Evidence]:
    out = []
    for method in ref.methods:
        found = [c for c in cells if c.table == ref.table and c.split == ref.split and c.domain == ref.domain
                 and c.metric == ref.metric and c.method == method and c.statistic == "mean"]
        if len(found) != 1:
            what = "no" if not found else f"{len(found)}"
            raise _fail(where, f"{what} published cell for table {ref.table} split {ref.split!r} domain "
                               f"{ref.domain!r} metric {ref.metric!r} method {method!r} (expected exactly one)")
        c = found[0]
        out.append(Evidence(c.table, c.split, c.domain_label, c.method, c.method_label, c.metric, c.value_text,
                            c.higher_is_better))
    return out


def _evidence(raw: Any, where: str, known: set[str], data: PublishedData) -> tuple[list[EvidenceRef], list[Evidence]]:
    if not isinstance(raw, list) or not raw:
        raise _fail(where, "must be a non-empty list of {table, split, domain, metric, methods}")
    refs, cells = [], []
    for j, item in enumerate(raw):
        here = f"{where}[{j}]"
        if not isinstance(item, dict) or set(item) != {"table", "split", "domain", "metric", "methods"}:
            raise _fail(here, "must be a mapping with exactly the keys table, split, domain, metric, methods")
        table = str(item["table"])
        if table not in data.tables:
            raise _fail(f"{here}.table", f"{table!r} is not a published table ({', '.join(data.tables)})")
        methods = item["methods"]
        if not isinstance(methods, list) or not methods:
            raise _fail(f"{here}.methods", "must be a non-empty list of method ids")
        ref = EvidenceRef(table, str(item["split"]), str(item["domain"]), str(item["metric"]),
                          tuple(_method(m, f"{here}.methods", known) for m in methods))
        refs.append(ref)
        cells.extend(_resolve(ref, data.cells, here))
    return refs, cells


def _claim(entry: Any, where: str, known: set[str], data: PublishedData) -> Claim:
    if not isinstance(entry, dict):
        raise _fail(where, "must be a mapping")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise _fail(f"{where}.{unknown[0]}", f"unknown key (expected: {', '.join(sorted(_KEYS))})")
    for key in _REQUIRED:
        if key not in entry:
            raise _fail(f"{where}.{key}", "missing")
    claim_id = _text(entry, "id", where)
    if not _ID.match(claim_id):
        raise _fail(f"{where}.id", f"{claim_id!r} must be kebab-case (lower-case letters, digits, '-')")
    where = f"{where} ({claim_id})"
    source = entry["source"]
    if not isinstance(source, dict) or set(source) != {"section", "table"}:
        raise _fail(f"{where}.source", "must be a mapping with exactly the keys section, table")
    src = Source(str(source["section"]), str(source["table"]))
    if src.table not in data.tables:
        raise _fail(f"{where}.source.table", f"{src.table!r} is not a published table ({', '.join(data.tables)})")
    families = entry.get("families") or []
    if not isinstance(families, list) or any(f not in FAMILIES for f in families):
        raise _fail(f"{where}.families", f"must be a list of {', '.join(FAMILIES)}, got {families!r}")
    kind = _choice(entry, "kind", KINDS, where)
    subject = _method(entry["subject"], f"{where}.subject", known)
    if subject == BASELINE:
        raise _fail(f"{where}.subject", f"must name a method, not {BASELINE}")
    competitors = entry["competitors"]
    if not isinstance(competitors, list) or not competitors:
        raise _fail(f"{where}.competitors", "must be a non-empty list of method ids")
    comps = tuple(_method(c, f"{where}.competitors", known) for c in competitors)
    if subject in comps or len(set(comps)) != len(comps):
        raise _fail(f"{where}.competitors", "must be distinct and must not include the subject")
    if kind == "severity_slope" and comps != (BASELINE,):
        raise _fail(f"{where}.competitors", f"a severity_slope claim compares with [{BASELINE!r}] only")
    refs, cells = _evidence(entry["evidence"], f"{where}.evidence", known, data)
    note = entry.get("note") or ""
    if not isinstance(note, str):
        raise _fail(f"{where}.note", "must be text")
    return Claim(id=claim_id, statement=_text(entry, "statement", where), source=src, families=tuple(families),
                 kind=kind, subject=subject, competitors=comps, metric=_choice(entry, "metric", METRICS, where),
                 group=_choice(entry, "group", GROUPS, where), direction=_choice(entry, "direction", DIRECTIONS, where),
                 evidence_refs=tuple(refs), evidence=tuple(cells), note=" ".join(note.split()))


def load_claims(path: str | Path | None = None, published: PublishedData | None = None) -> tuple[Claim, ...]:
    """Read and check the claims file (default: the package's ``paper_claims.yaml``).

    Args:
        path: a claims YAML file (top-level key ``claims``, a list of claims).
        published: the published tables the evidence refers to (default: :func:`read_published`).

    Returns:
        The claims in file order.

    Raises:
        ClaimsDataError: unreadable YAML, an unknown or missing key, a method id that is not registered,
            a source table or evidence cell that the published data lacks, a duplicate claim id.
    """
    from tram_bench.methods.registry import METHODS

    p = Path(path) if path is not None else CLAIMS_FILE
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ClaimsDataError(f"{p}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or set(raw) != {"claims"} or not isinstance(raw["claims"], list):
        raise ClaimsDataError(f"{p}: the top level must be a mapping with the single key 'claims' (a list)")
    data = published if published is not None else read_published()
    known = set(METHODS.ids())
    claims = [_claim(entry, f"{p}: claims[{i}]", known, data) for i, entry in enumerate(raw["claims"])]
    seen: set[str] = set()
    for i, c in enumerate(claims):
        if c.id in seen:
            raise ClaimsDataError(f"{p}: claims[{i}].id: {c.id!r} appears twice")
        seen.add(c.id)
    return tuple(claims)


__all__ = ["BASELINE", "CLAIMS_FILE", "Claim", "ClaimsDataError", "Evidence", "EvidenceRef", "Source", "load_claims"]
