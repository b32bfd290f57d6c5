"""MLflow: each run in MLflow's file store under the results directory (a ``file:`` URI, no server), through
``MlflowClient`` (package ``mlflow-skinny``: extra ``tracking-mlflow``).

The store is ``results/trackers/mlflow/mlruns``; one experiment per suite; one MLflow run per tram-bench run,
named ``<task label>/<method>/seed<seed>/<run id>`` and tagged ``tram_bench.run_id``. The config is the
run's params (the spec flattened to dotted keys: ``train.lr``, ``hparams.rho``) and the artifact
``spec.json``; final values are metrics at the run's last step, the status the tag ``tram_bench.status``
and the run's MLflow status (``FAILED`` for a failed run, ``FINISHED`` otherwise: a diverged run is a
result). Read it with ``MlflowClient(tracking_uri="file:///.../results/trackers/mlflow/mlruns")`` or the UI of
the full ``mlflow`` package (``mlflow ui --backend-store-uri file:///.../results/trackers/mlflow/mlruns``).

MLflow 3 keeps the file store in maintenance mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE`` is
true; this adapter sets it (when unset) in the process that logs. The file store is used rather than
SQLite because each run is its own directory, so parallel workers never contend for one database file,
and because a new SQLite store spends seconds on schema migrations.

Rows are sent in batches, every :data:`FLUSH_SECS` seconds and at the end: each ``log_batch`` call of the
file store first reads the run's ``meta.yaml`` before it appends to one file per value.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from tram_bench.train.tracking.contract import FinalSummary, TrackedRun
from tram_bench.util.files import atomic_write_text

RUN_ID_TAG = "tram_bench.run_id"
# The file store, inside the tracker's directory: MLflow takes every directory of a store's root for an
# experiment, so tram-bench's own files (ATTEMPTS, the lock) stay beside the store, not in it.
STORE = "mlruns"
# <root>/attempts/<run id> holds the MLflow run id of the latest attempt of that tram-bench run, so that a
# rerun finds the one to delete without searching every run of the store.
ATTEMPTS = "attempts"
# Seconds between batches of mirrored rows (MLflow's UI refreshes its charts on request, not live).
FLUSH_SECS = 5.0
STATUS_TAG = "tram_bench.status"
# MLflow's limits on one log_batch call (mlflow.utils.validation: 100 params and tags, 1000 metrics).
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
# Characters MLflow accepts in metric and param keys; anything else becomes "_".
_KEY_REFUSED = re.compile(r"[^\w\-. /:]")


def mlflow_key(name: str) -> str:
    """``name`` with every character MLflow refuses in a key replaced by ``_``."""
    return _KEY_REFUSED.sub("_", name)


def flat_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested spec as MLflow params: dotted keys, values as text (lists and null as JSON would write
    them: ``[0.9, 0.999]``, ``None`` -> ``null``)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat_params(value, f"{name}."))
        else:
            out[mlflow_key(name)] = value if isinstance(value, str) else json.dumps(value)
    return out


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One process at a time finds or creates an experiment (workers of one grid share the store)."""
    with open(root / "experiments.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


class MlflowTracker:
    """One MLflow run in the file store ``<root>/mlruns`` (an earlier attempt of the same run id is deleted)."""

    def __init__(self, root: Path, run: TrackedRun) -> None:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        root = Path(root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=(root / STORE).as_uri())
        with _locked(root):
            found = self.client.get_experiment_by_name(run.suite)
            experiment = found.experiment_id if found else self.client.create_experiment(run.suite)
        attempt = root / ATTEMPTS / run.run_id
        if attempt.exists():
            with contextlib.suppress(MlflowException):  # deleted by hand already
                self.client.delete_run(attempt.read_text().strip())
        tags = {RUN_ID_TAG: run.run_id, "tram_bench.task": run.task_label, "tram_bench.method": run.method,
                "tram_bench.seed": str(run.seed)}
        self.id = self.client.create_run(experiment, run_name=run.name, tags=tags).info.run_id
        attempt.parent.mkdir(exist_ok=True)
        atomic_write_text(attempt, self.id)
        params = [Param(k, v) for k, v in flat_params(run.config).items()]
        for chunk in _chunks(params, MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.id, params=chunk)
        self.client.log_dict(self.id, run.config, "spec.json")
        self.pending: list[Any] = []
        self.flushed_at = time.monotonic()

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.pending += [Metric(mlflow_key(k), v, now, step) for k, v in scalars.items()]
        if len(self.pending) >= MAX_METRICS_PER_BATCH or time.monotonic() - self.flushed_at >= FLUSH_SECS:
            self.flush()

    def flush(self) -> None:
        """Send the rows logged since the last flush."""
        for chunk in _chunks(self.pending, MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.id, metrics=chunk)
        self.pending, self.flushed_at = [], time.monotonic()

    def finish(self, summary: FinalSummary) -> None:
        self.log(summary.step, summary.scalars)
        self.flush()
        self.client.set_tag(self.id, STATUS_TAG, summary.status)
        if summary.error:
            self.client.set_tag(self.id, "tram_bench.error", summary.error[:5000])
        self.client.set_terminated(self.id, "FAILED" if summary.status == "failed" else "FINISHED")
