"""Suite values checked against the annotated fields of a dataclass (task ``Params``, method
``Hparams``, ``TrainDefaults``), and the rule that turns a list into grid values.

Supported annotations: ``int``, ``float`` (an int is accepted and becomes a float), ``bool``, ``str``,
``X | None`` / ``Optional[X]``, ``tuple[X, Y]``, ``tuple[X, ...]``, ``list[X]``, ``dict[str, X]``,
``Literal[...]`` and ``Any``. Anything else is checked with ``isinstance`` when it is a class.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from tram_bench.util.hashing import OMIT_AT_DEFAULT

_MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: Any
    default: Any  # dataclasses.MISSING when the field is required
    sequence_valued: bool  # its value is itself a list/tuple (so a flat list is one value)

    @property
    def required(self) -> bool:
        return self.default is _MISSING


def field_infos(cls: type) -> dict[str, FieldInfo]:
    """Field name -> FieldInfo for a dataclass, in declaration order."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an unresolvable annotation in a plugin: check by default's type
        hints = {}
    infos = {}
    for f in dataclasses.fields(cls):
        if f.default is not _MISSING:
            default = f.default
        elif f.default_factory is not _MISSING:
            default = f.default_factory()
        else:
            default = _MISSING
        tp = hints.get(f.name, Any if default is _MISSING or default is None else type(default))
        seq = _is_sequence_type(tp) or isinstance(default, (list, tuple))
        infos[f.name] = FieldInfo(f.name, tp, default, seq)
    return infos


def _is_sequence_type(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (tuple, list) or tp in (tuple, list):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_sequence_type(a) for a in typing.get_args(tp) if a is not type(None))
    return False


def grid_values(value: Any, info: FieldInfo) -> tuple[list[Any], bool]:
    """The values a suite entry gives one field, and whether they form a grid.

    A list is a grid, except for a sequence-valued field (Adam ``betas``): there a flat list is one
    value and only a list of lists is a grid.
    """
    if not isinstance(value, list):
        return [value], False
    if info.sequence_valued:
        if value and all(isinstance(v, list) for v in value):
            return list(value), True
        return [value], False
    return list(value), True


class FieldTypeError(ValueError):
    pass


def coerce(value: Any, tp: Any) -> Any:
    """``value`` converted to annotation ``tp`` (int -> float, list -> tuple); raises FieldTypeError."""
    if tp is Any or tp is typing.Any:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arm in args:
            if arm is type(None):
                continue
            try:
                return coerce(value, arm)
            except FieldTypeError:
                continue
        raise FieldTypeError(f"expected {type_name(tp)}, got {_describe(value)}")
    if origin is typing.Literal:
        if value in args and not (isinstance(value, bool) and not any(isinstance(a, bool) for a in args)):
            return value
        raise FieldTypeError(f"expected one of {', '.join(repr(a) for a in args)}, got {_describe(value)}")
    if origin is tuple or tp is tuple:
        if not isinstance(value, (list, tuple)):
            raise FieldTypeError(f"expected {type_name(tp)}, got {_describe(value)}")
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            elem = args[0] if args else Any
            return tuple(coerce(v, elem) for v in value)
        if len(value) != len(args):
            raise FieldTypeError(f"expected {type_name(tp)} ({len(args)} values), got {len(value)}: {list(value)!r}")
        return tuple(coerce(v, a) for v, a in zip(value, args))
    if origin is list or tp is list:
        if not isinstance(value, (list, tuple)):
            raise FieldTypeError(f"expected {type_name(tp)}, got {_describe(value)}")
        elem = args[0] if args else Any
        return [coerce(v, elem) for v in value]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise FieldTypeError(f"expected {type_name(tp)}, got {_describe(value)}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): coerce(v, vt) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise FieldTypeError(f"expected bool (true/false), got {_describe(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise FieldTypeError(f"expected int, got {_describe(value)}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise FieldTypeError(f"expected a finite float, got {value!r}")
            return float(value)
        raise FieldTypeError(f"expected float, got {_describe(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise FieldTypeError(f"expected str, got {_describe(value)}")
    if tp is type(None):
        if value is None:
            return None
        raise FieldTypeError(f"expected null, got {_describe(value)}")
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise FieldTypeError(f"expected {tp.__name__}, got {_describe(value)}")
    return value  # an annotation we cannot interpret (a TypeVar, a string that did not resolve)


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join("null" if a is type(None) else type_name(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(tp, "__name__", str(tp))


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def to_jsonable(value: Any) -> Any:
    """Resolved values for a RunSpec: tuples become lists, dataclasses dicts, keys strings; a field
    marked ``OMIT_AT_DEFAULT`` (:mod:`tram_bench.util.hashing`) is left out while at its default."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.metadata.get(OMIT_AT_DEFAULT) and getattr(value, f.name) == f.default)
        }
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise TypeError(f"value {value!r} of type {type(value).__name__} is not JSON-able")
