"""Token streams cut into fixed-length blocks, and batches of blocks.

A domain split is one token stream: every document is preceded by the separator (EOS), and the
stream ends with one, i.e. ``SEP d1 SEP d2 SEP ... dn SEP``. So every document token and every
document end is a prediction target, each conditioned on the text before it in the same block.

The stream is cut into blocks of ``block_size`` tokens that overlap by exactly one token (stride
``block_size - 1``): block ``i`` holds ``stream[i*(T-1) : i*(T-1) + T]``. The last token of a block
is the first (context-only) token of the next, so **every token of the stream except the first is
a target exactly once**: a split of N tokens has N - 1 targets. Documents are packed across block
boundaries (a block may hold the end of one article and the start of the next). The last block may
be shorter; it is right-padded and its padding is masked out of every loss and metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch


@dataclass(frozen=True)
class BlockView:
    """Blocks of ``block_size`` tokens with stride ``block_size - 1`` over a 1-D token array."""

    tokens: np.ndarray
    block_size: int

    def __post_init__(self) -> None:
        if self.block_size < 2:
            raise ValueError(f"block_size must be >= 2 (one context token and one target), got {self.block_size}")
        if self.tokens.ndim != 1:
            raise ValueError(f"a token stream must be 1-D, got shape {self.tokens.shape}")

    @property
    def stride(self) -> int:
        return self.block_size - 1

    def __len__(self) -> int:
        n = int(self.tokens.shape[0])
        if n < 2:
            return 0
        return -(-(n - 1) // self.stride)  # ceil((n - 1) / stride)

    @property
    def num_targets(self) -> int:
        return max(0, int(self.tokens.shape[0]) - 1)

    def block(self, i: int) -> np.ndarray:
        if not 0 <= i < len(self):
            raise IndexError(f"block {i} out of range (0..{len(self) - 1})")
        start = i * self.stride
        return np.asarray(self.tokens[start : start + self.block_size])


def truncate_targets(tokens: np.ndarray, max_targets: int | None) -> np.ndarray:
    """The first ``max_targets + 1`` tokens (``max_targets`` prediction targets), or all of them."""
    if max_targets is None:
        return tokens
    if max_targets < 1:
        raise ValueError(f"a token budget must be >= 1, got {max_targets}")
    return tokens[: max_targets + 1]


def collate_blocks(blocks: Sequence[np.ndarray], block_size: int, pad_id: int) -> dict[str, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` ``[B, block_size]``; short blocks are right-padded."""
    ids = torch.full((len(blocks), block_size), pad_id, dtype=torch.long)
    mask = torch.zeros((len(blocks), block_size), dtype=torch.long)
    for r, b in enumerate(blocks):
        n = int(b.shape[0])
        ids[r, :n] = torch.from_numpy(np.asarray(b, dtype=np.int64))
        mask[r, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}


def sequential_batches(view: BlockView, batch_size: int, pad_id: int) -> Iterator[dict[str, torch.Tensor]]:
    """All blocks in stream order (evaluation), ``batch_size`` at a time; the last batch may be short."""
    if batch_size < 1:
        raise ValueError(f"eval batch size must be >= 1, got {batch_size}")
    for start in range(0, len(view), batch_size):
        idx = range(start, min(start + batch_size, len(view)))
        yield collate_blocks([view.block(i) for i in idx], view.block_size, pad_id)


def indexed_batch(view: BlockView, indices: torch.Tensor, pad_id: int) -> dict[str, torch.Tensor]:
    return collate_blocks([view.block(int(i)) for i in indices], view.block_size, pad_id)
