"""The comparison design: default and declared baselines, margins, and where the design is recorded."""

from __future__ import annotations

import json

import duckdb
import pytest

from tests.suite.conftest import TOY_TASK
from tram_bench.store.collector import collect, db_path
from tram_bench.suite.design import DEFAULT_ALPHA, DEFAULT_DELTA, SuiteDesign
from tram_bench.suite.load import expand, load_suite, resolve_suite
from tram_bench.suite.plan import plan_document, write_plan_file
from tram_bench.suite.validate import validate


def suite_text(methods: str, extra: str = "", task_extra: str = "", seeds: str = "[0, 1]") -> str:
    return f"""
suite: d
seeds: {seeds}
{extra}
tasks:
  - id: {TOY_TASK}
    label: a
{task_extra}
methods:
{methods}
"""


def design(write_suite, text: str, overrides=()) -> SuiteDesign:
    return resolve_suite(write_suite(text), overrides).design


def errors(write_suite, text: str, overrides=()) -> list[str]:
    return [str(e) for e in validate(write_suite(text), overrides)]


def test_default_baseline_is_the_plain_sgd(write_suite):
    d = design(write_suite, suite_text("  - id: sam\n  - id: sgd\n  - id: zero-shot"))
    (t,) = d.tasks
    assert (t.baseline_method, t.baseline_hparams["base"], t.family, t.units) == ("sgd", "sgd", "synthetic", "points")
    assert t.comparisons == 1  # sam; zero-shot does not train, sgd is the baseline
    assert t.seeds == (0, 1) and len(t.baseline_run_ids) == 2
    assert (d.alpha, t.delta) == (DEFAULT_ALPHA, DEFAULT_DELTA["synthetic"])


def test_default_baseline_is_adam_including_adamw(write_suite):
    (t,) = design(write_suite, suite_text("  - id: adam\n  - id: sam\n    hparams: {base: adam}")).tasks
    assert (t.baseline_method, t.baseline_hparams["base"]) == ("adam", "adam")
    text = suite_text("  - id: adam\n    hparams: {base: adamw}\n  - id: tram-prev\n    hparams: {base: adamw}")
    (t,) = design(write_suite, text).tasks
    assert (t.baseline_method, t.baseline_hparams["base"], t.comparisons) == ("adam", "adamw", 1)


def test_two_plain_methods_make_the_default_ambiguous(write_suite):
    (e,) = errors(write_suite, suite_text("  - id: sgd\n  - id: adam\n  - id: sam"))
    assert e.endswith("tasks[0]: the default baseline of task 'a' is ambiguous (two plain methods: sgd and adam); "
                      "declare one, e.g. baseline: {id: sgd} in this task entry or at suite level")
    assert ":5: " in e  # the task entry's line


def test_a_gridded_plain_method_makes_the_default_ambiguous(write_suite):
    (e,) = errors(write_suite, suite_text("  - id: sgd\n    hparams: {momentum: [0.9, 0.0]}\n  - id: sam"))
    assert "ambiguous (a gridded plain method: sgd (momentum=0.9) and sgd (momentum=0.0))" in e


def test_a_declared_baseline_resolves_the_ambiguity(write_suite):
    (t,) = design(write_suite, suite_text("  - id: sgd\n  - id: adam\n  - id: sam", extra="baseline: {id: adam}")).tasks
    assert t.baseline_method == "adam" and t.comparisons == 2


def test_task_baseline_wins_over_the_suite_baseline(write_suite):
    text = f"""
suite: d
seeds: [0]
baseline: {{id: sgd}}
tasks:
  - id: {TOY_TASK}
    label: a
  - id: {TOY_TASK}
    label: b
    params: {{width: 8}}
    baseline: {{id: sam, hparams: {{rho: 0.1}}}}
methods:
  - id: sgd
  - id: sam
    hparams: {{rho: [0.05, 0.1]}}
"""
    a, b = design(write_suite, text).tasks
    assert (a.baseline_method, b.baseline_method, b.baseline_hparams["rho"]) == ("sgd", "sam", 0.1)
    assert (a.comparisons, b.comparisons) == (2, 2)


def test_a_baseline_that_matches_no_configuration_is_an_error(write_suite):
    (e,) = errors(write_suite, suite_text("  - id: sgd\n  - id: sam", extra="baseline: {id: sam, hparams: {rho: 0.3}}"))
    assert ": baseline: baseline sam with rho=0.3 matches no configuration of task 'a' (its sam configurations: " in e
    (e,) = errors(write_suite, suite_text("  - id: sgd\n  - id: sam", extra="baseline: {id: adam}"))
    assert "baseline.id: unknown baseline id 'adam'" in e
    (e,) = errors(write_suite, suite_text("  - id: sgd\n  - id: sam", extra="baseline: {id: sgd, hparams: {rhoo: 1}}"))
    assert "baseline.hparams.rhoo: unknown hparam 'rhoo' of method 'sgd'" in e


def test_a_baseline_matching_several_configurations_is_an_error(write_suite):
    (e,) = errors(write_suite, suite_text("  - id: sam\n    hparams: {rho: [0.05, 0.1]}", extra="baseline: {id: sam}"))
    assert "matches 2 configurations of task 'a' (sam (rho=0.05), sam (rho=0.1)); add the hparams that pick one" in e


def test_a_suite_baseline_a_restricted_task_does_not_run_is_an_error(write_suite):
    text = suite_text("  - id: sgd\n  - id: sam", extra="baseline: {id: sgd}", task_extra="    methods: [sam]")
    (e,) = errors(write_suite, text)
    assert "baseline sgd matches no configuration of task 'a' (the task does not run sgd)" in e


@pytest.mark.parametrize("extra, message", [
    ("alpha: 0", "alpha: must be a number in (0, 1), e.g. 0.05; got 0"),
    ("alpha: 1.5", "alpha: must be a number in (0, 1)"),
    ("alpha: true", "alpha: must be a number in (0, 1)"),
    ("delta: -1", "delta: must be a number > 0 or a mapping of task family"),
    ("delta: {vision: 0}", "delta.vision: must be a number > 0, got 0"),
    ("delta: {synthetc: 0.5}", "delta.synthetc: unknown task family 'synthetc' (did you mean 'synthetic'?)"),
    ("baseline: sgd", "baseline: must be a mapping {id: ..., hparams: {...}}, got 'sgd' (write 'baseline: {id: sgd}')"),
])
def test_bad_design_values_are_one_line_errors(write_suite, extra, message):
    errs = errors(write_suite, suite_text("  - id: sgd\n  - id: sam", extra=extra))
    assert any(message in e for e in errs), errs


def test_alpha_and_delta_are_recorded(write_suite):
    d = design(write_suite, suite_text("  - id: sgd\n  - id: sam", extra="alpha: 0.01\ndelta: {synthetic: 2}"))
    assert (d.alpha, d.tasks[0].delta) == (0.01, 2.0)
    d = design(write_suite, suite_text("  - id: sgd\n  - id: sam", extra="delta: 0.5"))
    assert d.tasks[0].delta == 0.5
    assert SuiteDesign.from_json(json.loads(json.dumps(d.to_json()))) == d


def test_the_baseline_does_not_enter_run_ids(write_suite):
    methods = "  - id: sgd\n  - id: adam\n  - id: sam"
    with_sgd = load_suite(write_suite(suite_text(methods, extra="baseline: {id: sgd}"), "a.yaml"))
    with_adam = load_suite(write_suite(suite_text(methods, extra="baseline: {id: adam}"), "b.yaml"))
    assert [s.run_id for s in expand(with_sgd)] == [s.run_id for s in expand(with_adam)]


def test_the_declared_baseline_is_recorded_in_the_plan_and_suite_cells(write_suite, tmp_path):
    resolved = resolve_suite(write_suite(suite_text("  - id: sgd\n  - id: adam\n  - id: sam",
                                                    extra="baseline: {id: adam}")))
    suite, specs = resolved.config, resolved.cells
    results = tmp_path / "results"
    path = write_plan_file(results, suite.suite, suite.path, specs, resolved.design)
    doc = json.loads(path.read_text())
    assert doc["design"]["tasks"][0]["baseline_method"] == "adam"
    collect(results)
    with duckdb.connect(str(db_path(results)), read_only=True) as con:
        flags = con.execute("SELECT method, bool_and(baseline) FROM suite_cells GROUP BY method ORDER BY method").fetchall()
        row = con.execute("SELECT task_label, task, family, baseline_method, baseline_hparams, delta, units, alpha, "
                          "comparisons, n_seeds FROM suite_design").fetchall()
    assert flags == [("adam", True), ("sam", False), ("sgd", False)]
    (label, task, family, method, hparams, delta, units, alpha, m, n) = row[0]
    assert (label, task, family, method, json.loads(hparams)["base"], delta, units, alpha, m, n) == (
        "a", TOY_TASK, "synthetic", "adam", "adam", 1.0, "points", 0.05, 2, 2)


def test_collector_derives_the_default_design_of_an_old_plan_file(write_suite, tmp_path):
    results = tmp_path / "results"
    (results / "suites").mkdir(parents=True)
    for name, methods in (("one", "  - id: sgd\n  - id: sam"), ("two", "  - id: sgd\n  - id: adam")):
        text = suite_text(methods, extra="baseline: {id: sgd}").replace("suite: d", f"suite: {name}")
        suite = load_suite(write_suite(text, f"{name}.yaml"))
        doc = plan_document(suite.suite, suite.path, expand(suite))
        del doc["design"]  # as written before designs existed
        (results / "suites" / f"{name}.json").write_text(json.dumps(doc))
    collect(results)
    with duckdb.connect(str(db_path(results)), read_only=True) as con:
        cells = con.execute("SELECT suite, method, bool_and(baseline), count(baseline) FROM suite_cells "
                            "GROUP BY ALL ORDER BY ALL").fetchall()
        designs = con.execute("SELECT suite, baseline_method, comparisons FROM suite_design ORDER BY suite").fetchall()
    # "one" has a single plain method; in "two" the default is ambiguous: NULL baseline everywhere.
    assert cells == [("one", "sam", False, 2), ("one", "sgd", True, 2), ("two", "adam", None, 0), ("two", "sgd", None, 0)]
    assert designs == [("one", "sgd", 1), ("two", None, 2)]


def test_a_malformed_design_in_a_plan_file_is_reported_not_ingested(write_suite, tmp_path):
    suite = load_suite(write_suite(suite_text("  - id: sgd\n  - id: sam")))
    results = tmp_path / "results"
    (results / "suites").mkdir(parents=True)
    doc = plan_document(suite.suite, suite.path, expand(suite))
    doc["design"]["suite"] = "other"
    (results / "suites" / "d.json").write_text(json.dumps(doc))
    doc["design"] = {"suite": "e", "alpha": 0.05, "tasks": [{"task_label": "a"}]}
    (results / "suites" / "e.json").write_text(json.dumps({**doc, "suite": "e"}))
    stats = collect(results)
    reasons = sorted(reason for _, reason in stats.failed_dirs)
    assert reasons == ["design is malformed (KeyError: 'baseline_hparams')", "design.suite 'other' does not match the plan's suite 'd'"]


def test_the_baseline_can_be_set_with_an_override(write_suite):
    path = write_suite(suite_text("  - id: sgd\n  - id: adam\n  - id: sam"))
    assert resolve_suite(path, ["baseline={id: adam}"]).design.tasks[0].baseline_method == "adam"
    errs = errors(write_suite, suite_text("  - id: sgd\n  - id: sam"), ["tasks.0.baseline={id: sam, hparams: {rho: 9}}"])
    assert errs and all(e.startswith("-O tasks.0.baseline=") for e in errs), errs


def test_declared_hparams_match_by_value(write_suite):
    text = suite_text("  - id: sgd\n  - id: sam\n    hparams: {rho: [1.0, 0.5], betas: [0.9, 0.99]}",
                      extra="baseline: {id: sam, hparams: {rho: 1, betas: [0.9, 0.99]}}")
    (t,) = design(write_suite, text).tasks
    assert (t.baseline_method, t.baseline_hparams["rho"], t.comparisons) == ("sam", 1.0, 2)


def test_adam_and_adamw_together_are_two_plain_configurations(write_suite):
    (e,) = errors(write_suite, suite_text("  - id: adam\n    hparams: {base: [adam, adamw]}\n  - id: sam"))
    assert "ambiguous (a gridded plain method: adam (base=adam) and adam (base=adamw))" in e
