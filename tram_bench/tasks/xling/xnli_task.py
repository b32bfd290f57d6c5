"""Paper tier of zero-shot cross-lingual transfer (TRAM section 4.3, Tables 5, 6, 12-14): XLM-RoBERTa
base with a new classification head, fully fine-tuned on English MultiNLI, accuracy on the XNLI test
sets of English (in-domain) and the 14 zero-shot languages of Table 5. Selection uses the English XNLI
validation loss only (Table 8: English validation 2.5K). GPU and the hub (or local copies).

Not stated in the paper and chosen here: ``max_length`` 128 tokens per pair (the usual XNLI setting),
the English validation set is XNLI's ``en/validation`` (2,490 pairs) rather than MultiNLI's matched
validation, and selection is checked every 2,500 steps (the paper gives no frequency).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar
import torch
from torch import nn

from tram_bench.tasks.base import TrainDefaults, smallest_known
from tram_bench.tasks.params import check_choices, check_int, check_text
from tram_bench.tasks.xling.classifier import XLMRClassifier
from tram_bench.tasks.xling.nli_data import (
    MNLI_HUB,
    NLI_LABELS,
    TABLE5_LANGUAGES,
    XLMR_HUB,
    XNLI_HUB,
    XNLI_LANGUAGES,
    encoded_split,
    mnli_train,
    xnli_split,
)
from tram_bench.tasks.xling.text_batches import EncodedExamples
from tram_bench.tasks.xling.text_task import EncodedTextTask


@dataclass
class XNLIParams:
    languages: tuple[str, ...] = TABLE5_LANGUAGES
    model: str = XLMR_HUB  # hub id or a local folder (save_pretrained)
    model_revision: str | None = None
    mnli: str = MNLI_HUB  # hub id or a local snapshot of the dataset repository
    mnli_revision: str | None = None
    xnli: str = XNLI_HUB
    xnli_revision: str | None = None
    max_length: int = 128
    max_train_examples: int | None = None  # None: all 392,702 MultiNLI training pairs
    max_eval_examples: int | None = None  # None: every XNLI pair (2,490 val / 5,010 test per language)

    def __post_init__(self) -> None:
        """Raises ValueError (one line: the key, the allowed values, the value) for a value outside these:
        zero-shot languages of XNLI (not English), non-empty model and dataset locations, caps >= 1."""
        self.languages = tuple(self.languages)
        check_choices("languages", self.languages, [x for x in XNLI_LANGUAGES if x != "en"])
        for name in ("model", "mnli", "xnli"):
            check_text(name, getattr(self, name))
        for name in ("model_revision", "mnli_revision", "xnli_revision"):
            check_text(name, getattr(self, name), optional=True)
        check_int("max_length", self.max_length, 5)  # a pair needs four special tokens
        for name in ("max_train_examples", "max_eval_examples"):
            check_int(name, getattr(self, name), 1, optional=True)


class XNLITask(EncodedTextTask):
    id = "xling-xnli"
    version = "1"
    tier = "paper"
    Params = XNLIParams
    # Appendix B.1 (language tasks): 50k steps, lr 2e-5, polynomial decay, 10k warmup; batch 32 (B.5).
    train_defaults = TrainDefaults(
        steps=50_000, batch_size=32, lr=2e-5, schedule="polynomial", warmup_steps=10_000,
        selection="val_loss", eval_every=2_500, eval_batch_size=128,
    )
    description = "XLM-R base fine-tuned on English MultiNLI; XNLI accuracy on en and 14 zero-shot languages"

    # MultiNLI's train split (hub-schemas.md): the training set of the default ``mnli`` copy.
    mnli_train_rows: ClassVar[int] = 392_702

    @classmethod
    def train_examples_bound(cls, params: XNLIParams) -> int | None:
        """``max_train_examples``, capped by MultiNLI's documented train size when ``mnli`` is the default
        hub copy; None for another copy without a cap (its size is known only once it is read)."""
        known = cls.mnli_train_rows if params.mnli == MNLI_HUB else None
        return smallest_known(params.max_train_examples, known)

    def __init__(self, params: XNLIParams, *, seed: int, device: torch.device | str = "cpu") -> None:
        super().__init__(params, seed=seed, device=device)
        from transformers import AutoTokenizer

        p = params
        tokenizer = AutoTokenizer.from_pretrained(p.model, revision=p.model_revision)
        if tokenizer.pad_token_id is None:
            raise ValueError(f"xling-xnli: tokenizer of {p.model!r} has no pad token")
        self._pad_id = int(tokenizer.pad_token_id)
        # The tokenizer's full serialisation, hashed: any change to it invalidates the token cache.
        tok_key = hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode("utf-8")).hexdigest()

        def enc(spec) -> EncodedExamples:
            return encoded_split(spec, tokenizer, tok_key, p.max_length)

        lim = p.max_eval_examples
        self._data: dict[str, EncodedExamples] = {
            "train": enc(mnli_train(p.mnli, p.mnli_revision, p.max_train_examples)),
            "val": enc(xnli_split("en", "validation", p.xnli, p.xnli_revision, lim)),
        }
        for lang in ("en", *p.languages):
            self._data[f"test/{lang}"] = enc(xnli_split(lang, "test", p.xnli, p.xnli_revision, lim))

    def build_model(self) -> nn.Module:
        from transformers import AutoModelForSequenceClassification

        p = self.params
        model = AutoModelForSequenceClassification.from_pretrained(
            p.model,
            revision=p.model_revision,
            num_labels=len(NLI_LABELS),
            id2label=dict(enumerate(NLI_LABELS)),
            label2id={name: i for i, name in enumerate(NLI_LABELS)},
        )
        g = torch.Generator().manual_seed(self.seed)
        return XLMRClassifier(model, g).to(self.device)
