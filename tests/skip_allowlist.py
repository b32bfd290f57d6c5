"""The only reasons a test may be skipped in CI, each with why the skip is acceptable there.

``tests/conftest.py`` fails a CI run (environment variable ``CI`` set) that skipped any test for a reason
not matched here, so that a missing package or fixture cannot hide a tier behind a green run. An entry
matches a skip when its ``text`` occurs in the skip's reason (case-sensitive). Keep the list short: a skip
that CI could avoid by installing something belongs in the ``dev`` extra of ``pyproject.toml`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AllowedSkip:
    """text: a substring of the skip reason; why: the reason CI cannot run the test."""

    text: str
    why: str


ALLOWED_SKIPS: tuple[AllowedSkip, ...] = (
    AllowedSkip(
        "needs a CUDA device",
        "CI machines have no GPU; the CUDA paths run in benchmarks/gpu_check.py on a lent device",
    ),
    AllowedSkip(
        "DDP is not a supported execution mode",
        "each run is one process, so the DDP items of the method-pitfalls checklist do not apply",
    ),
)


def disallowed(reason: str) -> bool:
    """True when ``reason`` (a skip reason, any prefix such as ``Skipped:`` included) matches no entry."""
    return not any(entry.text in reason for entry in ALLOWED_SKIPS)
