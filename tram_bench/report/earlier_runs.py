"""What a suite's pilot runs measured, for sizing its budget (``tram-bench plan``).

The pilot runs (``tram-bench run SUITE --pilot``) use the suite's ``pilot_seeds``, disjoint from its
reported ``seeds``, and live in their own store ``RESULTS/pilot``; a committed copy is the export
``docs/results/<suite>/pilot/`` (``tram-bench export --results RESULTS/pilot --format csv --suite NAME
--out docs/results/NAME/pilot``). From them ``plan`` takes, per task:

- the SD of the paired primary differences to the baseline (the report's ``task_tests.sd_pooled``),
  from which :mod:`tram_bench.report.power` states the MDE of the reported design;
- conditioning numbers that do not look at which method wins: where the baseline's selected
  checkpoint lies among its evaluations (first, interior, last), and for perplexity tasks with a
  zero-shot row the in-domain gain and the out-of-domain forgetting of the baseline relative to the
  pre-trained model, and TRAM-prev's median trust-region radius ``d`` (per-step logs: only from a
  store, an export does not hold them).

Apart from :mod:`tram_bench.report.power` (pure arithmetic on a design) because it reads the store
through the report's views, which themselves use the power computations: kept here, the imports run
one way (earlier_runs -> views -> significance -> power).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

#: The method whose per-step radius ``d`` is reported (the trust region of the LM claims).
RADIUS_METHOD = "tram-prev"


class PilotError(ValueError):
    """A pilot export that cannot be read; one line naming the file."""


@dataclass(frozen=True)
class BaselineSelection:
    """The checkpoint one pilot run of a task's baseline selected, among its evaluations.

    Evaluations happen every ``eval_every`` steps and after the last of ``steps`` steps
    (tram_bench/train/loop.py), so the first is at ``min(eval_every, steps)`` and the last at ``steps``.
    """

    task_label: str
    method: str
    seed: int
    selected_step: int
    eval_every: int
    steps: int

    @property
    def position(self) -> str:
        """``"first"``, ``"last"`` or ``"interior"``: first or last means the budget is too long / short."""
        if self.selected_step >= self.steps:
            return "last"
        if self.selected_step <= min(self.eval_every, self.steps):
            return "first"
        return "interior"


@dataclass(frozen=True)
class ShiftConditioning:
    """A perplexity task's pilot conditioning, medians over the pilot seeds (fractions, not percent).

    ``gain``: 1 - ppl(baseline) / ppl(zero-shot) on the in-domain test split (> 0: fine-tuning helps);
    ``forgetting``: mean over the out-of-domain test splits of ppl(baseline) / ppl(zero-shot) - 1
    (> 0: the baseline forgets); ``radius``: median TRAM-prev ``d`` over every step of its pilot runs,
    in nats (None when no per-step logs are at hand).
    """

    task_label: str
    seeds: int
    gain: float
    forgetting: float
    radius: float | None


@dataclass(frozen=True)
class PilotEvidence:
    """What the pilot of one suite holds; ``source`` says where it was read, in words."""

    source: str
    sds: dict[str, float] = field(default_factory=dict)
    selections: tuple[BaselineSelection, ...] = ()
    shifts: tuple[ShiftConditioning, ...] = ()

    def conditioning_lines(self) -> list[str]:
        """The ``plan`` conditioning section as plain lines (none without pilot runs)."""
        if not self.selections and not self.shifts:
            return []
        lines = [f"conditioning (from the {self.source}; does not look at which method wins):"]
        labels = dict.fromkeys(s.task_label for s in self.selections)
        for label in labels:
            rows = [s for s in self.selections if s.task_label == label]
            where = ", ".join(f"seed {s.seed} step {s.selected_step} ({s.position})" for s in rows)
            inner = sum(s.position == "interior" for s in rows)
            lines.append(f"  {label}: baseline {rows[0].method} selects an interior evaluation in {inner} of "
                         f"{len(rows)} pilot runs (evaluations every {rows[0].eval_every} steps up to "
                         f"{rows[0].steps}): {where}")
        for c in self.shifts:
            radius = "no per-step logs" if c.radius is None else f"{c.radius:.4f} nats"
            lines.append(f"  {c.task_label}: median over {c.seeds} pilot seeds: in-domain gain {c.gain:.1%}, "
                         f"out-of-domain forgetting {c.forgetting:+.1%} (perplexity vs zero-shot), "
                         f"median {RADIUS_METHOD} radius d {radius}")
        return lines


def pilot_evidence(store: str | Path, export: str | Path, suite: str) -> PilotEvidence:
    """The pilot of ``suite``: from the store ``store`` (``RESULTS/pilot``) when its database exists,
    else from the export directory ``export`` (``docs/results/<suite>/pilot``), else empty with a
    ``source`` that says how to make one. Opens the database read-only and writes nothing.

    Raises:
        PilotError: the export exists but is not a readable export.
    """
    from tram_bench.report.readme_tables import ExportError, load_export
    from tram_bench.report.views import create_views
    from tram_bench.store.collector import db_path
    from tram_bench.store.query import open_db
    from tram_bench.train.rundir import runs_root

    store, export = Path(store), Path(export)
    if db_path(store).exists():
        con = open_db(store, read_only=True)
        create_views(con)
        source, logs = f"pilot runs in {store}", runs_root(store)
    elif export.is_dir():
        try:
            con = load_export(export)
        except ExportError as exc:
            raise PilotError(f"pilot export: {exc}") from None
        source, logs = f"pilot export {export}", None
    else:
        return PilotEvidence(source=f"no pilot runs (neither {store} nor {export}; make them with "
                                    f"tram-bench run SUITE --pilot)")
    try:
        sds = {label: float(sd) for label, sd in con.execute(
            "SELECT task_label, sd_pooled FROM task_tests WHERE suite = ? AND sd_pooled IS NOT NULL",
            [suite]).fetchall()}
        if not sds and not _has_suite(con, suite):
            return PilotEvidence(source=f"no pilot runs of suite {suite} in the {source.removeprefix('pilot ')}")
        return PilotEvidence(source, sds, _selections(con, suite), _shifts(con, suite, logs))
    finally:
        con.close()


def _has_suite(con, suite: str) -> bool:
    return con.execute("SELECT count(*) FROM suite_cells WHERE suite = ?", [suite]).fetchone()[0] > 0


def _selections(con, suite: str) -> tuple[BaselineSelection, ...]:
    rows = con.execute(
        """SELECT c.task_label, c.method, c.seed, r.selected_step, r.steps,
                  CAST(json_extract(r.train, '$.eval_every') AS BIGINT)
           FROM suite_cells c JOIN runs r USING (run_id)
           WHERE c.suite = ? AND c.baseline AND r.status = 'ok' AND r.steps > 0 AND r.selected_step IS NOT NULL
           ORDER BY c.task_label, c.seed""", [suite]).fetchall()
    return tuple(BaselineSelection(label, method, int(seed), int(sel), int(every or steps), int(steps))
                 for label, method, seed, sel, steps, every in rows)


def _shifts(con, suite: str, logs: Path | None) -> tuple[ShiftConditioning, ...]:
    rows = con.execute(
        """SELECT c.task_label, c.seed, c.method = 'zero-shot' AS zs, m.domain, m.in_domain, m.value
           FROM metrics m JOIN suite_cells c USING (run_id) JOIN runs r USING (run_id)
           WHERE c.suite = ? AND r.status = 'ok' AND m.checkpoint = 'selected' AND m.split = 'test'
             AND m.metric = 'perplexity' AND (c.baseline OR c.method = 'zero-shot')""", [suite]).fetchall()
    table: dict[str, dict[int, dict[bool, dict[str, tuple[bool, float]]]]] = {}
    for label, seed, zs, domain, in_domain, value in rows:
        table.setdefault(label, {}).setdefault(int(seed), {}).setdefault(bool(zs), {})[domain] = (bool(in_domain),
                                                                                                  float(value))
    out = []
    for label, seeds in table.items():
        gains, forgets = [], []
        for per in seeds.values():
            if True not in per or False not in per:
                continue  # a seed needs both the zero-shot and the baseline run
            zs, base = per[True], per[False]
            shared = [d for d in base if d in zs]
            inside = [base[d][1] / zs[d][1] for d in shared if base[d][0]]
            outside = [base[d][1] / zs[d][1] - 1 for d in shared if not base[d][0]]
            if inside and outside:
                gains.append(1 - statistics.fmean(inside))
                forgets.append(statistics.fmean(outside))
        if gains:
            out.append(ShiftConditioning(label, len(gains), statistics.median(gains), statistics.median(forgets),
                                         _median_radius(con, suite, label, logs)))
    return tuple(out)


def _median_radius(con, suite: str, label: str, logs: Path | None) -> float | None:
    """Median of the per-step ``divergence`` that TRAM-prev logs in ``runs/<id>/metrics.jsonl``."""
    if logs is None:
        return None
    ids = [r[0] for r in con.execute(
        "SELECT c.run_id FROM suite_cells c JOIN runs r USING (run_id) WHERE c.suite = ? AND c.task_label = ? "
        "AND c.method = ? AND r.status = 'ok'", [suite, label, RADIUS_METHOD]).fetchall()]
    from tram_bench.train.rundir import METRICS

    values = []
    for run_id in ids:
        path = logs / run_id / METRICS
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            if row.get("kind") == "train" and isinstance(row.get("divergence"), (int, float)):
                values.append(float(row["divergence"]))
    return statistics.median(values) if values else None


__all__ = ["BaselineSelection", "PilotError", "PilotEvidence", "ShiftConditioning", "pilot_evidence"]
