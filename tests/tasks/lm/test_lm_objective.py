"""The causal-LM objective and perplexity against float64 hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lm_stubs import BigramLM, StreamTask, hand_nll
from tram_bench.methods.base import InputNoise
from tram_bench.tasks.lm.objective import CausalLMObjective, NLLTotal, token_nll

TABLE = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.0, 2.5, -0.5]]


def batch(rows: list[list[int]], length: int, pad: int = 0) -> dict[str, torch.Tensor]:
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, : len(row)] = torch.tensor(row)
        mask[r, : len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def test_loss_mask_and_count_match_hand_computation():
    b = batch([[0, 1, 2, 0], [2, 1]], length=4)
    out = CausalLMObjective()(BigramLM(TABLE), b)
    pairs = [(0, 1), (1, 2), (2, 0), (2, 1)]
    expected = sum(hand_nll(TABLE, a, c) for a, c in pairs) / len(pairs)
    assert out.count == 4
    assert out.logits.shape == (2, 3, 3)
    assert out.mask.tolist() == [[True, True, True], [True, False, False]]
    assert out.loss.item() == pytest.approx(expected, rel=1e-12, abs=0)


def test_padding_is_never_counted_whatever_its_id_or_logits():
    obj = CausalLMObjective()
    alone = obj(BigramLM(TABLE), batch([[2, 1]], length=2))
    for pad in (0, 1, 2):
        padded = obj(BigramLM(TABLE, nan_at_padding=True), batch([[2, 1]], length=6, pad=pad))
        assert padded.count == alone.count == 1
        assert padded.loss.item() == alone.loss.item() == pytest.approx(hand_nll(TABLE, 2, 1), rel=1e-12)


def test_token_nll_keeps_nan_logits_at_masked_positions_out():
    logits = torch.tensor([[[0.0, 1.0], [float("nan"), 0.0]]], dtype=torch.float64)
    targets = torch.tensor([[1, 0]])
    mask = torch.tensor([[True, False]])
    nll = token_nll(logits, targets, mask)
    assert nll[0, 1].item() == 0.0
    assert nll[0, 0].item() == pytest.approx(math.log(1 + math.e) - 1.0, rel=1e-12)


def test_task_perplexity_is_token_weighted_over_all_blocks():
    # Stream of 6 tokens, blocks of 4 with stride 3: [0,1,2,0] and [0,2,1] (+1 padding).
    stream = np.array([0, 1, 2, 0, 2, 1])
    pairs = list(zip(stream[:-1].tolist(), stream[1:].tolist()))
    mean = sum(hand_nll(TABLE, a, c) for a, c in pairs) / len(pairs)
    for eval_bs in (1, 2, 5):
        task = StreamTask(lambda: BigramLM(TABLE, nan_at_padding=True), stream, {"d": stream}, block_size=4,
                          eval_batch_size=eval_bs)
        (es,) = task.eval_sets()
        assert es.size == 5
        metrics = task.evaluate(task.build_model(), es)
        assert metrics["loss"] == pytest.approx(mean, rel=1e-12)
        assert metrics["perplexity"] == pytest.approx(math.exp(mean), rel=1e-12)


def test_mean_of_block_perplexities_is_not_what_is_reported():
    # Blocks with different token counts: the token-weighted mean differs from the mean of block means.
    stream = np.array([0, 1, 2, 0, 2, 1, 1])
    task = StreamTask(lambda: BigramLM(TABLE), stream, {"d": stream}, block_size=5)
    (es,) = task.eval_sets()
    pairs = list(zip(stream[:-1].tolist(), stream[1:].tolist()))
    token_weighted = sum(hand_nll(TABLE, a, c) for a, c in pairs) / 6
    block_means = [sum(hand_nll(TABLE, a, c) for a, c in pairs[:4]) / 4, sum(hand_nll(TABLE, a, c) for a, c in pairs[4:]) / 2]
    assert abs(token_weighted - sum(block_means) / 2) > 1e-3
    assert task.evaluate(task.build_model(), es)["loss"] == pytest.approx(token_weighted, rel=1e-12)


def test_nll_total_accumulates_in_float64_and_rejects_empty():
    total = NLLTotal()
    with pytest.raises(ValueError, match="no target tokens"):
        _ = total.perplexity
    out = CausalLMObjective().forward_tokens(BigramLM(TABLE), batch([[0, 1, 2]], length=3))
    total.add(out)
    total.add(out)
    assert total.tokens == 4
    assert total.mean_nll == pytest.approx((hand_nll(TABLE, 0, 1) + hand_nll(TABLE, 1, 2)) / 2, rel=1e-12)


def test_noise_goes_on_detached_embeddings_and_leaves_batch_untouched():
    b = batch([[0, 1, 2, 0], [2, 1]], length=4)
    before = {k: v.clone() for k, v in b.items()}
    model = BigramLM(TABLE)
    emb_before = model.emb.weight.detach().clone()
    obj = CausalLMObjective()

    zero = obj(model, b, InputNoise(0.0, generator=torch.Generator().manual_seed(0)))
    assert zero.loss.item() == obj(model, b).loss.item()

    noisy = obj(model, b, InputNoise(0.5, generator=torch.Generator().manual_seed(0)))
    assert noisy.loss.item() != zero.loss.item()
    noisy.loss.backward()
    # The noised pass sees a detached copy: no gradient reaches the embedding table through it.
    assert model.emb.weight.grad is None
    assert model.head.weight.grad is not None and float(model.head.weight.grad.abs().sum()) > 0
    assert all(torch.equal(b[k], before[k]) for k in b)
    assert torch.equal(model.emb.weight.detach(), emb_before)

    again = obj(model, b, InputNoise(0.5, generator=torch.Generator().manual_seed(0)))
    assert again.loss.item() == noisy.loss.item()  # noise is reproducible from the generator


def test_representation_averages_real_tokens_only():
    stream = np.array([0, 1, 2, 0, 2, 1])
    task = StreamTask(lambda: BigramLM(TABLE), stream, {"d": stream}, block_size=4)
    b = batch([[0, 1], [2, 2, 2, 1]], length=4, pad=1)
    rep = task.representation(task.build_model(), b)
    t = torch.tensor(TABLE, dtype=torch.float64)
    assert rep.shape == (2, 3)
    assert torch.allclose(rep[0], (t[0] + t[1]) / 2, rtol=0, atol=1e-15)
    assert torch.allclose(rep[1], (3 * t[2] + t[1]) / 4, rtol=0, atol=1e-15)
