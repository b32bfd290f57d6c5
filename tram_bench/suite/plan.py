"""The plan of a suite: one row per cell with its status, and the plan file the collector reads.

``results/suites/<suite>.json`` = ``{"suite": name, "file": path, "cells": [RunSpec.to_json(), ...],
"design": SuiteDesign.to_json()}`` records which cells a suite holds, so that a partially run grid shows
as partial in the store, and the comparison design fixed before the runs (:mod:`tram_bench.suite.design`).
Plan files written before designs existed have no ``design`` key; the collector derives the default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from tram_bench.suite.design import SuiteDesign, default_design
from tram_bench.suite.display import differing
from tram_bench.suite.fieldtypes import to_jsonable
from tram_bench.suite.spec import RunSpec
from tram_bench.util.files import atomic_write_json


@dataclass(frozen=True)
class PlanRow:
    task_label: str
    method: str
    hparams: str  # only the values that differ from the method's defaults ("" = all defaults)
    seed: int
    run_id: str
    status: str

    @property
    def task(self) -> str:
        """The task's display label (the name the CLI's plan table uses)."""
        return self.task_label


def plan_rows(specs: Iterable[RunSpec], status_of: Callable[[str], str]) -> list[PlanRow]:
    """One row per spec, in the given order; ``status_of(run_id)`` supplies the status. The
    hyperparameters column lists the values that differ from the ``Hparams`` class's defaults."""
    defaults_cache: dict[type, tuple[dict[str, Any], list[str]]] = {}
    rows = []
    for spec in specs:
        hcls = type(spec.hparams)
        if hcls not in defaults_cache:
            defaults_cache[hcls] = _defaults(hcls)
        defaults, order = defaults_cache[hcls]
        text = differing(spec.doc.hparams, defaults, order)
        rows.append(PlanRow(spec.task_label, spec.method, text, spec.seed, spec.run_id, status_of(spec.run_id)))
    return rows


def _defaults(hcls: type) -> tuple[dict[str, Any], list[str]]:
    fields = dataclasses.fields(hcls)
    defaults: dict[str, Any] = {}
    for f in fields:
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = to_jsonable(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = to_jsonable(f.default_factory())
    return defaults, [f.name for f in fields]


def plan_document(suite: str, file: str | Path | None, specs: Iterable[RunSpec],
                  design: SuiteDesign | None = None) -> dict[str, Any]:
    """The plan file's content; ``design`` None writes the default design of ``specs``
    (:func:`tram_bench.suite.design.default_design`, NULL baselines where the default is ambiguous)."""
    specs = list(specs)
    if design is None:
        design = default_design(suite, [s.doc for s in specs])
    return {"suite": suite, "file": None if file is None else str(file), "cells": [s.to_json() for s in specs],
            "design": design.to_json()}


def plan_file_path(results_dir: str | Path, suite: str) -> Path:
    return Path(results_dir) / "suites" / f"{suite}.json"


def write_plan_file(results_dir: str | Path, suite: str, file: str | Path | None, specs: Iterable[RunSpec],
                    design: SuiteDesign | None = None) -> Path:
    """Write (atomically, replacing any previous plan of this suite) the suite's plan file; pass the
    suite's ``design_of(...)`` so that declared baselines are recorded (see :func:`plan_document`)."""
    path = plan_file_path(results_dir, suite)
    atomic_write_json(path, plan_document(suite, file, specs, design))
    return path
