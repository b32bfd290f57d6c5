"""Turning a task's ``params`` (a dataclass, or a plain mapping from a suite) into its checked dataclass."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

P = TypeVar("P")


def as_params(cls: type[P], value: Any, task_id: str) -> P:
    if isinstance(value, cls):
        return value
    if value is None:
        return cls()
    if not isinstance(value, Mapping):
        raise TypeError(f"task {task_id}: params must be a mapping or {cls.__name__}, got {type(value).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"task {task_id}: unknown param {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return cls(**dict(value))


def fail(task_id: str, key: str, value: Any, expected: str) -> None:
    raise ValueError(f"task {task_id}: params.{key} must be {expected}, got {value!r}")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_optional_positive_int(task_id: str, key: str, value: Any) -> None:
    if value is not None and (not is_int(value) or value < 1):
        fail(task_id, key, value, "a positive integer or null")


def check_fraction(task_id: str, key: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 < float(value) < 1.0
    if not ok:
        fail(task_id, key, value, "a number strictly between 0 and 1")
