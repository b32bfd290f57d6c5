"""Run directories written with the training loop's own writer (tram_bench.train.rundir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tram_bench.suite.spec import CellDoc
from tram_bench.train import rundir


def make_spec(seed: int = 0, rho: float = 0.05, method: str = "sam", suite: str = "s") -> CellDoc:
    return CellDoc(
        suite=suite, task="synthetic", task_version="1", task_params={"dim": 4, "shifts": [0.5]},
        train={"steps": 5, "lr": 0.1}, method=method, method_version="1",
        hparams={"rho": rho, "betas": [0.9, 0.99]}, seed=seed, label="synth",
    )


def metric(domain: str, value: float | None, checkpoint: str = "selected", metric_name: str = "accuracy",
           split: str = "test", in_domain: bool = False) -> dict[str, Any]:
    return {"checkpoint": checkpoint, "domain": domain, "split": split, "metric": metric_name,
            "value": value, "in_domain": in_domain, "higher_is_better": metric_name == "accuracy"}


def make_record(spec: CellDoc, status: str = "ok", metrics: list | None = None, error: str | None = None,
                wall: float = 2.5) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": spec.run_id, "spec": spec.to_json(), "status": status,
        "started_at": "2024-05-01T10:00:00+00:00", "finished_at": "2024-05-01T10:00:02+00:00",
        "wall_time_s": wall, "error": error,
        "provenance": {"git_commit": "abc123", "tram_bench_version": "0.1.0", "python": "3.11.7",
                       "torch": "2.4.0", "cuda": None, "device": "cpu", "device_name": "x86_64",
                       "precision": "fp32", "world_size": 1, "packages": {}, "hostname": "h"},
        "metrics": metrics if metrics is not None else [],
    }
    if status == "ok":
        record.update(train_time_s=2.0, eval_time_s=0.5, steps=5, selected_step=5,
                      cost={"forward": 10, "backward": 10, "step_time_s": 0.4, "peak_memory_mb": 120.5,
                            "examples_per_s": 80.0, "tokens_per_s": None})
    return record


def write_run(results: Path, spec: CellDoc, **kw) -> Path:
    run_dir = rundir.run_path(results, spec.run_id)
    rundir.start(run_dir, spec.to_json())
    record = rundir.RunRecord.from_json(make_record(spec, **kw))
    rundir.finish(run_dir, record, "Traceback ...\nRuntimeError: boom\n" if record.status == "failed" else None)
    return run_dir


@pytest.fixture
def results(tmp_path: Path) -> Path:
    d = tmp_path / "results"
    d.mkdir()
    return d
