"""Small float64 language models whose outputs can be computed by hand (test helpers)."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Sequence

import numpy as np
import torch
from torch import nn

from tram_bench.tasks.lm.encoder import TextEncoder
from tram_bench.tasks.lm.task import CausalLMTask, LMData, LMSplit


class BigramLM(nn.Module):
    """logits at position t = ``head(table[token_t])``; the head starts as the identity, so the
    next-token distribution after token ``a`` is ``softmax(table[a])``.

    ``nan_at_padding`` writes NaN logits at padding positions, to prove they never reach a metric.
    """

    def __init__(self, table: Sequence[Sequence[float]], nan_at_padding: bool = False) -> None:
        super().__init__()
        t = torch.tensor(table, dtype=torch.float64)
        v = t.shape[0]
        self.emb = nn.Embedding(v, v, dtype=torch.float64)
        self.head = nn.Linear(v, v, bias=False, dtype=torch.float64)
        with torch.no_grad():
            self.emb.weight.copy_(t)
            self.head.weight.copy_(torch.eye(v, dtype=torch.float64))
        self.nan_at_padding = nan_at_padding

    def get_input_embeddings(self) -> nn.Embedding:
        return self.emb

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, use_cache=None, output_hidden_states=False):
        x = self.emb(input_ids) if inputs_embeds is None else inputs_embeds
        logits = self.head(x)
        if self.nan_at_padding and attention_mask is not None:
            logits = logits.masked_fill(~attention_mask.bool().unsqueeze(-1), float("nan"))
        return SimpleNamespace(logits=logits, hidden_states=(x,))


def hand_nll(table: Sequence[Sequence[float]], prev: int, nxt: int) -> float:
    """-log softmax(table[prev])[nxt], written out with math (independent of torch)."""
    row = table[prev]
    return math.log(sum(math.exp(v) for v in row)) - row[nxt]


class StreamTask(CausalLMTask):
    """A CausalLMTask over given token streams and a given model (no tokenizer, no files)."""

    id = "test-stream"
    family = "lm"
    Params = SimpleNamespace

    def __init__(self, model_factory, train: np.ndarray, evals: dict[str, np.ndarray], *, block_size: int,
                 eval_batch_size: int = 2, pad_id: int = 0) -> None:
        self._factory = model_factory
        self._streams = (train, evals, pad_id)
        super().__init__(SimpleNamespace(block_size=block_size, eval_batch_size=eval_batch_size), seed=0)

    def load_data(self) -> LMData:
        train, evals, pad_id = self._streams
        splits = [LMSplit(name, "test", i == 0, np.asarray(s)) for i, (name, s) in enumerate(evals.items())]
        return LMData(encoder=TextEncoder(tokenizer=None, sep_ids=(0,), pad_id=pad_id), train_tokens=np.asarray(train),
                      eval_splits=splits)

    def build_model(self) -> nn.Module:
        return self._factory()
