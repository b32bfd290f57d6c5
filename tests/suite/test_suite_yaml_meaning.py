"""Suite values mean what they say (issue 14 items 4, 6 and 10): no YAML 1.1 surprises, no OmegaConf
markers or resolvers, and the paper's method names."""

from __future__ import annotations

import pytest

from tests.suite.conftest import TOY_TASK
from tram_bench.suite.load import expand, load_suite
from tram_bench.suite.locations import yaml11_problem
from tram_bench.suite.validate import validate

SUITE = f"""
suite: m
description: "???"
seeds: [0, 1]
train: {{lr: 0.1}}
tasks:
  - id: {TOY_TASK}
    label: toy
methods:
  - id: sgd
  - id: sam
"""


def errors(path, overrides=()) -> list[str]:
    return [str(e) for e in validate(path, overrides)]


def test_quoted_question_marks_are_text(write_suite):
    suite = load_suite(write_suite(SUITE))
    assert suite.description == "???"
    path = write_suite(SUITE.replace('"???"', "???"))  # unquoted: still text, never OmegaConf's marker
    assert load_suite(path).description == "???"
    assert load_suite(write_suite(SUITE), ["description='???'"]).description == "???"


def test_a_quoted_question_mark_setting_is_a_type_error_not_a_missing_value(write_suite):
    (e,) = errors(write_suite(SUITE.replace("lr: 0.1", 'lr: "???"')))
    assert "train.lr: expected float, got str '???'" in e


def test_quoted_free_text_is_literal_and_plain_text_interpolates(write_suite):
    text = SUITE.replace("label: toy", 'label: "${suite}-x"').replace('description: "???"', "description: ${suite} run")
    suite = load_suite(write_suite(text))
    assert (suite.description, suite.tasks[0].label) == ("m run", "${suite}-x")


@pytest.mark.parametrize("override, message", [
    ("seeds=[007, 010, 011]", "-O seeds=[007, 010, 011]: ambiguous value 007 has a leading zero"),
    ("train.steps=0100", "YAML 1.1 reads the octal number 64, YAML 1.2 the decimal 100; write 100"),
    ("train.eval_every=1:30", "ambiguous value 1:30 is the base-60 number 90"),
    ("train.steps=1_000", "ambiguous value 1_000 has '_' in a number"),
    ("tasks.0.params.backbone=off", "ambiguous value off is the boolean false in YAML 1.1"),
    ("description=${oc.env:HOME}", "-O description=${oc.env:HOME}: description: ${oc.env:HOME} calls the resolver 'oc.env'"),
    ("train.lr=${oc.decode:'0.1'}", "calls the resolver 'oc.decode'"),
])
def test_overrides_follow_the_file_rules(write_suite, override, message):
    errs = errors(write_suite(SUITE), [override])
    assert any(message in e for e in errs), errs


def test_numbers_both_versions_agree_on_are_accepted(write_suite):
    text = SUITE.replace("lr: 0.1", "lr: 1e-3, steps: 0x10").replace("label: toy", "label: '007'")
    spec = expand(load_suite(write_suite(text)))[0]
    assert (spec.train.lr, spec.train.steps, spec.label) == (1e-3, 16, "007")
    (e,) = errors(write_suite(text), ["tasks.0.params.backbone='no'"])  # quoted: the text 'no'
    assert "unknown backbone 'no'" in e
    assert yaml11_problem("0.5") is None and yaml11_problem("-3") is None and yaml11_problem("true") is None


def test_a_resolver_never_runs_and_its_value_is_not_echoed(write_suite, monkeypatch):
    monkeypatch.setenv("TRAM_TEST_SECRET", "s3cr3t-token")
    path = write_suite(SUITE.replace('"???"', "${oc.env:TRAM_TEST_SECRET}"))
    errs = errors(path)
    assert errs and all("s3cr3t" not in e for e in errs)
    assert any(e.startswith(f"{path}:2: description: ${{oc.env:TRAM_TEST_SECRET}} calls the resolver") for e in errs)


def test_run_refuses_an_ambiguous_override_before_writing(write_suite, tmp_path, capsys):
    from tram_bench.cli import main

    results = tmp_path / "results"
    assert main(["run", str(write_suite(SUITE)), "--results", str(results), "-O", "seeds=[007, 010]"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "leading zero" in err
    assert not results.exists() or not any(results.rglob("*.json"))


def test_paper_method_names_are_the_same_cells(write_suite):
    canonical = {s.run_id for s in expand(load_suite(write_suite(SUITE.replace("id: sam", "id: fisher_sam"))))}
    for alias in ("fsam", "FSAM", "fisher-sam", "Fisher_SAM"):
        specs = expand(load_suite(write_suite(SUITE.replace("id: sam", f"id: {alias}"))))
        assert {s.run_id for s in specs} == canonical and "fisher_sam" in {s.method for s in specs}
    ids = {s.method for s in expand(load_suite(write_suite(SUITE), ["methods.1.id=tram-theta0"]))}
    assert ids == {"sgd", "tram-init"}


def test_an_alias_and_its_id_in_one_suite_are_a_duplicate_cell(write_suite):
    errs = errors(write_suite(SUITE.replace("  - id: sam", "  - id: fsam\n  - id: fisher_sam")))
    assert any("duplicate cell" in e for e in errs), errs


def test_unknown_method_hints_name_every_method_with_that_word(write_suite):
    (e,) = errors(write_suite(SUITE.replace("id: sam", "id: fisher")))
    assert "unknown method id 'fisher' (did you mean 'fisher_sam' or 'tram-fisher'?)" in e


def test_ambiguous_mapping_keys_are_refused_too(write_suite):
    errs = errors(write_suite(SUITE.replace("label: toy", "label: toy\n    params: {on: 1}")))
    assert any("tasks[0].params.on: ambiguous value on is the boolean true in YAML 1.1" in e for e in errs), errs


def test_a_recursive_alias_ends_in_one_line(write_suite):
    errs = errors(write_suite(SUITE + "x: &a [*a, *a, 1]\n"))
    assert len(errs) == 1 and "recursive aliases" in errs[0]
