"""Short, stable text for resolved values (plan rows, grid labels, error messages)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from tram_bench.util.hashing import canonical


def format_value(value: Any) -> str:
    """YAML-like: ``0.05``, ``true``, ``null``, ``[0.9,0.999]``, ``adam``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{format_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def same_value(a: Any, b: Any) -> bool:
    """Equal as hyperparameter values: 1 == 1.0 and a tuple equals the list of its items."""
    try:
        return canonical(a) == canonical(b)
    except TypeError:
        return a == b


def differing(values: Mapping[str, Any], defaults: Mapping[str, Any], order: Iterable[str] | None = None) -> str:
    """``"rho=0.1, base=adam"``: only the entries of ``values`` that differ from ``defaults``."""
    keys = list(order) if order is not None else list(values)
    parts = [
        f"{k}={format_value(values[k])}"
        for k in keys
        if k in values and (k not in defaults or not same_value(values[k], defaults[k]))
    ]
    return ", ".join(parts)
