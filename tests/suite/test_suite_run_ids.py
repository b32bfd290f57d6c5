"""Run ids depend on what a cell computes, and on nothing else."""

from __future__ import annotations

import pytest

from tests.suite.conftest import TOY_SAM, TOY_SGD, TOY_TASK
from tram_bench.suite.load import expand, load_suite

BASE = f"""
suite: ids
seeds: [0, 1]
train: {{lr: 0.05}}
tasks:
  - id: {TOY_TASK}
    label: a
    params: {{width: 8}}
    train: {{steps: 10}}
  - id: {TOY_TASK}
    label: b
    params: {{width: 16}}
methods:
  - id: {TOY_SGD}
  - id: {TOY_SAM}
    hparams: {{rho: [0.1, 0.2], momentum: 0.5}}
"""


def _ids(write_suite, text: str, overrides=()) -> set[str]:
    return {s.run_id for s in expand(load_suite(write_suite(text), overrides))}


def test_key_order_does_not_change_run_ids(write_suite):
    reordered = f"""
methods:
  - id: {TOY_SGD}
  - hparams: {{momentum: 0.5, rho: [0.1, 0.2]}}
    id: {TOY_SAM}
tasks:
  - train: {{steps: 10}}
    params: {{width: 8}}
    label: a
    id: {TOY_TASK}
  - params: {{width: 16}}
    id: {TOY_TASK}
    label: b
train: {{lr: 0.05}}
seeds: [0, 1]
suite: ids
"""
    assert _ids(write_suite, BASE, ()) == _ids(write_suite, reordered)


def test_entry_and_grid_order_do_not_change_run_ids(write_suite):
    swapped = f"""
suite: ids
seeds: [1, 0]
train: {{lr: 0.05}}
tasks:
  - id: {TOY_TASK}
    label: b
    params: {{width: 16}}
  - id: {TOY_TASK}
    label: a
    params: {{width: 8}}
    train: {{steps: 10}}
methods:
  - id: {TOY_SAM}
    hparams: {{rho: [0.2, 0.1], momentum: 0.5}}
  - id: {TOY_SGD}
"""
    assert _ids(write_suite, BASE) == _ids(write_suite, swapped)


def test_int_and_float_spellings_and_explicit_defaults_give_the_same_ids(write_suite):
    same = BASE.replace("lr: 0.05", "lr: 5.0e-2").replace(
        "train: {steps: 10}", "train: {steps: 10, weight_decay: 0, poly_power: 1}"
    ).replace(f"  - id: {TOY_SGD}\n", f"  - id: {TOY_SGD}\n    hparams: {{momentum: 0.9, nesterov: false}}\n")
    assert same != BASE
    assert _ids(write_suite, BASE) == _ids(write_suite, same)


@pytest.mark.parametrize("one, other", [("1", "1.0"), ("2", "2.00"), ("0.5", "5e-1")])
def test_int_and_float_hparam_give_the_same_id(write_suite, one, other):
    text = f"""
suite: n
seeds: [0]
tasks: [{{id: {TOY_TASK}}}]
methods: [{{id: {TOY_SAM}, hparams: {{rho: RHO}}}}]
"""
    assert _ids(write_suite, text.replace("RHO", one)) == _ids(write_suite, text.replace("RHO", other))


def test_suite_name_and_labels_are_not_part_of_the_id(write_suite):
    renamed = BASE.replace("suite: ids", "suite: other").replace("label: a", "label: first")
    assert _ids(write_suite, BASE) == _ids(write_suite, renamed)


@pytest.mark.parametrize("override", [
    "methods.1.hparams.momentum=0.6",
    "train.lr=0.051",
    "tasks.0.train.steps=11",
    "tasks.1.params.width=17",
    "tasks.1.params.backbone=small-cnn",
    "seeds=[0, 2]",
    "analysis=[sharpness]",
    "methods.0.hparams.betas=[0.9, 0.999]",
])
def test_any_value_change_gives_new_ids(write_suite, override):
    before = _ids(write_suite, BASE)
    after = _ids(write_suite, BASE, [override])
    assert len(after) == len(before)
    assert after != before
    changed = after - before
    assert changed  # at least the cells the override touched have new ids
    if override.startswith("methods.1"):
        # Only the SAM cells changed; SGD cells keep their ids.
        assert len(changed) == 2 * 2 * 2


def test_run_id_is_independent_of_the_process(write_suite, tmp_path):
    """The id is a content hash: recomputing it from the JSON form gives the same value."""
    from tram_bench.suite.spec import RunSpec

    for spec in expand(load_suite(write_suite(BASE))):
        doc = spec.to_json()
        assert RunSpec.from_json(doc).run_id == doc["run_id"] == spec.run_id
