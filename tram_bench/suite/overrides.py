"""``-O key=value`` overrides, applied to the suite document before it is validated.

Keys are dotted paths with 0-based list indices, ``tasks.0.params.backbone`` or
``tasks[0].params.backbone``. Values are YAML scalars or flow collections (``0.1``, ``[0, 1]``,
``{rho: 0.1}``, ``null``). A missing mapping on the way is created (``train.steps=5`` works on a suite
without ``train:``); a list index must exist, or equal the list's length to append an entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from tram_bench.suite.errors import KeyPath, format_key_path, one_line
from tram_bench.suite.locations import ValueLoader, plain_scalars, yaml11_problem

_NAME = re.compile(r"[^.\[\]\s]+")
_NEXT = re.compile(r"\.([^.\[\]\s]+)|\[(\d+)\]")


class OverrideError(ValueError):
    """An override that cannot be parsed or applied (the message names no file; the caller adds it)."""


@dataclass(frozen=True)
class Override:
    text: str
    path: tuple[str, ...]  # raw segments; digits become list indices where the target is a list
    value: Any
    quoted: bool = False  # the value is one quoted scalar (literal text in a free-text field)


def parse_key_path(text: str) -> tuple[str, ...]:
    """``a.b[2].c`` / ``a.b.2.c`` -> ``("a", "b", "2", "c")``; raises OverrideError if malformed."""
    text = text.strip()
    m = _NAME.match(text)
    if not m:
        raise OverrideError(f"malformed key path {text!r}")
    segments = [m.group(0)]
    pos = m.end()
    while pos < len(text):
        m = _NEXT.match(text, pos)
        if not m:
            raise OverrideError(f"malformed key path {text!r}")
        segments.append(m.group(1) if m.group(1) is not None else m.group(2))
        pos = m.end()
    return tuple(segments)


def parse_override(text: str) -> Override:
    if "=" not in text:
        raise OverrideError("expected key=value, e.g. train.steps=5")
    key, _, raw = text.partition("=")
    path = parse_key_path(key)
    if not raw.strip():
        return Override(text=text, path=path, value=None)
    try:
        node = yaml.compose(raw, Loader=ValueLoader)
        value = yaml.load(raw, Loader=ValueLoader)
    except yaml.YAMLError as exc:
        raise OverrideError(f"cannot parse value {raw!r}: {one_line(exc)}") from None
    # The same YAML 1.1 / 1.2 ambiguities are refused here as in a suite file.
    for _, scalar in plain_scalars(node):
        problem = yaml11_problem(scalar.value)
        if problem:
            raise OverrideError(problem)
    quoted = isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')
    return Override(text=text, path=path, value=value, quoted=quoted)


def apply_override(doc: dict[str, Any], ov: Override) -> KeyPath:
    """Set ``ov.value`` at ``ov.path`` in ``doc`` (in place); returns the normalised key path
    (list indices as ints) so that errors about it can name the override."""
    node: Any = doc
    done: list[str | int] = []
    for i, seg in enumerate(ov.path):
        last = i == len(ov.path) - 1
        if isinstance(node, dict):
            if last:
                node[seg] = ov.value
            else:
                if node.get(seg) is None:
                    node[seg] = {}
                node = node[seg]
            done.append(seg)
        elif isinstance(node, list):
            if not seg.isdigit():
                raise OverrideError(f"{format_key_path(tuple(done))} is a list; use an index, not {seg!r}")
            idx = int(seg)
            if idx > len(node) or (idx == len(node) and not last):
                raise OverrideError(
                    f"index {idx} is out of range: {format_key_path(tuple(done))} has {len(node)} entries"
                )
            if last:
                if idx == len(node):
                    node.append(ov.value)
                else:
                    node[idx] = ov.value
            else:
                node = node[idx]
            done.append(idx)
        else:
            raise OverrideError(
                f"cannot set {seg!r} inside {format_key_path(tuple(done))}: it holds "
                f"{type(node).__name__} {node!r}, not a mapping or list"
            )
    return tuple(done)
