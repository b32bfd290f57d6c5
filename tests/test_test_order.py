"""The suite runs its fast tests first: every ``slow`` test is collected after every other test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_slow_tests_are_collected_last():
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly",
                          "-m", "slow or not slow", "tests/test_smoke_suite.py", "tests/golden"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    slow = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", "-m", "slow",
                           "tests/test_smoke_suite.py", "tests/golden"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    slow_ids = {line for line in slow.stdout.splitlines() if "::" in line}
    assert slow_ids and len(slow_ids) < len(ids), (out.stdout[-500:], slow.stdout[-500:])
    first_slow = min(i for i, t in enumerate(ids) if t in slow_ids)
    assert all(t in slow_ids for t in ids[first_slow:]), ids
