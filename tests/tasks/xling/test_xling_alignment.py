"""Translation alignment: the monotone matching, the margin score, the manifest, and the shipped manifest
against the installed chatterbot-corpus."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from xling_support import CHATTERBOT_FIXTURE, CHATTERBOT_MANIFEST, needs_chatterbot

from tram_bench.tasks.xling.alignment import (
    DEFAULT_MANIFEST,
    AlignerSettings,
    AlignmentManifest,
    build_manifest,
    manifest_text,
    margin_scores,
    monotone_matching,
)
from tram_bench.tasks.xling.chatterbot import CorpusError, corpus_root, read_conversations, topic_file


def test_monotone_matching_takes_the_best_order_preserving_set():
    # Greedy (largest gain first) takes (0, 2) = 5 and then nothing else fits the order;
    # the best order-preserving set is (0, 0), (1, 1), (2, 2) = 3 + 2 + 2 = 7.
    gain = np.array([[3.0, -1.0, 5.0], [-1.0, 2.0, -1.0], [-1.0, -1.0, 2.0]])
    assert monotone_matching(gain) == [(0, 0), (1, 1), (2, 2)]
    # Nothing positive: no pair at all (skipping costs nothing), and a zero gain is not taken.
    assert monotone_matching(np.array([[0.0, -1.0], [-2.0, -0.5]])) == []
    # An insertion on either side is skipped: foreign 1 has no English original.
    gain = np.array([[1.0, -1, -1], [-1, -1, -1], [-1, 1.0, -1], [-1, -1, 1.0]])
    assert monotone_matching(gain) == [(0, 0), (2, 1), (3, 2)]


def test_margin_is_the_cosine_over_the_mean_neighbour_cosine():
    sim = np.array([[0.9, 0.5, 0.4], [0.6, 0.8, 0.7]])
    m = margin_scores(sim, k=2)
    # pair (0, 0): row 0 top-2 mean (0.9 + 0.5) / 2 = 0.7; column 0 top-2 mean (0.9 + 0.6) / 2 = 0.75
    assert m[0, 0] == pytest.approx(0.9 / ((0.7 + 0.75) / 2), rel=1e-12)
    # pair (1, 2): row 1 (0.8 + 0.7) / 2 = 0.75; column 2 (0.7 + 0.4) / 2 = 0.55
    assert m[1, 2] == pytest.approx(0.7 / ((0.75 + 0.55) / 2), rel=1e-12)
    with pytest.raises(ValueError, match="non-empty"):
        margin_scores(np.zeros((0, 3)), k=2)


def _marker_embedder(texts: list[str]) -> np.ndarray:
    """One-hot on the '#k' marker the fixture conversations carry (untranslated ones have '#x')."""
    out = np.zeros((len(texts), 64))
    for i, t in enumerate(texts):
        k = re.search(r"#(\d+|x)", t).group(1)
        out[i, 40 + i % 20 if k == "x" else int(k)] = 1.0  # an untranslated item resembles nothing
    return out


def test_build_manifest_recovers_shifted_translations():
    built = build_manifest(CHATTERBOT_FIXTURE, ("en", "it", "ja"), ("food", "money", "sports"),
                           _marker_embedder, "marker", "fixture")
    hand = AlignmentManifest.load(CHATTERBOT_MANIFEST)  # written by hand from the markers
    assert built.pairs == hand.pairs
    assert built.files == hand.files
    # Japanese food lacks the translation of English item 3; Japanese sports has one extra item first.
    assert built.topic_pairs("ja", "food")[3] == (3, 4)
    assert built.topic_pairs("ja", "sports")[0] == (1, 0)


def test_manifest_round_trip_and_errors(tmp_path):
    hand = AlignmentManifest.load(CHATTERBOT_MANIFEST)
    path = tmp_path / "m.json"
    path.write_text(manifest_text(hand), encoding="utf-8")
    again = AlignmentManifest.load(path)
    assert again.pairs == hand.pairs and again.settings == AlignerSettings() and again.files == hand.files

    with pytest.raises(CorpusError, match="does not exist"):
        AlignmentManifest.load(tmp_path / "missing.json")
    path.write_text("{", encoding="utf-8")
    with pytest.raises(CorpusError, match="not valid JSON"):
        AlignmentManifest.load(path)
    path.write_text(json.dumps({"format": 99}), encoding="utf-8")
    with pytest.raises(CorpusError, match="format 99"):
        AlignmentManifest.load(path)


def test_verify_refuses_a_changed_file(tmp_path):
    import shutil

    root = tmp_path / "corpus"
    shutil.copytree(CHATTERBOT_FIXTURE, root)
    manifest = AlignmentManifest.load(CHATTERBOT_MANIFEST)
    manifest.verify(root, "it", "food")
    path = root / "italian" / "food.yml"
    path.write_text(path.read_text(encoding="utf-8") + "- - extra\n  - item\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"italian/food\.yml differs from the file the alignment manifest"):
        manifest.verify(root, "it", "food")
    with pytest.raises(CorpusError, match="no entry for korean/food.yml"):
        manifest.verify(root, "ko", "food")


# --- the shipped manifest and the real corpus ------------------------------------------------------


@needs_chatterbot
def test_shipped_manifest_matches_the_installed_corpus():
    root = corpus_root()
    manifest = AlignmentManifest.load(DEFAULT_MANIFEST)
    for lang, topics in manifest.pairs.items():
        for topic, pairs in topics.items():
            manifest.verify(root, lang, topic)
            n_f = len(read_conversations(topic_file(root, lang, topic)))
            n_e = len(read_conversations(topic_file(root, "en", topic)))
            assert all(0 <= f < n_f and 0 <= e < n_e for f, e in pairs)
            # strictly increasing on both sides: an order-preserving one-to-one matching
            assert all(f1 < f2 and e1 < e2 for (f1, e1), (f2, e2) in zip(pairs, pairs[1:]))


# Pairs read and checked by hand in chatterbot-corpus 1.3.3 (the English original, then the translation).
TRUE_PAIRS = [
    ("it", "food", 0, 0),  # "do you drink" / "Bevi"
    ("it", "sports", 0, 1),  # "EACH YEAR IN PRO BASEBALL THE The Gold Glove." / "Ogni anno nel baseball ..."
    ("it", "sports", 4, 6),  # "WHAT IS SOCCER" / "Che cos'è il calcio" (Italian drops two English items)
    ("it", "psychology", 5, 3),  # "you are clinical" / "Sei un caso clinico"
    ("ko", "literature", 10, 9),  # "who is piers anthony" / "피어스 앤서니가 누구니" (Korean shifts by one)
    ("ko", "literature", 12, 11),  # "have you read frankenstein" / "프랑켄슈타인 읽었니"
]
# Same-topic items that are *not* translations of each other (the pretrained encoder's nearest neighbour
# is wrong for them, or the file position would suggest them).
FALSE_PAIRS = [
    ("it", "psychology", 0, 24),  # "Permettimi di farti una domanda" is not "you are immature"
    ("ko", "literature", 9, 9),  # Chaucer is not "who is piers anthony"
    ("it", "sports", 0, 0),  # file position 0 is not the translation
]


@needs_chatterbot
def test_shipped_manifest_pairs_translations_checked_by_hand():
    manifest = AlignmentManifest.load(DEFAULT_MANIFEST)
    for lang, topic, f, e in TRUE_PAIRS:
        assert (f, e) in manifest.topic_pairs(lang, topic), (lang, topic, f, e)
    for lang, topic, f, e in FALSE_PAIRS:
        assert (f, e) not in manifest.topic_pairs(lang, topic), (lang, topic, f, e)
