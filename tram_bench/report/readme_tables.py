"""``tram-bench readme-tables``: the README's result tables, verdicts and claims, regenerated from exports.

An export is the directory ``tram-bench export --format csv --suite NAME`` writes (``runs``, ``metrics``,
``suite_cells``, ``suite_design``; CSV or Parquet), committed under ``docs/results/<suite>/``. It is
loaded into an in-memory DuckDB with the store's own schema (:mod:`tram_bench.store.schema`), the
report views are built on it, and each suite's markdown replaces the text between its two markers in
the README::

    <!-- tram-bench:results SUITE begin -->
    ... generated ...
    <!-- tram-bench:results SUITE end -->

When the README also holds a suite's frontier markers::

    <!-- tram-bench:frontier SUITE begin -->
    ... generated ...
    <!-- tram-bench:frontier SUITE end -->

the text between them is what ``tram-bench frontier SUITE --export DIR`` prints (the cost/score table with
the Pareto front, the equivalence verdicts; :mod:`tram_bench.report.frontier`, with its defaults), and
its charts are written as ``frontier-<task>-passes.svg`` / ``frontier-<task>-step-time.svg`` next to
the export, linked from the block relative to the README.

So anyone can re-read the published numbers from the exports, and a test can check that the README
says what the exports hold. Methods are listed baseline first, then by name: the order claims no
ranking that the statistics do not support.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from tram_bench.report.claims.evaluate import ClaimsResult, create_claims_tables
from tram_bench.report.formatting import fmt_interval, fmt_p, fmt_pm
from tram_bench.report.frontier import FrontierOptions, StepRatios, chart_files, frontier_markdown, load_frontier
from tram_bench.report.model import ID_AVG, OOD_AVG, SuiteReport, TaskReport, arrow, load_report
from tram_bench.report.views import create_views
from tram_bench.report.wording import unit_words, verdict_text
from tram_bench.store.schema import column_names, create_table_sql

#: Tables read from an export; the first three are required (``suite_design`` is absent from an export
#: of a store collected before designs existed, and the report then says "no declared baseline").
EXPORT_TABLES = ("runs", "metrics", "suite_cells", "suite_design")
REQUIRED = ("runs", "metrics", "suite_cells")
BEGIN = "<!-- tram-bench:results {suite} begin -->"
END = "<!-- tram-bench:results {suite} end -->"
FRONTIER_BEGIN = "<!-- tram-bench:frontier {suite} begin -->"
FRONTIER_END = "<!-- tram-bench:frontier {suite} end -->"
#: Block kind -> its (begin, end) marker templates.
MARKERS = {"results": (BEGIN, END), "frontier": (FRONTIER_BEGIN, FRONTIER_END)}
#: Alt text of the two frontier charts, in the order of ``frontier.CHART_AXES``.
CHART_ALT = ("OOD score against passes per step", "OOD score against measured step time")
#: Accuracy is shown in percent, as in the paper's tables.
SCALE = {"accuracy": 100.0}


class ExportError(ValueError):
    """An export directory or README that cannot be used; one line naming the file and the problem."""


@dataclass(frozen=True)
class Block:
    """The generated markdown of one suite of one export directory, for the markers of ``kind`` (a key of
    :data:`MARKERS`); ``files``: path -> text of files written with it (the frontier's SVG charts)."""

    suite: str
    source: Path
    markdown: str
    kind: str = "results"
    files: dict[Path, str] = field(default_factory=dict)


def _file(directory: Path, table: str) -> Path | None:
    for ext in ("parquet", "csv"):
        p = directory / f"{table}.{ext}"
        if p.is_file():
            return p
    return None


def load_export(directory: str | Path):
    """An in-memory DuckDB holding an export's tables in the store's schema, with the report views.

    Raises:
        ExportError: the directory or one of ``runs``, ``metrics``, ``suite_cells`` is missing, or a
            file cannot be read as that table.
    """
    import duckdb

    d = Path(directory)
    if not d.is_dir():
        raise ExportError(f"{d}: no such export directory (write one with tram-bench export --format csv --out {d})")
    con = duckdb.connect(":memory:")
    for table in EXPORT_TABLES:
        path = _file(d, table)
        if path is None:
            if table in REQUIRED:
                con.close()
                raise ExportError(f"{d}: no {table}.csv or {table}.parquet (an export of tram-bench export)")
            continue
        con.execute(create_table_sql(table))
        reader = "read_parquet(?)" if path.suffix == ".parquet" else "read_csv(?, header = true, all_varchar = true)"
        try:
            have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {reader}", [str(path)]).fetchall()}
            cols = [c for c in column_names(table) if c in have]
            names = ", ".join(cols)
            con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {reader}", [str(path)])
        except duckdb.Error as exc:
            con.close()
            raise ExportError(f"{path}: not a {table} export: {str(exc).splitlines()[0]}") from None
    create_views(con)
    return con


def _cell(text: str) -> str:
    """Markdown table cell text: a pipe would end the cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _task_markdown(t: TaskReport) -> list[str]:
    mt = t.table("selected")
    if mt is None:
        return [f"**{t.task_label}**: no successful runs with test metrics.", ""]
    scale = SCALE.get(mt.metric, 1.0)
    unit = " x 100" if scale == 100.0 else ""
    d = t.design
    ref = d.reference if d is not None else None
    decisions = {s.config: s for s in t.primary()}
    words = unit_words(d.units) if d is not None else ""
    head = (f"**{t.task_label}** ({mt.metric}{unit} {arrow(mt.higher_is_better)}, selected checkpoint, test split, "
            f"mean ± std over seeds" + (f"; Δ = paired difference to the declared baseline {ref} in {words}, "
                                          "> 0 = better, with its 95% CI" if ref else "; no declared baseline") + ")")
    has_ood = any(c.key == OOD_AVG for c in mt.columns)
    lines = [head, "", "| method | in-domain test | out-of-domain avg | seeds | Δ [95% CI] | Holm p | verdict |",
             "|---|---|---|---|---|---|---|"]
    rows = sorted(mt.rows, key=lambda r: (r.config != ref, r.config))

    def stat(r, key: str) -> tuple[str, int]:
        s = r.cells.get(key)
        if s is None or s.mean is None:
            return "–", 0
        spread = None if s.std is None else s.std * scale
        return fmt_pm(s.mean * scale, spread), s.n

    for r in rows:
        id_text, n_id = stat(r, ID_AVG)
        ood_text, n_ood = stat(r, OOD_AVG) if has_ood else ("–", 0)
        s = decisions.get(r.config)
        if r.config == ref:
            delta, p, verdict = "baseline", "", ""
        elif s is None:
            delta, p, verdict = "–", "–", "not compared"
        else:
            delta, p, verdict = fmt_interval(s.mean_diff, s.ci_low, s.ci_high), fmt_p(s.p_adjusted), verdict_text(s)
        seeds = str(max(n_id, n_ood))
        lines.append("| " + " | ".join(_cell(x) for x in (r.config, id_text, ood_text, seeds, delta, p, verdict))
                     + " |")
    lines.append("")
    return lines


def _claims_markdown(suite: str, claims: ClaimsResult) -> list[str]:
    verdicts = [v for v in claims.verdicts if v.suite == suite]
    lines = ["The paper's claims on this suite (each a CPU-scale stand-in for the paper's setting; rules in "
             "docs/claims.md):", "", "| claim | verdict | tasks tested | why |", "|---|---|---|---|"]
    for v in verdicts:
        lines.append("| " + " | ".join(_cell(x) for x in (v.claim_id, v.verdict, f"{v.n_tested}/{v.n_tasks}",
                                                           v.reason)) + " |")
    lines.append("")
    return lines


def suite_markdown(s: SuiteReport, claims: ClaimsResult) -> str:
    """The generated markdown of one suite: completeness, one table per task, the claims."""
    lines = [f"Suite `{s.suite}`: {s.completeness.summary()}.", ""]
    for t in s.tasks:
        lines += _task_markdown(t)
    lines += _claims_markdown(s.suite, claims)
    return "\n".join(lines).rstrip("\n") + "\n"


def export_blocks(directory: str | Path) -> list[Block]:
    """The markdown of every suite in one export directory (see :func:`load_export` for errors)."""
    con = load_export(directory)
    try:
        return _result_blocks(con, Path(directory))
    finally:
        con.close()


def _result_blocks(con, directory: Path) -> list[Block]:
    claims = create_claims_tables(con)
    return [Block(s.suite, directory, suite_markdown(s, claims)) for s in load_report(con)]


def _href(path: Path, readme_dir: Path) -> str:
    """``path`` as a relative link from a file in ``readme_dir`` (forward slashes, as markdown wants)."""
    return Path(os.path.relpath(path.resolve(), readme_dir.resolve())).as_posix()


def frontier_block(con, suite: str, directory: Path, readme_dir: Path, step_ratios,
                   options: FrontierOptions = FrontierOptions()) -> Block:
    """The frontier block of ``suite`` from an export loaded on ``con``: the markdown of
    :func:`tram_bench.report.frontier.frontier_markdown` with each task's two charts linked relative to
    ``readme_dir``, and the charts as files ``directory/frontier-<task>-<axis>.svg``. ``step_ratios``: as
    :func:`tram_bench.report.frontier.frontier_points`; ExportError when a task's family has no rows there."""
    try:
        f = load_frontier(con, suite, step_ratios, options)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    files: dict[Path, str] = {}
    images: dict[str, list[tuple[str, str]]] = {}
    for task, charts in chart_files(f.points, prefix="frontier-").items():
        for alt, (name, svg) in zip(CHART_ALT, charts.items()):
            files[directory / name] = svg
            images.setdefault(task, []).append((f"{task}: {alt}", _href(directory / name, readme_dir)))
    text = frontier_markdown(f.points, f.verdicts, images) if f.points else \
        f"Suite `{suite}`: no configuration with an OOD score in {directory}.\n"
    return Block(suite, directory, text.rstrip("\n") + "\n", "frontier", files)


def replace_blocks(text: str, blocks: list[Block], where: str) -> str:
    """``text`` with each block's markdown between its suite's markers of its kind (each must appear
    exactly once).

    Raises:
        ExportError: a suite's begin or end marker is missing, repeated, or out of order in ``where``.
    """
    for b in blocks:
        begin, end = (m.format(suite=b.suite) for m in MARKERS[b.kind])
        if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
            raise ExportError(f"{where}: needs the lines {begin!r} and, after it, {end!r} exactly once each "
                              f"(for the {b.kind} of suite {b.suite!r} in {b.source})")
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.DOTALL)
        text = pattern.sub(lambda _: f"{begin}\n{b.markdown}{end}", text, count=1)
    return text


def _wants_frontier(text: str, suite: str) -> bool:
    return any(m.format(suite=suite) in text for m in MARKERS["frontier"])


def _blocks(directory: Path, text: str, readme_dir: Path, options: FrontierOptions,
            ratios: StepRatios) -> list[Block]:
    """The results blocks of one export, and a frontier block for each of its suites whose frontier
    markers appear in ``text`` (``ratios`` reads the step-cost file only when one is built)."""
    con = load_export(directory)
    try:
        blocks = _result_blocks(con, directory)
        blocks += [frontier_block(con, b.suite, directory, readme_dir, ratios, options)
                   for b in blocks if _wants_frontier(text, b.suite)]
        return blocks
    finally:
        con.close()


def _label(b: Block) -> str:
    return b.suite if b.kind == "results" else f"{b.kind} {b.suite}"


def regenerate(readme: str | Path, directories: list[str | Path], *, check: bool = False,
               frontier: FrontierOptions = FrontierOptions()) -> list[str]:
    """Rewrite the README's result blocks (and frontier blocks, with their SVG charts, where the README
    holds frontier markers) from the exports; with ``check``, only compare, the charts byte for byte.

    Returns:
        The blocks that differed from the exports, as suite names (``frontier SUITE`` for a frontier
        block whose text or a chart file differed); rewritten unless ``check``.

    Raises:
        ExportError: see :func:`load_export` and :func:`replace_blocks`, or a frontier block's step-cost
            file (``frontier.bench``) cannot be read; nothing is written then.
    """
    path = Path(readme)
    if not path.is_file():
        raise ExportError(f"{path}: no such README")
    old = path.read_text(encoding="utf-8")
    ratios = frontier.step_ratios()  # shared by every export: the file is read once, if at all
    blocks = [b for d in directories for b in _blocks(Path(d), old, path.parent, frontier, ratios)]
    if not blocks:
        raise ExportError(f"{', '.join(map(str, directories))}: the export holds no suite")
    new = replace_blocks(old, blocks, str(path))
    stale = {f: svg for b in blocks for f, svg in b.files.items()
             if not f.is_file() or f.read_bytes() != svg.encode("utf-8")}
    changed = [_label(b) for b in blocks
               if replace_blocks(old, [b], str(path)) != old or any(f in stale for f in b.files)]
    if changed and not check:
        from tram_bench.util.files import atomic_write_text

        for f, svg in stale.items():
            atomic_write_text(f, svg)
        atomic_write_text(path, new)
    return changed


__all__ = ["BEGIN", "END", "FRONTIER_BEGIN", "FRONTIER_END", "ExportError", "export_blocks", "frontier_block",
           "load_export", "regenerate", "replace_blocks", "suite_markdown"]
