"""The run-directory format: the only thing workers write, and what the collector reads.

``results/runs/<run_id>/`` holds ``spec.json`` (first), ``metrics.jsonl``, ``record.json`` and last a
``done`` marker whose content is the status. Every file is written atomically. A directory without
``done`` is pending (a run that was killed): the next ``run`` starts it again from scratch.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping, Union

from tram_bench.util.files import atomic_write_json, atomic_write_text

DONE = "done"
SPEC = "spec.json"
RECORD = "record.json"
METRICS = "metrics.jsonl"
ERROR = "error.txt"


class Status(enum.StrEnum):
    """A run's status: the one list of status names (the CLI and the report's SQL derive theirs from it).

    ``ok``, ``failed`` and ``diverged`` are finished (the content of the ``done`` marker and of
    ``record.json``'s ``status``); ``pending`` is a directory without a marker (or none at all);
    ``lost`` is only an executor's outcome: the worker died before it wrote a record, so the run
    directory stays pending."""

    OK = "ok"
    FAILED = "failed"
    DIVERGED = "diverged"
    PENDING = "pending"
    LOST = "lost"


FINISHED: tuple[Status, ...] = (Status.OK, Status.FAILED, Status.DIVERGED)


class _FlatJSON:
    """A dataclass stored as one flat JSON object, a key per field; a key missing on reading (a
    record written before the field existed) reads as None."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]):
        return cls(**{f.name: doc.get(f.name) for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class TrainRow:
    """A ``metrics.jsonl`` line of kind ``train``: one optimizer step (``step`` counts from 1).

    ``loss`` the step's training loss (nats), ``lr`` the first param group's learning rate after the
    schedule, ``forward`` / ``backward`` the passes the step took, ``skipped`` true when the
    GradScaler skipped it; ``extras`` the method's own per-step numbers (TRAM's ``d``, ...), written
    as further keys of the line."""

    KIND: ClassVar[str] = "train"
    step: int
    loss: float
    lr: float
    forward: int
    backward: int
    skipped: bool
    extras: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, "step": self.step, "loss": self.loss, "lr": self.lr, "forward": self.forward,
                "backward": self.backward, "skipped": self.skipped, **self.extras}

    @classmethod
    def from_json(cls, line: Mapping[str, Any]) -> TrainRow:
        named = {f.name for f in fields(cls)} - {"extras"}
        return cls(**{k: line[k] for k in named},
                   extras={k: v for k, v in line.items() if k not in named and k != "kind"})


@dataclass(frozen=True)
class EvalRow:
    """A ``metrics.jsonl`` line of kind ``eval``: a model-selection evaluation of one in-domain
    validation set after ``step`` steps (0: the pre-trained model of a run that does not train)."""

    KIND: ClassVar[str] = "eval"
    step: int
    domain: str
    split: str
    metric: str
    value: float

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.KIND, **asdict(self)}

    @classmethod
    def from_json(cls, line: Mapping[str, Any]) -> EvalRow:
        return cls(**{f.name: line[f.name] for f in fields(cls)})


LogRow = Union[TrainRow, EvalRow]
_LOG_KINDS: dict[str, type] = {TrainRow.KIND: TrainRow, EvalRow.KIND: EvalRow}


@dataclass(frozen=True)
class MetricRow(_FlatJSON):
    """One final number of a run (``record.json``'s ``metrics``): ``checkpoint`` ``selected`` or
    ``final``, the evaluation set (``domain``, ``split``, ``in_domain``), the metric's name and value,
    and its direction (``higher_is_better``: from the task's ``MetricSpec`` for what the task
    evaluates, from ``train.analysis_pass.ANALYSIS_HIGHER_IS_BETTER`` for the analyses)."""

    checkpoint: str
    domain: str
    split: str
    metric: str
    value: float
    in_domain: bool
    higher_is_better: bool


@dataclass(frozen=True)
class Cost(_FlatJSON):
    """What a run's training took (``record.json``'s ``cost``; docs/architecture.md says which
    one-off costs it leaves out). Times in seconds, memory in MiB; None where it was not measured
    (``peak_memory_mb`` off Linux, ``tokens_per_s`` for a task without tokens; fields added later
    read as None from older records)."""

    forward: int | None = None  # forward passes, all steps
    forward_examples: int | None = None  # examples through a forward, all passes summed
    backward: int | None = None
    skipped_steps: int | None = None  # steps the GradScaler skipped
    step_time_s: float | None = None  # mean time of the method's step
    step_time_total_s: float | None = None
    data_time_total_s: float | None = None  # the task's data loading, apart from the steps
    peak_memory_mb: float | None = None
    examples_per_s: float | None = None
    tokens_per_s: float | None = None


@dataclass(frozen=True)
class SelectionLog:
    """How the selected checkpoint was chosen: the ``rule`` (``train.selection``), the validation
    ``metric`` it looks at, and every (step, value) it was offered."""

    rule: str
    metric: str
    history: tuple[tuple[int, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "metric": self.metric, "history": [list(h) for h in self.history]}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SelectionLog:
        return cls(doc["rule"], doc["metric"], tuple((int(s), v) for s, v in doc.get("history", ())))


@dataclass(frozen=True)
class TrainResult:
    """What a finished training gives the record (absent from a failed or diverged run's record):
    steps taken, the selected step, phase times in seconds (assets left out), the metric rows
    (selected checkpoint first), the cost, the selection and ``analysis_error`` (one line or None)."""

    steps: int
    selected_step: int
    setup_time_s: float
    train_time_s: float
    eval_time_s: float
    analysis_time_s: float
    metrics: tuple[MetricRow, ...]
    cost: Cost
    selection: SelectionLog | None  # None only in records written before selection was recorded
    analysis_error: str | None = None

    # Keys of record.json that hold this result (analysis_error and metrics are the record's own).
    _NESTED: ClassVar[dict[str, type]] = {"cost": Cost, "selection": SelectionLog}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "metrics":
                value = [m.to_json() for m in value]
            elif f.name in self._NESTED and value is not None:
                value = value.to_json()
            out[f.name] = value
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> TrainResult:
        kw: dict[str, Any] = {}
        for f in fields(cls):
            value = doc.get(f.name)
            if f.name == "metrics":
                value = tuple(MetricRow.from_json(m) for m in value or ())
            elif f.name in cls._NESTED and value is not None:
                value = cls._NESTED[f.name].from_json(value)
            kw[f.name] = value
        return cls(**kw)


@dataclass(frozen=True)
class RunRecord:
    """A run's ``record.json`` (docs/architecture.md, "Run directory"): the cell's ``spec``
    (``RunSpec.to_json()``), ``status`` (one of :data:`FINISHED`), ISO-8601 UTC start and end,
    ``wall_time_s`` and ``asset_time_s`` (seconds), ``provenance`` (``train.provenance.collect``),
    ``error`` (one line, or None for an ``ok`` run) and the training ``result`` (None when the run
    failed or diverged: its record has no metric rows and no cost)."""

    run_id: str
    spec: Mapping[str, Any]
    status: Status
    started_at: str
    finished_at: str
    wall_time_s: float
    asset_time_s: float
    provenance: Mapping[str, Any]
    error: str | None = None
    result: TrainResult | None = None

    @property
    def metrics(self) -> tuple[MetricRow, ...]:
        return self.result.metrics if self.result is not None else ()

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``record.json``: the result's keys sit at the top level next to the record's."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "result"}
        out["status"] = str(self.status)
        out.update(analysis_error=None, metrics=[])
        if self.result is not None:
            out.update(self.result.to_json())
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RunRecord:
        """Read a record written by :meth:`to_json` (or before these types: the same shape).
        Raises KeyError for a missing key, ValueError for a status that is not one of :data:`FINISHED`."""
        kw = {f.name: doc.get(f.name) for f in fields(cls) if f.name != "result"}
        kw["status"] = Status(doc["status"])
        if kw["status"] not in FINISHED:
            raise ValueError(f"a record's status is one of {', '.join(FINISHED)}, not {doc['status']!r}")
        kw["run_id"] = doc["run_id"]
        result = TrainResult.from_json(doc) if "steps" in doc else None
        return cls(**kw, result=result)

    @classmethod
    def json_keys(cls) -> dict[str, frozenset[str]]:
        """Where a key of ``record.json`` comes from: the record's own top-level keys (``""``) and
        the keys of its ``cost.`` object (what ``store/schema.RUN_FIELDS`` may read)."""
        top = {f.name for f in fields(cls) if f.name != "result"}
        top |= {f.name for f in fields(TrainResult)}
        return {"": frozenset(top), "cost.": frozenset(f.name for f in fields(Cost))}


def runs_root(results: Path) -> Path:
    return Path(results) / "runs"


def run_path(results: Path, run_id: str) -> Path:
    return runs_root(results) / run_id


def status(results: Path, run_id: str) -> Status:
    """A finished status (a ``done`` marker exists and names one) or :attr:`Status.PENDING`."""
    marker = run_path(results, run_id) / DONE
    try:
        text = marker.read_text().strip()
    except FileNotFoundError:
        return Status.PENDING
    return Status(text) if text in FINISHED else Status.PENDING


def start(run_dir: Path, spec_json: dict[str, Any]) -> None:
    """Begin (or restart) a run: clear any previous attempt's marker first, then write the spec."""
    run_dir.mkdir(parents=True, exist_ok=True)
    # The marker goes first: if we die anywhere after this, the run is pending, never stale-done.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(run_dir / DONE)
    for name in (RECORD, ERROR, METRICS):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(run_dir / name)
    atomic_write_json(run_dir / SPEC, spec_json)


def write_metrics_log(run_dir: Path, rows: Iterable[LogRow]) -> None:
    """Write ``metrics.jsonl``, a JSON object per row (its ``to_json()``), in the order given."""
    atomic_write_text(run_dir / METRICS, "".join(json.dumps(row.to_json(), sort_keys=True) + "\n" for row in rows))


def read_metrics_log(run_dir: Path) -> list[LogRow]:
    """The lines of ``metrics.jsonl`` as typed rows; a line of another kind is skipped (written by a
    later version). Raises FileNotFoundError, ``json.JSONDecodeError`` or KeyError (a missing key)."""
    rows: list[LogRow] = []
    for text in (run_dir / METRICS).read_text().splitlines():
        line = json.loads(text)
        kind = _LOG_KINDS.get(line.get("kind"))
        if kind is not None:
            rows.append(kind.from_json(line))
    return rows


def finish(run_dir: Path, record: RunRecord, error_text: str | None = None) -> None:
    """Write the error (if any), the record, then the ``done`` marker, in that order."""
    if error_text is not None:
        atomic_write_text(run_dir / ERROR, error_text)
    atomic_write_json(run_dir / RECORD, record.to_json())
    atomic_write_text(run_dir / DONE, f"{record.status}\n")


def read_record(run_dir: Path) -> RunRecord:
    """The run's ``record.json``. Raises FileNotFoundError, ``json.JSONDecodeError``, KeyError or ValueError."""
    return RunRecord.from_json(json.loads((run_dir / RECORD).read_text()))
