"""Every registered task's ``Params`` validates itself, so ``tram-bench validate`` catches bad task params.

For each task id of the registry and each field of its ``Params``, the table below holds values of the
field's type that are out of range; each must be refused by the dataclass (one line naming the key and
the value) and by ``validate`` (``file:line: tasks[0].params.KEY: ...``, exit 2). A field missing from
the table fails the test, so a new task or field cannot skip this.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tram_bench.cli import main
from tram_bench.suite.errors import SuiteInvalid
from tram_bench.suite.load import expand, load_suite
from tram_bench.tasks.registry import TASKS

SIZE_CAP = [0, -3]  # an optional "at most this many" cap
TEXT = [""]  # a path, hub id or name: the empty string is what an unset shell variable gives
OPTIONAL_TEXT = ["", "   "]

# Params class name -> field -> bad values (each alone, the others at their defaults).
BAD: dict[str, dict[str, list]] = {
    "SyntheticParams": {
        "dim": [1, 0], "classes": [1], "hidden": [0], "train_size": [0], "eval_size": [0], "noise": [0.0, -1.0],
        "shifts": [[0.5, 0.5], [float("nan")]], "dropout": [1.0, -0.1], "pretrain_steps": [-1],
        "fail_at_step": [-2],
    },
    "DigitsParams": {
        "backbone": ["resnet50"], "image_size": [4], "corruptions": [["fog"], ["blur", "blur"]],
        "severities": [[9], [0], [1, 1]], "train_size": SIZE_CAP, "eval_size": SIZE_CAP, "cnn_width": [0],
        "pretrain_epochs": [0],
    },
    "BBCTinyParams": {
        "finetune_domain": ["sport", "business"], "eval_domains": [["weather"], [], ["tech", "tech"]],
        "corpus_dir": OPTIONAL_TEXT, "max_docs_per_domain": SIZE_CAP, "block_size": [1], "max_train_tokens": SIZE_CAP,
        "max_val_tokens": SIZE_CAP, "max_eval_tokens": SIZE_CAP, "eval_batch_size": [0],
        "pretrain_domains": [[], ["weather"], ["entertainment"]], "dropout": [1.0], "vocab_size": [256],
        "n_embd": [0, 130], "n_layer": [0], "n_head": [0, 3], "pretrain_steps": [0], "pretrain_batch_size": [0],
        "pretrain_lr": [0.0, -1e-3, float("inf")], "pretrain_warmup_steps": [-1, 300], "pretrain_seed": [-1],
    },
    "BBCSmolLM2Params": {
        "finetune_domain": ["weather"], "eval_domains": [["weather"]], "corpus_dir": OPTIONAL_TEXT,
        "max_docs_per_domain": SIZE_CAP, "block_size": [0], "max_train_tokens": SIZE_CAP, "max_val_tokens": SIZE_CAP,
        "max_eval_tokens": SIZE_CAP, "eval_batch_size": [0], "gguf_dir": OPTIONAL_TEXT,
        "gguf_file": ["", "model.bin"],
    },
    "M2D2Params": {
        "train_domain": TEXT, "eval_domains": [[], [""], ["math_l1", "math_l1"]], "dataset_path": OPTIONAL_TEXT,
        "dataset_revision": OPTIONAL_TEXT, "model_path": TEXT, "model_revision": OPTIONAL_TEXT, "block_size": [1],
        "separator": ["tab"], "max_train_tokens": SIZE_CAP, "max_val_tokens": SIZE_CAP, "max_eval_tokens": SIZE_CAP,
        "eval_batch_size": [0],
    },
    "ChatterbotParams": {
        "languages": [["xx"], ["en"], [], ["it", "it"]], "topics": [["weather"], [], ["food", "food"]],
        "max_length": [2], "trainable_layers": [-1, 13], "num_folds": [1], "test_folds": [[10], [], [1]],
        "val_folds": [[0], [-1], []], "max_eval_examples": SIZE_CAP, "corpus_dir": OPTIONAL_TEXT,
        "alignment": OPTIONAL_TEXT,
    },
    "XNLIParams": {
        "languages": [["en"], ["xx"], [], ["de", "de"]], "model": TEXT, "model_revision": OPTIONAL_TEXT,
        "mnli": TEXT, "mnli_revision": OPTIONAL_TEXT, "xnli": TEXT, "xnli_revision": OPTIONAL_TEXT,
        "max_length": [4], "max_train_examples": SIZE_CAP, "max_eval_examples": SIZE_CAP,
    },
}
_HUB = {
    "dataset_path": TEXT, "revision": OPTIONAL_TEXT, "model_path": TEXT, "model_revision": OPTIONAL_TEXT,
    "augment": ["mixup"], "train_size": SIZE_CAP, "eval_size": SIZE_CAP,
}
for _name in ("Cifar100Params", "CarsParams", "FlowersParams"):
    BAD[_name] = {**_HUB, "val_fraction": [0.0, 1.0, 1.5]}
for _name, _domain in (("PACSParams", "photo"), ("OfficeHomeParams", "Art")):
    BAD[_name] = {**_HUB, "target_domains": [["mountains"], [], [_domain, _domain]], "val_fraction": [0.0, 0.95],
                  "test_fraction": [1.0, 0.95]}
# Fields whose every value of the right type is valid (the suite resolver checks the type).
FREE = {("SyntheticParams", "batchnorm")}


def _params_classes() -> dict[str, type]:
    """task id -> Params class, for every registered task (built-in and entry points)."""
    return {task_id: TASKS.get(task_id).Params for task_id in TASKS.ids()}


def _cases():
    for task_id, cls in _params_classes().items():
        table = BAD.get(cls.__name__, {})
        for f in dataclasses.fields(cls):
            for value in table.get(f.name, []):
                yield pytest.param(task_id, f.name, value, id=f"{task_id}-{f.name}-{value!r}")


def test_every_field_of_every_task_has_bad_values_in_the_table():
    missing = [
        f"{task_id}: {cls.__name__}.{f.name}"
        for task_id, cls in _params_classes().items()
        for f in dataclasses.fields(cls)
        if not BAD.get(cls.__name__, {}).get(f.name) and (cls.__name__, f.name) not in FREE
    ]
    assert not missing, "task params without bad values to test: " + ", ".join(missing)


def test_every_builtin_task_is_covered():
    assert {"synthetic", "digits-uci-to-mnist", "digits-mnist-to-uci", "lm-bbc", "lm-bbc-smollm2", "lm-m2d2",
            "vit-cifar100", "vit-cars", "vit-flowers", "dg-pacs", "dg-office-home", "xling-chatterbot",
            "xling-xnli"} <= set(_params_classes())


@pytest.mark.parametrize("task_id,key,value", list(_cases()))
def test_params_refuse_a_bad_value(task_id, key, value):
    cls = TASKS.get(task_id).Params
    with pytest.raises(ValueError) as info:
        cls(**{key: value})
    message = str(info.value)
    assert "\n" not in message
    assert key in message or message.startswith("folds:"), message
    assert _names(message, value), message


def _names(message: str, value) -> bool:
    """The message shows the value: as given, as the tuple it became, or (a list) each of its items."""
    if repr(value) in message:
        return True
    if isinstance(value, list):
        return repr(tuple(value)) in message or all(repr(v) in message for v in value)
    return False


def _yaml_value(value) -> str:
    if isinstance(value, float) and value != value:
        return ".nan"
    if value == float("inf"):
        return ".inf"
    if isinstance(value, str):
        return repr(value)  # single-quoted YAML string (the empty string stays a string)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    return repr(value)


@pytest.mark.parametrize("task_id,key,value", list(_cases()))
def test_validate_reports_a_bad_task_param_at_its_key(task_id, key, value, tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text(f"suite: s\nseeds: [0]\ntasks:\n  - id: {task_id}\n    params:\n"
                     f"      {key}: {_yaml_value(value)}\nmethods:\n  - id: sgd\n")
    with pytest.raises(SuiteInvalid) as info:
        expand(load_suite(str(suite), []))
    lines = str(info.value).splitlines()
    assert any(line.startswith(f"{suite}:6: tasks[0].params.{key}: ") for line in lines), lines


def test_issue_example_backbone_and_severities_fail_validate_with_both_keys(tmp_path, capsys):
    """Issue 14 item 5: `backbone: resnet50` and `severities: [9]` validated ok and failed only when run."""
    suite = tmp_path / "vision.yaml"
    suite.write_text("suite: v\nseeds: [0]\ntasks:\n  - id: digits-uci-to-mnist\n"
                     "    params: {backbone: resnet50, severities: [9]}\nmethods:\n  - id: sgd\n")
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{suite}:5: tasks[0].params.backbone: backbone must be one of small-cnn, efficientnet-lite0, got 'resnet50'",
        f"{suite}:5: tasks[0].params.severities: severities must be a list of integers in 1..5, got [9]",
    ]


def test_a_bad_task_param_set_by_an_override_names_the_override(capsys):
    suite = str(Path(__file__).resolve().parents[2] / "suites/vision.yaml")
    assert main(["validate", suite, "-O", "tasks.0.params.backbone=resnet50"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["tram-bench: error: -O tasks.0.params.backbone=resnet50: tasks[0].params.backbone: backbone must "
                   "be one of small-cnn, efficientnet-lite0, got 'resnet50'"]
