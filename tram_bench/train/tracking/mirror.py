"""The run's metrics log: the ``metrics.jsonl`` rows in order, each one also sent to the open trackers as it
is appended (live, while the run trains).

A tracker is a mirror, never part of the result: one that fails to open, to log or to finish is dropped
for the rest of the run with one warning line on stderr, and the run goes on unchanged (the same rows,
record and files as without it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from tram_bench.train.tracking.choices import open_tracker, unique
from tram_bench.train.tracking.contract import TrackedRun, Tracker, final_summary, row_scalars


class MirroredLog(list):
    """A list of ``metrics.jsonl`` rows (dicts) whose :meth:`append` also logs the row to each tracker.

    Build it with :meth:`open`; call :meth:`finish` once with the run's record. With no trackers it is a
    plain list."""

    def __init__(self, rows: Iterable[dict[str, Any]] = (), trackers: dict[str, Tracker] | None = None,
                 run_id: str = "") -> None:
        super().__init__(rows)
        self.trackers: dict[str, Tracker] = dict(trackers or {})
        self.run_id = run_id
        self.last_step = 0

    @classmethod
    def open(cls, names: Iterable[str], results: Path, spec_json: Mapping[str, Any]) -> MirroredLog:
        """Open each tracker of ``names`` (see :data:`~.choices.NAMES`) for the run of ``spec_json``
        (``RunSpec.to_json()``), its files under ``<results>/trackers/<name>``."""
        log = cls(run_id=str(spec_json.get("run_id", "")))
        names = unique(names)
        if names:
            run = TrackedRun.of(spec_json)
            for name in names:
                tracker = log._call(name, lambda name=name: open_tracker(name, results, run), "open")
                if tracker is not None:
                    log.trackers[name] = tracker
        return log

    def append(self, row: dict[str, Any]) -> None:
        super().append(row)
        if not self.trackers:
            return
        step, scalars = row_scalars(row)
        self.last_step = max(self.last_step, step)
        for name, tracker in list(self.trackers.items()):
            self._call(name, lambda tracker=tracker: tracker.log(step, scalars), "log")

    def finish(self, record: Mapping[str, Any]) -> None:
        """Send the run's final values and status (``record.json``'s content) and close every tracker."""
        if not self.trackers:
            return
        summary = final_summary(record, self.last_step)
        for name, tracker in list(self.trackers.items()):
            self._call(name, lambda tracker=tracker: tracker.finish(summary), "finish")
        self.trackers.clear()

    def _call(self, name: str, action: Callable[[], Any], what: str) -> Any:
        """``action()``'s result, or None after dropping tracker ``name`` with a warning if it raised."""
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - a tracker is a mirror: its failure must not cost the run
            self.trackers.pop(name, None)
            text = " ".join(str(exc).split()) or type(exc).__name__
            print(f"tram-bench: warning: tracker {name} failed to {what} run {self.run_id} ({text}); "
                  f"the run goes on without it", file=sys.stderr, flush=True)
            return None
