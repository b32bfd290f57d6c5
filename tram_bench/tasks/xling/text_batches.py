"""Tokenised examples held in memory, and the padded batches the objective consumes.

A batch is a dict: ``input_ids`` and ``attention_mask`` ``[B, T]`` (right padding to the longest
example of the batch), ``labels`` ``[B]``, and, when the examples carry them, ``trunk_hidden``
``[B, T, D]`` (a frozen encoder trunk's output per token, zeros on padding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class EncodedExamples:
    """Token ids of every example (truncated, specials included) concatenated in ``flat``; example
    ``i`` is ``flat[offsets[i]:offsets[i + 1]]``. Flat arrays keep MultiNLI's 393k pairs compact."""

    flat: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    hidden: np.ndarray | None = None  # [len(flat), D] float32: per-token states of a frozen trunk

    def __post_init__(self) -> None:
        if self.offsets.shape != (len(self.labels) + 1,) or self.offsets[0] != 0 or self.offsets[-1] != len(self.flat):
            raise ValueError(f"offsets do not cut {len(self.flat)} tokens into {len(self.labels)} examples")
        if self.hidden is not None and (self.hidden.ndim != 2 or len(self.hidden) != len(self.flat)):
            raise ValueError(f"hidden states {self.hidden.shape} do not match {len(self.flat)} tokens")

    @classmethod
    def from_lists(cls, ids: Sequence[Sequence[int]], labels: Sequence[int]) -> "EncodedExamples":
        if len(ids) != len(labels):
            raise ValueError(f"{len(ids)} token sequences but {len(labels)} labels")
        lengths = np.array([len(x) for x in ids], dtype=np.int64)
        flat = np.fromiter((t for x in ids for t in x), dtype=np.int64, count=int(lengths.sum()))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return cls(flat, offsets, np.asarray(labels, dtype=np.int64).reshape(len(labels)))

    def __len__(self) -> int:
        return len(self.labels)

    def row(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def remapped(self, table: np.ndarray) -> "EncodedExamples":
        """Token ids mapped through ``table`` (old id -> new id)."""
        return EncodedExamples(table[self.flat], self.offsets, self.labels, self.hidden)

    def with_hidden(self, hidden: np.ndarray) -> "EncodedExamples":
        return EncodedExamples(self.flat, self.offsets, self.labels, hidden)


def encode_texts(tokenizer, texts: Sequence[str], labels: Sequence[int], max_length: int, prefix: str = "") -> EncodedExamples:
    """Tokenise with the model's special tokens, truncated to ``max_length`` tokens (``</s>`` kept)."""
    if max_length < 3:
        raise ValueError(f"max_length must be at least 3 (two special tokens and one piece), got {max_length}")
    enc = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)
    return EncodedExamples.from_lists(enc["input_ids"], labels)


def encode_pairs(tokenizer, first: Sequence[str], second: Sequence[str], labels: Sequence[int], max_length: int) -> EncodedExamples:
    """Sentence pairs (premise, hypothesis), truncating the longer one first."""
    if max_length < 5:
        raise ValueError(f"max_length must be at least 5 for a sentence pair, got {max_length}")
    enc = tokenizer(list(first), list(second), truncation="longest_first", max_length=max_length)
    return EncodedExamples.from_lists(enc["input_ids"], labels)


def collate(examples: EncodedExamples, index: Sequence[int], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    rows = [examples.row(i) for i in index]
    width = max(len(r) for r in rows)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for k, r in enumerate(rows):
        input_ids[k, : len(r)] = r
        mask[k, : len(r)] = 1
    batch = {
        "input_ids": torch.from_numpy(input_ids).to(device),
        "attention_mask": torch.from_numpy(mask).to(device),
        "labels": torch.from_numpy(examples.labels[list(index)].copy()).to(device),
    }
    if examples.hidden is not None:
        hidden = np.zeros((len(rows), width, examples.hidden.shape[1]), dtype=examples.hidden.dtype)
        for k, i in enumerate(index):
            hidden[k, : examples.offsets[i + 1] - examples.offsets[i]] = examples.hidden[examples.offsets[i] : examples.offsets[i + 1]]
        batch["trunk_hidden"] = torch.from_numpy(hidden).to(device)
    return batch


def eval_batches(examples: EncodedExamples, batch_size: int, pad_id: int, device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
    """Deterministic evaluation batches, examples grouped by length so that little compute goes to
    padding (metrics are sums over examples, so the order does not change them)."""
    order = np.argsort(examples.lengths(), kind="stable").tolist()
    for s in range(0, len(order), batch_size):
        yield collate(examples, order[s : s + batch_size], pad_id, device)
