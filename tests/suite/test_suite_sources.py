"""Line mapping, override parsing, and the promise that no input ends in a traceback."""

from __future__ import annotations

import pytest
import yaml

from tram_bench.suite.errors import SuiteError, format_key_path
from tram_bench.suite.locations import SourceMap, ValueLoader, map_source
from tram_bench.suite.overrides import Override, OverrideError, apply_override, parse_key_path, parse_override
from tram_bench.suite.validate import validate


def test_key_paths_map_to_the_line_of_their_key():
    text = "suite: x\ntasks:\n  - id: a\n    params:\n      w: 1\nbase: &b {lr: 1}\ntrain:\n  <<: *b\n  steps: 3\n"
    src, _, errors = map_source(text, "f.yaml")
    assert errors == []
    assert src.lines[("suite",)] == 1
    assert src.lines[("tasks", 0)] == 3 and src.lines[("tasks", 0, "params", "w")] == 5
    assert src.lines[("train", "steps")] == 9
    assert src.lines[("train", "lr")] == 6  # merged from the anchor: its line


def test_where_prefers_an_override_covering_the_path():
    src = SourceMap("f.yaml", lines={(): 1, ("methods",): 4, ("methods", 1): 6, ("methods", 1, "id"): 6})
    assert src.where(("methods", 1, "hparams", "rho")) == ("f.yaml", 6)  # nearest ancestor with a line
    src.mark_override(("methods", 1, "hparams", "rho"), "methods.1.hparams.rho=2")
    assert src.where(("methods", 1, "hparams", "rho")) == ("-O methods.1.hparams.rho=2", None)
    src.mark_override(("methods",), "methods=[]")  # replaces the subtree: the deeper override is gone
    assert src.overrides == {("methods",): "-O methods=[]"}
    assert src.where(("methods", 1, "id")) == ("-O methods=[]", None)


@pytest.mark.parametrize("text, path", [
    ("a", ("a",)),
    ("tasks.0.params.backbone", ("tasks", "0", "params", "backbone")),
    ("methods[2].hparams.rho", ("methods", "2", "hparams", "rho")),
    ("a[0][1].b", ("a", "0", "1", "b")),
])
def test_parse_key_path(text, path):
    assert parse_key_path(text) == path


@pytest.mark.parametrize("text", ["", ".a", "a.", "a..b", "a[x]", "a[0]b", "[0]"])
def test_malformed_key_paths(text):
    with pytest.raises(OverrideError):
        parse_key_path(text)


@pytest.mark.parametrize("raw, value", [
    ("1e-3", 0.001), ("5", 5), ("1.0", 1.0), ("true", True), ("null", None), ("", None),
    ("[0, 1]", [0, 1]), ("{rho: 0.1}", {"rho": 0.1}), ("2024-01-01", "2024-01-01"), ("adam", "adam"),
    (".inf", float("inf")), ("a=b", "a=b"),
])
def test_override_values_are_yaml_with_yaml12_floats(raw, value):
    assert parse_override(f"k={raw}").value == value


def test_value_loader_does_not_change_pyyaml_safeloader():
    assert yaml.safe_load("1e-3") == "1e-3"  # plain YAML 1.1, untouched by our subclass
    assert yaml.load("1e-3", Loader=ValueLoader) == 0.001


def test_apply_override_creates_mappings_and_checks_lists():
    doc = {"tasks": [{"id": "a"}], "seeds": [0]}
    assert apply_override(doc, Override("train.steps=5", ("train", "steps"), 5)) == ("train", "steps")
    assert doc["train"] == {"steps": 5}
    assert apply_override(doc, Override("", ("tasks", "0", "params", "w"), 2)) == ("tasks", 0, "params", "w")
    assert doc["tasks"][0]["params"] == {"w": 2}
    with pytest.raises(OverrideError, match="index 2 is out of range"):
        apply_override(doc, Override("", ("tasks", "2"), {}))
    with pytest.raises(OverrideError, match="cannot set 'x' inside seeds\\[0\\]"):
        apply_override(doc, Override("", ("seeds", "0", "x"), 1))


def test_format_key_path_and_rendering():
    assert format_key_path(("methods", 2, "hparams", "rho")) == "methods[2].hparams.rho"
    assert str(SuiteError("f.yaml", 3, "a.b", "bad")) == "f.yaml:3: a.b: bad"
    assert str(SuiteError("f.yaml", None, "", "bad")) == "f.yaml: bad"


_BOMB = "suite: x\na: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
    f"{n}: &{n} [{','.join(['*' + p] * 10)}]\n" for p, n in zip("abcdef", "bcdefg")
)


@pytest.mark.parametrize("name, content, fragment", [
    ("empty", b"", "got an empty file"),
    ("scalar", b"42\n", "got a single value"),
    ("binary", b"\xff\xfe\x00junk", "not UTF-8 text"),
    ("tab", b"suite: x\n\tseeds: [0]\n", "YAML syntax error"),
    ("two_docs", b"suite: x\n---\nsuite: y\n", "YAML syntax error"),
    ("recursive_alias", b"a: &x [1, *x]\n", "recursive"),
    ("alias_bomb", _BOMB.encode(), "expands to more than"),
    ("python_tag", b"suite: !!python/object/apply:os.system [ls]\n", "could not determine a constructor"),
    ("complex_key", b"? [1, 2]\n: 3\n", "a key must be a plain name"),
    ("null_entries", b"suite: x\nseeds: [0]\ntasks: null\nmethods: [null]\n", "must be a non-empty list"),
])
def test_malformed_files_give_errors_never_tracebacks(tmp_path, name, content, fragment):
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    errors = validate(path)
    assert errors and all(isinstance(e, SuiteError) for e in errors)
    assert any(fragment in str(e) for e in errors), [str(e) for e in errors]


def test_missing_file_and_directory(tmp_path):
    assert [str(e) for e in validate(tmp_path / "nope.yaml")] == [f"{tmp_path / 'nope.yaml'}: no such file"]
    assert [e.message for e in validate(tmp_path)] == ["is a directory, not a suite file"]


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(
        "suite: many\n"                                            # 1
        "seeds: [0, 0]\n"                                          # 2
        "analysis: [cka, sharp]\n"                                 # 3
        "tasks:\n"                                                 # 4
        "  - id: tests.suite.fixtures:ToyTask\n"                   # 5
        "    train: {lr: -1, schedule: cos, stpes: 3}\n"           # 6
        "methods:\n"                                               # 7
        "  - id: tests.suite.fixtures:ToySAM\n"                    # 8
        "    hparams: {rho: [0.1, x], rhoo: 1}\n"                  # 9
        "  - id: sgdd\n"                                           # 10
    )
    got = {(e.line, e.key_path) for e in validate(path)}
    assert got == {
        (2, "seeds[1]"), (3, "analysis[1]"), (6, "tasks[0].train.lr"), (6, "tasks[0].train.schedule"),
        (6, "tasks[0].train.stpes"), (9, "methods[0].hparams.rho[1]"), (9, "methods[0].hparams.rhoo"),
        (10, "methods[1].id"),
    }


