"""Progress display: a rich live view on a terminal, plain lines otherwise (or with ``--quiet``).

Labels, run ids and error messages come from suites and runs: the rich view prints them as ``Text`` (or in
columns with markup off), never as markup, so ``blobs[lr=0.01]`` shows as typed and ``[/x]`` cannot raise."""

from __future__ import annotations

import sys

from tram_bench.executors.base import Reporter, RunOutcome
from tram_bench.suite.spec import RunSpec


def _describe(spec: RunSpec) -> str:
    return f"{spec.task_label} / {spec.method} / seed {spec.seed}"


def _outcome_text(outcome: RunOutcome) -> str:
    text = f"{outcome.status} in {outcome.wall_time_s:.1f}s"
    if outcome.error:
        text += f": {outcome.error.splitlines()[0][:160]}"
    return text


class PlainReporter(Reporter):
    def __init__(self) -> None:
        self.total = 0
        self.finished = 0

    def grid_start(self, total: int) -> None:
        self.total = total

    def run_end(self, spec: RunSpec, outcome: RunOutcome) -> None:
        self.finished += 1
        print(f"[{self.finished}/{self.total}] {_describe(spec)} ({spec.run_id}): {_outcome_text(outcome)}",
              flush=True)


class RichReporter(Reporter):
    """Grid progress (runs done, ETA) and the current run's step, loss and ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        from rich.text import Text

        self._text = Text

        self.console = Console(stderr=False)
        self.progress = Progress(
            TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}", markup=False),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False,
        )
        self.grid = None
        self.runs: dict[int, object] = {}  # worker slot -> progress task of its current run
        self.current: object | None = None

    def grid_start(self, total: int) -> None:
        self.progress.start()
        self.grid = self.progress.add_task("grid", total=total, info="")

    def run_start(self, spec: RunSpec, slot: int) -> None:
        if slot in self.runs:
            self.progress.remove_task(self.runs[slot])
        self.runs[slot] = self.current = self.progress.add_task(_describe(spec), total=None, info="")

    def run_step(self, step: int, total: int, loss: float) -> None:
        # Only the sequential executor reports steps (it runs in this process).
        if self.current is not None:
            self.progress.update(self.current, completed=step, total=total, info=f"loss {loss:.4f}")

    def run_end(self, spec: RunSpec, outcome: RunOutcome) -> None:
        colour = {"ok": "green", "failed": "red", "diverged": "yellow"}.get(outcome.status, "magenta")
        line = self._text.assemble((f"{outcome.status:>8}", colour), f" {_describe(spec)} ({spec.run_id}) "
                                   f"{_outcome_text(outcome).split(' ', 1)[1]}")
        self.progress.console.print(line, highlight=False)
        self.progress.advance(self.grid)

    def grid_end(self) -> None:
        self.progress.stop()


def make_reporter(quiet: bool = False) -> Reporter:
    if quiet or not sys.stdout.isatty():
        return PlainReporter()
    return RichReporter()
