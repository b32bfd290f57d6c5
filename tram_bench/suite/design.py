"""The comparison design of a suite, fixed before any run: per task, the baseline every other
configuration is compared with, the equivalence margin ``delta``, its units, and the family size.

Suite keys (docs/architecture.md, "Suite YAML"): ``baseline: {id, hparams}`` at suite level and per
task entry (the task's wins), ``alpha`` and ``delta`` (a number, or a mapping task family -> number)
at suite level. The defaults live here and only here: :data:`DEFAULT_ALPHA`, :data:`DEFAULT_DELTA`.

Default baseline: the task's one *plain* configuration (a method whose class is
:class:`tram_bench.methods.plain.PlainMethod`: ``sgd``, or ``adam`` including ``base: adamw``). Two
plain configurations on one task (two plain methods, or a gridded plain method) make the default
ambiguous: ``validate`` refuses the suite, and a plan file written before designs existed gets a
NULL baseline for that task (:func:`default_design`). A task without any plain configuration and
without a declared baseline has none (``baseline_method`` None): no baseline-relative statistics.

The baseline is never part of a run id: it changes what is compared, not what runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from tram_bench.suite.config import BaselineDecl, SuiteConfig, TaskEntry, unknown_key
from tram_bench.suite.display import differing, same_value
from tram_bench.suite.errors import KeyPath, SuiteError, SuiteInvalid, one_line, sorted_unique
from tram_bench.suite.fieldtypes import FieldTypeError, coerce, field_infos, to_jsonable
from tram_bench.suite.spec import CellDoc
from tram_bench.util.hashing import canonical_json

DEFAULT_ALPHA = 0.05
# Equivalence margins per task family, in the report's units: percentage points of accuracy, or the
# log perplexity ratio (log(baseline / method)) for language modelling.
DEFAULT_DELTA: Mapping[str, float] = {"vision": 1.0, "xling": 1.0, "synthetic": 1.0, "lm": 0.01}
# Units of the paired differences by the task's primary metric; any other metric is in points.
UNITS_BY_METRIC: Mapping[str, str] = {"accuracy": "points", "perplexity": "log_ratio"}
DEFAULT_UNITS = "points"


@dataclass(frozen=True)
class TaskDesign:
    """The comparison design of one task cell (one display label) of a suite.

    ``baseline_method`` / ``baseline_hparams`` (resolved, every field) are None when the task has no
    baseline (none declared and no plain configuration, or an old plan with an ambiguous default).
    ``baseline_run_ids`` are the baseline's cells in seed order. ``delta`` is in ``units`` ("points"
    or "log_ratio"); None only for a plan-derived design whose task family has no default margin.
    ``comparisons`` is m, the number of trained non-baseline configurations (``zero-shot`` and any
    other method that does not train are excluded). ``seeds`` are the replicate seeds of the task.
    """

    task_label: str
    task: str
    family: str
    baseline_method: str | None
    baseline_hparams: dict[str, Any] | None
    baseline_run_ids: tuple[str, ...]
    delta: float | None
    units: str
    comparisons: int
    seeds: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {"task_label": self.task_label, "task": self.task, "family": self.family,
                "baseline_method": self.baseline_method, "baseline_hparams": self.baseline_hparams,
                "baseline_run_ids": list(self.baseline_run_ids), "delta": self.delta, "units": self.units,
                "comparisons": self.comparisons, "seeds": list(self.seeds)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "TaskDesign":
        """Raises KeyError / TypeError / ValueError on a malformed mapping."""
        hp = d["baseline_hparams"]
        delta = d["delta"]
        out = cls(task_label=str(d["task_label"]), task=str(d["task"]), family=str(d["family"]),
                  baseline_method=None if d["baseline_method"] is None else str(d["baseline_method"]),
                  baseline_hparams=None if hp is None else dict(hp),
                  baseline_run_ids=tuple(str(r) for r in d["baseline_run_ids"]),
                  delta=None if delta is None else float(delta), units=str(d["units"]),
                  comparisons=int(d["comparisons"]), seeds=tuple(int(s) for s in d["seeds"]))
        if (out.baseline_method is None) != (out.baseline_hparams is None):
            raise ValueError("baseline_method and baseline_hparams must both be set or both be null")
        return out


@dataclass(frozen=True)
class SuiteDesign:
    """The design of every task of one suite, in the suite's task order; ``alpha`` is the
    family-wise error rate of each task's family of comparisons."""

    suite: str
    alpha: float
    tasks: tuple[TaskDesign, ...]

    def task(self, label: str) -> TaskDesign | None:
        return next((t for t in self.tasks if t.task_label == label), None)

    def to_json(self) -> dict[str, Any]:
        return {"suite": self.suite, "alpha": self.alpha, "tasks": [t.to_json() for t in self.tasks]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "SuiteDesign":
        """Raises KeyError / TypeError / ValueError on a malformed mapping."""
        return cls(suite=str(d["suite"]), alpha=float(d["alpha"]),
                   tasks=tuple(TaskDesign.from_json(t) for t in d["tasks"]))


# --- building -----------------------------------------------------------------------------------

def design_of(suite: SuiteConfig, specs: Sequence[CellDoc]) -> SuiteDesign:
    """The design of a checked suite and its expanded cells (no results are read).

    Raises :class:`SuiteInvalid` when a declared baseline matches no (or several) configurations of
    a task, the default baseline is ambiguous, or ``delta`` names an unknown family.
    """
    design, errors = check_design(suite, specs)
    if errors:
        raise SuiteInvalid(errors)
    return design


def check_design(suite: SuiteConfig, specs: Sequence[CellDoc]) -> tuple[SuiteDesign, list[SuiteError]]:
    """(design, errors) for ``validate``: the design is complete only when ``errors`` is empty."""
    src = suite.source_map()
    errors: list[SuiteError] = []

    def report(path: KeyPath, message: str) -> None:
        errors.append(src.error(path, message))

    classes = _Classes()
    entries = {e.display_label: e for e in suite.tasks}
    ids = tuple(m.id for m in suite.methods)
    suite_decl = _checked_decl(suite.baseline, ids, classes, report) if suite.baseline is not None else None
    task_decls: dict[int, BaselineDecl | None] = {}
    for e in suite.tasks:
        if e.baseline is not None:
            task_decls[e.index] = _checked_decl(e.baseline, e.methods or ids, classes, report)

    def baseline_for(label: str) -> tuple[BaselineDecl | None, bool, KeyPath]:
        entry = _entry_of(label, entries)
        if entry is not None and entry.baseline is not None:
            return task_decls.get(entry.index), True, ("tasks", entry.index)
        path: KeyPath = ("tasks", entry.index) if entry is not None else ()
        return suite_decl, suite.baseline is not None, path

    families = {classes.family(s.task) for s in specs}
    delta = _delta_table(suite.delta, families, report)
    alpha = DEFAULT_ALPHA if suite.alpha is None else suite.alpha
    tasks = _tasks(specs, classes, baseline_for, delta, report)
    return SuiteDesign(suite.suite, alpha, tasks), sorted_unique(errors)


def default_design(suite: str, specs: Sequence[CellDoc]) -> SuiteDesign:
    """The default design of a plan file written before designs existed: default baselines (None
    where ambiguous), default alpha and margins. Never raises for a design problem."""
    classes = _Classes()
    families = {classes.family(s.task) for s in specs}
    delta = _delta_table(None, families, lambda path, message: None)
    return SuiteDesign(suite, DEFAULT_ALPHA, _tasks(specs, classes, lambda label: (None, False, ()), delta,
                                                    lambda path, message: None))


Report = Callable[[KeyPath, str], None]


class _Classes:
    """Task and method classes by id, loaded once (None when one cannot be loaded)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], Any] = {}

    def _get(self, kind: str, ident: str) -> Any:
        key = (kind, ident)
        if key not in self._cache:
            from tram_bench.methods.registry import METHODS
            from tram_bench.tasks.registry import TASKS

            try:
                self._cache[key] = (TASKS if kind == "task" else METHODS).get(ident)
            except Exception:  # noqa: BLE001 - resolve() has reported it; a plan file may name a lost plugin
                self._cache[key] = None
        return self._cache[key]

    def family(self, task: str) -> str:
        return str(getattr(self._get("task", task), "family", "") or "")

    def units(self, task: str) -> str:
        metric = getattr(getattr(self._get("task", task), "primary_metric", None), "name", None)
        return UNITS_BY_METRIC.get(metric, DEFAULT_UNITS)

    def method(self, ident: str) -> Any:
        return self._get("method", ident)

    def is_plain(self, method: str) -> bool:
        from tram_bench.methods.plain import PlainMethod

        cls = self.method(method)
        return isinstance(cls, type) and issubclass(cls, PlainMethod)

    def trains(self, method: str) -> bool:
        return bool(getattr(self.method(method), "trains", True))


def _checked_decl(decl: BaselineDecl, allowed: Sequence[str], classes: _Classes,
                  report: Report) -> BaselineDecl | None:
    """The declaration with its hparams type-checked against the method's Hparams (JSON-able
    values); None after reporting when its id is not one of ``allowed`` (the method ids that run on
    the task) or a key or value is wrong."""
    allowed = list(dict.fromkeys(allowed))
    if decl.id not in allowed:
        report(decl.path + ("id",), unknown_key(decl.id, allowed, "baseline id", "the methods of this suite/task"))
        return None
    hcls = getattr(classes.method(decl.id), "Hparams", None)
    if hcls is None:
        return decl  # resolve() has reported a method that cannot be loaded
    infos = field_infos(hcls)
    out: dict[str, Any] = {}
    ok = True
    for key, value in decl.hparams.items():
        if key not in infos:
            report(decl.path + ("hparams", key), unknown_key(key, infos, "hparam", f"method {decl.id!r}"))
            ok = False
            continue
        try:
            out[key] = to_jsonable(coerce(value, infos[key].type))
        except FieldTypeError as exc:
            report(decl.path + ("hparams", key), one_line(exc))
            ok = False
    return BaselineDecl(decl.id, out, decl.path) if ok else None


def _entry_of(label: str, entries: Mapping[str, TaskEntry]) -> TaskEntry | None:
    """The task entry a cell label came from (a gridded entry appends ``[key=value,...]``)."""
    if label in entries:
        return entries[label]
    base = label.split("[", 1)[0]
    return entries.get(base)


def _delta_table(delta: float | dict[str, float] | None, families: set[str], report: Report) -> dict[str, float]:
    """Family -> margin: the defaults, replaced by a number for every family or merged with a mapping."""
    if isinstance(delta, float):
        return {f: delta for f in set(DEFAULT_DELTA) | families}
    table = dict(DEFAULT_DELTA)
    for family, margin in (delta or {}).items():
        known = sorted(set(DEFAULT_DELTA) | families - {""})
        if family not in known:
            report(("delta", family), unknown_key(family, known, "task family"))
        else:
            table[family] = margin
    return table


@dataclass
class _Config:
    """One (method, resolved hparams) configuration of a task and its cells."""

    method: str
    hparams: dict[str, Any]
    specs: list[CellDoc] = field(default_factory=list)


def _configs(specs: Iterable[CellDoc]) -> list[_Config]:
    by_key: dict[tuple[str, str], _Config] = {}
    for s in specs:
        key = (s.method, canonical_json(s.hparams))
        if key not in by_key:
            by_key[key] = _Config(s.method, s.hparams)
        by_key[key].specs.append(s)
    return list(by_key.values())


def _describe(cfg: _Config, others: Sequence[_Config]) -> str:
    """``sgd`` or ``sgd (momentum=0.0)``: the hparams that tell it apart from ``others``."""
    diff = ", ".join(sorted({part for o in others if o is not cfg and o.method == cfg.method
                             for part in differing(cfg.hparams, o.hparams).split(", ") if part}))
    return f"{cfg.method} ({diff})" if diff else cfg.method


def _matches(decl: BaselineDecl, cfg: _Config) -> bool:
    return cfg.method == decl.id and all(k in cfg.hparams and same_value(cfg.hparams[k], v)
                                         for k, v in decl.hparams.items())


def _tasks(specs: Sequence[CellDoc], classes: _Classes,
           baseline_for: Callable[[str], tuple[BaselineDecl | None, bool, KeyPath]],
           delta: Mapping[str, float], report: Report) -> tuple[TaskDesign, ...]:
    by_label: dict[str, list[CellDoc]] = {}
    for s in specs:
        by_label.setdefault(s.task_label, []).append(s)
    out = []
    for label, cells in by_label.items():
        configs = _configs(cells)
        decl, declared, path = baseline_for(label)
        chosen: _Config | None = None
        if declared:
            if decl is not None:  # None: the declaration itself is wrong and has been reported
                chosen = _declared(label, decl, configs, report)
        else:
            chosen = _default(label, configs, classes, path, report)
        task = cells[0].task
        family = classes.family(task)
        m = sum(1 for c in configs if c is not chosen and classes.trains(c.method))
        out.append(TaskDesign(
            task_label=label, task=task, family=family,
            baseline_method=None if chosen is None else chosen.method,
            baseline_hparams=None if chosen is None else dict(chosen.hparams),
            baseline_run_ids=() if chosen is None else tuple(s.run_id for s in sorted(chosen.specs, key=lambda s: s.seed)),
            delta=delta.get(family), units=classes.units(task), comparisons=m,
            seeds=tuple(dict.fromkeys(s.seed for s in cells)),
        ))
        if family not in delta:
            report(("delta",), f"task {label!r} is of family {family!r}, which has no default equivalence margin; "
                               f"give one: delta: {{{family}: ...}}")
    return tuple(out)


def _declared(label: str, decl: BaselineDecl, configs: list[_Config], report: Report) -> _Config | None:
    found = [c for c in configs if _matches(decl, c)]
    if len(found) == 1:
        return found[0]
    of_id = [c for c in configs if c.method == decl.id]
    what = decl.id + (f" with {differing(decl.hparams, {})}" if decl.hparams else "")
    if not found:
        have = "; ".join(differing({k: c.hparams.get(k) for k in decl.hparams}, {}) for c in of_id)
        hint = f" (its {decl.id} configurations: {have})" if have else f" (the task does not run {decl.id})"
        report(decl.path, f"baseline {what} matches no configuration of task {label!r}{hint}")
    else:
        names = ", ".join(_describe(c, found) for c in found)
        report(decl.path, f"baseline {what} matches {len(found)} configurations of task {label!r} ({names}); "
                          f"add the hparams that pick one")
    return None


def _default(label: str, configs: list[_Config], classes: _Classes, path: KeyPath, report: Report) -> _Config | None:
    plain = [c for c in configs if classes.is_plain(c.method)]
    if len(plain) <= 1:
        return plain[0] if plain else None
    names = " and ".join(_describe(c, plain) for c in plain)
    gridded = len({c.method for c in plain}) < len(plain)
    why = "a gridded plain method" if gridded else "two plain methods"
    report(path, f"the default baseline of task {label!r} is ambiguous ({why}: {names}); declare one, e.g. "
                 f"baseline: {{id: {plain[0].method}}} in this task entry or at suite level")
    return None
