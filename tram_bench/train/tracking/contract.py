"""What a tracker adapter is given, and the one mapping from ``metrics.jsonl`` rows to named scalars.

Every adapter receives the same names and values, so a run reads the same in TensorBoard, MLflow, trackio
and W&B:

- ``train/<field>`` for each numeric field of a training row: ``loss``, ``lr``, ``forward``, ``backward``,
  ``skipped`` (0 or 1), and the method's extras, ``divergence`` (TRAM's and the trust-region methods' d)
  and ``perturbation_norm`` (the SAM family's and TRAM's ||e||);
- ``eval/<domain>/<split>/<metric>`` for each validation row written during training;
- at the end (:class:`FinalSummary`): ``final/<checkpoint>/<domain>/<split>/<metric>`` for each metric row
  of the record, ``cost/<field>`` for the record's numeric cost fields, ``time/<phase>_time_s`` and
  ``run/steps``, ``run/selected_step``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from tram_bench.train.rundir import EvalRow, LogRow, RunRecord, TrainRow


@dataclass(frozen=True)
class TrackedRun:
    """A run as trackers name and describe it.

    run_id: the cell's run id (``results/runs/<run_id>``); suite: the suite's name (a tracker's project or
    experiment); task_label, method, seed: the cell's; config: the resolved spec, exactly the run's
    ``spec.json`` (``RunSpec.to_json()``).
    """

    run_id: str
    suite: str
    task_label: str
    method: str
    seed: int
    config: dict[str, Any]

    @classmethod
    def of(cls, spec_json: Mapping[str, Any]) -> TrackedRun:
        """From a spec document (``RunSpec.to_json()``); raises KeyError for a document without
        ``run_id``, ``suite``, ``task``, ``method`` or ``seed``."""
        label = spec_json.get("label") or spec_json["task"]
        return cls(spec_json["run_id"], spec_json["suite"], label, spec_json["method"], int(spec_json["seed"]),
                   dict(spec_json))

    @property
    def name(self) -> str:
        """``<task label>/<method>/seed<seed>/<run id>``: readable in a tracker's run list, unique by the id.
        A ``/`` inside a label or method id becomes ``_`` so that the name keeps its four parts."""
        parts = (self.task_label, self.method, f"seed{self.seed}", self.run_id)
        return "/".join(p.replace("/", "_") for p in parts)


@dataclass(frozen=True)
class FinalSummary:
    """The end of a run as trackers record it.

    status: the record's (``ok``, ``failed``, ``diverged``); step: where final values sit on the step axis
    (the run's step count, or the last mirrored step when the run stopped early, so that it never goes
    back); scalars: named final values (see the module docstring); error: the record's one-line error.
    """

    status: str
    step: int
    scalars: dict[str, float]
    error: str | None = None


class Tracker(Protocol):
    """One tracker's side of one run. Adapters are built as ``Adapter(root, run)``, where ``root`` is the
    tracker's directory under the results directory (``results/trackers/<name>``); building one clears
    that tracker's earlier attempt of the same run id (a pending or retried run starts again from scratch,
    as its run directory does)."""

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        """Record ``scalars`` at training step ``step`` (1-based; 0 for a zero-shot run's evaluation)."""

    def finish(self, summary: FinalSummary) -> None:
        """Record the final values and status, then flush and close every file of this run."""


def _numbers(prefix: str, fields: Mapping[str, Any]) -> dict[str, float]:
    """``<prefix>/<key>`` for each value that is a number (a bool counts as 0 or 1; None is left out)."""
    return {f"{prefix}/{key}": float(value) for key, value in fields.items()
            if isinstance(value, (bool, int, float))}


def row_scalars(row: LogRow) -> tuple[int, dict[str, float]]:
    """The step and the named scalars of one ``metrics.jsonl`` row (names in the module docstring)."""
    if isinstance(row, EvalRow):
        return row.step, {f"eval/{row.domain}/{row.split}/{row.metric}": float(row.value)}
    fields = {"loss": row.loss, "lr": row.lr, "forward": row.forward, "backward": row.backward,
              "skipped": row.skipped, **row.extras}
    return row.step, _numbers(TrainRow.KIND, fields)


def final_summary(record: RunRecord, last_step: int) -> FinalSummary:
    """The :class:`FinalSummary` of a finished run's record (a failed or diverged run has no result: its
    summary holds its times only)."""
    scalars = {f"final/{m.checkpoint}/{m.domain}/{m.split}/{m.metric}": float(m.value) for m in record.metrics}
    times: dict[str, float] = {"wall_time_s": record.wall_time_s}
    result = record.result
    if result is not None:
        scalars.update(_numbers("cost", result.cost.to_json()))
        times.update(setup_time_s=result.setup_time_s, train_time_s=result.train_time_s,
                     eval_time_s=result.eval_time_s, analysis_time_s=result.analysis_time_s)
    times["asset_time_s"] = record.asset_time_s
    scalars.update(_numbers("time", times))
    if result is not None:
        scalars.update(_numbers("run", {"steps": result.steps, "selected_step": result.selected_step}))
    step = max(result.steps if result is not None else 0, last_step)
    return FinalSummary(str(record.status), step, scalars, record.error)
