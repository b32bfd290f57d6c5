"""TensorBoard: event files of each run, written with the ``SummaryWriter`` torch ships
(``torch.utils.tensorboard``, which needs the ``tensorboard`` package: extra ``tracking-tensorboard``).

One directory per run, ``results/trackers/tensorboard/<task label>/<method>/seed<seed>/<run id>/``, so
TensorBoard's run list reads as the grid (``tensorboard --logdir results/trackers/tensorboard``). The
config is a text summary ``config`` (the spec's JSON, indented four spaces: a code block in TensorBoard's
Markdown view and still plain JSON); the status a text summary ``status``; every value a scalar summary
named as :mod:`~tram_bench.train.tracking.contract` says.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Mapping

from tram_bench.train.tracking.contract import FinalSummary, TrackedRun

# Seconds between flushes of the event file: TensorBoard reloads every 5 s by default, so a live run shows
# within about 10 s (SummaryWriter's own default, 120 s, would hide the first two minutes).
FLUSH_SECS = 5


def config_text(config: Mapping) -> str:
    """The spec as TensorBoard's text plugin shows it: JSON, sorted, indented as a Markdown code block."""
    return textwrap.indent(json.dumps(config, indent=2, sort_keys=True), "    ")


class TensorBoardTracker:
    """Event files of one run under ``<root>/<run.name>/`` (an earlier attempt's are removed first)."""

    def __init__(self, root: Path, run: TrackedRun) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.dir = Path(root) / run.name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.writer = SummaryWriter(log_dir=str(self.dir), flush_secs=FLUSH_SECS)
        self.writer.add_text("config", config_text(run.config), global_step=0)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, global_step=step)

    def finish(self, summary: FinalSummary) -> None:
        self.log(summary.step, summary.scalars)
        status = summary.status if summary.error is None else f"{summary.status}: {summary.error}"
        self.writer.add_text("status", status, global_step=summary.step)
        self.writer.close()
