"""TensorBoard: event files of each run, written with TensorBoard's own ``EventFileWriter`` (package
``tensorboard``: extra ``tracking-tensorboard``).

One directory per run, ``results/trackers/tensorboard/<task label>/<method>/seed<seed>/<run id>/``, so
TensorBoard's run list reads as the grid (``tensorboard --logdir results/trackers/tensorboard``). Each
mirrored row is one event holding all its scalars (named as :mod:`~tram_bench.train.tracking.contract`
says): the writer checksums every event in Python, so one event per row costs a seventh of one per scalar
(what ``torch.utils.tensorboard``'s ``add_scalar`` writes). The config is the text summary ``config`` (the
spec's JSON, indented four spaces: a code block in TensorBoard's Markdown view and still plain JSON); the
status is the text summary ``status``.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
from pathlib import Path
from typing import Mapping

from tram_bench.train.tracking.contract import FinalSummary, TrackedRun

# Seconds between flushes of the event file: TensorBoard reloads every 5 s by default, so a live run shows
# within about 10 s (the writer's own default, 120 s, would hide the first two minutes).
FLUSH_SECS = 5
# Events the writer's thread may hold before a write waits for it (its default, 10, makes the training loop
# wait on the checksums of a burst of evaluation rows).
MAX_QUEUE = 1000


def config_text(config: Mapping) -> str:
    """The spec as TensorBoard's text plugin shows it: JSON, sorted, indented as a Markdown code block."""
    return textwrap.indent(json.dumps(config, indent=2, sort_keys=True), "    ")


class TensorBoardTracker:
    """Event files of one run under ``<root>/<run.name>/`` (an earlier attempt's are removed first)."""

    def __init__(self, root: Path, run: TrackedRun) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.dir = Path(root) / run.name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.writer = EventFileWriter(str(self.dir), max_queue_size=MAX_QUEUE, flush_secs=FLUSH_SECS)
        self._text("config", config_text(run.config), step=0)

    def _event(self, step: int, summary) -> None:
        from tensorboard.compat.proto.event_pb2 import Event

        self.writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))

    def _text(self, tag: str, text: str, step: int) -> None:
        from tensorboard.plugins.text.summary_v2 import text_pb

        self._event(step, text_pb(tag, text))

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        self._event(step, Summary(value=[Summary.Value(tag=k, simple_value=v) for k, v in scalars.items()]))

    def finish(self, summary: FinalSummary) -> None:
        self.log(summary.step, summary.scalars)
        status = summary.status if summary.error is None else f"{summary.status}: {summary.error}"
        self._text("status", status, step=summary.step)
        self.writer.close()
