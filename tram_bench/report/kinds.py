"""Method kinds and task families as the store records them, for the site's filters.

The report never classifies a method by its id nor imports a task to learn its family: each run record
carries both (``CellDoc.method_kind``, ``CellDoc.task_family``), and the collector resolves them once for
records written before that (``tram_bench.store.records``). A method or task without any run with
them is :data:`~tram_bench.methods.kinds.OTHER` / None.
"""

from __future__ import annotations

from typing import Mapping

from tram_bench.methods.kinds import KINDS, OTHER


def method_kinds(con) -> dict[str, str]:
    """``{method id: kind}`` over the store's ``runs`` (one of ``KINDS``)."""
    rows = con.execute("SELECT method, min(method_kind) FROM runs WHERE method_kind IS NOT NULL "
                       "GROUP BY method").fetchall()
    return {m: k for m, k in rows}


def task_families(con) -> dict[str, str]:
    """``{task id: family}`` over the store's ``runs`` (tasks without a recorded family are absent)."""
    rows = con.execute("SELECT task, min(task_family) FROM runs WHERE task_family IS NOT NULL "
                       "AND task_family <> '' GROUP BY task").fetchall()
    return {t: f for t, f in rows}


def kind_of(kinds: Mapping[str, str], method: str) -> str:
    """The kind of ``method`` in ``kinds`` (from :func:`method_kinds`); ``OTHER`` when no run records one."""
    return kinds.get(method, OTHER)


def config_method(config: str) -> str:
    """The method id of a configuration label (``"sam[rho=0.05]"`` -> ``"sam"``; the report's labels append
    gridded hyperparameters in brackets)."""
    return config.split("[", 1)[0]


__all__ = ["KINDS", "config_method", "kind_of", "method_kinds", "task_families"]
