"""The causal-LM objective and the perplexity that every LM task reports.

A batch is a dict of two ``[B, T]`` tensors: ``input_ids`` and ``attention_mask`` (1 for a real
token, 0 for padding; padding only ever sits at the right end of a block). Position ``t`` of the
logits predicts token ``t + 1``, so the objective drops the last logit position and the first
token: the returned logits, targets and mask are ``[B, T - 1]``-aligned. A target counts only if
it is a real token; with right padding that also guarantees its context is real.

Perplexity is ``exp(sum of token NLLs / number of target tokens)`` over *all* evaluated tokens of a
domain (token-weighted, never a mean of per-batch or per-block perplexities).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from tram_bench.contract import InputNoise, Output


@dataclass
class TokenForward:
    """One forward of a causal LM on a batch, aligned with the targets.

    logits: ``[B, T-1, V]``; nll: ``[B, T-1]`` per-token negative log-likelihood (0 at padding);
    mask: ``[B, T-1]`` bool, True where the target is a real token.
    """

    logits: torch.Tensor
    nll: torch.Tensor
    mask: torch.Tensor

    @property
    def count(self) -> int:
        return int(self.mask.sum())


def shifted_targets(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets ``input_ids[:, 1:]`` and their mask ``attention_mask[:, 1:]`` (as bool)."""
    ids = batch["input_ids"]
    mask = batch["attention_mask"][:, 1:].bool()
    return ids[:, 1:], mask


def token_nll(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token NLL ``[B, T-1]``, exactly 0 where ``mask`` is False.

    Half-precision logits are upcast to float32 first (softmax over a 50k vocabulary in bf16 loses
    digits); float32 and float64 logits keep their precision.
    """
    if logits.dtype not in (torch.float32, torch.float64):
        logits = logits.float()
    v = logits.shape[-1]
    nll = F.cross_entropy(logits.reshape(-1, v), targets.reshape(-1), reduction="none").view(targets.shape)
    # torch.where, not a product: a non-finite logit at a padding position must not leak into the sum.
    return torch.where(mask, nll, torch.zeros((), dtype=nll.dtype, device=nll.device))


def causal_lm_logits(
    model: nn.Module, batch: dict[str, torch.Tensor], noise: InputNoise | None = None
) -> torch.Tensor:
    """Logits ``[B, T, V]`` of a Hugging Face causal LM (anything with ``get_input_embeddings`` that
    accepts ``input_ids`` or ``inputs_embeds`` and returns ``.logits``).

    With ``noise``, the input embeddings are computed, detached, and the noise is added to that copy,
    so the clean batch (and the clean forward of other passes) is never touched and no gradient flows
    into the embedding table through the noised input.
    """
    ids, am = batch["input_ids"], batch["attention_mask"]
    if noise is None:
        out = model(input_ids=ids, attention_mask=am, use_cache=False)
    else:
        emb = model.get_input_embeddings()(ids)
        noised = emb.detach() + noise.sample_like(emb)
        out = model(inputs_embeds=noised, attention_mask=am, use_cache=False)
    return out.logits


class CausalLMObjective:
    """``objective(model, batch, noise) -> Output`` for next-token prediction.

    ``Output.loss`` is the mean NLL over non-padding target tokens, ``Output.count`` their number,
    ``Output.mask`` the ``[B, T-1]`` mask that divergences (KL per token) must respect.
    """

    def forward_tokens(
        self, model: nn.Module, batch: dict[str, torch.Tensor], noise: InputNoise | None = None
    ) -> TokenForward:
        logits = causal_lm_logits(model, batch, noise)[:, :-1]
        targets, mask = shifted_targets(batch)
        return TokenForward(logits=logits, nll=token_nll(logits, targets, mask), mask=mask)

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor], noise: InputNoise | None = None) -> Output:
        fwd = self.forward_tokens(model, batch, noise)
        count = fwd.count
        # An all-padding batch cannot come from the block iterator; guard the division anyway.
        loss = fwd.nll.sum() / max(count, 1)
        return Output(logits=fwd.logits, loss=loss, mask=fwd.mask, count=count)


@dataclass
class NLLTotal:
    """Running token-weighted NLL over many batches (float64 accumulation)."""

    nll_sum: float = 0.0
    tokens: int = 0

    def add(self, fwd: TokenForward) -> None:
        self.nll_sum += float(fwd.nll.detach().double().sum())
        self.tokens += fwd.count

    @property
    def mean_nll(self) -> float:
        if self.tokens == 0:
            raise ValueError("no target tokens were evaluated")
        return self.nll_sum / self.tokens

    @property
    def perplexity(self) -> float:
        # exp overflows float64 past ~709 nats per token; report inf there instead of raising.
        m = self.mean_nll
        return math.exp(m) if m < 709.0 else math.inf


def masked_mean_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden [B, T, D]`` over the real tokens of each row: ``[B, D]`` (CKA features)."""
    m = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
