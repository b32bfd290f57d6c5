"""Refactorings keep results: run identities of every shipped suite cell and per-step numbers of every
method are equal to the golden files (``golden_support.py`` says what they hold and how to regenerate)."""

from __future__ import annotations

import json

import pytest

import golden_support as golden


def _first_difference(expected: dict, actual: dict) -> str:
    for key in sorted(set(expected) | set(actual)):
        if expected.get(key) != actual.get(key):
            return f"{key}: golden {expected.get(key)!r}, now {actual.get(key)!r}"
    return ""


def test_every_suite_cell_keeps_its_run_id_and_seeds():
    expected = json.loads(golden.CELLS_FILE.read_text())
    actual = golden.cells()
    # A new suite file pins nothing yet (regenerate cells.json to pin it); a removed one must be said.
    assert set(expected) <= set(actual), f"suite files removed: {sorted(set(expected) - set(actual))}"
    for suite, rows in expected.items():
        assert len(actual[suite]) == len(rows), suite
        for old, new in zip(rows, actual[suite]):
            assert new == old, f"{suite}: cell {old[0]}/{old[1]}: golden {old}, now {new}"


def test_every_method_keeps_its_steps_and_final_weights():
    expected = json.loads(golden.STEPS_FILE.read_text())
    assert expected["keys"] == list(golden.TRAIN_KEYS)
    actual = golden.steps()
    assert actual == expected["runs"], _first_difference(expected["runs"], actual)


def test_the_skip_setup_skips_where_it_should():
    """The overflow injection still bites: a fixture that stopped skipping would pin nothing about it."""
    runs = json.loads(golden.STEPS_FILE.read_text())["runs"]
    skipped = golden.TRAIN_KEYS.index("skipped")
    backward = golden.TRAIN_KEYS.index("backward")
    for key, run in runs.items():
        flags = [row[skipped] for row in run["train"]]
        if key.startswith("scaler-skip/"):
            two_pass = run["train"][0][backward] == 2
            assert flags == [False, True, two_pass], key
        else:
            assert flags == [False, False, False], key


@pytest.mark.parametrize("setup", ["fp32", "accumulation-2", "clipping", "scaler-skip"])
def test_the_golden_grid_covers_every_built_in_method(setup):
    from tram_bench.methods.registry import BUILTIN_METHOD_IDS

    runs = json.loads(golden.STEPS_FILE.read_text())["runs"]
    assert {k.split("/", 1)[1] for k in runs if k.startswith(setup + "/")} == set(BUILTIN_METHOD_IDS)
