"""Grid expansion: products, unions, train overrides at three levels, -O overrides, tuple fields."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.suite.conftest import TOY_SAM, TOY_SGD, TOY_TASK
from tests.suite.fixtures import ToyParams, ToySAMHparams, ToyTask
from tram_bench.suite.errors import SuiteInvalid
from tram_bench.suite.load import expand, load_suite
from tram_bench.suite.spec import RunSpec
from tram_bench.tasks.base import TrainDefaults


def _specs(write_suite, text, overrides=()):
    return expand(load_suite(write_suite(text), overrides))


def test_list_values_expand_to_the_product_over_keys(write_suite):
    specs = _specs(write_suite, f"""
        suite: grid
        seeds: [0, 1]
        tasks: [{{id: {TOY_TASK}}}]
        methods:
          - id: {TOY_SAM}
            hparams: {{rho: [0.1, 0.2], momentum: [0.0, 0.5, 0.9]}}
        """)
    assert len(specs) == 2 * 3 * 2
    cells = {(s.hparams.rho, s.hparams.momentum, s.seed) for s in specs}
    assert cells == {(r, m, seed) for r in (0.1, 0.2) for m in (0.0, 0.5, 0.9) for seed in (0, 1)}
    assert len({s.run_id for s in specs}) == len(specs)


def test_entries_of_one_method_id_form_a_union(write_suite):
    specs = _specs(write_suite, f"""
        suite: union
        seeds: [0]
        tasks: [{{id: {TOY_TASK}}}]
        methods:
          - id: {TOY_SAM}
            hparams: {{rho: [0.1, 0.2]}}
          - id: {TOY_SAM}
            hparams: {{rho: 0.3, base: adam}}
          - id: {TOY_SGD}
        """)
    sam = sorted((s.hparams.rho, s.hparams.base) for s in specs if s.method == TOY_SAM)
    assert sam == [(0.1, "sgd"), (0.2, "sgd"), (0.3, "adam")]
    assert sum(s.method == TOY_SGD for s in specs) == 1


def test_cells_nest_tasks_then_methods_then_seeds(write_suite):
    specs = _specs(write_suite, f"""
        suite: order
        seeds: [3, 1]
        tasks:
          - {{id: {TOY_TASK}, label: a}}
          - {{id: {TOY_TASK}, label: b, params: {{width: 4}}}}
        methods: [{{id: {TOY_SGD}}}, {{id: {TOY_SAM}}}]
        """)
    got = [(s.task_label, s.method, s.seed) for s in specs]
    assert got == [(t, m, seed) for t in "ab" for m in (TOY_SGD, TOY_SAM) for seed in (3, 1)]


def test_train_resolution_class_defaults_then_suite_then_task_entry(write_suite):
    specs = _specs(write_suite, f"""
        suite: train
        seeds: [0]
        train: {{lr: 0.05, steps: 7, schedule: cosine}}
        tasks:
          - id: {TOY_TASK}
            label: own-lr
            train: {{lr: 0.2, warmup_steps: 2}}
          - id: {TOY_TASK}
            label: suite-lr
        methods: [{{id: {TOY_SGD}}}]
        """)
    by_label = {s.task_label: dataclasses.asdict(s.train) for s in specs}
    task_defaults = dataclasses.asdict(ToyTask.train_defaults)
    expected_suite = {**task_defaults, "lr": 0.05, "steps": 7, "schedule": "cosine"}
    assert by_label["suite-lr"] == expected_suite
    assert by_label["own-lr"] == {**expected_suite, "lr": 0.2, "warmup_steps": 2}
    # The task's own defaults (not TrainDefaults') fill what the suite leaves open.
    assert by_label["suite-lr"]["batch_size"] == 8 != TrainDefaults().batch_size
    assert set(by_label["suite-lr"]) == {f.name for f in dataclasses.fields(TrainDefaults)}


def test_task_level_grids_get_distinct_labels(write_suite):
    specs = _specs(write_suite, f"""
        suite: labels
        seeds: [0]
        tasks:
          - id: {TOY_TASK}
            label: toy
            params: {{width: [4, 8]}}
            train: {{lr: [0.1, 0.01]}}
        methods: [{{id: {TOY_SGD}}}]
        """)
    assert sorted(s.task_label for s in specs) == sorted(
        f"toy[width={w},lr={lr}]" for w in (4, 8) for lr in (0.1, 0.01)
    )
    assert {(s.task_params.width, s.train.lr) for s in specs} == {(4, 0.1), (4, 0.01), (8, 0.1), (8, 0.01)}


def test_overrides_apply_before_validation(write_suite):
    path = write_suite(f"""
        suite: ov
        seeds: [0, 1, 2]
        tasks:
          - id: {TOY_TASK}
            params: {{width: 8}}
        methods:
          - id: {TOY_SGD}
          - id: {TOY_SAM}
            hparams: {{rho: 0.05}}
        """)
    specs = expand(load_suite(path, [
        "seeds=[0]",
        "train.steps=5",  # the suite has no train: mapping; the override creates it
        "tasks.0.params.backbone=small-cnn",
        "methods[1].hparams.rho=0.1",
        "train.lr=1e-3",  # YAML 1.2 float, as OmegaConf reads the file
    ]))
    assert [s.seed for s in specs] == [0, 0]
    assert all(s.train.steps == 5 and s.train.lr == 0.001 for s in specs)
    assert all(s.doc.task_params == {"backbone": "small-cnn", "width": 8, "noise": None, "shifts": [0.5]} for s in specs)
    assert [getattr(s.hparams, "rho", None) for s in specs] == [None, 0.1]


def test_override_can_make_a_grid_and_append_an_entry(write_suite):
    path = write_suite(f"""
        suite: ov2
        seeds: [0]
        tasks: [{{id: {TOY_TASK}}}]
        methods: [{{id: {TOY_SGD}}}]
        """)
    specs = expand(load_suite(path, [f"methods.1={{id: '{TOY_SAM}', hparams: {{rho: [0.1, 0.2]}}}}"]))
    assert [(s.method, getattr(s.hparams, "rho", None)) for s in specs] == [(TOY_SGD, None), (TOY_SAM, 0.1), (TOY_SAM, 0.2)]


@pytest.mark.parametrize("override, fragment", [
    ("seeds", "expected key=value"),
    ("tasks.3.params.width=4", "index 3 is out of range: tasks has 1 entries"),
    ("suite.name=x", "cannot set 'name' inside suite"),
    ("tasks.x.id=y", "tasks is a list; use an index"),
    ("train..lr=1", "malformed key path"),
    ("train.lr=[0.1", "cannot parse value"),
])
def test_bad_override_names_the_override(write_suite, override, fragment):
    path = write_suite(f"""
        suite: ov3
        seeds: [0]
        tasks: [{{id: {TOY_TASK}}}]
        methods: [{{id: {TOY_SGD}}}]
        """)
    with pytest.raises(SuiteInvalid) as info:
        load_suite(path, [override])
    rendered = [str(e) for e in info.value.errors]
    assert any(r.startswith(f"-O {override}: ") and fragment in r for r in rendered), rendered


def test_invalid_value_set_by_override_is_attributed_to_it(write_suite):
    path = write_suite(f"""
        suite: ov4
        seeds: [0]
        tasks: [{{id: {TOY_TASK}}}]
        methods: [{{id: {TOY_SAM}, hparams: {{rho: 0.1}}}}]
        """)
    with pytest.raises(SuiteInvalid) as info:
        load_suite(path, ["methods.0.hparams.rho=-1"])
    assert [str(e) for e in info.value.errors] == [
        "-O methods.0.hparams.rho=-1: methods[0].hparams.rho: rho must be >= 0, got -1.0"
    ]


def test_tuple_field_flat_list_is_one_value_list_of_lists_is_a_grid(write_suite):
    specs = _specs(write_suite, f"""
        suite: betas
        seeds: [0]
        tasks: [{{id: {TOY_TASK}}}]
        methods:
          - id: {TOY_SAM}
            hparams: {{betas: [0.8, 0.9]}}
          - id: {TOY_SAM}
            hparams: {{betas: [[0.9, 0.99], [0.95, 0.999]], rho: [0.1, 0.2]}}
        """)
    betas = sorted((tuple(s.hparams.betas), s.hparams.rho) for s in specs)
    assert betas == [((0.8, 0.9), 0.05), ((0.9, 0.99), 0.1), ((0.9, 0.99), 0.2),
                     ((0.95, 0.999), 0.1), ((0.95, 0.999), 0.2)]
    assert all(isinstance(s.doc.hparams["betas"], list) for s in specs)  # JSON-able: tuples become lists


def test_list_valued_task_param_follows_the_same_rule(write_suite):
    specs = _specs(write_suite, f"""
        suite: shifts
        seeds: [0]
        tasks:
          - {{id: {TOY_TASK}, label: one, params: {{shifts: [0.5, 1.0]}}}}
          - {{id: {TOY_TASK}, label: two, params: {{shifts: [[0.5], [1.0, 2.0]]}}}}
        methods: [{{id: {TOY_SGD}}}]
        """)
    assert [(s.task_label, s.doc.task_params["shifts"]) for s in specs] == [
        ("one", [0.5, 1.0]), ("two[shifts=[0.5]]", [0.5]), ("two[shifts=[1.0,2.0]]", [1.0, 2.0]),
    ]


def test_every_field_is_resolved_and_json_able(write_suite):
    (spec,) = _specs(write_suite, f"""
        suite: full
        seeds: [0]
        analysis: [cka]
        tasks: [{{id: {TOY_TASK}}}]
        methods: [{{id: {TOY_SAM}, hparams: {{rho: 1}}}}]
        """)
    assert set(spec.doc.hparams) == {f.name for f in dataclasses.fields(ToySAMHparams)}
    assert spec.hparams.rho == 1.0 and isinstance(spec.hparams.rho, float)  # int -> float field
    assert set(spec.doc.task_params) == {"backbone", "width", "noise", "shifts"}
    assert json.loads(json.dumps(spec.to_json())) == spec.to_json()
    assert (spec.task_version, spec.method_version, spec.analysis) == ("3", "2", ("cka",))
    # The cell holds the instances the training loop uses, and its JSON decodes to the same cell.
    assert isinstance(spec.hparams, ToySAMHparams) and isinstance(spec.task_params, ToyParams)
    assert RunSpec.from_json(spec.to_json()) == spec


def test_interpolation_refers_to_other_keys(write_suite):
    (spec,) = _specs(write_suite, f"""
        suite: interp
        seeds: [0]
        train: {{lr: 0.02}}
        tasks:
          - id: {TOY_TASK}
            train: {{eval_every: 5, steps: '${{tasks[0].train.eval_every}}'}}
        methods: [{{id: {TOY_SGD}}}]
        """)
    assert spec.train.steps == 5 and spec.train.lr == 0.02


def test_synthetic_task_resolves_its_list_default(write_suite):
    (spec,) = _specs(write_suite, f"""
        suite: synth
        seeds: [0]
        tasks: [{{id: synthetic, params: {{dim: 4}}}}]
        methods: [{{id: {TOY_SGD}}}]
        """)
    from tram_bench.tasks.synthetic import SyntheticParams, SyntheticShiftTask

    expected = {f.name: getattr(SyntheticParams(dim=4), f.name) for f in dataclasses.fields(SyntheticParams)}
    assert spec.doc.task_params == expected
    assert spec.train == SyntheticShiftTask.train_defaults


def test_a_task_can_be_restricted_to_some_of_the_methods(write_suite):
    specs = _specs(write_suite, f"""
        suite: restricted
        seeds: [0, 1]
        tasks:
          - {{id: {TOY_TASK}, label: all}}
          - {{id: {TOY_TASK}, label: few, params: {{width: 4}}, methods: [{TOY_SGD}]}}
        methods: [{{id: {TOY_SGD}}}, {{id: {TOY_SAM}, hparams: {{rho: [0.1, 0.2]}}}}]
        """)
    per_task = {}
    for s in specs:
        per_task.setdefault(s.task_label, set()).add((s.method, getattr(s.hparams, "rho", None)))
    assert len(per_task["all"]) == 3
    assert {m for m, _ in per_task["few"]} == {TOY_SGD}
    assert sum(s.task_label == "few" for s in specs) == 2
