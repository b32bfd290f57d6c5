"""Load a suite file (with ``-O`` overrides) into a checked SuiteConfig, and expand it into RunSpecs.

Pipeline: read text -> compose with PyYAML for line numbers, duplicate keys and values YAML 1.1 and
1.2 read differently (refused) -> OmegaConf.create (``1e-3`` is a float; interpolation) -> apply
overrides -> refuse resolver calls (:mod:`interpolation`) -> resolve interpolations ->
structural checks (:mod:`config`) -> resolution against the task/method classes (:mod:`resolve`).
Every problem becomes a :class:`SuiteError`; none escapes as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from tram_bench.suite.config import SuiteConfig, build_config
from tram_bench.suite.design import SuiteDesign, check_design
from tram_bench.suite.errors import KeyPath, SuiteError, SuiteInvalid, one_line, sorted_unique
from tram_bench.suite.interpolation import is_free_text, quoted_free_text, resolver_errors, set_at
from tram_bench.suite.locations import SourceMap, ambiguous_scalars, map_source, yaml_error_line, yaml_problem
from tram_bench.suite.overrides import OverrideError, apply_override, parse_key_path, parse_override
from tram_bench.suite.resolve import resolve
from tram_bench.suite.spec import RunSpec


@dataclass(frozen=True)
class ResolvedSuite:
    """A checked suite resolved once: its config, every cell (typed), and its comparison design."""

    config: SuiteConfig
    cells: tuple[RunSpec, ...]
    design: SuiteDesign


def resolve_suite(path: str | Path, overrides: Sequence[str] = ()) -> ResolvedSuite:
    """The checked suite with its cells and design, resolved once (commands use this); raises
    :class:`SuiteInvalid` with every problem found."""
    config, resolved, errors = _check(path, overrides)
    if errors or resolved is None:
        raise SuiteInvalid(errors)
    return resolved


def pilot_suite(suite: ResolvedSuite) -> ResolvedSuite:
    """The pilot of a checked suite: the same tasks and methods on its ``pilot_seeds`` instead of its
    ``seeds`` (what ``tram-bench run --pilot`` runs into ``RESULTS/pilot``). Raises :class:`SuiteInvalid`
    (one line naming the file) when the suite declares no ``pilot_seeds``."""
    config = suite.config
    if not config.pilot_seeds:
        raise SuiteInvalid([config.source_map().error((), "declares no pilot_seeds (add e.g. 'pilot_seeds: "
                                                           "[100, 101, 102]', disjoint from seeds) for --pilot")])
    pilot = replace(config, seeds=config.pilot_seeds)
    specs, errors = resolve(pilot)
    if not errors:
        design, errors = check_design(pilot, [s.doc for s in specs])
    if errors:
        raise SuiteInvalid(sorted_unique(errors))
    return ResolvedSuite(pilot, tuple(specs), design)


def load_suite(path: str | Path, overrides: Sequence[str] = ()) -> SuiteConfig:
    """The checked suite; raises :class:`SuiteInvalid` with every problem found."""
    return resolve_suite(path, overrides).config


def expand(suite: SuiteConfig) -> list[RunSpec]:
    """Every cell of the suite (tasks x method cells x seeds), fully resolved."""
    try:
        specs, errors = resolve(suite)
    except Exception as exc:  # noqa: BLE001 - see check_suite
        raise SuiteInvalid([_internal(str(suite.path or suite.suite), exc)]) from None
    if errors:
        raise SuiteInvalid(sorted_unique(errors))
    return specs


def check_suite(path: str | Path, overrides: Sequence[str] = ()) -> tuple[SuiteConfig | None, list[SuiteError]]:
    """(config, errors): the config is usable only when ``errors`` is empty."""
    config, _, errors = _check(path, overrides)
    return config, errors


def _check(path: str | Path, overrides: Sequence[str]) -> tuple[SuiteConfig | None, ResolvedSuite | None,
                                                                  list[SuiteError]]:
    """(config, the resolved suite when it has no problem, every problem found)."""
    try:
        data, src, errors = read_document(path, overrides)
        if data is None:
            return None, None, sorted_unique(errors)
        config, more = build_config(data, src, Path(path))
        errors += more
        resolved = None
        if config is not None:
            # With an unusable seed list, one placeholder seed still finds duplicate cells.
            specs, more = resolve(config, seeds=config.seeds or (0,))
            errors += more
            if specs and not more:  # a design over a partly resolved grid would report ghosts
                design, more = check_design(config, [s.doc for s in specs])
                errors += more
                resolved = ResolvedSuite(config, tuple(specs), design)
        return config, (resolved if not errors else None), sorted_unique(errors)
    except Exception as exc:  # noqa: BLE001 - any input must end as a one-line error, never a traceback
        return None, None, [_internal(str(path), exc)]


def _internal(file: str, exc: BaseException) -> SuiteError:
    return SuiteError(file, None, "", f"cannot check this suite ({type(exc).__name__}: {_first_line(exc)})")


def read_document(path: str | Path, overrides: Sequence[str] = ()) -> tuple[Any, SourceMap, list[SuiteError]]:
    """The suite document as plain data (overrides applied, interpolations resolved), its source
    map, and errors. The data is None when nothing further can be checked."""
    file = str(path)
    src = SourceMap(file)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, src, [SuiteError(file, None, "", "no such file")]
    except IsADirectoryError:
        return None, src, [SuiteError(file, None, "", "is a directory, not a suite file")]
    except UnicodeDecodeError as exc:
        return None, src, [SuiteError(file, None, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    except OSError as exc:
        return None, src, [SuiteError(file, None, "", f"cannot read: {exc.strerror or exc}")]

    src, root, errors = map_source(text, file)
    if errors:
        return None, src, errors
    if not isinstance(root, yaml.MappingNode):
        got = "an empty file" if root is None else "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        return None, src, [src.error((), f"the top level must be a mapping with suite, seeds, tasks, methods; got {got}")]
    errors = ambiguous_scalars(root, src)  # reported, not fatal: the other checks still run
    literals = quoted_free_text(root)
    try:
        cfg = OmegaConf.create(text)
    except yaml.MarkedYAMLError as exc:
        return None, src, [SuiteError(file, yaml_error_line(exc), "", f"YAML error: {yaml_problem(exc)}")]
    except Exception as exc:  # noqa: BLE001 - OmegaConf's own errors carry the key, not the line
        return None, src, [_omegaconf_error(exc, src)]
    data = OmegaConf.to_container(cfg, resolve=False)

    for text_ov in overrides:
        try:
            ov = parse_override(text_ov)
            where = apply_override(data, ov)
            src.mark_override(where, ov.text)
        except OverrideError as exc:
            errors.append(SuiteError(f"-O {text_ov}", None, "", str(exc)))
            continue
        literals = {p: v for p, v in literals.items() if p[: len(where)] != where}
        if ov.quoted and is_free_text(where):
            literals[where] = ov.value

    # Literal text is set aside so that OmegaConf neither interpolates it nor reads "???" as missing.
    literals = {p: v for p, v in literals.items() if set_at(data, p, "")}
    bad = resolver_errors(data, src)
    if bad:  # never resolve a document that calls a resolver
        return None, src, errors + bad
    try:
        cfg = OmegaConf.create(data)
    except Exception as exc:  # noqa: BLE001 - e.g. an override value OmegaConf cannot hold
        return None, src, errors + [_omegaconf_error(exc, src)]
    bad = _unresolvable(cfg, (), src)
    if bad:
        return None, src, errors + bad
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for path, value in literals.items():
        set_at(resolved, path, value)
    return resolved, src, errors


def _unresolvable(node: DictConfig | ListConfig, path: KeyPath, src: SourceMap) -> list[SuiteError]:
    """Every ``${...}`` that does not resolve (OmegaConf itself stops at the first)."""
    errors = []
    keys = list(node.keys()) if isinstance(node, DictConfig) else list(range(len(node)))
    for key in keys:
        sub = path + (key if isinstance(key, int) else str(key),)
        try:
            child = node[key]
        except MissingMandatoryValue:
            continue  # "???" is text here, not OmegaConf's missing-value marker
        except Exception as exc:  # noqa: BLE001 - InterpolationKeyError, GrammarParseError, env var missing...
            errors.append(src.error(sub, f"cannot resolve: {_first_line(exc)} (write \\${{ for a literal '${{')"))
            continue
        if isinstance(child, (DictConfig, ListConfig)):
            errors += _unresolvable(child, sub, src)
    return errors


def _omegaconf_error(exc: Exception, src: SourceMap) -> SuiteError:
    path: KeyPath = ()
    full_key = getattr(exc, "full_key", None)
    if full_key:
        try:
            path = tuple(int(p) if p.isdigit() else p for p in parse_key_path(str(full_key)))
        except OverrideError:
            path = ()
    return src.error(path, _first_line(exc) or type(exc).__name__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return one_line(text[0]) if text else type(exc).__name__
