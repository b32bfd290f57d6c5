"""What is wrong with a suite, said in one line per problem: ``file:line: key.path: message``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

KeyPath = tuple[str | int, ...]


def format_key_path(path: KeyPath) -> str:
    """``("methods", 2, "hparams", "rho")`` -> ``methods[2].hparams.rho`` (indices are 0-based)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class SuiteError:
    """One problem in a suite file (or in a ``-O`` override, then ``file`` is ``-O <text>``).

    ``line`` is 1-based, or None when no line applies (an override, an unreadable file).
    """

    file: str
    line: int | None
    key_path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key_path}: {self.message}" if self.key_path else f"{where}: {self.message}"


class SuiteInvalid(ValueError):
    """All problems found in one suite; the CLI prints ``errors`` one per line and exits 2."""

    def __init__(self, errors: Iterable[SuiteError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors) or "invalid suite")


def one_line(text: str) -> str:
    """Exception texts from YAML and OmegaConf span several lines; a SuiteError is one line."""
    parts = [p.strip() for p in str(text).splitlines() if p.strip()]
    return "; ".join(parts) if parts else ""


def sorted_unique(errors: Iterable[SuiteError]) -> list[SuiteError]:
    """Drop exact repeats (a suite-wide value is checked once per task) and order by line;
    errors without a line (overrides, whole-file problems) keep their order and come first."""
    seen: set[SuiteError] = set()
    unique = []
    for e in errors:
        if e not in seen:
            seen.add(e)
            unique.append(e)
    return sorted(unique, key=lambda e: -1 if e.line is None else e.line)
