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

# The record's phase times (seconds) mirrored as ``time/<key>``; see docs/architecture.md "Run directory".
TIME_KEYS = ("wall_time_s", "setup_time_s", "train_time_s", "eval_time_s", "analysis_time_s", "asset_time_s")
RUN_KEYS = ("steps", "selected_step")


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


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _numbers(prefix: str, fields: Mapping[str, Any], skip: tuple[str, ...] = ()) -> dict[str, float]:
    out = {}
    for key, value in fields.items():
        number = _number(value)
        if key not in skip and number is not None:
            out[f"{prefix}/{key}"] = number
    return out


def row_scalars(row: Mapping[str, Any]) -> tuple[int, dict[str, float]]:
    """The step and the named scalars of one ``metrics.jsonl`` row (names in the module docstring).

    A row of another kind than ``train`` or ``eval`` gives its numeric fields as ``<kind>/<field>``.
    Raises KeyError for a row without ``kind`` or ``step`` (or an eval row without its four keys)."""
    kind, step = row["kind"], int(row["step"])
    if kind == "eval":
        return step, {f"eval/{row['domain']}/{row['split']}/{row['metric']}": float(row["value"])}
    return step, _numbers(kind, row, skip=("kind", "step"))


def final_summary(record: Mapping[str, Any], last_step: int) -> FinalSummary:
    """The :class:`FinalSummary` of a finished run's record (``record.json``'s content)."""
    scalars: dict[str, float] = {}
    for m in record.get("metrics") or []:
        key = f"final/{m.get('checkpoint', 'final')}/{m['domain']}/{m['split']}/{m['metric']}"
        scalars[key] = float(m["value"])
    scalars.update(_numbers("cost", record.get("cost") or {}))
    scalars.update(_numbers("time", {k: record[k] for k in TIME_KEYS if k in record}))
    scalars.update(_numbers("run", {k: record[k] for k in RUN_KEYS if k in record}))
    steps = record.get("steps")
    step = max(int(steps) if isinstance(steps, int) else 0, last_step)
    return FinalSummary(str(record.get("status", "failed")), step, scalars, record.get("error"))
