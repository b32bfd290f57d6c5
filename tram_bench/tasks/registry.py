"""Task ids and where each lives (lazy: listing ids imports nothing heavy)."""

from __future__ import annotations

from tram_bench.util.registry import Registry

TASKS = Registry("task", "tram_bench.tasks")

_BUILTIN = {
    # A tiny generated task: exercises the whole path in tests in well under a second per run.
    "synthetic": "tram_bench.tasks.synthetic:SyntheticShiftTask",
}
for _id, _target in _BUILTIN.items():
    TASKS.add(_id, _target)
