"""The chatterbot reader keeps every utterance as the text the file has (no YAML 1.1 booleans or
sexagesimal numbers), and on the installed corpus it reads exactly what ``yaml.safe_load`` read."""

from __future__ import annotations

import yaml

from tests.tasks.xling.xling_support import needs_chatterbot
from tram_bench.tasks.xling.chatterbot import LANGUAGE_DIRS, _as_text, corpus_root, read_conversations


def test_yaml_11_words_and_times_stay_text(tmp_path):
    path = tmp_path / "ai.yml"
    path.write_text("categories:\n- ai\nconversations:\n- - Are you a robot?\n  - no\n- - yes\n  - on\n"
                    "- - What time is it?\n  - 1:30\n- - 007\n  - 0x10\n  - 1e3\n", encoding="utf-8")
    assert read_conversations(path) == ["Are you a robot? no", "yes on", "What time is it? 1:30", "007 0x10 1e3"]


def _safe_load_texts(path):
    convs = yaml.safe_load(path.read_text(encoding="utf-8"))["conversations"]
    return [" ".join(str(u).strip() for u in (c if isinstance(c, list) else [c]) if u is not None and str(u).strip())
            for c in convs]


@needs_chatterbot
def test_installed_corpus_reads_as_before_and_all_strings():
    root = corpus_root()
    files = [f for folder in LANGUAGE_DIRS.values() for f in sorted((root / folder).glob("*.yml"))]
    assert len(files) > 100
    for path in files:
        convs = _as_text(yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader))["conversations"]
        leaves = [u for c in convs for u in (c if isinstance(c, list) else [c])]
        assert all(isinstance(u, str) for u in leaves), path
        assert read_conversations(path) == _safe_load_texts(path), path
