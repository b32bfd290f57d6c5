"""Checks shared by every task's ``Params`` dataclass, and turning a plain mapping into one.

Each task's ``Params`` validates itself in ``__post_init__`` with these helpers, so a bad value fails
when the suite's grid is built (``tram-bench validate`` reports it as ``file:line: key.path: message``)
rather than when the run starts. Every check raises ``ValueError`` with one line of the form
``KEY must be EXPECTED, got VALUE``: the key, the allowed values and the value given.

These are value checks only: the suite resolver has already checked the field types, but a
``Params`` built directly in Python gets the same checks (a bool is never accepted as an integer).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

P = TypeVar("P")


def as_params(cls: type[P], value: Any, task_id: str) -> P:
    """``value`` as a ``cls`` instance: an instance is returned as is, ``None`` gives the defaults, a
    mapping is passed as keyword arguments (so ``cls.__post_init__`` checks it).

    Raises TypeError for anything else, ValueError naming the first unknown key, and the class's own
    ValueError prefixed with ``task <id>: params.``."""
    if isinstance(value, cls):
        return value
    if value is None:
        return cls()
    if not isinstance(value, Mapping):
        raise TypeError(f"task {task_id}: params must be a mapping or {cls.__name__}, got {type(value).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(value) - known)
    if unknown:
        raise ValueError(f"task {task_id}: unknown param {unknown[0]!r} (known: {', '.join(sorted(known))})")
    try:
        return cls(**dict(value))
    except ValueError as exc:
        # The checks name the bare key; outside a suite (no file:line: key.path) say whose param it is.
        raise ValueError(f"task {task_id}: params.{exc}") from None


def fail(key: str, value: Any, expected: str) -> None:
    """Raise the one-line ValueError of a bad param value."""
    raise ValueError(f"{key} must be {expected}, got {value!r}")


def is_int(value: Any) -> bool:
    """An integer and not a bool (YAML's ``true`` must not pass for 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_int(key: str, value: Any, low: int, high: int | None = None, *, optional: bool = False) -> None:
    """An integer in ``low..high`` (``high=None``: no upper bound); ``optional`` also accepts None."""
    if optional and value is None:
        return
    if is_int(value) and value >= low and (high is None or value <= high):
        return
    expected = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
    fail(key, value, expected + (" or null" if optional else ""))


def check_number(key: str, value: Any, low: float = -math.inf, high: float = math.inf, *,
                 open_low: bool = False, open_high: bool = False) -> None:
    """A finite number in the interval from ``low`` to ``high`` (each end closed unless ``open_*``)."""
    ok = _is_number(value) and (low < value if open_low else low <= value) and (
        value < high if open_high else value <= high)
    if ok:
        return
    if math.isinf(high):
        expected = f"a finite number {'>' if open_low else '>='} {low:g}"
    elif math.isinf(low):
        expected = f"a finite number {'<' if open_high else '<='} {high:g}"
    else:
        expected = f"a finite number in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
    fail(key, value, expected)


def check_fraction(key: str, value: Any) -> None:
    """A number strictly between 0 and 1 (a share of a split)."""
    check_number(key, value, 0.0, 1.0, open_low=True, open_high=True)


def check_choice(key: str, value: Any, choices: Iterable[str]) -> None:
    """One of ``choices`` (names, listed in the message)."""
    choices = tuple(choices)
    if value not in choices:
        fail(key, value, f"one of {', '.join(choices)}")


def check_choices(key: str, values: Any, choices: Iterable[str], *, allow_empty: bool = False) -> None:
    """A list (or tuple) of values drawn from ``choices``, without repeats, non-empty unless ``allow_empty``."""
    choices = tuple(choices)
    if not isinstance(values, (list, tuple)) or any(v not in choices for v in values):
        fail(key, values, f"a list drawn from {', '.join(choices)}")
    if not values and not allow_empty:
        fail(key, values, f"a non-empty list drawn from {', '.join(choices)}")
    check_no_repeats(key, values)


def check_no_repeats(key: str, values: Any) -> None:
    """A sequence whose items are all different (each names a domain, a fold, a language...)."""
    if len(set(values)) != len(values):
        fail(key, values, "a list without repeats")


def check_text(key: str, value: Any, *, optional: bool = False) -> None:
    """A non-empty string (a path, a hub id, a revision); ``optional`` also accepts None. An empty string
    is refused: it is what an unset shell variable gives, and it would silently mean "the current directory"."""
    if optional and value is None:
        return
    if not isinstance(value, str) or not value.strip():
        fail(key, value, "a non-empty string" + (" or null" if optional else ""))


def check_texts(key: str, values: Any, *, optional: bool = False) -> None:
    """A non-empty list of non-empty strings without repeats; ``optional`` also accepts None."""
    if optional and values is None:
        return
    if (not isinstance(values, (list, tuple)) or not values
            or any(not isinstance(v, str) or not v.strip() for v in values)):
        fail(key, values, "a non-empty list of non-empty strings" + (" or null" if optional else ""))
    check_no_repeats(key, values)
