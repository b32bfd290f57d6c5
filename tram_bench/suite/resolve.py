"""From a SuiteConfig to the grid of fully resolved RunSpecs, reporting every problem on the way.

Resolution order (later wins): task params = ``Task.Params`` defaults <- entry ``params``;
train = ``Task.train_defaults`` <- suite ``train`` <- entry ``train``; hparams = ``Method.Hparams``
defaults <- entry ``hparams``. A list is a grid (product over keys); several entries of one method id
are a union. Cells = task cells x method cells x seeds, in that nesting order.

When one task entry expands to several (params, train) combinations, each gets a display label with
the gridded values appended (``label[lr=0.01]``), so that reports never average over different setups.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

from tram_bench.methods.base import Method
from tram_bench.methods.registry import METHODS
from tram_bench.suite.config import MethodEntry, SuiteConfig, TaskEntry, unknown_key
from tram_bench.suite.display import differing, format_value
from tram_bench.suite.errors import KeyPath, SuiteError, one_line
from tram_bench.suite.fieldtypes import FieldInfo, FieldTypeError, coerce, field_infos, grid_values, to_jsonable
from tram_bench.suite.locations import SourceMap
from tram_bench.suite.spec import RunSpec, descriptions
from tram_bench.suite.train_rules import check_analysis_budget, check_train_combination
from tram_bench.tasks.base import Task
from tram_bench.tasks.train_setup import TrainSetup, value_problem
from tram_bench.tasks.registry import TASKS
from tram_bench.util.hashing import canonical_json
from tram_bench.util.registry import Registry, RegistryError

# A typo such as ten 10-value lists must not hang `validate`: refuse grids beyond this many cells.
MAX_CELLS = 100_000


@dataclass(frozen=True)
class FieldValues:
    """The values one suite key gives a field: one value, or several (a grid)."""

    values: tuple[Any, ...]
    path: KeyPath | None  # where the suite set it (None: the class default)


@dataclass(frozen=True)
class TaskCell:
    entry: TaskEntry
    task_cls: type
    params: Any  # the task's Params instance (None: a task without params)
    train: TrainSetup
    label: str  # "" = the task id


@dataclass(frozen=True)
class MethodCell:
    entry: MethodEntry
    method_cls: type
    hparams: Any  # the method's Hparams instance
    changed: str  # the non-default hparams, for messages


class _Errors:
    def __init__(self, src: SourceMap) -> None:
        self.src = src
        self.items: list[SuiteError] = []
        self.classes: dict[tuple[str, str], tuple[type | None, list[SuiteError]]] = {}

    def add(self, path: KeyPath, message: str) -> None:
        self.items.append(self.src.error(path, message))


def resolve(suite: SuiteConfig, seeds: tuple[int, ...] | None = None) -> tuple[list[RunSpec], list[SuiteError]]:
    """All cells of ``suite`` and all problems found. ``seeds`` replaces the suite's seeds (validation
    passes one placeholder seed when the seed list itself is invalid, to still find duplicate cells)."""
    err = _Errors(suite.source_map())
    train_infos = field_infos(TrainSetup)
    suite_train = _field_values(suite.train, train_infos, ("train",), err, "train key", value_problem)

    task_cells: list[TaskCell] = []
    for entry in suite.tasks:
        task_cells += _task_cells(entry, suite_train, train_infos, tuple(suite.analysis), err)
    _check_labels(suite.tasks, err)
    method_cells: list[MethodCell] = []
    for entry in suite.methods:
        method_cells += _method_cells(entry, err)
    _check_task_methods(suite, err)

    specs = _cells(suite, task_cells, method_cells, suite.seeds if seeds is None else seeds, err)
    return specs, err.items


# --- classes --------------------------------------------------------------------------------

def _load(registry: Registry, ident: str, base: type, path: KeyPath, err: _Errors) -> type | None:
    # Each registry lookup scans installed entry points (tens of ms); resolve each id once per suite.
    key = (registry.kind, ident)
    if key not in err.classes:
        n = len(err.items)
        cls = _load_uncached(registry, ident, base, path, err)
        err.classes[key] = (cls, err.items[n:])
    else:
        cls, problems = err.classes[key]
        for p in problems:  # the same id in another entry: report it there too
            err.add(path, p.message)
    return err.classes[key][0]


def _load_uncached(registry: Registry, ident: str, base: type, path: KeyPath, err: _Errors) -> type | None:
    kind = registry.kind
    if not registry.known(ident):
        err.add(path, unknown_key(ident, registry.ids(), f"{kind} id"))
        return None
    try:
        cls = registry.get(ident)
    except RegistryError as exc:
        err.add(path, one_line(exc))
        return None
    except Exception as exc:  # noqa: BLE001 - a plugin that fails to import is a suite error, not a crash
        err.add(path, f"cannot load {kind} {ident!r}: {type(exc).__name__}: {one_line(exc)}")
        return None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        err.add(path, f"{ident!r} resolves to {cls!r}, which is not a {base.__name__} subclass")
        return None
    return cls


# --- per-key values -------------------------------------------------------------------------

ValueRule = Callable[[str, Any], "str | None"]


def _field_values(mapping: dict[str, Any], infos: dict[str, FieldInfo], base: KeyPath, err: _Errors,
                  what: str, rule: ValueRule | None = None, owner: str = "") -> dict[str, FieldValues] | None:
    """Type-checked values per key of one suite mapping; None if any key or value is wrong."""
    ok = True
    out: dict[str, FieldValues] = {}
    for key, raw in mapping.items():
        if key not in infos:
            err.add(base + (key,), unknown_key(key, infos, what, owner))
            ok = False
            continue
        values, is_grid = grid_values(raw, infos[key])
        if is_grid and not values:
            err.add(base + (key,), "empty list: a grid needs at least one value")
            ok = False
            continue
        coerced, seen = [], {}
        for j, v in enumerate(values):
            vpath = base + (key, j) if is_grid else base + (key,)
            try:
                c = coerce(v, infos[key].type)
            except FieldTypeError as exc:
                err.add(vpath, str(exc))
                ok = False
                continue
            problem = rule(key, c) if rule is not None else None
            if problem:
                err.add(vpath, problem)
                ok = False
                continue
            ident = canonical_json(to_jsonable(c))
            if ident in seen:
                err.add(vpath, f"duplicate value {format_value(c)} in the grid (also at index {seen[ident]})")
                ok = False
                continue
            seen[ident] = j
            coerced.append(c)
        out[key] = FieldValues(tuple(coerced), base + (key,))
    return out if ok else None


def _grid_size(fields: dict[str, FieldValues]) -> int:
    return math.prod(len(fv.values) for fv in fields.values())


def _instantiate(cls: type, kwargs: dict[str, Any]) -> tuple[Any, str | None]:
    try:
        return cls(**kwargs), None
    except (ValueError, TypeError) as exc:
        return None, one_line(exc)
    except Exception as exc:  # noqa: BLE001 - a plugin's own check, reported at the key
        return None, f"{type(exc).__name__}: {one_line(exc)}"


def _dataclass_grid(cls: type, fields: dict[str, FieldValues], infos: dict[str, FieldInfo], base: KeyPath,
                    err: _Errors, what: str) -> list[tuple[Any, dict[str, Any]]] | None:
    """Instantiate ``cls`` for every grid point: [(the instance, chosen user values)].

    ``__post_init__`` checks are attributed to a single key where they fail with that key alone set,
    and to the whole mapping where only a combination fails.
    """
    missing = [n for n, info in infos.items() if info.required and n not in fields]
    if missing:
        err.add(base, f"missing required {what} {', '.join(repr(m) for m in missing)}")
        return None
    size = _grid_size(fields)
    if size > MAX_CELLS:
        err.add(base, f"the grid has {size} points (more than {MAX_CELLS}); is a list meant as one value?")
        return None
    keys = [k for k in infos if k in fields]
    first = {k: fields[k].values[0] for k in keys if infos[k].required}
    alone: dict[tuple[str, int], str | None] = {}  # the error of one value with the others at default
    reported: set[tuple[str, int]] = set()

    def problem_alone(key: str, j: int) -> str | None:
        if (key, j) not in alone:
            alone[(key, j)] = _instantiate(cls, {**first, key: fields[key].values[j]})[1]
        return alone[(key, j)]

    out = []
    for idx in itertools.product(*(range(len(fields[k].values)) for k in keys)):
        chosen = {k: fields[k].values[j] for k, j in zip(keys, idx)}
        obj, problem = _instantiate(cls, chosen)
        if problem is None:
            out.append((obj, chosen))
            continue
        # Blame the one key whose value alone gives this same error; else the combination. Then put that
        # key back to its default and try again, so that validate reports every mistake at once although
        # __post_init__ stops at the first (a key is blamed only for the error it causes in context).
        current = dict(chosen)
        while problem is not None:
            blamed = next(((k, j) for k, j in zip(keys, idx) if k in current and problem_alone(k, j) == problem),
                          None)
            if blamed is None:
                err.add(base, f"{problem} (with {', '.join(f'{k}={format_value(v)}' for k, v in current.items())})")
                break
            if blamed not in reported:
                reported.add(blamed)
                fv = fields[blamed[0]]
                err.add(fv.path + (blamed[1],) if len(fv.values) > 1 else fv.path, problem)
            if infos[blamed[0]].required:
                break
            del current[blamed[0]]
            problem = _instantiate(cls, current)[1]
    return out if len(out) == size else None


# --- tasks ----------------------------------------------------------------------------------

def _task_cells(entry: TaskEntry, suite_train: dict[str, FieldValues] | None, train_infos: dict[str, FieldInfo],
                analyses: tuple[str, ...], err: _Errors) -> list[TaskCell]:
    path: KeyPath = ("tasks", entry.index)
    cls = _load(TASKS, entry.id, Task, path + ("id",), err)
    entry_train = _field_values(entry.train, train_infos, path + ("train",), err, "train key", value_problem)
    if cls is None:
        return []
    params = _task_params(cls, entry, path, err)
    train = _task_train(cls, suite_train, entry_train, train_infos, analyses, path, err)
    if params is None or train is None:
        return []
    params_grid, params_fields = params
    gridded = [k for k, fv in params_fields.items() if len(fv.values) > 1]
    gridded += [k for k, fv in train[1].items() if len(fv.values) > 1]
    cells = []
    given = {n: fv.path for n, fv in train[1].items() if fv.path is not None}
    ok = True
    for resolved_params, chosen_params in params_grid:
        # The task's own bound of its training-set size (None: unknown before the data is read; then
        # epoch-based schedules are checked when the run starts, and validate warns).
        size = cls.train_examples_bound(resolved_params)
        for resolved_train, chosen_train in train[0]:
            # Schedule rules need the params too: an epoch-based run's length depends on the data size.
            problems = check_train_combination(to_jsonable(resolved_train), given, size)
            for problem in problems:
                _blame(problem, train[1], path, err)
            ok = ok and not problems
            label = entry.label
            if gridded:
                chosen = {**chosen_params, **chosen_train}
                suffix = ",".join(f"{k}={format_value(chosen[k])}" for k in gridded)
                label = f"{entry.display_label}[{suffix}]"
            cells.append(TaskCell(entry, cls, resolved_params, resolved_train, label))
    return cells if ok else []


def _blame(problem: tuple[str, str, str], fields: dict[str, FieldValues], path: KeyPath, err: _Errors) -> None:
    """Report a (key to blame, other key, message) problem at the suite key that set the blamed key,
    else the other key, else the task entry (both are the task's defaults)."""
    blame, other, message = problem
    where = next((fields[k].path for k in (blame, other) if k in fields and fields[k].path is not None), None)
    err.add(where or path, message if where else f"task default train setup: {message}")


def _task_params(cls: type, entry: TaskEntry, path: KeyPath, err: _Errors):
    params_cls = getattr(cls, "Params", None)
    if params_cls is None:
        for key in entry.params:
            err.add(path + ("params", key), f"task {entry.id!r} takes no params")
        return None if entry.params else ([(None, {})], {})
    if not dataclasses.is_dataclass(params_cls):
        err.add(path + ("id",), f"task {entry.id!r} has a Params that is not a dataclass")
        return None
    infos = field_infos(params_cls)
    fields = _field_values(entry.params, infos, path + ("params",), err, "param", owner=f"task {entry.id!r}")
    if fields is None:
        return None
    grid = _dataclass_grid(params_cls, fields, infos, path + ("params",), err, "param")
    return None if grid is None else (grid, fields)


def _task_train(cls: type, suite_train: dict[str, FieldValues] | None, entry_train: dict[str, FieldValues] | None,
                infos: dict[str, FieldInfo], analyses: tuple[str, ...], path: KeyPath, err: _Errors):
    defaults = getattr(cls, "train_defaults", None)
    if not isinstance(defaults, TrainSetup):
        err.add(path + ("id",), f"task class {cls.__name__} has train_defaults that is not a TrainSetup")
        return None
    if suite_train is None or entry_train is None:
        return None
    fields: dict[str, FieldValues] = {}
    for name in infos:
        if name in entry_train:
            fields[name] = entry_train[name]
        elif name in suite_train:
            fields[name] = suite_train[name]
        else:
            fields[name] = FieldValues((getattr(defaults, name),), None)
    size = _grid_size(fields)
    if size > MAX_CELLS:
        err.add(path + ("train",), f"the train grid has {size} points (more than {MAX_CELLS})")
        return None
    names = list(infos)
    grid = []
    ok = True
    for combo in itertools.product(*(fields[n].values for n in names)):
        train = dict(zip(names, combo))
        for problem in check_analysis_budget(train, analyses):
            _blame(problem, fields, path, err)
            ok = False
        chosen = {n: train[n] for n in names if fields[n].path is not None}
        # Every value passed its field's check above, so the setup's own check cannot fail here.
        grid.append((TrainSetup(**train), chosen))
    user_fields = {n: fv for n, fv in fields.items() if fv.path is not None}
    return (grid, user_fields) if ok else None


def _check_labels(entries: tuple[TaskEntry, ...], err: _Errors) -> None:
    first: dict[str, int] = {}
    for e in entries:
        label = e.display_label
        if label in first:
            key = "label" if e.label else "id"
            hint = "give each entry a distinct label" if e.label else "add a distinct label: to each entry of this id"
            err.add(("tasks", e.index, key), f"task label {label!r} is already used by tasks[{first[label]}]; {hint}")
        else:
            first[label] = e.index


# --- methods --------------------------------------------------------------------------------

def _method_cells(entry: MethodEntry, err: _Errors) -> list[MethodCell]:
    path: KeyPath = ("methods", entry.index)
    cls = _load(METHODS, entry.id, Method, path + ("id",), err)
    if cls is None:
        return []
    hcls = getattr(cls, "Hparams", None)
    if hcls is None or not dataclasses.is_dataclass(hcls):
        err.add(path + ("id",), f"method {entry.id!r} has no Hparams dataclass")
        return []
    infos = field_infos(hcls)
    fields = _field_values(entry.hparams, infos, path + ("hparams",), err, "hparam", owner=f"method {entry.id!r}")
    if fields is None:
        return []
    grid = _dataclass_grid(hcls, fields, infos, path + ("hparams",), err, "hparam")
    if grid is None:
        return []
    defaults = {n: i.default for n, i in infos.items() if not i.required}
    return [
        MethodCell(entry, cls, resolved, differing(to_jsonable(resolved), to_jsonable(defaults), infos))
        for resolved, _ in grid
    ]


def _check_task_methods(suite: SuiteConfig, err: _Errors) -> None:
    """A task's ``methods:`` restriction may only name method ids that the suite lists."""
    ids = [m.id for m in suite.methods]
    for entry in suite.tasks:
        for j, ident in enumerate(entry.methods or ()):
            if ident not in ids:
                err.add(("tasks", entry.index, "methods", j), unknown_key(ident, dict.fromkeys(ids), "method id",
                                                                         "this suite's methods"))


# --- cells ----------------------------------------------------------------------------------

def _cells(suite: SuiteConfig, task_cells: list[TaskCell], method_cells: list[MethodCell], seeds: tuple[int, ...],
           err: _Errors) -> list[RunSpec]:
    size = len(task_cells) * len(method_cells) * len(seeds)
    if size > MAX_CELLS:
        err.add((), f"the suite has {size} cells (more than {MAX_CELLS})")
        return []
    specs: list[RunSpec] = []
    seen: dict[str, tuple[TaskCell, MethodCell]] = {}
    reported: set[tuple[int, int, int, int]] = set()
    for tc in task_cells:
        for mc in method_cells:
            if tc.entry.methods is not None and mc.entry.id not in tc.entry.methods:
                continue
            for seed in seeds:
                spec = RunSpec(
                    suite=suite.suite, task=tc.entry.id, task_version=str(tc.task_cls.version),
                    task_params=tc.params, train=tc.train, method=mc.entry.id,
                    method_version=str(mc.method_cls.version), hparams=mc.hparams, seed=seed,
                    analysis=tuple(suite.analysis), label=tc.label, **descriptions(tc.task_cls, mc.method_cls),
                )
                rid = spec.run_id
                if rid not in seen:
                    seen[rid] = (tc, mc)
                    specs.append(spec)
                    continue
                tc0, mc0 = seen[rid]
                key = (tc0.entry.index, mc0.entry.index, tc.entry.index, mc.entry.index)
                if key not in reported:
                    reported.add(key)
                    _report_duplicate(tc0, mc0, tc, mc, err)
    return specs


def _report_duplicate(tc0: TaskCell, mc0: MethodCell, tc: TaskCell, mc: MethodCell, err: _Errors) -> None:
    what = f"method {mc.entry.id!r} with {mc.changed or 'default hparams'} on task {tc.label or tc.entry.id!r}"
    if mc0.entry.index != mc.entry.index:
        also = f"methods[{mc0.entry.index}]"
        if tc0.entry.index != tc.entry.index:
            also += f" (on tasks[{tc0.entry.index}])"
        err.add(("methods", mc.entry.index), f"duplicate cell: {what} is also produced by {also}")
    elif tc0.entry.index != tc.entry.index:
        err.add(("tasks", tc.entry.index),
                f"duplicate cell: this task entry resolves to the same task, params and train as "
                f"tasks[{tc0.entry.index}]")
    else:
        err.add(("methods", mc.entry.index, "hparams"),
                f"duplicate cell: two grid points resolve to the same hparams ({what})")
