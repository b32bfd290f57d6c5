"""The one codec between a typed cell and its JSON document (``RunSpec.to_json`` / ``RunSpec.from_json``)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tram_bench.suite.load import resolve_suite
from tram_bench.suite.spec import CellDoc, RunSpec
from tram_bench.tasks.train_setup import TrainSetup

ROOT = Path(__file__).resolve().parents[2]
SUITES = sorted((ROOT / "suites").glob("*.yaml")) + sorted((ROOT / "suites" / "paper").glob("*.yaml"))


@pytest.mark.parametrize("path", SUITES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_cell_decodes_to_itself(path):
    for spec in resolve_suite(path).cells:
        text = json.dumps(spec.to_json())  # what spec.json, the plan file and the worker queues hold
        back = RunSpec.from_json(json.loads(text))
        assert back == spec and back.run_id == spec.run_id and back.label == spec.label
        assert isinstance(back.train, TrainSetup) and type(back.hparams) is type(spec.hparams)


def test_a_document_names_what_is_wrong_with_it():
    doc = resolve_suite(SUITES[0]).cells[0].to_json()
    with pytest.raises(TypeError, match="has no field rhoo"):
        RunSpec.from_json({**doc, "hparams": {**doc["hparams"], "rhoo": 1.0}})
    with pytest.raises(ValueError, match="lr: must be > 0"):
        RunSpec.from_json({**doc, "train": {**doc["train"], "lr": -1.0}})


def test_the_document_form_needs_no_task_or_method_class():
    # The collector reads plan files of plugins that are not installed: the document and its run id
    # come from plain values alone.
    doc = CellDoc(suite="s", task="no_such.mod:Task", task_version="1", task_params={"a": 1}, train={"lr": 0.1},
                  method="no_such.mod:Method", method_version="1", hparams={"rho": 0.1}, seed=0)
    assert CellDoc.from_json(json.loads(json.dumps(doc.to_json()))) == doc
    assert doc.to_json()["run_id"] == doc.run_id


def test_the_training_setup_checks_its_own_values():
    with pytest.raises(ValueError, match="schedule: unknown schedule 'cosin'"):
        TrainSetup(schedule="cosin")
    assert dataclasses.replace(TrainSetup(), epochs=2.0, batch_size=10).length(95) == 18
    assert TrainSetup(steps=7).length(None) == 7
