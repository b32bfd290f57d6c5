"""The run's metrics log: the ``metrics.jsonl`` rows in order, each one also sent to the open trackers as it
is appended (live, while the run trains).

Each tracker lives on its own background thread, which opens it, logs its rows in order and finishes it, so
the training loop never waits on a tracker: opening (an MLflow run's params and spec, W&B's service, trackio's
database) overlaps the task's setup instead of preceding it, W&B's ``log`` waits for its service process to
take the row (milliseconds on a busy machine), and MLflow's file store appends one file per value. One
thread per tracker for all three also keeps trackio's current run, which it holds per thread, the same at
``init`` and ``finish``. :meth:`MirroredLog.finish` waits for each tracker's thread to log every queued row
and close the tracker; that wait and the opening are the fixed cost of a tracker per run
(``benchmarks/harness_overhead.py`` measures both).

A tracker is a mirror, never part of the result: one that fails to open, to log or to finish is dropped
for the rest of the run with one warning line on stderr, and the run goes on unchanged (the same rows,
record and files as without it).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from tram_bench.train.rundir import LogRow, RunRecord
from tram_bench.train.tracking.choices import open_tracker, unique
from tram_bench.train.tracking.contract import FinalSummary, TrackedRun, Tracker, final_summary, row_scalars

# Seconds between hand-overs of rows to a tracker's thread. Rows appended in between wait in a list and go
# over together: waking a thread per row makes the training thread wait for the GIL once per row, up to a
# scheduler time slice each on a loaded machine (about 5 ms a row measured at load 11 on 2 cores). The first
# row of a run goes over at once; later ones at most this long after they were appended (or at the next row
# appended after that, or at the end of the run).
BATCH_SECS = 1.0


@dataclass
class _Lane:
    """One tracker and the one thread that opens it, logs its rows and finishes it, in that order.

    tracker: None until the thread has opened it; queued: (what, future) of each call handed to the thread
    and not yet checked, ``what`` being ``open``, ``log`` or ``finish``; broken: set on the thread by the
    first call that raised, after which the thread skips the rest (a tracker that failed to open is not
    logged to, one that failed to log is not finished); pending: rows (step, scalars) not yet handed over,
    handed_at: when rows last went over (``time.monotonic()``), see :data:`BATCH_SECS`."""

    tracker: Tracker | None = None
    sender: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="tram-bench-tracker"))
    queued: deque[tuple[str, Future]] = field(default_factory=deque)
    broken: bool = False
    pending: list[tuple[int, Mapping[str, float]]] = field(default_factory=list)
    handed_at: float = float("-inf")

    @classmethod
    def opening(cls, build: Callable[[], Tracker]) -> _Lane:
        """A lane whose thread starts by building its tracker (``build()``); returns at once."""
        lane = cls()

        def open_() -> None:
            lane.tracker = build()

        lane.submit("open", open_)
        return lane

    def submit(self, what: str, call: Callable[..., Any], *args: Any) -> None:
        """Hand ``call(*args)`` to the lane's thread, after every call handed over before it."""
        self.queued.append((what, self.sender.submit(self._guarded, call, *args)))

    def _guarded(self, call: Callable[..., Any], *args: Any) -> None:
        if self.broken:
            return
        try:
            call(*args)
        except BaseException:
            self.broken = True
            raise

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        """Queue one row; hand the queued rows to the thread if :data:`BATCH_SECS` have passed since the last
        hand-over."""
        self.pending.append((step, scalars))
        if time.monotonic() - self.handed_at >= BATCH_SECS:
            self._hand_over()

    def finish(self, summary: FinalSummary) -> None:
        """Hand over the rows still queued, then the final values and the close."""
        self._hand_over()
        self.submit("finish", lambda: self.tracker.finish(summary))

    def _hand_over(self) -> None:
        if not self.pending:
            return
        rows, self.pending, self.handed_at = self.pending, [], time.monotonic()

        def log_rows() -> None:
            for step, scalars in rows:
                self.tracker.log(step, scalars)

        self.submit("log", log_rows)

    def failure(self, wait: bool = False) -> tuple[str, BaseException] | None:
        """What failed first among the calls done so far, and its error (``wait``: after the thread has done
        every call handed over, and stopped)."""
        if wait:
            self.sender.shutdown(wait=True)
        while self.queued and self.queued[0][1].done():
            what, done = self.queued.popleft()
            error = done.exception()
            if error is not None:
                return what, error
        return None


class MirroredLog(list):
    """A list of ``metrics.jsonl`` rows (``rundir.TrainRow`` / ``rundir.EvalRow``) whose :meth:`append` also logs the row to each tracker.

    Build it with :meth:`open`; call :meth:`finish` once with the run's record. With no trackers it is a
    plain list."""

    def __init__(self, rows: Iterable[LogRow] = (), trackers: dict[str, Tracker] | None = None,
                 run_id: str = "") -> None:
        super().__init__(rows)
        self.lanes: dict[str, _Lane] = {name: _Lane(t) for name, t in (trackers or {}).items()}
        self.run_id = run_id
        self.last_step = 0

    @classmethod
    def open(cls, names: Iterable[str], results: Path, spec_json: Mapping[str, Any]) -> MirroredLog:
        """Start opening each tracker of ``names`` (see :data:`~.choices.NAMES`) for the run of ``spec_json``
        (``RunSpec.to_json()``), its files under ``<results>/trackers/<name>``, and return at once: each
        tracker opens on its own thread while the run sets up, and rows appended meanwhile wait for it there.
        A tracker that fails to open is dropped, with its warning, at the next :meth:`append` or at
        :meth:`finish`. Raises ValueError for a name not in :data:`~.choices.NAMES`."""
        log = cls(run_id=str(spec_json.get("run_id", "")))
        names = unique(names)
        if names:
            run = TrackedRun.of(spec_json)
            for name in names:
                log.lanes[name] = _Lane.opening(lambda name=name: open_tracker(name, results, run))
        return log

    @property
    def trackers(self) -> dict[str, Tracker]:
        """The trackers opened and not dropped, by name (one still opening is left out)."""
        return {name: lane.tracker for name, lane in self.lanes.items() if lane.tracker is not None}

    def append(self, row: LogRow) -> None:
        super().append(row)
        if not self.lanes:
            return
        step, scalars = row_scalars(row)
        self.last_step = max(self.last_step, step)
        for name, lane in list(self.lanes.items()):
            failed = lane.failure()
            if failed is not None:
                self._drop(name, *failed)
            else:
                lane.log(step, scalars)

    def finish(self, record: RunRecord) -> None:
        """Send the run's final values and status (its record) to every tracker, behind its
        queued rows, and wait until each has logged them and closed."""
        if not self.lanes:
            return
        summary = final_summary(record, self.last_step)
        lanes = list(self.lanes.items())
        for _, lane in lanes:  # every tracker closes at the same time, each on its thread
            lane.finish(summary)
        for name, lane in lanes:
            failed = lane.failure(wait=True)
            if failed is not None:
                self._drop(name, *failed)
        self.lanes.clear()

    def _drop(self, name: str, what: str, exc: BaseException) -> None:
        lane = self.lanes.pop(name, None)
        if lane is not None:
            lane.sender.shutdown(wait=False, cancel_futures=True)
        text = " ".join(str(exc).split()) or type(exc).__name__
        print(f"tram-bench: warning: tracker {name} failed to {what} run {self.run_id} ({text}); "
              f"the run goes on without it", file=sys.stderr, flush=True)
