"""A small GPT-2 and its byte-level BPE tokenizer, both pretrained by tram-bench offline.

The embedded tier needs a *genuinely pretrained* causal LM that fits a 2-core CPU: no GPT-2 weights
ship in any PyPI wheel, so tram-bench trains one. The tokenizer (byte-level BPE, like GPT-2's) and
the model are trained on the training documents of the pretraining domains only, then cached under
``<cache>/lm-pretrain/<hash of config and corpus>/`` (``model/`` in safetensors, ``tokenizer.json``
and ``pretrain_log.json`` with the loss of every step).
Any change to the config or to the pretraining text gives a new cache entry; the build runs once per
machine and is shared by every run (a file lock makes parallel workers build it once).

Pretraining: AdamW (betas 0.9/0.99), linear warmup then cosine decay, no dropout (the model is far
from overfitting a few hundred steps), batches of blocks drawn epoch by epoch from a seeded
permutation. Everything is seeded, so the same config gives the same weights on the same machine.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from tram_bench.tasks.base import shuffled_batches
from tram_bench.tasks.lm.blocks import BlockView, indexed_batch
from tram_bench.tasks.lm.encoder import TextEncoder, encode_stream
from tram_bench.tasks.lm.objective import CausalLMObjective
from tram_bench.util.files import cached

log = logging.getLogger(__name__)

PRETRAIN_VERSION = "1"
EOS_TOKEN = "<|endoftext|>"
PRETRAIN_LOG = "pretrain_log.json"
# The HF files live in a sub-folder: the cache writes its own config.json at the top level.
MODEL_SUBDIR = "model"


@dataclass(frozen=True)
class TinyGPT2Config:
    """Tokenizer, architecture and pretraining schedule: the whole identity of the cached asset."""

    vocab_size: int = 4096
    n_embd: int = 128
    n_layer: int = 2
    n_head: int = 4
    block_size: int = 128
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 30
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_embd", "n_layer", "n_head", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"tiny GPT-2 {name} must be >= 1, got {getattr(self, name)}")
        if self.vocab_size < 257:
            # A byte-level BPE needs the 256 byte symbols plus the EOS token.
            raise ValueError(f"tiny GPT-2 vocab_size must be >= 257 (256 bytes + EOS), got {self.vocab_size}")
        if self.n_embd % self.n_head:
            raise ValueError(f"tiny GPT-2 n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.block_size < 2:
            raise ValueError(f"tiny GPT-2 block_size must be >= 2, got {self.block_size}")


def train_byte_bpe(documents: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` (GPT-2 style) with ``<|endoftext|>`` as id 0."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(documents), trainer)
    return tok


def encoder_for(tokenizer: Any) -> TextEncoder:
    eos = tokenizer.token_to_id(EOS_TOKEN)
    if eos is None:
        raise ValueError(f"tokenizer has no {EOS_TOKEN} token")
    return TextEncoder(tokenizer=tokenizer, sep_ids=(eos,), pad_id=eos)


def new_model(cfg: TinyGPT2Config, vocab_size: int, eos_id: int, dropout: float = 0.0):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=cfg.block_size,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
    )
    return GPT2LMHeadModel(config)


def _warmup_cosine(step: int, cfg: TinyGPT2Config) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - cfg.warmup_steps) / span)))


def pretrain(cfg: TinyGPT2Config, documents: Sequence[str], out: Path) -> None:
    """Train tokenizer and model on ``documents`` and write them to ``out`` (the cache's build step)."""
    tokenizer = train_byte_bpe(documents, cfg.vocab_size)
    encoder = encoder_for(tokenizer)
    view = BlockView(encode_stream(encoder, documents), cfg.block_size)
    if len(view) == 0:
        raise ValueError("the pretraining documents hold no block of tokens")
    objective = CausalLMObjective()
    losses: list[float] = []
    started = time.perf_counter()
    # Seed the weight init and the data order locally: the caller's RNG state is left untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = new_model(cfg, encoder.vocab_size, encoder.pad_id)
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _warmup_cosine(s, cfg))
        step = 0
        while step < cfg.steps:
            for idx in shuffled_batches(len(view), cfg.batch_size, gen):
                loss = objective(model, indexed_batch(view, idx, encoder.pad_id)).loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                step += 1
                if step % 50 == 0 or step == cfg.steps:
                    log.info("tiny GPT-2 pretraining: step %d/%d, loss %.3f, %.0f s", step, cfg.steps,
                             losses[-1], time.perf_counter() - started)
                if step >= cfg.steps:
                    break
    model.save_pretrained(out / MODEL_SUBDIR)
    tokenizer.save(str(out / "tokenizer.json"))
    (out / PRETRAIN_LOG).write_text(
        json.dumps(
            {
                "config": asdict(cfg),
                "train_blocks": len(view),
                "seconds": round(time.perf_counter() - started, 1),
                "loss": losses,
            },
            indent=1,
        )
        + "\n"
    )


def pretrained_dir(cfg: TinyGPT2Config, documents: Sequence[str], corpus_key: dict[str, Any]) -> Path:
    """The cached pretrained tokenizer + model; built once per (config, corpus) with :func:`pretrain`.

    ``corpus_key`` must identify the pretraining text exactly (e.g. a content hash): the cache is
    keyed by it and by every field of ``cfg``.
    """
    key = {"version": PRETRAIN_VERSION, "model": asdict(cfg), "corpus": corpus_key}
    return cached("lm-pretrain", key, lambda tmp: pretrain(cfg, documents, tmp))


def load_tokenizer(d: Path) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(d / "tokenizer.json"))


def load_model(d: Path, dropout: float = 0.0):
    """A fresh copy of the cached pretrained model (fp32), with the given dropout for fine-tuning."""
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel.from_pretrained(d / MODEL_SUBDIR, resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout)
