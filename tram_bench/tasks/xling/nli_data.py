"""MultiNLI and XNLI loaders (paper tier), in the hub schemas of ``nyu-mll/multi_nli`` and
``facebook/xnli``: columns ``premise``, ``hypothesis`` (strings) and ``label`` (ClassLabel
entailment / neutral / contradiction, the same ids in both datasets, so no remapping).

``source`` is a hub id or a local folder laid out like the hub repository (README ``configs`` plus
parquet files); both go through ``datasets.load_dataset``, so the offline test fixtures exercise the
same code path as the hub. Tokenised splits are cached outside the repository, keyed by the dataset's
content fingerprint, the tokenizer and the truncation length (MultiNLI train is 392,702 pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tram_bench.tasks.xling.text_batches import EncodedExamples, encode_pairs
from tram_bench.util.files import cached

MNLI_HUB = "nyu-mll/multi_nli"
XNLI_HUB = "facebook/xnli"
XLMR_HUB = "FacebookAI/xlm-roberta-base"
NLI_LABELS = ("entailment", "neutral", "contradiction")
# Table 5's zero-shot languages (English is the training language).
TABLE5_LANGUAGES = ("ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
XNLI_LANGUAGES = ("en", *TABLE5_LANGUAGES)
NLI_COLUMNS = ("premise", "hypothesis", "label")


class NLIDataError(ValueError):
    """A dataset does not have the expected schema (message names source, config and split)."""


@dataclass(frozen=True)
class NLISplit:
    """Where one split comes from: ``load_dataset(source, config, split=split, revision=revision)``."""

    source: str
    config: str | None
    split: str
    revision: str | None = None
    limit: int | None = None  # keep the first ``limit`` labelled pairs (smoke runs); None keeps all

    def describe(self) -> str:
        return f"{self.source}[{self.config or 'default'}/{self.split}]"


def mnli_train(source: str = MNLI_HUB, revision: str | None = None, limit: int | None = None) -> NLISplit:
    return NLISplit(source, None, "train", revision, limit)


def xnli_split(language: str, split: str, source: str = XNLI_HUB, revision: str | None = None,
               limit: int | None = None) -> NLISplit:
    if language not in XNLI_LANGUAGES:
        raise NLIDataError(f"XNLI has no language {language!r} (languages: {', '.join(XNLI_LANGUAGES)})")
    return NLISplit(source, language, split, revision, limit)


def load_split(spec: NLISplit):
    """The split as a ``datasets.Dataset`` with the schema checked and unlabelled rows (-1) dropped."""
    from datasets import ClassLabel, load_dataset

    src = str(Path(spec.source).expanduser()) if Path(spec.source).expanduser().exists() else spec.source
    try:
        ds = load_dataset(src, spec.config, split=spec.split, revision=spec.revision)
    except (FileNotFoundError, ValueError) as exc:
        raise NLIDataError(f"cannot load {spec.describe()}: {str(exc).splitlines()[0]}") from None
    missing = [c for c in NLI_COLUMNS if c not in ds.column_names]
    if missing:
        raise NLIDataError(f"{spec.describe()}: missing column(s) {missing} (has {ds.column_names})")
    label = ds.features["label"]
    if isinstance(label, ClassLabel) and tuple(label.names) != NLI_LABELS:
        raise NLIDataError(f"{spec.describe()}: label names {label.names}, expected {list(NLI_LABELS)}")
    # MultiNLI marks pairs without a gold label with -1; they carry no training signal.
    ds = ds.filter(lambda ys: [y >= 0 for y in ys], input_columns="label", batched=True)
    if spec.limit is not None:
        ds = ds.select(range(min(spec.limit, len(ds))))
    return ds


def encoded_split(spec: NLISplit, tokenizer, tokenizer_key: str, max_length: int) -> EncodedExamples:
    """Tokenised (premise, hypothesis) pairs, cached by dataset fingerprint and tokenizer."""
    ds = load_split(spec)
    key = {
        "format": 1,
        "split": spec.describe(),
        "revision": spec.revision,
        "limit": spec.limit,
        "fingerprint": ds._fingerprint,
        "tokenizer": tokenizer_key,
        "max_length": max_length,
    }

    def build(tmp: Path) -> None:
        flats, lengths = [], []
        chunk = 10_000
        for s in range(0, len(ds), chunk):
            part = ds[s : s + chunk]
            enc = encode_pairs(tokenizer, part["premise"], part["hypothesis"], part["label"], max_length)
            flats.append(enc.flat.astype(np.int32))
            lengths.append(enc.lengths())
        np.save(tmp / "ids.npy", np.concatenate(flats) if flats else np.zeros(0, dtype=np.int32))
        np.save(tmp / "lengths.npy", np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64))
        np.save(tmp / "labels.npy", np.asarray(ds["label"], dtype=np.int64))

    d = cached("xling-nli-tokens", key, build)
    lengths = np.load(d / "lengths.npy")
    return EncodedExamples(
        np.load(d / "ids.npy").astype(np.int64),
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        np.load(d / "labels.npy"),
    )
