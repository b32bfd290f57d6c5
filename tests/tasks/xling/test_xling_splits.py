"""Splits of the chatterbot task: English by conversation index, foreign test sets made only of
translations of held-out English test conversations."""

from __future__ import annotations

import re

import pytest
from xling_support import CHATTERBOT_FIXTURE, CHATTERBOT_MANIFEST, needs_chatterbot

from tram_bench.tasks.xling.alignment import DEFAULT_MANIFEST, AlignmentManifest
from tram_bench.tasks.xling.chatterbot import DEFAULT_TOPICS, CorpusError, corpus_root, load_topic_files, read_conversations
from tram_bench.tasks.xling.chatterbot_splits import FoldRule, build_splits
from tram_bench.tasks.xling.chatterbot_task import DEFAULT_LANGUAGES, ChatterbotParams


def test_fold_rule():
    rule = FoldRule(10, (0, 5), (1,))
    assert [rule.split_of(j) for j in range(12)] == [
        "test", "val", "train", "train", "train", "test", "train", "train", "train", "train", "test", "val",
    ]
    with pytest.raises(ValueError, match="overlap"):
        FoldRule(10, (0, 1), (1,))
    with pytest.raises(ValueError, match=r"folds \[10\] are outside \[0, 10\)"):
        FoldRule(10, (0, 10), (1,))
    with pytest.raises(ValueError, match="leave no fold for training"):
        FoldRule(3, (0, 1), (2,))
    with pytest.raises(ValueError, match="must not be empty"):
        FoldRule(10, (), (1,))


def _marker(text: str) -> str:
    return re.search(r"#(\d+|x)", text).group(1)


def test_fixture_splits_follow_the_alignment():
    topics = ("food", "money", "sports")
    files = load_topic_files(CHATTERBOT_FIXTURE, ("en", "it", "ja"), topics)
    splits = build_splits(files, AlignmentManifest.load(CHATTERBOT_MANIFEST), ("it", "ja"), topics, FoldRule())
    # English: index % 10 in (0, 5) -> test, 1 -> val, else train; 10 conversations per topic.
    assert sorted((e.topic, e.index) for e in splits.test["en"]) == [(t, j) for t in topics for j in (0, 5)]
    assert sorted((e.topic, e.index) for e in splits.val) == [(t, 1) for t in topics]
    assert len(splits.train) == 3 * 7
    # Every foreign test conversation is the translation ("#k" marker) of an English test conversation.
    for lang in ("it", "ja"):
        got = sorted((e.topic, int(_marker(e.text)), e.english_index, e.label) for e in splits.test[lang])
        assert got == [(t, j, j, topics.index(t)) for t in topics for j in (0, 5)], lang
    # Japanese sports is shifted by one: its English test items 0 and 5 are Japanese items 1 and 6, and
    # Japanese item 0 (no English original) and item 5 (English 4, a training item) are left out.
    assert sorted(e.index for e in splits.test["ja"] if e.topic == "sports") == [1, 6]
    # Japanese food lacks English item 3's translation: English 5 is Japanese item 4.
    assert sorted(e.index for e in splits.test["ja"] if e.topic == "food") == [0, 4]


def test_manifest_index_out_of_range_is_reported():
    topics = ("food",)
    files = load_topic_files(CHATTERBOT_FIXTURE, ("en", "it"), topics)
    manifest = AlignmentManifest.load(CHATTERBOT_MANIFEST)
    manifest.pairs["it"]["food"] = [(0, 0), (12, 5)]
    with pytest.raises(CorpusError, match="pairs it/food item 12 with English item 5, but the files hold 10 and 10"):
        build_splits(files, manifest, ("it",), topics, FoldRule())


def test_params_are_checked():
    with pytest.raises(ValueError, match=r"languages must be a list drawn from .*, got \('it', 'xx', 'en'\)"):
        ChatterbotParams(languages=("it", "xx", "en"))
    with pytest.raises(ValueError, match=r"topics must be a list without repeats"):
        ChatterbotParams(topics=("food", "food"))
    with pytest.raises(ValueError, match=r"languages must be a non-empty list"):
        ChatterbotParams(languages=())
    # suites give lists; they become tuples
    assert ChatterbotParams(languages=["it"]).languages == ("it",)


def test_corpus_errors_name_the_file(tmp_path):
    (tmp_path / "english").mkdir()
    bad = tmp_path / "english" / "food.yml"
    bad.write_text("categories: [food]\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"food\.yml: expected a mapping with a 'conversations' list"):
        read_conversations(bad)
    bad.write_text("conversations: [[a, b], [\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"food\.yml: not valid YAML"):
        read_conversations(bad)
    # a conversation written as a bare string is one utterance; non-string utterances become text
    bad.write_text("conversations:\n- - hello\n  - 42\n- just one line\n", encoding="utf-8")
    assert read_conversations(bad) == ["hello 42", "just one line"]
    with pytest.raises(CorpusError, match=r"English topic file 'money' is missing"):
        load_topic_files(tmp_path, ("en",), ("food", "money"))
    with pytest.raises(CorpusError, match=r"corpus_dir .* is not a directory"):
        corpus_root(tmp_path / "nowhere")


@needs_chatterbot
def test_real_corpus_foreign_tests_translate_held_out_english_items():
    root = corpus_root()
    manifest = AlignmentManifest.load(DEFAULT_MANIFEST)
    rule = FoldRule()
    files = load_topic_files(root, ("en", *DEFAULT_LANGUAGES), DEFAULT_TOPICS)
    splits = build_splits(files, manifest, DEFAULT_LANGUAGES, DEFAULT_TOPICS, rule)
    english = {(e.topic, e.index) for e in splits.test["en"]}
    held_in = {(e.topic, e.index) for e in splits.train + splits.val}
    n_en = sum(len(files[("en", t)].texts) for t in DEFAULT_TOPICS)
    assert len(english) + len(held_in) == n_en and not english & held_in
    for lang in DEFAULT_LANGUAGES:
        items = splits.test[lang]
        assert items, lang
        for ex in items:
            assert (ex.index, ex.english_index) in manifest.topic_pairs(lang, ex.topic)
            assert (ex.topic, ex.english_index) in english and (ex.topic, ex.english_index) not in held_in
            assert ex.text == files[(lang, ex.topic)].texts[ex.index]
            assert ex.label == DEFAULT_TOPICS.index(ex.topic)
    sizes = {lang: len(splits.test[lang]) for lang in DEFAULT_LANGUAGES}
    # chatterbot-corpus 1.3.3 with the shipped manifest (a change here means the data or the split moved)
    assert sizes == {"it": 99, "ja": 100, "ko": 61, "uk": 86, "zh": 69, "nl": 35}
    assert (len(splits.train), len(splits.val), len(splits.test["en"])) == (359, 59, 112)  # 530 English conversations


def test_budget_and_fold_params_are_checked():
    with pytest.raises(ValueError, match=r"trainable_layers must be an integer in 0\.\.12, got 13"):
        ChatterbotParams(trainable_layers=13)
    with pytest.raises(ValueError, match=r"max_length must be an integer >= 3, got 2"):
        ChatterbotParams(max_length=2)
    with pytest.raises(ValueError, match=r"folds: test_folds \[0, 1\] and val_folds \[1\] overlap"):
        ChatterbotParams(test_folds=(0, 1))
