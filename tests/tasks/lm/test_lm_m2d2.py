"""lm-m2d2 (paper tier) offline: loaders on fixtures in M2D2's layout, a tiny local GPT-2."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tram_bench.tasks.lm.encoder import cached_token_stream
from tram_bench.tasks.lm.m2d2 import (
    S2ORC_ZERO_SHOT,
    WIKI_ZERO_SHOT,
    M2D2GPT2Task,
    M2D2Params,
    locate_config,
)
from tram_bench.tasks.registry import TASKS

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "lm" / "m2d2"
SOC, CULT, MATH = "Society_and_social_sciences", "Culture_and_the_arts", "math_l1"


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    """A tiny GPT-2 and tokenizer saved like a hub model folder (built offline, seconds)."""
    from transformers import PreTrainedTokenizerFast

    from tram_bench.tasks.lm.tiny_gpt2 import EOS_TOKEN, TinyGPT2Config, new_model, train_byte_bpe

    d = tmp_path_factory.mktemp("tiny-gpt2")
    texts = [line for f in sorted(FIXTURE.glob("*/*.txt")) for line in f.read_text().splitlines() if line.strip()]
    tok = PreTrainedTokenizerFast(tokenizer_object=train_byte_bpe(texts, 300), eos_token=EOS_TOKEN)
    tok.save_pretrained(d)
    torch.manual_seed(0)
    cfg = TinyGPT2Config(vocab_size=300, n_embd=16, n_layer=1, n_head=2, block_size=64)
    new_model(cfg, len(tok), tok.eos_token_id, dropout=0.1).save_pretrained(d)
    return d


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAM_BENCH_CACHE", str(tmp_path / "cache"))


def archive(config: str, dest: Path) -> Path:
    """Pack a fixture config like the hub's data/<config>.tar.gz."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{config}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(FIXTURE / config, arcname=config)
    return path


def params(**kw) -> M2D2Params:
    base = dict(dataset_path=str(FIXTURE), eval_domains=[CULT, MATH], block_size=16, eval_batch_size=3)
    base.update(kw)
    return M2D2Params(**base)


def test_registered_with_table4_defaults():
    assert TASKS.get("lm-m2d2") is M2D2GPT2Task
    assert M2D2Params().zero_shot_domains() == list(WIKI_ZERO_SHOT)
    assert M2D2Params(train_domain="math_l1").zero_shot_domains() == list(S2ORC_ZERO_SHOT)
    assert len(WIKI_ZERO_SHOT) == len(S2ORC_ZERO_SHOT) == 10
    assert "General_referece" in WIKI_ZERO_SHOT and "Human_activites" in WIKI_ZERO_SHOT  # hub spelling
    with pytest.raises(ValueError, match="train_domain 'cs_l1' has no default zero-shot domains"):
        M2D2Params(train_domain="cs_l1")
    with pytest.raises(ValueError, match="separator must be one of eos, newline, got 'tab'"):
        M2D2Params(separator="tab")


def test_lines_are_stripped_and_blank_lines_dropped_in_both_layouts(tmp_path):
    folder = locate_config(SOC, str(FIXTURE))
    assert not folder.is_archive
    expected = [line.strip() for line in (FIXTURE / SOC / "test.txt").read_text().splitlines()]
    assert list(folder.lines("test")) == expected
    assert "" in expected  # the fixture holds a whitespace-only line

    root = tmp_path / "snapshot"
    archive(SOC, root / "data")  # a snapshot of the dataset repo: data/<config>.tar.gz
    loc = locate_config(SOC, str(root))
    assert loc.is_archive
    for split in ("train", "val", "test"):
        assert list(loc.lines(split)) == list(folder.lines(split))


def test_missing_configs_and_hub_failures_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="M2D2 config 'Art' not found under dataset_path") as err:
        locate_config("Art", str(FIXTURE))
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        locate_config(SOC, str(tmp_path / "missing"))
    # No local copy and no hub (offline, or a config that does not exist): one line naming the fix.
    with pytest.raises(FileNotFoundError, match="pass dataset_path= to a local copy") as err:
        locate_config("no_such_config_for_tests", None)
    assert "\n" not in str(err.value)


def test_archive_and_folder_give_the_same_tokens(cache, gpt2_dir, tmp_path):
    task = M2D2GPT2Task(params(model_path=str(gpt2_dir)), seed=0)
    enc = task.data.encoder
    folder = locate_config(MATH, str(FIXTURE))
    packed = locate_config(MATH, str(archive(MATH, tmp_path / "a").parent))
    a = cached_token_stream(enc, folder.source_key("train"), lambda: folder.lines("train"))
    b = cached_token_stream(enc, packed.source_key("train"), lambda: packed.lines("train"))
    assert np.asarray(a).tolist() == np.asarray(b).tolist()
    n_docs = sum(1 for line in (FIXTURE / MATH / "train.txt").read_text().splitlines() if line.strip())
    assert int((np.asarray(a) == enc.sep_ids[0]).sum()) == n_docs + 1


def test_task_eval_sets_zero_shot_and_a_training_step(cache, gpt2_dir):
    task = M2D2GPT2Task(params(model_path=str(gpt2_dir)), seed=0)
    sets = task.eval_sets()
    assert [(s.key, s.in_domain) for s in sets] == [
        (f"{SOC}/val", True),
        (f"{SOC}/test", True),
        (f"{CULT}/test", False),
        (f"{MATH}/test", False),
    ]
    model = task.build_model()
    zero_shot = {s.key: task.evaluate(model, s) for s in sets}
    assert zero_shot == {s.key: task.evaluate(task.build_model(), s) for s in sets}
    assert all(1.0 < m["perplexity"] < 1e4 for m in zero_shot.values())

    batch = next(task.train_batches(2, torch.Generator().manual_seed(0)))
    assert batch["input_ids"].shape == (2, 16)
    out = task.objective(model, batch)
    out.loss.backward()
    assert model.get_input_embeddings().weight.grad is not None


def test_newline_separator_and_context_length_check(cache, gpt2_dir):
    task = M2D2GPT2Task(params(model_path=str(gpt2_dir), separator="newline"), seed=0)
    enc = task.data.encoder
    assert enc.sep_ids == tuple(enc.encode("\n"))
    assert enc.sep_ids != (enc.pad_id,)
    too_long = M2D2GPT2Task(params(model_path=str(gpt2_dir), block_size=65), seed=0)
    with pytest.raises(ValueError, match="block_size 65 exceeds the context length 64"):
        too_long.build_model()


def test_edited_text_is_tokenized_again(cache, gpt2_dir, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(FIXTURE, root)
    p = params(model_path=str(gpt2_dir), dataset_path=str(root), eval_domains=[CULT])
    before = M2D2GPT2Task(p, seed=0).eval_sets()[2].size
    with open(root / CULT / "test.txt", "a") as fh:
        fh.write("An added line about a gallery opening.\n")
    after = M2D2GPT2Task(p, seed=0).eval_sets()[2].size
    assert after > before
