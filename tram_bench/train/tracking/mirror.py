"""The run's metrics log: the ``metrics.jsonl`` rows in order, each one also sent to the open trackers as it
is appended (live, while the run trains).

Each tracker gets its rows from its own background thread, in order, so the training loop never waits on a
tracker: W&B's ``log`` waits for its service process to take the row (milliseconds on a busy machine),
MLflow's file store opens and appends one file per value. Trackers are opened and finished on the run's own
thread (trackio keeps its current run per thread); finishing first waits for every queued row.

A tracker is a mirror, never part of the result: one that fails to open, to log or to finish is dropped
for the rest of the run with one warning line on stderr, and the run goes on unchanged (the same rows,
record and files as without it).
"""

from __future__ import annotations

import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from tram_bench.train.tracking.choices import open_tracker, unique
from tram_bench.train.tracking.contract import TrackedRun, Tracker, final_summary, row_scalars


@dataclass
class _Lane:
    """One tracker and the thread that logs its rows (``queued``: rows handed over and not yet checked)."""

    tracker: Tracker
    sender: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="tram-bench-tracker"))
    queued: deque[Future] = field(default_factory=deque)

    def failure(self, wait: bool = False) -> BaseException | None:
        """The first error of a row logged so far (``wait``: after every queued row is logged)."""
        if wait:
            self.sender.shutdown(wait=True)
        while self.queued and self.queued[0].done():
            error = self.queued.popleft().exception()
            if error is not None:
                return error
        return None


class MirroredLog(list):
    """A list of ``metrics.jsonl`` rows (dicts) whose :meth:`append` also logs the row to each tracker.

    Build it with :meth:`open`; call :meth:`finish` once with the run's record. With no trackers it is a
    plain list."""

    def __init__(self, rows: Iterable[dict[str, Any]] = (), trackers: dict[str, Tracker] | None = None,
                 run_id: str = "") -> None:
        super().__init__(rows)
        self.lanes: dict[str, _Lane] = {name: _Lane(t) for name, t in (trackers or {}).items()}
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
                    log.lanes[name] = _Lane(tracker)
        return log

    @property
    def trackers(self) -> dict[str, Tracker]:
        """The trackers still open, by name."""
        return {name: lane.tracker for name, lane in self.lanes.items()}

    def append(self, row: dict[str, Any]) -> None:
        super().append(row)
        if not self.lanes:
            return
        step, scalars = row_scalars(row)
        self.last_step = max(self.last_step, step)
        for name, lane in list(self.lanes.items()):
            error = lane.failure()
            if error is not None:
                self._drop(name, error, "log")
            else:
                lane.queued.append(lane.sender.submit(lane.tracker.log, step, scalars))

    def finish(self, record: Mapping[str, Any]) -> None:
        """Wait for every queued row, then send the run's final values and status (``record.json``'s
        content) and close every tracker."""
        if not self.lanes:
            return
        summary = final_summary(record, self.last_step)
        for name, lane in list(self.lanes.items()):
            error = lane.failure(wait=True)
            if error is not None:
                self._drop(name, error, "log")
            else:
                self._call(name, lambda lane=lane: lane.tracker.finish(summary), "finish")
        self.lanes.clear()

    def _call(self, name: str, action: Callable[[], Any], what: str) -> Any:
        """``action()``'s result, or None after dropping tracker ``name`` with a warning if it raised."""
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - a tracker is a mirror: its failure must not cost the run
            self._drop(name, exc, what)
            return None

    def _drop(self, name: str, exc: BaseException, what: str) -> None:
        lane = self.lanes.pop(name, None)
        if lane is not None:
            lane.sender.shutdown(wait=False, cancel_futures=True)
        text = " ".join(str(exc).split()) or type(exc).__name__
        print(f"tram-bench: warning: tracker {name} failed to {what} run {self.run_id} ({text}); "
              f"the run goes on without it", file=sys.stderr, flush=True)
