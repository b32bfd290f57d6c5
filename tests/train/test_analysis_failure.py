"""An analysis that fails never discards a finished training run (issue 14, item 3).

The run stays ``ok`` with its training and evaluation metric rows (and the rows of every analysis
that did work), ``analysis_error`` says what failed, ``error.txt`` keeps the traceback, the store
has the column, and ``--retry-failed`` leaves the run alone. ``validate`` refuses analysis budgets
that cannot work.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tram_bench.cli import main
from tram_bench.suite.spec import CellDoc, RunSpec, typed
from tram_bench.tasks.base import TrainDefaults
from tram_bench.train.loop import run_cell

SUITE = Path(__file__).resolve().parents[1] / "fixtures/suites/synthetic.yaml"


def _spec(analysis: tuple[str, ...], **train) -> RunSpec:
    tc = dataclasses.asdict(TrainDefaults(steps=4, batch_size=32, lr=0.05, eval_every=2, eval_batch_size=256))
    tc.update(train)
    return typed(CellDoc(suite="an", task="synthetic", task_version="1", task_params={"dim": 4, "shifts": [0.5]},
                   train=tc, method="sgd", method_version="1", hparams={}, seed=0, label="synth", analysis=analysis))


def test_cka_on_one_example_keeps_the_training_metrics(tmp_path):
    # The example: `analysis_examples: 1` with CKA (validate now refuses it; the loop must
    # still never lose a run to an analysis).
    record = run_cell(_spec(("cka", "sharpness"), analysis_examples=1, sharpness_batch_size=1), tmp_path)
    assert record.status == "ok" and record.error is None
    metrics = {(m.checkpoint, m.domain, m.split, m.metric) for m in record.metrics}
    assert ("selected", "train-domain", "test", "accuracy") in metrics
    assert ("final", "shift-0.5", "test", "accuracy") in metrics
    # Sharpness works on one example; its rows stay beside the failure of CKA.
    assert {m[2] for m in metrics if m[3] == "sharpness"} == {"val", "test"}
    assert not any(m[3] == "cka" for m in metrics)
    assert record.result.analysis_error.startswith("cka on train-domain/val: ValueError: linear_cka: need at least 2")
    assert "(and 2 more analysis failures)" in record.result.analysis_error
    on_disk = json.loads((tmp_path / "runs" / record.run_id / "record.json").read_text())
    assert on_disk["analysis_error"] == record.result.analysis_error
    assert "Traceback" in (tmp_path / "runs" / record.run_id / "error.txt").read_text()


def test_failing_pretrained_model_for_cka_keeps_sharpness(tmp_path, monkeypatch):
    from tram_bench.tasks.synthetic import SyntheticShiftTask

    build = SyntheticShiftTask.build_model
    calls = []

    def second_build_fails(self):
        calls.append(1)
        if len(calls) > 1:  # the first build is the model to train; the second is CKA's reference
            raise OSError("pre-trained weights unreadable")
        return build(self)

    monkeypatch.setattr(SyntheticShiftTask, "build_model", second_build_fails)
    record = run_cell(_spec(("cka", "sharpness")), tmp_path)
    assert record.status == "ok"
    assert record.result.analysis_error == "cka (pre-trained model): OSError: pre-trained weights unreadable"
    assert sum(m.metric == "sharpness" for m in record.metrics) == 3


def test_a_run_without_analysis_failures_has_no_analysis_error(tmp_path):
    record = run_cell(_spec(("cka",), analysis_examples=8), tmp_path)
    assert record.status == "ok" and record.result.analysis_error is None
    assert sum(m.metric == "cka" for m in record.metrics) == 3
    assert not (tmp_path / "runs" / record.run_id / "error.txt").exists()


def test_cli_run_stores_analysis_error_and_retry_failed_skips_it(tmp_path, capsys):
    # An evaluation set of one example: a valid budget that still cannot give CKA at run time.
    results = tmp_path / "r"
    args = ["run", str(SUITE), "--results", str(results), "--quiet", "--only", "sgd", "-O", "seeds=[0]",
            "-O", "tasks.0.params.eval_size=1", "-O", "analysis=[cka]"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args + ["--retry-failed"]) == 0
    assert "1 already finished, 0 to run" in capsys.readouterr().out

    import duckdb

    con = duckdb.connect(str(results / "tram-bench.duckdb"), read_only=True)
    try:
        status, error = con.execute("select status, analysis_error from runs").fetchone()
        n_accuracy = con.execute("select count(*) from metrics where metric = 'accuracy'").fetchone()[0]
    finally:
        con.close()
    assert status == "ok" and "need at least 2 examples" in error
    assert n_accuracy > 0


@pytest.mark.parametrize(("analysis", "train", "key", "message"), [
    ("[cka]", "{analysis_examples: 1}", "train.analysis_examples", "must be >= 3 for the cka analysis"),
    ("[cka]", "{analysis_examples: 2}", "train.analysis_examples", "must be >= 3 for the cka analysis"),
    ("[sharpness]", "{analysis_examples: 16, sharpness_batch_size: 32}", "train.sharpness_batch_size",
     "sharpness_batch_size (32) must be <= analysis_examples (16)"),
    ("[sharpness]", "{analysis_examples: 16}", "train.analysis_examples",  # the batch size is the default
     "sharpness_batch_size (32) must be <= analysis_examples (16)"),
])
def test_validate_rejects_analysis_budgets_that_cannot_work(tmp_path, capsys, analysis, train, key, message):
    suite = tmp_path / "s.yaml"
    suite.write_text(f"suite: s\nseeds: [0]\nanalysis: {analysis}\ntrain: {train}\n"
                     "tasks:\n  - id: synthetic\nmethods:\n  - id: sgd\n")
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"s.yaml:4: {key}: " in err[0] and message in err[0]
    assert "Traceback" not in err[0]


def test_validate_accepts_budgets_that_work_or_are_unused(tmp_path, capsys):
    suite = tmp_path / "s.yaml"
    # One example is fine without CKA; a large sharpness batch is fine without sharpness.
    for analysis, train in (("[sharpness]", "{analysis_examples: 1, sharpness_batch_size: 1}"),
                            ("[cka]", "{analysis_examples: 3, sharpness_batch_size: 64}"),
                            ("[]", "{analysis_examples: 1}")):
        suite.write_text(f"suite: s\nseeds: [0]\nanalysis: {analysis}\ntrain: {train}\n"
                         "tasks:\n  - id: synthetic\nmethods:\n  - id: sgd\n")
        assert main(["validate", str(suite)]) == 0, capsys.readouterr().err
