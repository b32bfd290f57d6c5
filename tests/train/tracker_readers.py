"""Read a run back from each tracker's files with that tracker's own reader (tests of ``--tracker``).

Each reader returns a :class:`Readback`: the scalar series by name and step, the config as the tracker
stored it, and the final values. TensorBoard: ``EventAccumulator``; MLflow: ``MlflowClient`` on the file
store; trackio: its local store API (``trackio.Api`` and ``SQLiteStorage``); W&B offline: the offline run
directory's ``run-<id>.wandb`` file, W&B's transaction log (wandb's protobuf ``Record`` messages framed in
the LevelDB log format), decoded with wandb's own ``Record`` class: wandb 0.31 ships no Python reader of the
file, and in offline mode it writes neither ``wandb-summary.json`` nor ``config.yaml``.
"""

from __future__ import annotations

import json
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Readback:
    """series: name -> {step: value}; config: the run's config as stored; final: final values by name."""

    series: dict[str, dict[int, float]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, step: int, value: float) -> None:
        self.series.setdefault(name, {})[int(step)] = float(value)


# ------------------------------------------------------------------------------------------ TensorBoard
def tensorboard(run_dir: Path, final_step: int) -> Readback:
    """Scalars at ``final_step`` whose names start with ``final/``, ``cost/``, ``time/`` or ``run/`` are the
    final values; the ``config`` text summary holds the spec's JSON."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    out = Readback()
    for tag in acc.Tags()["scalars"]:
        for event in acc.Scalars(tag):
            if tag.startswith(("final/", "cost/", "time/", "run/")):
                assert event.step == final_step, (tag, event.step)
                out.final[tag] = event.value
            else:
                out.add(tag, event.step, event.value)
    text = tensor_util.make_ndarray(acc.Tensors("config")[0].tensor_proto)
    out.config = json.loads(text.item().decode())
    status = tensor_util.make_ndarray(acc.Tensors("status")[0].tensor_proto)
    out.final["status"] = status.item().decode()
    return out


# ------------------------------------------------------------------------------------------------ MLflow
def mlflow(store: Path, experiment: str, run_id_tag: str) -> tuple[Readback, Any]:
    """The one active MLflow run tagged ``tram_bench.run_id = run_id_tag`` (asserted unique) and its info."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=Path(store).resolve().as_uri())
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`tram_bench.run_id` = '{run_id_tag}'")
    assert len(runs) == 1, [r.info.run_id for r in runs]
    run = runs[0]
    out = Readback()
    final_step = int(run.data.metrics["run/steps"])
    for key in run.data.metrics:
        for m in client.get_metric_history(run.info.run_id, key):
            if key.startswith(("final/", "cost/", "time/", "run/")):
                assert m.step == final_step
                out.final[key] = m.value
            else:
                out.add(key, m.step, m.value)
    with tempfile.TemporaryDirectory() as tmp:
        out.config = json.loads(Path(client.download_artifacts(run.info.run_id, "spec.json", tmp)).read_text())
    out.final["status"] = run.data.tags["tram_bench.status"]
    return out, run


# ----------------------------------------------------------------------------------------------- trackio
def trackio(project: str, name: str) -> tuple[Readback, list[str]]:
    """The run ``name`` of ``project`` in the store trackio was imported with (``TRACKIO_DIR``), and the
    names of every run of the project."""
    import trackio as trackio_lib
    from trackio.sqlite_storage import SQLiteStorage

    names = [r.name for r in trackio_lib.Api().runs(project)]
    run = next(r for r in trackio_lib.Api().runs(project) if r.name == name)
    out = Readback()
    out.config = {k: v for k, v in (run.config or {}).items() if not k.startswith("_")}
    logs = SQLiteStorage.get_logs(project, name)
    final_step = max(int(row["run/steps"]) for row in logs if "run/steps" in row)
    for row in logs:
        for key, value in row.items():
            if key in ("step", "timestamp") or value is None:
                continue
            if key.startswith(("final/", "cost/", "time/", "run/")):
                assert row["step"] == final_step
                out.final[key] = value
            else:
                out.add(key, row["step"], value)
    return out, names


# ------------------------------------------------------------------------------------------ W&B offline
_BLOCK = 32768  # LevelDB log format: 32 KiB blocks of records with a 7-byte header (crc32c, length, type)
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def wandb_records(path: Path):
    """Every ``wandb_internal_pb2.Record`` of a ``.wandb`` file, in order. The file starts with W&B's own
    7-byte header (``:W&B``, a magic number, a version); blocks count from the start of the file."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", data[:7]
    pos, pending = 7, b""
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:  # a block's tail too short for a header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:  # zero padding up to the next block
            pos += left
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == _FIRST:
            pending = chunk
            continue
        if kind == _MIDDLE:
            pending += chunk
            continue
        payload = chunk if kind == _FULL else pending + chunk
        pending = b""
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        yield record


def _item_key(item) -> str:
    return item.key or "/".join(item.nested_key)


def wandb(run_dir: Path) -> tuple[Readback, Any]:
    """History (by ``_step``), config (the run record's) and summary (every summary update folded in
    order, as W&B's own summary is), and the run record."""
    files = list(Path(run_dir).glob("run-*.wandb"))
    assert len(files) == 1, files
    out, run = Readback(), None
    for record in wandb_records(files[0]):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            out.config = {i.key: json.loads(i.value_json) for i in run.config.update if i.key != "_wandb"}
        elif kind == "history":
            values = {_item_key(i): json.loads(i.value_json) for i in record.history.item}
            step = values.pop("_step")
            for key, value in values.items():
                if not key.startswith("_"):
                    out.add(key, step, value)
        elif kind == "summary":
            out.final.update({_item_key(i): json.loads(i.value_json) for i in record.summary.update})
    return out, run
