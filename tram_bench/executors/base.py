"""What every executor shares: the contract types and the one loop that drives a grid.

An executor (``local.py``: in this process or in worker processes; ``cluster.py``: Ray tasks or Slurm
job arrays) differs from the others only in how it submits runs and waits for them. It writes that
as a generator of :class:`Started` / :class:`Finished` events; :func:`drive` turns the events into
the :class:`ExecutionReport` and the :class:`Reporter`'s progress calls, and handles Ctrl-C the same
way for all of them.

A run's status is the run directory's (``tram_bench.train.rundir``: ``ok``, ``failed``,
``diverged``), or :data:`LOST` when the worker, task or job died before writing its record (the run
stays pending and runs again next time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, TypeVar

from tram_bench.train.rundir import RunRecord, Status

if TYPE_CHECKING:
    from tram_bench.suite.spec import RunSpec

# The outcome of a run whose worker (process, Ray task, Slurm job) died before it wrote a record.
LOST = Status.LOST


@dataclass
class RunOutcome:
    """One run as the executor saw it: ``status`` one of ``rundir.FINISHED`` or :data:`LOST`;
    ``error`` one line or None; ``wall_time_s`` the run's own clock (0 when lost). Workers in other
    processes send it back pickled (a dataclass of plain fields)."""

    run_id: str
    status: Status
    error: str | None = None
    wall_time_s: float = 0.0

    @classmethod
    def of_record(cls, record: RunRecord) -> "RunOutcome":
        """The outcome a finished run's record gives (what a worker sends back)."""
        return cls(record.run_id, record.status, record.error, record.wall_time_s)

    @classmethod
    def lost(cls, run_id: str, why: str) -> "RunOutcome":
        return cls(run_id, LOST, why)


@dataclass
class ExecutionReport:
    outcomes: list[RunOutcome] = field(default_factory=list)
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


class Reporter:
    """Progress callbacks; the CLI supplies a rich implementation, tests a silent one."""

    def grid_start(self, total: int) -> None: ...
    def run_start(self, spec: RunSpec, slot: int) -> None: ...
    def run_step(self, step: int, total: int, loss: float) -> None: ...
    def run_end(self, spec: RunSpec, outcome: RunOutcome) -> None: ...
    def grid_end(self) -> None: ...


@dataclass(frozen=True)
class Started:
    """A run began on ``slot`` (a worker, a GPU, a position in the submission)."""

    spec: RunSpec
    slot: int


@dataclass(frozen=True)
class Finished:
    spec: RunSpec
    outcome: RunOutcome


R = TypeVar("R", bound=ExecutionReport)


def drive(events: Iterator[Started | Finished], total: int, reporter: Reporter, report: R,
          on_interrupt: Callable[[], None] | None = None) -> R:
    """Consume one executor's events into ``report`` (returned), with the reporter's calls around
    them. Ctrl-C stops the loop: ``report.interrupted`` is set and ``on_interrupt`` (cancel what was
    submitted) is called; the runs not finished stay pending. Any other exception of the executor
    propagates after ``reporter.grid_end()``."""
    reporter.grid_start(total)
    try:
        for event in events:
            if isinstance(event, Started):
                reporter.run_start(event.spec, event.slot)
            else:
                report.outcomes.append(event.outcome)
                reporter.run_end(event.spec, event.outcome)
    except KeyboardInterrupt:
        report.interrupted = True
        if on_interrupt is not None:
            on_interrupt()
    finally:
        reporter.grid_end()
    return report
