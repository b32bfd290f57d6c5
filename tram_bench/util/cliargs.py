"""Value parsers for command-line flags (argparse ``type=``), so a bad flag fails while the command line
is parsed: before any suite is read or anything is written to the results directory.

Each parser takes the flag's text and returns the value, or raises ``argparse.ArgumentTypeError`` with
the allowed values and the text given; argparse prefixes the flag's name (``argument --threads: ...``).
"""

from __future__ import annotations

import argparse
import math
from typing import Callable


def _fail(expected: str, text: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")


def int_at_least(low: int) -> Callable[[str], int]:
    """Parser of an integer >= ``low`` (e.g. ``--workers``: 1)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise _fail(f"an integer >= {low}", text) from None
        if value < low:
            raise _fail(f"an integer >= {low}", text)
        return value

    return parse


def number_above(low: float, *, inclusive: bool = False) -> Callable[[str], float]:
    """Parser of a finite number > ``low`` (>= with ``inclusive``), e.g. ``--mem-gb``: > 0."""
    expected = f"a finite number {'>=' if inclusive else '>'} {low:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _fail(expected, text) from None
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            raise _fail(expected, text)
        return value

    return parse


def nonempty(text: str) -> str:
    """A non-empty value (a directory, an address, a name). An empty string is what an unset shell variable
    gives (``--results $RESULTS``), and as a path it would silently mean the current directory."""
    if not text.strip():
        raise _fail("non-empty (an unset shell variable?)", text)
    return text


def device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` (whether CUDA is there is checked by the command, which imports torch)."""
    if text in ("cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise _fail("'cpu', 'cuda' or 'cuda:N'", text)
