"""What ``${...}`` may do in a suite: interpolate the suite's own keys, nothing else.

OmegaConf resolvers (``${oc.env:HOME}``, ``${oc.decode:...}``, any registered ``${name:...}``) run
code and read the environment; their results would be baked into run ids, records and a published
leaderboard, so a suite shared by someone else could copy any environment variable, tokens
included, into results. Every resolver call is refused before anything is resolved; plain
interpolation (``${train.lr}``, ``${.sibling}``) stays.

Quoted free-text values (``description``, a task's ``label``) are taken exactly as written: no
interpolation and no OmegaConf "missing value" marker, so ``description: "???"`` is three question
marks. A ``-O`` value for one of them is literal when it is quoted in the override.
"""

from __future__ import annotations

from typing import Any, Iterator

import yaml

from tram_bench.suite.errors import KeyPath, SuiteError
from tram_bench.suite.locations import SourceMap


def is_free_text(path: KeyPath) -> bool:
    """True for the keys whose values are prose or names, never settings."""
    return path == ("description",) or (len(path) == 3 and path[0] == "tasks" and path[2] == "label")


def quoted_free_text(root: yaml.Node | None) -> dict[KeyPath, str]:
    """Key path -> value of every quoted free-text scalar of the composed document."""
    out: dict[KeyPath, str] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, value in root.value:
        if key.value == "description" and _quoted(value):
            out[("description",)] = value.value
        if key.value == "tasks" and isinstance(value, yaml.SequenceNode):
            for i, item in enumerate(value.value):
                if isinstance(item, yaml.MappingNode):
                    for k, v in item.value:
                        if k.value == "label" and _quoted(v):
                            out[("tasks", i, "label")] = v.value
    return out


def _quoted(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.style in ("'", '"')


def set_at(doc: Any, path: KeyPath, value: Any) -> bool:
    """Set ``doc[path] = value`` where every step exists; False (nothing set) otherwise."""
    node = doc
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    try:
        if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)):
            node[path[-1]] = value
            return True
    except TypeError:
        pass
    return False


def resolver_errors(data: Any, src: SourceMap) -> list[SuiteError]:
    """One error per value that calls an OmegaConf resolver (checked on the document after
    overrides, before anything is resolved)."""
    return [src.error(path, f"{call} calls the resolver {name!r}: a suite may only interpolate its own keys, "
                            f"e.g. ${{train.lr}} (write \\${{ for a literal '${{')")
            for path, text in _strings(data, ()) if "${" in text
            for call, name in _resolver_calls(text)]


def _strings(node: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, path + (str(k),))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, path + (i,))


def _resolver_calls(text: str) -> list[tuple[str, str]]:
    """(``${name:...}`` text, resolver name) of every resolver call in ``text``, nested ones included.
    Text OmegaConf cannot parse has none here; resolving it reports the syntax error."""
    from omegaconf import grammar_parser
    from omegaconf.errors import GrammarParseError
    from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser

    try:
        tree = grammar_parser.parse(text)
    except GrammarParseError:
        return []
    calls: list[tuple[str, str]] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, OmegaConfGrammarParser.InterpolationResolverContext):
            calls.append((node.getText(), node.resolverName().getText()))
        stack.extend(reversed(getattr(node, "children", None) or []))
    return calls
