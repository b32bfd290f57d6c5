"""The typed form of a suite file, and the structural checks that build it.

Values here are as written (after ``-O`` overrides and OmegaConf interpolation): a list may still
stand for a grid. :mod:`tram_bench.suite.resolve` fills in defaults and expands grids.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from tram_bench.suite.aliases import canonical_method_id
from tram_bench.suite.errors import KeyPath, SuiteError
from tram_bench.suite.locations import SourceMap

TOP_KEYS = ("suite", "description", "seeds", "pilot_seeds", "analysis", "train", "baseline", "alpha", "delta", "tasks",
            "methods")
REQUIRED_TOP_KEYS = ("suite", "seeds", "tasks", "methods")
TASK_KEYS = ("id", "label", "params", "train", "baseline", "methods")
METHOD_KEYS = ("id", "hparams")
BASELINE_KEYS = ("id", "hparams")
ANALYSES = ("sharpness", "cka")
# The suite name is also a file name (results/suites/<name>.json).
_SUITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class BaselineDecl:
    """A declared baseline (``baseline: {id: sgd, hparams: {...}}``), as written.

    ``hparams`` need not be complete: the baseline is the one configuration of method ``id`` in the
    task whose resolved hparams equal these values on these keys (:mod:`tram_bench.suite.design`).
    """

    id: str
    hparams: dict[str, Any] = field(default_factory=dict)
    path: KeyPath = field(default=(), compare=False)  # where it is declared (for errors)


@dataclass(frozen=True)
class TaskEntry:
    id: str
    label: str  # "" when the suite gives none (the display label is then the id)
    params: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    index: int = field(default=-1, compare=False)  # position in the file's `tasks:` list (for errors)
    # Restrict this task to these method ids of the suite (None: every method runs on it).
    methods: tuple[str, ...] | None = None
    baseline: BaselineDecl | None = None  # wins over the suite's baseline

    @property
    def display_label(self) -> str:
        return self.label or self.id


@dataclass(frozen=True)
class MethodEntry:
    id: str
    hparams: dict[str, Any] = field(default_factory=dict)
    index: int = field(default=-1, compare=False)  # position in the file's `methods:` list


@dataclass(frozen=True)
class SuiteConfig:
    suite: str
    description: str
    seeds: tuple[int, ...]
    analysis: tuple[str, ...]
    train: dict[str, Any]
    tasks: tuple[TaskEntry, ...]
    methods: tuple[MethodEntry, ...]
    path: Path | None = None
    # The comparison design as written; None = the default of tram_bench.suite.design.
    baseline: BaselineDecl | None = None
    alpha: float | None = None
    delta: float | dict[str, float] | None = None
    # Seeds of the pilot runs (``tram-bench run --pilot``) that size the budget; disjoint from ``seeds``.
    pilot_seeds: tuple[int, ...] = ()
    # Line numbers of the file it came from, for errors found later (expansion).
    source: SourceMap | None = field(default=None, compare=False, repr=False)

    def source_map(self) -> SourceMap:
        return self.source if self.source is not None else SourceMap(str(self.path or "<suite>"))


def unknown_key(key: Any, valid: Iterable[str], what: str = "key", owner: str = "") -> str:
    """``unknown hparam 'rhoo' of method 'sam' (did you mean 'rho'?)``."""
    valid = list(valid)
    close = closest_names(str(key), valid)
    hint = (f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close
            else f" (expected one of: {', '.join(valid)})" if valid else "")
    of = f" of {owner}" if owner else ""
    return f"unknown {what} {key!r}{of}{hint}"


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[_\-+.]", name.lower()) if w]


def closest_names(key: str, valid: list[str]) -> list[str]:
    """The names to suggest for ``key``: those that contain it as a whole word (``eta`` ->
    ``fisher_eta``, never the merely similar ``betas``), else the closest spelling."""
    word = key.lower()
    containing = [v for v in valid if word in _words(v)]
    if containing:
        return containing[:3]
    return difflib.get_close_matches(key, valid, n=1)


def check_keys(mapping: dict[Any, Any], valid: Iterable[str], path: KeyPath, src: SourceMap) -> list[SuiteError]:
    valid = list(valid)
    return [src.error(path + (str(k),), unknown_key(k, valid)) for k in mapping if str(k) not in valid]


def build_config(data: Any, src: SourceMap, path: Path | None) -> tuple[SuiteConfig | None, list[SuiteError]]:
    """Check the shape of the document and build a SuiteConfig from its well-formed parts.

    Malformed entries are reported and left out, so that later checks still run on the rest.
    """
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        return None, [src.error((), f"the top level must be a mapping with suite, seeds, tasks, methods; got {got}")]
    errors = check_keys(data, TOP_KEYS, (), src)
    for key in REQUIRED_TOP_KEYS:
        if key not in data:
            errors.append(src.error((), f"missing required key {key!r}"))

    name = data.get("suite")
    if "suite" in data and not (isinstance(name, str) and _SUITE_NAME.match(name)):
        errors.append(src.error(("suite",), f"must be a name of letters, digits, '.', '_' or '-' (it names "
                                            f"results/suites/<name>.json), got {name!r}"))
        name = None
    description = data.get("description")
    if description is None:
        description = ""
    elif not isinstance(description, str):
        errors.append(src.error(("description",), f"must be text, got {type(description).__name__}"))
        description = ""

    seeds = _seeds(data, src, errors) if "seeds" in data else ()
    pilot_seeds = _pilot_seeds(data, seeds, src, errors) if "pilot_seeds" in data else ()
    analysis = _analysis(data.get("analysis"), src, errors)
    train = _mapping_or_empty(data.get("train"), ("train",), src, errors)
    tasks = tuple(_entries(data, "tasks", _task_entry, src, errors)) if "tasks" in data else ()
    methods = tuple(_entries(data, "methods", _method_entry, src, errors)) if "methods" in data else ()
    baseline = _baseline(data.get("baseline"), ("baseline",), src, errors)
    alpha = _alpha(data.get("alpha"), src, errors)
    delta = _delta(data.get("delta"), src, errors)

    config = SuiteConfig(
        suite=name or "", description=description, seeds=seeds, analysis=analysis, train=train or {},
        tasks=tasks, methods=methods, path=path, source=src, baseline=baseline, alpha=alpha, delta=delta,
        pilot_seeds=pilot_seeds,
    )
    return config, errors


def _seeds(data: dict, src: SourceMap, errors: list[SuiteError], key: str = "seeds",
           example: str = "[0, 1, 2]") -> tuple[int, ...]:
    seeds = data[key]
    if not isinstance(seeds, list):
        errors.append(src.error((key,), f"must be a list of ints, e.g. {example}; got {seeds!r}"))
        return ()
    if not seeds:
        errors.append(src.error((key,), "must list at least one seed"))
        return ()
    out: list[int] = []
    for i, s in enumerate(seeds):
        if not isinstance(s, int) or isinstance(s, bool):
            errors.append(src.error((key, i), f"a seed must be an int, got {s!r}"))
        elif s in out:
            errors.append(src.error((key, i), f"duplicate seed {s}"))
        else:
            out.append(s)
    return tuple(out)


def _pilot_seeds(data: dict, seeds: tuple[int, ...], src: SourceMap, errors: list[SuiteError]) -> tuple[int, ...]:
    """The pilot seeds, each an int and none of them a reported seed: a pilot run that is also a reported
    run would let the runs that set the budget enter the verdicts they were meant to size."""
    pilot = _seeds(data, src, errors, "pilot_seeds", "[100, 101, 102]")
    written = data["pilot_seeds"] if isinstance(data["pilot_seeds"], list) else []
    shared = [i for i, s in enumerate(written) if type(s) is int and s in seeds]
    for i in shared:
        errors.append(src.error(("pilot_seeds", i), f"seed {written[i]} is also in seeds: pilot seeds "
                                                    "must be disjoint from the reported seeds"))
    return () if shared else pilot


def _analysis(value: Any, src: SourceMap, errors: list[SuiteError]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.append(src.error(("analysis",), f"must be a list (of {', '.join(ANALYSES)}), got {value!r}"))
        return ()
    out: list[str] = []
    for i, a in enumerate(value):
        if a not in ANALYSES:
            errors.append(src.error(("analysis", i), unknown_key(a, ANALYSES, "analysis")))
        elif a in out:
            errors.append(src.error(("analysis", i), f"duplicate analysis {a!r}"))
        else:
            out.append(a)
    return tuple(out)


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _alpha(value: Any, src: SourceMap, errors: list[SuiteError]) -> float | None:
    if value is None:
        return None
    if not (_positive_number(value) and value < 1):
        errors.append(src.error(("alpha",), f"must be a number in (0, 1), e.g. 0.05; got {value!r}"))
        return None
    return float(value)


def _delta(value: Any, src: SourceMap, errors: list[SuiteError]) -> float | dict[str, float] | None:
    """A number > 0, or a mapping task family -> number > 0 (families are checked against the
    suite's tasks in :mod:`tram_bench.suite.design`)."""
    if value is None:
        return None
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for family, margin in value.items():
            if not _positive_number(margin):
                errors.append(src.error(("delta", str(family)), f"must be a number > 0, got {margin!r}"))
            else:
                out[str(family)] = float(margin)
        return out if len(out) == len(value) else None
    if not _positive_number(value):
        errors.append(src.error(("delta",), f"must be a number > 0 or a mapping of task family to a number > 0 "
                                            f"(e.g. {{vision: 1.0, lm: 0.01}}); got {value!r}"))
        return None
    return float(value)


def _baseline(value: Any, path: KeyPath, src: SourceMap, errors: list[SuiteError]) -> BaselineDecl | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        hint = f" (write 'baseline: {{id: {value}}}')" if isinstance(value, str) else ""
        errors.append(src.error(path, f"must be a mapping {{id: ..., hparams: {{...}}}}, got {value!r}{hint}"))
        return None
    ident = _entry_id(value, path, BASELINE_KEYS, src, errors)
    hparams = _mapping_or_empty(value.get("hparams"), path + ("hparams",), src, errors)
    if ident is None or hparams is None:
        return None
    return BaselineDecl(id=canonical_method_id(ident), hparams=hparams, path=path)


def _mapping_or_empty(value: Any, path: KeyPath, src: SourceMap, errors: list[SuiteError]) -> dict | None:
    """A mapping (null counts as empty); None (after reporting) when it is something else."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        key, colon, rest = value.partition(":") if isinstance(value, str) else ("", "", "")
        hint = f" (write '{key}: {rest}' with a space after ':')" if colon and key and rest and rest[0] != " " else ""
        errors.append(src.error(path, f"must be a mapping of key: value, got {type(value).__name__} {value!r}{hint}"))
        return None
    return {str(k): v for k, v in value.items()}


def _entries(data: dict, key: str, build, src: SourceMap, errors: list[SuiteError]) -> list:
    items = data[key]
    if not isinstance(items, list) or not items:
        errors.append(src.error((key,), f"must be a non-empty list of entries (each with an id), got {items!r}"))
        return []
    out = []
    for i, item in enumerate(items):
        entry = build(item, (key, i), i, src, errors)
        if entry is not None:
            out.append(entry)
    return out


def _entry_id(item: Any, path: KeyPath, keys: tuple[str, ...], src: SourceMap, errors: list[SuiteError]) -> str | None:
    if not isinstance(item, dict):
        hint = f" (write '- id: {item}')" if isinstance(item, str) else ""
        errors.append(src.error(path, f"an entry must be a mapping with an id, got {item!r}{hint}"))
        return None
    n = len(errors)
    errors.extend(check_keys(item, keys, path, src))
    ident = item.get("id")
    if "id" not in item:
        errors.append(src.error(path, "missing required key 'id'"))
    elif not isinstance(ident, str) or not ident.strip():
        errors.append(src.error(path + ("id",), f"must be a non-empty string, got {ident!r}"))
    return ident if len(errors) == n else None


def _task_entry(item: Any, path: KeyPath, index: int, src: SourceMap, errors: list[SuiteError]) -> TaskEntry | None:
    ident = _entry_id(item, path, TASK_KEYS, src, errors)
    if ident is None:
        return None
    label = item.get("label")
    ok = True
    if label is not None and not (isinstance(label, str) and label.strip()):
        errors.append(src.error(path + ("label",), f"must be a non-empty string, got {label!r}"))
        ok = False
    params = _mapping_or_empty(item.get("params"), path + ("params",), src, errors)
    train = _mapping_or_empty(item.get("train"), path + ("train",), src, errors)
    n = len(errors)
    baseline = _baseline(item.get("baseline"), path + ("baseline",), src, errors)
    ok = ok and len(errors) == n
    methods = item.get("methods")
    if methods is not None:
        if not (isinstance(methods, list) and methods and all(isinstance(m, str) and m for m in methods)):
            errors.append(src.error(path + ("methods",), f"must be a non-empty list of method ids, got {methods!r}"))
            ok = False
        else:
            methods = tuple(canonical_method_id(m) for m in methods)
    if not ok or params is None or train is None:
        return None
    return TaskEntry(id=ident, label=label or "", params=params, train=train, index=index, methods=methods,
                     baseline=baseline)


def _method_entry(item: Any, path: KeyPath, index: int, src: SourceMap, errors: list[SuiteError]) -> MethodEntry | None:
    ident = _entry_id(item, path, METHOD_KEYS, src, errors)
    if ident is None:
        return None
    hparams = _mapping_or_empty(item.get("hparams"), path + ("hparams",), src, errors)
    if hparams is None:
        return None
    return MethodEntry(id=canonical_method_id(ident), hparams=hparams, index=index)
