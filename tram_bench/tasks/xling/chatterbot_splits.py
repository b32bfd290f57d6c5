"""English train/val/test by conversation index, and foreign test sets made only of translations of the
held-out English test conversations.

An English conversation's split is decided by its index in its topic file: ``index % num_folds`` in
``test_folds`` -> test, in ``val_folds`` -> val, otherwise train. A foreign conversation enters its
language's test set only if the alignment manifest pairs it with an English *test* conversation of the
same topic; translations of English training or validation conversations, and foreign conversations
with no aligned English original, are left out (otherwise a test item could be a translation of a
training item).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tram_bench.tasks.xling.alignment import AlignmentManifest
from tram_bench.tasks.xling.chatterbot import SOURCE_LANGUAGE, CorpusError, TopicFile


@dataclass(frozen=True)
class FoldRule:
    num_folds: int = 10
    test_folds: tuple[int, ...] = (0, 5)
    val_folds: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        if self.num_folds < 2:
            raise ValueError(f"num_folds must be at least 2, got {self.num_folds}")
        for name in ("test_folds", "val_folds"):
            folds = getattr(self, name)
            if not folds:
                raise ValueError(f"{name} must not be empty")
            bad = [f for f in folds if not 0 <= f < self.num_folds]
            if bad:
                raise ValueError(f"{name} {list(folds)}: folds {bad} are outside [0, {self.num_folds})")
            if len(set(folds)) != len(folds):
                raise ValueError(f"{name} {list(folds)} repeats a fold")
        if set(self.test_folds) & set(self.val_folds):
            raise ValueError(f"test_folds {list(self.test_folds)} and val_folds {list(self.val_folds)} overlap")
        if len(self.test_folds) + len(self.val_folds) >= self.num_folds:
            raise ValueError("test_folds and val_folds leave no fold for training")

    def split_of(self, english_index: int) -> str:
        fold = english_index % self.num_folds
        if fold in self.test_folds:
            return "test"
        if fold in self.val_folds:
            return "val"
        return "train"


@dataclass(frozen=True)
class Example:
    language: str
    topic: str
    index: int  # position in its own language's topic file
    english_index: int  # position of the English original in the English topic file
    text: str
    label: int


@dataclass
class ChatterbotSplits:
    train: list[Example] = field(default_factory=list)
    val: list[Example] = field(default_factory=list)
    # language -> test examples; "en" is the in-domain test set
    test: dict[str, list[Example]] = field(default_factory=dict)


def build_splits(
    files: dict[tuple[str, str], TopicFile],
    manifest: AlignmentManifest,
    languages: tuple[str, ...],
    topics: tuple[str, ...],
    rule: FoldRule,
) -> ChatterbotSplits:
    splits = ChatterbotSplits(test={SOURCE_LANGUAGE: []})
    for label, topic in enumerate(topics):
        english = files[(SOURCE_LANGUAGE, topic)]
        for j, text in enumerate(english.texts):
            ex = Example(SOURCE_LANGUAGE, topic, j, j, text, label)
            part = rule.split_of(j)
            (splits.test[SOURCE_LANGUAGE] if part == "test" else getattr(splits, part)).append(ex)
    for lang in languages:
        bucket = splits.test.setdefault(lang, [])
        for label, topic in enumerate(topics):
            foreign = files.get((lang, topic))
            if foreign is None:
                continue
            n_en = len(files[(SOURCE_LANGUAGE, topic)].texts)
            for f, e in manifest.topic_pairs(lang, topic):
                if not (0 <= f < len(foreign.texts) and 0 <= e < n_en):
                    raise CorpusError(
                        f"alignment manifest pairs {lang}/{topic} item {f} with English item {e}, "
                        f"but the files hold {len(foreign.texts)} and {n_en} conversations"
                    )
                if rule.split_of(e) == "test":
                    bucket.append(Example(lang, topic, f, e, foreign.texts[f], label))
        if not bucket:
            raise CorpusError(f"language {lang!r} has no test conversation aligned with an English test conversation")
    return splits
