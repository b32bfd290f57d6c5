"""Run records and metrics-log lines are typed (``tram_bench.train.rundir``) and keep the JSON shape on
disk of docs/architecture.md ("Run directory"): what a run writes reads back as the same types, and a
record written before the types existed still loads."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tram_bench.suite.spec import CellDoc, RunSpec, typed
from tram_bench.tasks.base import TrainDefaults
from tram_bench.tasks.synthetic import SyntheticShiftTask
from tram_bench.train import rundir
from tram_bench.train.loop import run_cell


def _spec(method: str = "tram-prev") -> RunSpec:
    train = dataclasses.asdict(TrainDefaults(steps=3, batch_size=32, lr=0.05, eval_every=2, eval_batch_size=256))
    return typed(CellDoc(suite="records", task="synthetic", task_version="1",
                         task_params={"dim": 8, "hidden": 32, "shifts": [0.5]}, train=train, method=method,
                         method_version="1", hparams={}, seed=0, label="small"))


def test_a_finished_run_reads_back_as_the_json_it_wrote(tmp_path: Path):
    spec = _spec()
    returned = run_cell(spec, tmp_path)
    run_dir = rundir.run_path(tmp_path, spec.run_id)
    on_disk = json.loads((run_dir / rundir.RECORD).read_text())
    record = rundir.read_record(run_dir)
    assert record.status is rundir.Status.OK and record.result is not None
    assert json.loads(json.dumps(record.to_json())) == on_disk == json.loads(json.dumps(returned.to_json()))
    # Every key of the documented shape, and no other: the cost's keys are Cost's fields.
    assert set(on_disk) == rundir.RunRecord.json_keys()[""] | {"analysis_error", "metrics"}
    assert set(on_disk["cost"]) == rundir.RunRecord.json_keys()["cost."]
    assert record.result.cost.forward == 3 * 3  # TRAM-prev: three forwards a step
    assert {(m.checkpoint, m.metric, m.higher_is_better) for m in record.metrics} >= {
        ("selected", "accuracy", True), ("final", "accuracy", True), ("selected", "loss", False)}

    rows = rundir.read_metrics_log(run_dir)
    train = [r for r in rows if isinstance(r, rundir.TrainRow)]
    evals = [r for r in rows if isinstance(r, rundir.EvalRow)]
    assert [r.step for r in train] == [1, 2, 3] and {r.step for r in evals} == {2, 3}
    assert set(train[0].extras) == {"divergence", "perturbation_norm"}  # TRAM's own keys of the line
    lines = [json.loads(t) for t in (run_dir / rundir.METRICS).read_text().splitlines()]
    assert [r.to_json() for r in rows] == lines


def test_a_failed_run_has_no_result_and_keeps_its_keys(tmp_path: Path, monkeypatch):
    def broken(self, model, eval_set):
        raise ValueError("evaluation broke")

    monkeypatch.setattr(SyntheticShiftTask, "evaluate", broken)
    spec = _spec()
    returned = run_cell(spec, tmp_path)
    record = rundir.read_record(rundir.run_path(tmp_path, spec.run_id))
    assert record.status is rundir.Status.FAILED and record.result is None and record.metrics == ()
    assert record.error == "ValueError: evaluation broke"
    assert returned == record  # what run_cell returns is what record.json holds
    on_disk = json.loads((rundir.run_path(tmp_path, spec.run_id) / rundir.RECORD).read_text())
    assert on_disk["metrics"] == [] and on_disk["analysis_error"] is None and "cost" not in on_disk
    assert rundir.status(tmp_path, spec.run_id) is rundir.Status.FAILED


def test_a_record_written_before_the_types_loads():
    # The shape of an earlier writer: no cost.forward_examples / data_time_total_s, no asset_time_s.
    old = {"run_id": "r1", "spec": {"task": "synthetic"}, "status": "diverged", "started_at": "2024-05-01T10:00:00",
           "finished_at": "2024-05-01T10:00:02", "wall_time_s": 2.0, "error": "non-finite loss=nan at step 3",
           "analysis_error": None, "metrics": [], "provenance": {"device": "cpu"}}
    record = rundir.RunRecord.from_json(old)
    assert record.status is rundir.Status.DIVERGED and record.asset_time_s is None and record.result is None
    ok = dict(old, status="ok", error=None, steps=5, selected_step=4, train_time_s=1.0, eval_time_s=0.5,
              cost={"forward": 10, "backward": 10, "step_time_s": 0.1},
              metrics=[{"checkpoint": "selected", "domain": "a", "split": "test", "metric": "accuracy",
                        "value": 0.5, "in_domain": False, "higher_is_better": True}])
    result = rundir.RunRecord.from_json(ok).result
    assert result.cost.forward_examples is None and result.cost.forward == 10 and result.selection is None
    assert result.metrics[0] == rundir.MetricRow("selected", "a", "test", "accuracy", 0.5, False, True)
    for status in ("pending", "lost", "running"):
        with pytest.raises(ValueError):
            rundir.RunRecord.from_json(dict(old, status=status))


def test_a_marker_that_names_no_finished_status_is_pending(tmp_path: Path):
    assert rundir.status(tmp_path, "absent") is rundir.Status.PENDING
    run_dir = rundir.run_path(tmp_path, "r")
    run_dir.mkdir(parents=True)
    (run_dir / rundir.DONE).write_text("running\n")
    assert rundir.status(tmp_path, "r") is rundir.Status.PENDING
    (run_dir / rundir.DONE).write_text("diverged\n")
    assert rundir.status(tmp_path, "r") is rundir.Status.DIVERGED
