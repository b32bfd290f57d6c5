"""Blocks, batches and cached token streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tram_bench.tasks.lm.blocks import BlockView, collate_blocks, sequential_batches, truncate_targets
from tram_bench.tasks.lm.encoder import TextEncoder, cached_token_stream, encode_stream


def word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<sep>": 0, "<unk>": 1, "a": 2, "b": 3, "c": 4, "d": 5}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


@pytest.mark.parametrize("n", [2, 3, 7, 10, 11, 12])
@pytest.mark.parametrize("block_size", [2, 3, 4, 5])
def test_every_token_but_the_first_is_a_target_exactly_once(n, block_size):
    stream = np.arange(100, 100 + n)
    view = BlockView(stream, block_size)
    targets = []
    for i in range(len(view)):
        b = view.block(i)
        assert 2 <= len(b) <= block_size
        targets += b[1:].tolist()
    assert targets == stream[1:].tolist()
    assert view.num_targets == n - 1


def test_short_streams_have_no_block_and_bad_sizes_are_rejected():
    assert len(BlockView(np.array([5]), 4)) == 0
    with pytest.raises(ValueError, match="block_size must be >= 2"):
        BlockView(np.arange(4), 1)
    with pytest.raises(IndexError):
        BlockView(np.arange(4), 4).block(1)


def test_collate_right_pads_and_masks():
    b = collate_blocks([np.array([4, 5, 6]), np.array([7])], block_size=4, pad_id=9)
    assert b["input_ids"].tolist() == [[4, 5, 6, 9], [7, 9, 9, 9]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert b["input_ids"].dtype == torch.long


def test_sequential_batches_cover_all_blocks_in_order():
    view = BlockView(np.arange(10), 3)  # stride 2: 5 blocks
    batches = list(sequential_batches(view, 2, pad_id=0))
    assert [b["input_ids"].shape[0] for b in batches] == [2, 2, 1]
    assert batches[0]["input_ids"][1].tolist() == [2, 3, 4]
    assert batches[-1]["input_ids"].tolist() == [[8, 9, 0]]


def test_truncate_targets_keeps_one_context_token_more():
    s = np.arange(10)
    assert truncate_targets(s, 4).tolist() == [0, 1, 2, 3, 4]
    assert truncate_targets(s, None) is s
    assert BlockView(truncate_targets(s, 4), 3).num_targets == 4
    with pytest.raises(ValueError, match="token budget"):
        truncate_targets(s, 0)


def test_stream_separates_documents_and_skips_blank_ones():
    enc = TextEncoder(tokenizer=word_tokenizer(), sep_ids=(0,), pad_id=0)
    stream = encode_stream(enc, ["a b", "   ", "c", "", "d a"])
    assert stream.tolist() == [0, 2, 3, 0, 4, 0, 5, 2, 0]
    assert stream.dtype == np.int32


def test_token_stream_cache_is_reused_and_keyed_by_text_and_tokenizer(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAM_BENCH_CACHE", str(tmp_path))
    calls = []

    def docs(texts):
        def gen():
            calls.append(texts)
            return list(texts)

        return gen

    enc = TextEncoder(tokenizer=word_tokenizer(), sep_ids=(0,), pad_id=0)
    a = cached_token_stream(enc, {"text": "v1"}, docs(["a b", "c"]))
    b = cached_token_stream(enc, {"text": "v1"}, docs(["never", "read"]))
    assert len(calls) == 1
    assert np.asarray(a).tolist() == np.asarray(b).tolist() == [0, 2, 3, 0, 4, 0]
    cached_token_stream(enc, {"text": "v2"}, docs(["a"]))
    assert len(calls) == 2
    other_sep = TextEncoder(tokenizer=word_tokenizer(), sep_ids=(1,), pad_id=0)
    c = cached_token_stream(other_sep, {"text": "v1"}, docs(["a b", "c"]))
    assert len(calls) == 3 and np.asarray(c).tolist() == [1, 2, 3, 1, 4, 1]
