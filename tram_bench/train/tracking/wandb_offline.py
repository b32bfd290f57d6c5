"""Weights & Biases in offline mode: each run written to a local run directory, never uploaded (package
``wandb``: extra ``tracking-wandb``).

Files: ``results/trackers/wandb/wandb/offline-run-<time>-<run id>/`` (W&B's offline run directory; its
``run-<run id>.wandb`` file holds the history, config and summary). The W&B run id is the tram-bench run
id, the project the suite, the group the task label, the name ``<task label>/<method>/seed<seed>/<run id>``;
final values go into the run's summary with ``status``. ``wandb sync results/trackers/wandb/wandb/offline-run-*``
uploads them later, from a machine with network, if you want them online.

``mode="offline"`` is passed to ``wandb.init`` (it wins over ``WANDB_MODE``), so nothing is sent; git,
code, system-metrics and machine-information collection are off, as is W&B's console capture (the grid's
output stays tram-bench's own).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping

from tram_bench.train.tracking.contract import FinalSummary, TrackedRun


class WandbTracker:
    """One offline W&B run under ``root`` (an earlier attempt's run directories are removed first)."""

    def __init__(self, root: Path, run: TrackedRun) -> None:
        import wandb

        root = Path(root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        for old in (root / "wandb").glob(f"*-{run.run_id}"):
            shutil.rmtree(old, ignore_errors=True)
        settings = wandb.Settings(silent=True, console="off", disable_git=True, disable_code=True, save_code=False,
                                  x_disable_stats=True, x_disable_meta=True, x_save_requirements=False)
        self.run = wandb.init(mode="offline", dir=str(root), project=run.suite, group=run.task_label, name=run.name,
                              id=run.run_id, config=run.config, reinit="create_new", settings=settings)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        self.run.log(dict(scalars), step=step)

    def finish(self, summary: FinalSummary) -> None:
        self.run.summary.update({**summary.scalars, "status": summary.status, "error": summary.error})
        self.run.finish(exit_code=0 if summary.status != "failed" else 1)
