"""Tokenizer wrapper and cached token streams.

Every LM task encodes text through a ``tokenizers.Tokenizer`` (the fast backend of a Hugging Face
tokenizer, or one trained by tram-bench), without special tokens: the document separator is added
explicitly (see ``blocks``). A token stream is computed once per (text source, split, tokenizer) and
cached as raw little-endian int32 under the asset cache, so 33 runs of a suite, or a 380M-token
M2D2 training split, are tokenized once per machine.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from tram_bench.util.files import cached

TOKEN_STREAM_VERSION = "1"
_STREAM_FILE = "tokens.i32"
_CHUNK_DOCS = 512


@dataclass(frozen=True)
class TextEncoder:
    """A ``tokenizers.Tokenizer`` plus the separator placed before every document, and a pad id.

    ``pad_id`` only fills the right end of a short block; it is never a target (masked), so any valid
    id works.
    """

    tokenizer: Any
    sep_ids: tuple[int, ...]
    pad_id: int

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size(with_added_tokens=True))

    @property
    def fingerprint(self) -> str:
        """Identity of the tokenization: the full tokenizer JSON and the separator."""
        h = hashlib.sha256(self.tokenizer.to_str().encode("utf-8"))
        h.update(repr(self.sep_ids).encode())
        return h.hexdigest()[:16]

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def stream_chunks(self, documents: Iterable[str]) -> Iterator[np.ndarray]:
        """``SEP d1 SEP d2 ... SEP dn SEP`` as int32 chunks; blank documents are skipped."""
        sep = np.asarray(self.sep_ids, dtype=np.int32)
        yield sep
        batch: list[str] = []
        for doc in documents:
            if doc.strip():
                batch.append(doc)
            if len(batch) >= _CHUNK_DOCS:
                yield from self._encode_chunk(batch, sep)
                batch = []
        if batch:
            yield from self._encode_chunk(batch, sep)

    def _encode_chunk(self, docs: list[str], sep: np.ndarray) -> Iterator[np.ndarray]:
        for enc in self.tokenizer.encode_batch(docs, add_special_tokens=False):
            yield np.concatenate([np.asarray(enc.ids, dtype=np.int32), sep])


def encode_stream(encoder: TextEncoder, documents: Iterable[str]) -> np.ndarray:
    """The whole token stream in memory (small corpora and tests)."""
    return np.concatenate(list(encoder.stream_chunks(documents)))


def cached_token_stream(
    encoder: TextEncoder, source_key: dict[str, Any], documents: Callable[[], Iterable[str]]
) -> np.ndarray:
    """A read-only memory map of the token stream of ``documents()``, built once per
    ``(source_key, tokenizer fingerprint)``.

    ``source_key`` must identify the text exactly (corpus, domain, split, a content hash or file
    size/mtime): a changed text or tokenizer gives a new cache entry, never a stale stream.
    """
    key = {"version": TOKEN_STREAM_VERSION, "source": source_key, "tokenizer": encoder.fingerprint}

    def build(tmp: Path) -> None:
        with open(tmp / _STREAM_FILE, "wb") as fh:
            for chunk in encoder.stream_chunks(documents()):
                fh.write(chunk.astype("<i4", copy=False).tobytes())

    d = cached("lm-tokens", key, build)
    return np.memmap(d / _STREAM_FILE, dtype="<i4", mode="r")
