"""The paper tier's checkpoints as configurations: random-weight model folders with full-size vocabularies.

A rehearsal (``tram-bench rehearse``) must run the real architectures without the hub. Each :class:`Checkpoint`
holds the ``config.json`` values of one hub checkpoint the paper fine-tunes (GPT-2's and XLM-R's as read in
shared/research/hub-schemas.md; ViT-B/16's the standard definition, which is also ``ViTConfig``'s default;
GPT2-XL's, of the paper's Table 10, the published 1.5B definition: 48 layers of width 1600, 25 heads, GPT-2's
vocabulary and positions, its ``config.json`` not read either). This table is the one source of these values:
benchmarks/gpu_check.py builds its real-size models from it too. :func:`write_checkpoint` saves, into a folder that the tasks accept as ``model_path`` / ``model``, that
architecture with random weights plus what the task loads beside it:

* ViT-B/16: the image processor of the hub repository (224 px, mean = std = 0.5, hub-schemas.md §1.4);
* GPT-2 and XLM-R: a word-level tokenizer with exactly the checkpoint's vocabulary size and special-token ids,
  whose words are ``w<id>``: generated text made of those words encodes to token ids drawn uniformly from the
  whole vocabulary (:func:`random_words`), so embeddings, logits and divergences run over the real vocabulary.

``tiny=True`` keeps vocabulary, image and patch sizes and positions, and shrinks depth and width (one layer,
width 32): the code path of a real-size cell in seconds (CI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

VIT_B16 = "google/vit-base-patch16-224"
GPT2_BASE = "openai-community/gpt2"
GPT2_XL = "openai-community/gpt2-xl"
XLMR_BASE = "FacebookAI/xlm-roberta-base"
GPT2_EOS = "<|endoftext|>"


@dataclass(frozen=True)
class Checkpoint:
    """One hub checkpoint by its configuration.

    hub_id: the checkpoint the suites name; kind: ``vit`` | ``causal-lm`` | ``encoder``; config: its
    ``config.json`` values (architecture only); tiny: the overrides of ``tiny=True``; vocab_size: None for ViT.
    """

    hub_id: str
    kind: str
    config: dict[str, Any]
    tiny: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int | None:
        return self.config.get("vocab_size")

    def values(self, tiny: bool = False) -> dict[str, Any]:
        """The configuration to build: :attr:`config`, with :attr:`tiny`'s overrides when ``tiny``."""
        return {**self.config, **(self.tiny if tiny else {})}


# GPT-2 base's config.json; GPT2-XL shares all but depth, width and heads.
_GPT2 = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=None,
             activation_function="gelu_new", resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1, layer_norm_epsilon=1e-5,
             initializer_range=0.02, bos_token_id=50256, eos_token_id=50256)

CHECKPOINTS: dict[str, Checkpoint] = {
    VIT_B16: Checkpoint(
        VIT_B16, "vit",
        dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, hidden_act="gelu",
             hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.02, layer_norm_eps=1e-12,
             image_size=224, patch_size=16, num_channels=3, qkv_bias=True),
        dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64),
    ),
    GPT2_BASE: Checkpoint(GPT2_BASE, "causal-lm", _GPT2, dict(n_embd=32, n_layer=1, n_head=2)),
    # Table 10's model (S2ORC Math).
    GPT2_XL: Checkpoint(GPT2_XL, "causal-lm", _GPT2 | dict(n_embd=1600, n_layer=48, n_head=25),
                        dict(n_embd=32, n_layer=1, n_head=2)),
    XLMR_BASE: Checkpoint(
        XLMR_BASE, "encoder",
        dict(vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
             hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
             max_position_embeddings=514, type_vocab_size=1, initializer_range=0.02, layer_norm_eps=1e-5,
             pad_token_id=1, bos_token_id=0, eos_token_id=2),
        dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64),
    ),
}
# XLM-R's special tokens (its sentencepiece vocabulary puts them at these ids; <mask> is the last id).
XLMR_SPECIAL = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}


def checkpoint_for(model_path: str) -> Checkpoint:
    """The :class:`Checkpoint` of a hub id; KeyError (naming the known ids) for any other."""
    try:
        return CHECKPOINTS[model_path]
    except KeyError:
        raise KeyError(f"no configuration known for checkpoint {model_path!r} (known: {', '.join(CHECKPOINTS)})") from None


def random_words(rng: np.random.Generator, vocab_size: int, n: int, low: int = 0) -> str:
    """``n`` words ``w<id>`` with ids uniform in ``[low, vocab_size - 1)`` (the last id is a special token),
    which :func:`write_checkpoint`'s tokenizers map to exactly those ids."""
    return " ".join(f"w{i}" for i in rng.integers(low, vocab_size - 1, size=n))


def _word_vocab(vocab_size: int, special: dict[str, int]) -> dict[str, int]:
    vocab = {f"w{i}": i for i in range(vocab_size)}
    for name, i in special.items():
        vocab.pop(f"w{i}", None)
        vocab[name] = i
    return vocab


def _word_tokenizer(vocab: dict[str, int], unk: str):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok


def _init_weights(model, seed: int) -> None:
    import torch

    # transformers' own init, but from a fixed seed and without moving the caller's generator.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.init_weights()


def write_checkpoint(hub_id: str, out: Path, *, tiny: bool = False, seed: int = 0) -> Path:
    """Save ``hub_id``'s architecture with random weights (and its tokenizer or image processor) into ``out``.

    Returns ``out``. Raises KeyError for a checkpoint not in :data:`CHECKPOINTS`. Writes about 0.5 GB (GPT-2),
    6.2 GB (GPT2-XL), 1.1 GB (XLM-R) or 0.35 GB (ViT-B/16) at full size.
    """
    import transformers

    ck = checkpoint_for(hub_id)
    cfg = ck.values(tiny)
    out.mkdir(parents=True, exist_ok=True)
    if ck.kind == "vit":
        model = transformers.ViTForImageClassification(transformers.ViTConfig(**cfg))
        cls = getattr(transformers, "ViTImageProcessorPil", None) or transformers.ViTImageProcessor
        side = cfg["image_size"]
        cls(size={"height": side, "width": side}, image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(str(out))
    elif ck.kind == "causal-lm":
        eos = cfg["eos_token_id"]
        vocab = _word_vocab(cfg["vocab_size"], {GPT2_EOS: eos})
        transformers.PreTrainedTokenizerFast(
            tokenizer_object=_word_tokenizer(vocab, GPT2_EOS), eos_token=GPT2_EOS, bos_token=GPT2_EOS,
            unk_token=GPT2_EOS,
        ).save_pretrained(str(out))
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**cfg))
    else:
        from tokenizers import processors

        special = {**XLMR_SPECIAL, "<mask>": cfg["vocab_size"] - 1}
        tok = _word_tokenizer(_word_vocab(cfg["vocab_size"], special), "<unk>")
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
        )
        transformers.PreTrainedTokenizerFast(
            tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
            cls_token="<s>", sep_token="</s>", mask_token="<mask>",
        ).save_pretrained(str(out))
        model = transformers.XLMRobertaForMaskedLM(transformers.XLMRobertaConfig(**cfg))
    _init_weights(model, seed)
    model.save_pretrained(str(out))
    return out


def meta_model(hub_id: str, classes: int | None = None, *, tiny: bool = False):
    """``hub_id``'s architecture (with :attr:`Checkpoint.tiny`'s overrides when ``tiny``) and a ``classes``-way
    head (ViT, XLM-R; default 2; ignored for a causal LM), built on the meta device: shapes only, no memory, no
    weights, nothing written. Raises KeyError for an unknown checkpoint."""
    import torch
    import transformers

    ck = checkpoint_for(hub_id)
    cfg = ck.values(tiny)
    with torch.device("meta"):
        if ck.kind == "vit":
            return transformers.ViTForImageClassification(transformers.ViTConfig(**cfg, num_labels=classes or 2))
        if ck.kind == "causal-lm":
            return transformers.GPT2LMHeadModel(transformers.GPT2Config(**cfg))
        return transformers.XLMRobertaForSequenceClassification(
            transformers.XLMRobertaConfig(**cfg, num_labels=classes or 2))


def parameter_count(hub_id: str, classes: int | None = None) -> int:
    """Parameters of ``hub_id``'s architecture with a ``classes``-way head (:func:`meta_model`). Raises KeyError for
    an unknown checkpoint."""
    return sum(p.numel() for p in meta_model(hub_id, classes).parameters())
