"""trackio: each run in trackio's local store under the results directory (package ``trackio``: extra
``tracking-trackio``).

trackio keeps one SQLite database per project in the directory named by ``TRACKIO_DIR``, read once when
trackio is first imported; this adapter sets it to ``results/trackers/trackio`` before that import, so
one process logs into one results directory (a second directory in the same process is refused, and
that run goes on without trackio). The project is the suite, the run named
``<task label>/<method>/seed<seed>/<run id>`` in the group of its task label, the config the spec; final
values are logged at the run's last step (trackio has no separate summary) with the status as the scalar
``run/ok`` (1 for ``ok``: trackio's config is fixed at ``init``, before the status is known).
Look at it with ``TRACKIO_DIR=results/trackers/trackio trackio show --project SUITE``.

A run never leaves the machine: trackio sends to a Hugging Face Space or a server only when told to by
``space_id``/``server_url`` or its environment variables; the adapter passes neither and refuses to log
while one of those variables is set.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Mapping

from tram_bench.train.tracking.contract import FinalSummary, TrackedRun

# trackio's variables that would send a run to a Space, a bucket or a server instead of the local store.
REMOTE_VARIABLES = ("TRACKIO_SPACE_ID", "TRACKIO_SERVER_URL", "TRACKIO_BUCKET_ID", "TRACKIO_DATASET_ID")


def use_store(root: Path) -> None:
    """Point trackio at ``root`` (before its first import in this process). Raises RuntimeError when trackio
    was imported with another directory, or when a variable of :data:`REMOTE_VARIABLES` is set."""
    remote = [v for v in REMOTE_VARIABLES if os.environ.get(v)]
    if remote:
        raise RuntimeError(f"{', '.join(remote)} set: trackio would log remotely; unset it to log locally")
    if "trackio" not in sys.modules:
        os.environ["TRACKIO_DIR"] = str(root)
        return
    from trackio import utils

    if Path(utils.TRACKIO_DIR).resolve() != root:
        raise RuntimeError(f"trackio already logs to {utils.TRACKIO_DIR} in this process (TRACKIO_DIR is read once, "
                           f"at import); run tram-bench in a new process to log to {root}")


class TrackioTracker:
    """One trackio run in the store at ``root`` (an earlier run of the same name is deleted first)."""

    def __init__(self, root: Path, run: TrackedRun) -> None:
        root = Path(root).resolve()
        use_store(root)
        import trackio

        root.mkdir(parents=True, exist_ok=True)
        if (root / f"{run.suite}.db").exists():
            for old in trackio.Api().runs(run.suite):
                if old.name == run.name:
                    old.delete()
        # trackio prints dashboard hints on every init and finish; the grid's output is tram-bench's own.
        with contextlib.redirect_stdout(io.StringIO()):
            self.run = trackio.init(project=run.suite, name=run.name, group=run.task_label, config=run.config,
                                    resume="never", embed=False, auto_log_gpu=False, auto_log_cpu=False)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        self.run.log(dict(scalars), step=step)

    def finish(self, summary: FinalSummary) -> None:
        self.run.log({**summary.scalars, "run/ok": float(summary.status == "ok")}, step=summary.step)
        import trackio

        # trackio.finish() (not the run's own finish) also clears trackio's current run, which its exit hook
        # would otherwise finish a second time; init made this run the current one in this thread.
        with contextlib.redirect_stdout(io.StringIO()):
            trackio.finish()
