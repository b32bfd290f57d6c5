"""Every task family bounds its training-set size without loading models or tokenizing (issue 14
item 4), so ``validate`` checks epoch-based schedules for LM, cross-lingual and hub tasks too."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tram_bench.cli import main
from tram_bench.suite.spec import CellDoc, typed
from tram_bench.suite.train_rules import schedule_problem_at_start
from tram_bench.tasks.train_setup import TrainSetup
from tram_bench.train.loop import run_cell

from tram_bench.suite.validate import validate
from tram_bench.tasks.lm.blocks import BlockView
from tram_bench.tasks.registry import TASKS
from tram_bench.tasks.xling.alignment import DEFAULT_MANIFEST, AlignmentManifest
from tram_bench.tasks.xling.chatterbot import SOURCE_LANGUAGE, corpus_root, load_topic_files
from tram_bench.tasks.xling.chatterbot_splits import build_splits
from tram_bench.tasks.vision.digits_data import role_splits


def bound(task_id: str, **params):
    cls = TASKS.get(task_id)
    return cls.train_examples_bound(cls.Params(**params))


def test_digits_bound_is_the_train_split():
    assert bound("digits-uci-to-mnist") == role_splits("uci", "target")["train"].numel()
    assert bound("digits-mnist-to-uci", train_size=100) == 100


def test_chatterbot_bound_is_the_english_training_folds():
    params = TASKS.get("xling-chatterbot").Params()
    files = load_topic_files(corpus_root(), (SOURCE_LANGUAGE,), params.topics)
    splits = build_splits(files, AlignmentManifest.load(DEFAULT_MANIFEST), (), params.topics, params.fold_rule)
    assert bound("xling-chatterbot") == len(splits.train) > 0


@pytest.mark.parametrize("task_id", ["lm-bbc", "lm-bbc-smollm2", "lm-m2d2"])
def test_lm_bound_counts_the_blocks_of_the_token_cap(task_id):
    for cap, block in ((2000, 64), (63, 64), (64, 64), (1, 2)):
        assert bound(task_id, max_train_tokens=cap, block_size=block) == len(BlockView(np.arange(cap + 1), block))


def test_m2d2_without_a_cap_is_unknown_until_tokenized():
    assert bound("lm-m2d2") is None  # hub text: counted only by tokenizing it


@pytest.mark.parametrize("task_id", ["lm-bbc", "lm-bbc-smollm2"])
def test_bbc_bound_without_a_cap_is_the_training_articles_bytes(task_id):
    from tram_bench.tasks.lm.bbc import load_bbc

    cls = TASKS.get(task_id)
    docs = load_bbc(None)["entertainment"]["train"]
    sep = cls._SEP_TOKENS_BOUND
    tokens = sum(len(d.encode("utf-8")) + sep for d in docs) + sep
    assert cls.train_tokens_bound(cls.Params()) == tokens
    assert bound(task_id) == len(BlockView(np.arange(tokens + 1), cls.Params().block_size))
    assert bound(task_id, max_train_tokens=1000) < bound(task_id)  # the smaller of the cap and the bytes


def test_a_byte_level_bpe_never_yields_more_tokens_than_bytes():
    """The property the BBC bound rests on, checked with a byte-level BPE trained here on the articles."""
    from tokenizers import ByteLevelBPETokenizer

    from tram_bench.tasks.lm.bbc import load_bbc

    docs = list(load_bbc(None)["entertainment"]["train"][:60])
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(docs, vocab_size=600, min_frequency=2, show_progress=False)
    for doc in docs + ["", "naïve café — 東京 🙂", "\n\n  x"]:
        assert len(tok.encode(doc).ids) <= len(doc.encode("utf-8"))


@pytest.mark.parametrize("task_id, rows", [("vit-cifar100", 50_000), ("vit-cars", 8_144), ("vit-flowers", 1_020)])
def test_transfer_bound_is_the_documented_train_split(task_id, rows):
    assert bound(task_id) == rows
    assert bound(task_id, train_size=50) == 50
    assert bound(task_id, dataset_path="/data/my-copy") is None  # another copy: its size is unknown offline
    assert bound(task_id, dataset_path="/data/my-copy", train_size=50) == 50


def test_domain_generalization_bound_is_the_source_domains():
    assert bound("dg-pacs") == 2_048 + 2_344 + 1_670  # sketch held out
    assert bound("dg-office-home", target_domains=["Art", "Clipart"]) == 4_439 + 4_357
    assert bound("dg-pacs", dataset_path="/data/pacs") is None


def test_xnli_bound_is_multinli_train_or_the_cap():
    assert bound("xling-xnli") == 392_702
    assert bound("xling-xnli", max_train_examples=100) == 100
    assert bound("xling-xnli", mnli="/data/mnli") is None


SUITE = """
suite: epochs
seeds: [0]
train: {epochs: 1, batch_size: 32, warmup_steps: 200}
tasks:
  - id: TASK
    params: PARAMS
methods:
  - id: sgd
"""


@pytest.mark.parametrize("task_id, params, steps", [
    ("xling-chatterbot", "{}", 11),  # 359 training conversations
    ("lm-bbc", "{max_train_tokens: 2000, block_size: 64}", 1),
    ("lm-bbc", "{}", None),  # no cap: the training articles' bytes bound the stream
    ("lm-m2d2", "{max_train_tokens: 20000}", None),
    ("vit-flowers", "{}", 31),
    ("dg-office-home", "{target_domains: [Art, Clipart, Product]}", 4_357 // 32),
    ("xling-xnli", "{max_train_examples: 1000}", 31),
])
def test_validate_catches_warmup_beyond_an_epoch_run_in_every_family(write_suite, task_id, params, steps):
    errors = [str(e) for e in validate(write_suite(SUITE.replace("TASK", task_id).replace("PARAMS", params)))]
    expected = "warmup_steps (200) must be < the run's length (at most "
    assert any(expected in e for e in errors), errors
    if steps is not None:
        assert any(f"{expected}{steps} steps" in e for e in errors), errors


def test_every_registered_task_bounds_or_says_it_cannot():
    for task_id in TASKS.ids():
        cls = TASKS.get(task_id)
        params_cls = getattr(cls, "Params", None)
        n = cls.train_examples_bound(params_cls() if params_cls else None)
        assert n is None or (isinstance(n, int) and n > 0), (task_id, n)


def test_validate_warns_in_one_line_when_the_size_is_unknown(write_suite, capsys):
    path = write_suite(SUITE.replace("TASK", "lm-m2d2").replace("PARAMS", "{}"))  # no max_train_tokens
    assert validate(path) == []
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: task lm-m2d2: epochs 1 with a training-set size known only once the data is read: "
                   "warmup_steps (200) is checked against the run's length when each run starts (give steps, "
                   "or cap the data in params, to check it here)"]
    # A bounded task (or a run given in steps) is checked here instead: no warning.
    assert main(["validate", str(write_suite(SUITE.replace("TASK", "lm-bbc").replace(
        "PARAMS", "{max_train_tokens: 100000}").replace("warmup_steps: 200", "warmup_steps: 2")))]) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_run_refuses_an_impossible_epoch_schedule_before_training(tmp_path):
    # A spec that never went through validate (or whose task could not bound its data): 100 examples,
    # batches of 32, one epoch = 3 steps, warmup 5.
    tc = dataclasses.asdict(TrainSetup(steps=4, epochs=1, batch_size=32, warmup_steps=5, eval_every=2))
    spec = typed(CellDoc(suite="ep", task="synthetic", task_version="1", task_params={"train_size": 100},
                         train=tc, method="sgd", method_version="1", hparams={}, seed=0, label="synth"))
    record = run_cell(spec, tmp_path)
    assert record.status == "failed"
    assert record.error.splitlines()[-1].endswith(
        "task synth: warmup_steps (5) must be < the run's length (at most 3 steps: epochs 1 x 3 batches of 32 "
        "from train_size 100)")
    assert record.result is None
    assert schedule_problem_at_start(tc, 100) is not None and schedule_problem_at_start(tc, 1000) is None
    assert schedule_problem_at_start({**tc, "epochs": None}, 100) is None
