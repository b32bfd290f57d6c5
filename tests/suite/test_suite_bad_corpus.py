"""Every file in tests/suite/bad/ holds one mistake; validate must name its key path and line.

Each file starts with a comment saying what is wrong and an expectation line:
``# expect: <line> <key.path or -> | <text the message must contain>``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tram_bench.suite.errors import SuiteError, SuiteInvalid
from tram_bench.suite.load import load_suite
from tram_bench.suite.validate import validate

BAD = Path(__file__).parent / "bad"
_EXPECT = re.compile(r"^# expect: (\d+) (\S+) \| (.+)$")


def _expectation(path: Path) -> tuple[int, str, str]:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# ") and len(lines[0]) > 10, f"{path.name}: first line must say what is wrong"
    m = _EXPECT.match(lines[1])
    assert m, f"{path.name}: second line must be '# expect: <line> <key> | <text>'"
    return int(m.group(1)), "" if m.group(2) == "-" else m.group(2), m.group(3)


CORPUS = sorted(BAD.glob("*.yaml"))


def test_corpus_has_at_least_15_distinct_mistakes():
    assert len(CORPUS) >= 15
    assert len({_expectation(p)[1:] for p in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_validate_names_key_and_line(path: Path):
    line, key, text = _expectation(path)
    errors = validate(path)
    assert errors, f"{path.name} validated clean"
    assert all(isinstance(e, SuiteError) for e in errors)
    rendered = [str(e) for e in errors]
    prefix = f"{path}:{line}: {key}: " if key else f"{path}:{line}: "
    hits = [r for r in rendered if r.startswith(prefix) and text in r]
    assert hits, f"no error starting {prefix!r} containing {text!r}; got:\n" + "\n".join(rendered)
    assert all("\n" not in r for r in rendered)


@pytest.mark.parametrize("name", ["yaml_syntax", "missing_seeds", "duplicate_cells"])
def test_load_suite_raises_the_same_errors(name: str):
    path = BAD / f"{name}.yaml"
    with pytest.raises(SuiteInvalid) as info:
        load_suite(path)
    assert [str(e) for e in info.value.errors] == [str(e) for e in validate(path)]


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_cli_validate_exits_2_without_traceback(path: Path, capsys):
    """The CLI's own code path, in this process (tests/suite/test_suite_cli_subprocess.py runs
    ``python -m tram_bench.cli`` once in a fresh interpreter)."""
    from tram_bench.cli import main

    line, key, text = _expectation(path)
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert f"{path}:{line}: " in out.err and text in out.err
