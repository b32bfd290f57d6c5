"""Sequence classifiers over a pretrained multilingual encoder, and the objective every method calls.

Both models expose the same three calls, so one objective serves the embedded and the paper tier:

* ``input_embeddings(input_ids)``: the word embeddings, the input hook where TRAM-x / R3F add noise;
* ``forward(input_ids, attention_mask, inputs_embeds=None)``: logits ``[B, C]``; ``inputs_embeds``
  replaces the word-embedding lookup (positions still come from ``input_ids`` and the mask); the
  embedded tier's classifier also takes ``trunk_hidden``, its frozen layers' output cached per example;
* ``features(input_ids, attention_mask)``: the representation the head reads, ``[B, D]`` (for CKA).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tram_bench.contract import InputNoise, Output


def mean_pool(hidden: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of the hidden states over non-padding positions (specials included, as e5 was trained)."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


def bidirectional_mask(encoder: nn.Module, hidden: Tensor, attention_mask: Tensor) -> Tensor | None:
    """The attention mask a BERT layer takes, built as ``BertModel.forward`` builds it."""
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=encoder.config, inputs_embeds=hidden, attention_mask=attention_mask)


def run_layers(encoder: nn.Module, hidden: Tensor, attention_mask: Tensor, layers: slice) -> Tensor:
    mask = bidirectional_mask(encoder, hidden, attention_mask)
    for layer in encoder.encoder.layer[layers]:
        hidden = layer(hidden, mask)
    return hidden


def run_trunk(encoder: nn.Module, trunk_layers: int, input_ids: Tensor, attention_mask: Tensor,
              inputs_embeds: Tensor | None = None) -> Tensor:
    """Hidden states ``[B, T, D]`` after the embeddings and the lowest ``trunk_layers`` layers."""
    if inputs_embeds is None:
        hidden = encoder.embeddings(input_ids=input_ids)
    else:
        hidden = encoder.embeddings(inputs_embeds=inputs_embeds)
    return run_layers(encoder, hidden, attention_mask, slice(0, trunk_layers))


class MeanPoolClassifier(nn.Module):
    """A BERT encoder (e5-small), mean pooling, and a new linear head; only the top
    ``trainable_layers`` transformer layers and the head train.

    The frozen part (embeddings and the lower layers, "the trunk") is a fixed feature extractor: it
    always runs in eval mode (no dropout), so its output is a function of the input alone. That makes
    it cacheable: a batch may carry the trunk's output as ``trunk_hidden`` (the task computes it once
    per example), and the forward then runs only the top layers. Passes with noised input embeddings
    (TRAM-x, R3F) still run the whole encoder, and with no dropout in the trunk a cached and a live
    pass consume the same random numbers, so the dropout masks of the top layers stay identical
    across the passes of one step. If someone unfreezes a trunk parameter the cache is ignored.
    """

    def __init__(self, encoder: nn.Module, num_labels: int, generator: torch.Generator, trainable_layers: int) -> None:
        super().__init__()
        freeze_lower(encoder, trainable_layers)
        self.encoder = encoder
        self.trunk_layers = len(encoder.encoder.layer) - trainable_layers
        hidden = encoder.config.hidden_size
        self.head = nn.Linear(hidden, num_labels)
        bound = 1.0 / math.sqrt(hidden)  # torch's default Linear init, drawn from the run's generator
        with torch.no_grad():
            self.head.weight.uniform_(-bound, bound, generator=generator)
            self.head.bias.uniform_(-bound, bound, generator=generator)
        self.train()

    def _trunk_modules(self) -> list[nn.Module]:
        return [self.encoder.embeddings, *self.encoder.encoder.layer[: self.trunk_layers]]

    def train(self, mode: bool = True) -> "MeanPoolClassifier":
        super().train(mode)
        for module in self._trunk_modules():
            module.eval()
        return self

    def trunk_is_frozen(self) -> bool:
        return not any(p.requires_grad for m in self._trunk_modules() for p in m.parameters())

    def trunk(self, input_ids: Tensor, attention_mask: Tensor, inputs_embeds: Tensor | None = None) -> Tensor:
        return run_trunk(self.encoder, self.trunk_layers, input_ids, attention_mask, inputs_embeds)

    def input_embeddings(self, input_ids: Tensor) -> Tensor:
        return self.encoder.get_input_embeddings()(input_ids)

    def features(self, input_ids: Tensor, attention_mask: Tensor, inputs_embeds: Tensor | None = None,
                 trunk_hidden: Tensor | None = None) -> Tensor:
        if trunk_hidden is None or inputs_embeds is not None or not self.trunk_is_frozen():
            trunk_hidden = self.trunk(input_ids, attention_mask, inputs_embeds)
        hidden = run_layers(self.encoder, trunk_hidden.to(self.head.weight.dtype), attention_mask,
                            slice(self.trunk_layers, None))
        return mean_pool(hidden, attention_mask)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, inputs_embeds: Tensor | None = None,
                trunk_hidden: Tensor | None = None) -> Tensor:
        return self.head(self.features(input_ids, attention_mask, inputs_embeds, trunk_hidden))


def xlmr_position_ids(input_ids: Tensor, padding_idx: int) -> Tensor:
    """RoBERTa positions: padding_idx + 1, + 2, ... over real tokens, padding_idx on padding.

    Passed explicitly because with ``inputs_embeds`` alone RoBERTa cannot see the padding and would
    number every position; the clean and the noised pass must use the same positions.
    """
    mask = input_ids.ne(padding_idx).long()
    return torch.cumsum(mask, dim=1) * mask + padding_idx


class XLMRClassifier(nn.Module):
    """``XLMRobertaForSequenceClassification`` (its own head on the ``<s>`` token), head re-drawn from
    the run's generator so every method starts from the same head for a seed."""

    def __init__(self, model: nn.Module, generator: torch.Generator) -> None:
        super().__init__()
        if getattr(model.config, "model_type", None) != "xlm-roberta":
            raise ValueError(f"expected an xlm-roberta model, got model_type {model.config.model_type!r}")
        self.model = model
        std = model.config.initializer_range
        with torch.no_grad():
            for layer in (model.classifier.dense, model.classifier.out_proj):
                layer.weight.normal_(0.0, std, generator=generator)
                layer.bias.zero_()

    @property
    def padding_idx(self) -> int:
        return int(self.model.config.pad_token_id)

    def input_embeddings(self, input_ids: Tensor) -> Tensor:
        return self.model.get_input_embeddings()(input_ids)

    def _encode(self, input_ids: Tensor, attention_mask: Tensor, inputs_embeds: Tensor | None) -> Tensor:
        pos = xlmr_position_ids(input_ids, self.padding_idx)
        if inputs_embeds is None:
            out = self.model.roberta(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos)
        else:
            out = self.model.roberta(inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=pos)
        return out.last_hidden_state

    def features(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        # The paper's CKA reads "the representation before the classification head": the <s> state.
        return self._encode(input_ids, attention_mask, None)[:, 0]

    def forward(self, input_ids: Tensor, attention_mask: Tensor, inputs_embeds: Tensor | None = None) -> Tensor:
        return self.model.classifier(self._encode(input_ids, attention_mask, inputs_embeds))


class ClassificationObjective:
    """Cross-entropy over examples; with ``noise``, the forward runs on detached, noised word
    embeddings (the clean batch is never modified)."""

    def __call__(self, model: nn.Module, batch: dict[str, Tensor], noise: InputNoise | None = None) -> Output:
        ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
        extra = {}
        if noise is not None:
            clean = model.input_embeddings(ids).detach()
            extra["inputs_embeds"] = clean + noise.sample_like(clean)
        elif "trunk_hidden" in batch:  # the frozen trunk's output, computed once per example by the task
            extra["trunk_hidden"] = batch["trunk_hidden"]
        logits = model(ids, mask, **extra)
        loss = F.cross_entropy(logits.float(), labels)
        return Output(logits=logits, loss=loss, mask=None, count=int(labels.shape[0]))


def freeze_lower(encoder: nn.Module, trainable_layers: int) -> None:
    """Freeze the embeddings and all but the top ``trainable_layers`` transformer layers."""
    layers = encoder.encoder.layer
    if not 0 <= trainable_layers <= len(layers):
        raise ValueError(f"trainable_layers must be in [0, {len(layers)}], got {trainable_layers}")
    encoder.embeddings.requires_grad_(False)
    for i, layer in enumerate(layers):
        layer.requires_grad_(i >= len(layers) - trainable_layers)


def representation(model: nn.Module, batch: dict[str, Any]) -> Tensor:
    extra = {"trunk_hidden": batch["trunk_hidden"]} if "trunk_hidden" in batch else {}
    return model.features(batch["input_ids"], batch["attention_mask"], **extra)


def compact_vocabulary(encoder: nn.Module, keep_ids: list[int]) -> dict[int, int]:
    """Keep only the word-embedding rows ``keep_ids`` (sorted, unique); return old id -> new id.

    Exact for every text whose pieces are all kept: the kept rows are copied unchanged. It makes an
    encoder whose 250k-row table is 80 % of its weights cheap to copy (TRPO/TRAM targets, MESA's
    average and checkpoint selection copy every parameter at every step or evaluation).
    """
    if list(keep_ids) != sorted(set(keep_ids)):
        raise ValueError("keep_ids must be sorted and unique")
    old = encoder.get_input_embeddings()
    remap = {int(i): k for k, i in enumerate(keep_ids)}
    pad = encoder.config.pad_token_id
    new = nn.Embedding(len(keep_ids), old.embedding_dim, padding_idx=remap.get(pad))
    with torch.no_grad():
        new.weight.copy_(old.weight[torch.tensor(keep_ids, dtype=torch.long)])
    new.weight.requires_grad_(old.weight.requires_grad)
    encoder.set_input_embeddings(new)
    encoder.config.vocab_size = len(keep_ids)
    encoder.config.pad_token_id = remap.get(pad)
    return remap
