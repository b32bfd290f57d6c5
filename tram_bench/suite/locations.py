"""Where every key of a suite file lives (its line), and which keys a ``-O`` override replaced.

OmegaConf gives values but no positions, so the file is also composed once with PyYAML's SafeLoader
into a node tree (no Python objects are built from it) and every key path is mapped to the line of
its key. The same walk finds duplicate keys, which PyYAML would otherwise silently collapse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from tram_bench.suite.errors import KeyPath, SuiteError, format_key_path, one_line

_MERGE_TAG = "tag:yaml.org,2002:merge"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# Aliases can make a tiny file expand into an enormous tree ("billion laughs"); stop well before that.
MAX_NODES = 200_000


@dataclass
class SourceMap:
    """Key path -> 1-based line in ``file``; key paths (prefixes) set by ``-O`` -> the override text."""

    file: str
    lines: dict[KeyPath, int] = field(default_factory=dict)
    overrides: dict[KeyPath, str] = field(default_factory=dict)

    def where(self, path: KeyPath) -> tuple[str, int | None]:
        # An override replaces a whole subtree, so any overridden prefix wins over file lines
        # (the file's line for a replaced subtree would point at text that no longer applies).
        for n in range(len(path), -1, -1):
            if path[:n] in self.overrides:
                return self.overrides[path[:n]], None
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.file, self.lines[path[:n]]
        return self.file, None

    def error(self, path: KeyPath, message: str) -> SuiteError:
        file, line = self.where(path)
        return SuiteError(file, line, format_key_path(path), message)

    def mark_override(self, path: KeyPath, text: str) -> None:
        for p in [p for p in self.overrides if p[: len(path)] == path]:
            del self.overrides[p]
        self.overrides[path] = f"-O {text}"


class _TooLarge(Exception):
    pass


def map_source(text: str, file: str) -> tuple[SourceMap, yaml.Node | None, list[SuiteError]]:
    """Compose ``text`` and map its key paths to lines. Returns the root node (None for an empty
    document) and the syntax / duplicate-key errors found."""
    src = SourceMap(file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return src, None, [SuiteError(file, yaml_error_line(exc), "", f"YAML syntax error: {yaml_problem(exc)}")]
    except yaml.YAMLError as exc:
        return src, None, [SuiteError(file, None, "", f"YAML syntax error: {one_line(exc)}")]
    if root is None:
        return src, None, []
    errors: list[SuiteError] = []
    src.lines[()] = root.start_mark.line + 1
    try:
        _walk(root, (), src, errors, [0], set())
    except _TooLarge:
        errors.append(SuiteError(file, None, "", f"document expands to more than {MAX_NODES} nodes (alias loop or alias bomb?)"))
    return src, root, errors


def yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    text = one_line(": ".join(parts)) if parts else one_line(exc)
    if exc.context == "while scanning a simple key":  # `lr:0.05`: the usual cause
        text += " (a key needs ': ' with a space after the colon, e.g. 'lr: 0.05')"
    return text


def yaml_error_line(exc: yaml.MarkedYAMLError) -> int | None:
    """The 1-based line where the problem starts.

    PyYAML's problem mark is where it gave up, often the next line (``lr:0.05`` on line 17 is
    noticed on line 18; an unclosed ``[`` or quote at the end of the file). When the error has a
    scanner or flow-collection context, that context mark is where the faulty token began. In a
    block collection the problem mark is the misplaced token itself, so it stays.
    """
    context = exc.context or ""
    if exc.context_mark is not None and ("scanning" in context or "flow" in context):
        return exc.context_mark.line + 1
    mark = exc.problem_mark or exc.context_mark
    return None if mark is None else mark.line + 1



# Plain (unquoted) scalars that YAML 1.1 (PyYAML, hence OmegaConf, reads suites with it) and YAML 1.2
# read as different values. A suite must mean the same to any YAML reader, so each is refused with the
# spelling to use. Underscores in numbers are refused too (1.1: 1000, 1.2: the text "1_000"), and so
# are hexadecimal and other bases except where both versions agree (0x1F).
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_LEADING_ZERO = re.compile(r"^[-+]?0[0-9_]+$")
_BINARY = re.compile(r"^[-+]?0b[01_]+$")
_OCTAL_12 = re.compile(r"^[-+]?0o[0-7]+$")
_UNDERSCORED = re.compile(r"^[-+]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?0x[0-9a-fA-F_]+$")
_BOOL_11 = re.compile(r"^(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$")


def yaml11_problem(value: str) -> str | None:
    """Why the plain scalar ``value`` is ambiguous between YAML 1.1 and 1.2, or None."""
    def as_11() -> object:
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value

    digits = value.replace("_", "")
    if _SEXAGESIMAL.match(value):
        why = f"is the base-60 number {as_11()!r} in YAML 1.1 and text in YAML 1.2; write {as_11()!r}"
    elif _LEADING_ZERO.match(value):
        v11 = as_11()
        read = f"the octal number {v11!r}" if isinstance(v11, int) else "text"
        decimal = ("-" if digits.startswith("-") else "") + (digits.lstrip("+-").lstrip("0") or "0")
        why = f"has a leading zero: YAML 1.1 reads {read}, YAML 1.2 the decimal {decimal}; write {decimal}"
    elif _BINARY.match(value):
        why = f"is the binary number {as_11()!r} in YAML 1.1 and text in YAML 1.2; write {as_11()!r}"
    elif _OCTAL_12.match(value):
        why = f"is the octal number {int(digits, 8)!r} in YAML 1.2 and text in YAML 1.1; write {int(digits, 8)!r}"
    elif "_" in value and any(c.isdigit() for c in value) and _UNDERSCORED.match(value):
        why = f"has '_' in a number: YAML 1.1 reads {as_11()!r}, YAML 1.2 the text {value!r}; write {as_11()!r}"
    elif _BOOL_11.match(value):
        why = f"is the boolean {str(as_11()).lower()} in YAML 1.1 and text in YAML 1.2; write {str(as_11()).lower()}"
    else:
        return None
    return f"ambiguous value {value} {why}, or quote it for text"


def ambiguous_scalars(root: yaml.Node | None, src: SourceMap) -> list[SuiteError]:
    """An error for every plain scalar of the composed document that :func:`yaml11_problem` refuses,
    at its own line and key path (``seeds[0]``)."""
    errors: list[SuiteError] = []
    for path, node in plain_scalars(root):
        problem = yaml11_problem(node.value)
        if problem:
            errors.append(SuiteError(src.file, node.start_mark.line + 1, format_key_path(path), problem))
    return errors


def plain_scalars(node: yaml.Node | None, path: KeyPath = (), active: frozenset[int] = frozenset()):
    """(key path, node) of every plain (unquoted) scalar under ``node``, mapping keys included (a key
    ``no:`` is the boolean False in YAML 1.1). An alias that contains itself is not followed into
    itself (map_source bounds the size of everything else)."""
    if node is None or id(node) in active:
        return
    if isinstance(node, yaml.ScalarNode):
        if node.style is None:
            yield path, node
        return
    active = active | {id(node)}
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from plain_scalars(item, path + (i,), active)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                yield from plain_scalars(value_node, path, active)
                continue
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            if isinstance(key_node, yaml.ScalarNode) and key_node.style is None:
                yield path + (key,), key_node
            yield from plain_scalars(value_node, path + (key,), active)


def _walk(node: yaml.Node, path: KeyPath, src: SourceMap, errors: list[SuiteError], count: list[int],
          active: set[int]) -> None:
    count[0] += 1
    if count[0] > MAX_NODES:
        raise _TooLarge
    if id(node) in active:  # an alias that contains itself: OmegaConf reports it; do not recurse forever
        return
    active.add(id(node))
    try:
        if isinstance(node, yaml.MappingNode):
            _walk_mapping(node, path, src, errors, count, active)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                src.lines.setdefault(path + (i,), item.start_mark.line + 1)
                _walk(item, path + (i,), src, errors, count, active)
    finally:
        active.discard(id(node))


def _walk_mapping(node: yaml.MappingNode, path: KeyPath, src: SourceMap, errors: list[SuiteError],
                  count: list[int], active: set[int]) -> None:
    first_line: dict[str, int] = {}
    merged: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            merged.append(value_node)
            continue
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            errors.append(SuiteError(src.file, line, format_key_path(path), "a key must be a plain name, not a list or mapping"))
            continue
        key = key_node.value
        if key in first_line:
            errors.append(SuiteError(src.file, line, format_key_path(path + (key,)),
                                     f"duplicate key {key!r} (first at line {first_line[key]})"))
            continue
        first_line[key] = line
        src.lines[path + (key,)] = line
        _walk(value_node, path + (key,), src, errors, count, active)
    # `<<: *anchor` fills in keys not written explicitly; their lines are the anchor's lines.
    for value_node in merged:
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for m in sources:
            if not isinstance(m, yaml.MappingNode):
                continue
            for key_node, sub in m.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value not in first_line:
                    first_line[key_node.value] = key_node.start_mark.line + 1
                    src.lines.setdefault(path + (key_node.value,), key_node.start_mark.line + 1)
                    _walk(sub, path + (key_node.value,), src, errors, count, active)


class ValueLoader(yaml.SafeLoader):
    """SafeLoader with the number and date rules OmegaConf applies to suite files, used to parse
    ``-O`` values: ``1e-3`` is a float (plain YAML 1.1 makes it a string), dates stay strings."""


ValueLoader.yaml_implicit_resolvers = {
    ch: [r for r in resolvers if r[0] not in (_FLOAT_TAG, _TIMESTAMP_TAG)]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ValueLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
            |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
            |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)
