"""Every measured number in the READMEs names where it comes from (issue 14, "Done means").

The rule, as checked here: each results section (a heading with "result" in it) of README.md and of the
READMEs beside the code, and each script's bullet of the README's Benchmarks section, has a paragraph
starting ``Source:`` that names, in backticks, a suite file or script of this repository that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "tram_bench").glob("**/README.md"))]
PATH = re.compile(r"(?:[\w.-]+/)+[\w.-]+\.(?:py|yaml)")


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) pairs; '#' lines inside fenced code blocks are not headings."""
    out, heading, body, fenced = [], "", [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if line.startswith("#") and not fenced:
            out.append((heading, "\n".join(body)))
            heading, body = line, []
        else:
            body.append(line)
    out.append((heading, "\n".join(body)))
    return out


def _sources(body: str) -> list[str]:
    """Each ``Source:`` paragraph (up to the next blank line or bullet), joined onto one line."""
    found = []
    for match in re.finditer(r"Source:", body):
        rest = re.split(r"\n\s*\n|\n\s*- ", body[match.start():], maxsplit=1)[0]
        found.append(" ".join(rest.split()))
    return found


def _missing(body: str) -> str | None:
    """Why ``body`` does not name its source, or None."""
    sources = _sources(body)
    if not sources:
        return "no 'Source:' paragraph"
    for source in sources:
        paths = [p for span in re.findall(r"`([^`]+)`", source) for p in PATH.findall(span)]
        if not paths:
            return f"names no suite file or script in backticks: {source[:80]!r}"
        absent = [p for p in paths if not (ROOT / p).is_file()]
        if absent:
            return f"names files that do not exist: {absent}"
    return None


def test_every_results_section_names_its_source():
    checked, problems = 0, []
    for doc in DOCS:
        for heading, body in _sections(doc.read_text(encoding="utf-8")):
            if "result" in heading.lower() and re.search(r"\d\.\d", body):
                checked += 1
                why = _missing(body)
                if why:
                    problems.append(f"{doc.relative_to(ROOT)}: {heading.strip()}: {why}")
    assert checked >= 2  # README.md's two Results sections (vision and frontier; language modelling and cross-lingual)
    assert not problems, "\n".join(problems)


def test_every_benchmark_bullet_names_its_script():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = next(b for h, b in _sections(text) if h.startswith("## Benchmarks"))
    bullets = re.split(r"\n(?=- `)", body)[1:]
    assert len(bullets) >= 4
    for bullet in bullets:
        script = re.match(r"- `([\w.]+\.py)`", bullet).group(1)
        assert _missing(bullet) is None, f"{script}: {_missing(bullet)}"
        assert any(f"benchmarks/{script}" in s for s in _sources(bullet)), f"{script}: its Source names another script"


def test_the_rule_catches_a_missing_or_wrong_source():
    assert _missing("| a | 1.5 |\n") == "no 'Source:' paragraph"
    assert _missing("Source: a run on my laptop.\n").startswith("names no suite file")
    assert _missing("Source: `python benchmarks/nope.py`.\n") == "names files that do not exist: ['benchmarks/nope.py']"
    assert _missing("Source: `tram-bench run\nsuites/vision.yaml`.\n\nmore") is None
