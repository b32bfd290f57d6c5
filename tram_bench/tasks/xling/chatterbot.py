"""The chatterbot-corpus dialogues: topic files per language, read straight from the installed wheel.

``chatterbot_corpus/data/<language>/<topic>.yml`` holds ``conversations:``, a list of utterance lists.
Several languages translate the English files, but not item by item everywhere: some files drop, add or
reorder conversations (see :mod:`.alignment`), so which foreign conversation translates which English one
comes from the alignment manifest, never from the file position alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tram_bench.util.files import package_dir

# Domain code used in metrics -> folder name in the wheel.
LANGUAGE_DIRS: dict[str, str] = {
    "en": "english",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "uk": "ukrainian",
    "zh": "chinese",
    "zh-tw": "traditionalchinese",
    "nl": "dutch",
    "fa": "persian",
}
SOURCE_LANGUAGE = "en"

# English topic files that also exist in the five fully translated languages (it ja ko uk zh; zh has no
# "computers"). Left out: "trivia" (261 English general-knowledge items of which only 8-14 are translated:
# it would be a third of the English data and ~2 items of each foreign test set), "health" (one
# conversation), and the English-only "coding" and "tech_support".
DEFAULT_TOPICS: tuple[str, ...] = (
    "ai",
    "botprofile",
    "computers",
    "conversations",
    "emotion",
    "food",
    "gossip",
    "greetings",
    "history",
    "humor",
    "literature",
    "money",
    "movies",
    "politics",
    "psychology",
    "science",
    "sports",
)
# Every English topic file of the installed corpus (the defaults plus the four left out above).
ENGLISH_TOPICS: tuple[str, ...] = tuple(sorted((*DEFAULT_TOPICS, "coding", "health", "tech_support", "trivia")))


class CorpusError(ValueError):
    """A corpus file is missing or malformed (the message names the file)."""


def corpus_root(corpus_dir: str | Path | None = None) -> Path:
    """The ``data`` folder of the installed ``chatterbot-corpus`` wheel, or ``corpus_dir`` (fixtures)."""
    if corpus_dir is not None:
        root = Path(corpus_dir)
        if not root.is_dir():
            raise CorpusError(f"chatterbot corpus_dir {str(root)!r} is not a directory")
        return root
    return package_dir("chatterbot_corpus", "chatterbot-corpus") / "data"


def topic_file(root: Path, language: str, topic: str) -> Path:
    if language not in LANGUAGE_DIRS:
        raise CorpusError(f"unknown chatterbot language {language!r} (known: {', '.join(LANGUAGE_DIRS)})")
    return root / LANGUAGE_DIRS[language] / f"{topic}.yml"


def _as_text(node):
    """Lists, dicts and scalar texts of a composed YAML node (None for an empty document)."""
    import yaml

    if node is None or isinstance(node, yaml.ScalarNode):
        return None if node is None else node.value
    if isinstance(node, yaml.SequenceNode):
        return [_as_text(n) for n in node.value]
    return {_as_text(k): _as_text(v) for k, v in node.value}


def read_conversations(path: Path) -> list[str]:
    """One text per conversation: its utterances joined by a space (the tokenizer maps newlines to
    spaces anyway). A conversation written as a bare string (a few files miss the "- " of a list item)
    is one utterance.

    Every scalar is read as written: the file is only composed into nodes (``yaml.compose`` with the safe
    loader: no tag is ever constructed) and each scalar kept as its text, so an utterance ``no``, ``on`` or ``1:30`` stays that text instead of becoming False or 90. (None of
    the installed corpus's 237 files has such an item today, so the texts equal a ``safe_load``'s;
    tests/tasks/xling/test_chatterbot_strings.py checks both.)

    Raises :class:`CorpusError` naming the file when it is not YAML or has no ``conversations`` list."""
    import yaml

    try:
        doc = _as_text(yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise CorpusError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("conversations"), list):
        raise CorpusError(f"{path}: expected a mapping with a 'conversations' list")
    texts = []
    for i, conv in enumerate(doc["conversations"]):
        utterances = conv if isinstance(conv, list) else [conv]
        text = " ".join(str(u).strip() for u in utterances if u is not None and str(u).strip())
        if not text:
            raise CorpusError(f"{path}: conversation {i} is empty")
        texts.append(text)
    return texts


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class TopicFile:
    language: str
    topic: str
    path: Path
    texts: tuple[str, ...]


def load_topic_files(root: Path, languages: tuple[str, ...], topics: tuple[str, ...]) -> dict[tuple[str, str], TopicFile]:
    """Every (language, topic) file that exists. English must have every topic; a foreign language may
    lack some (it then has no test items of that class)."""
    out: dict[tuple[str, str], TopicFile] = {}
    for lang in languages:
        for topic in topics:
            path = topic_file(root, lang, topic)
            if not path.exists():
                if lang == SOURCE_LANGUAGE:
                    raise CorpusError(f"{path}: English topic file {topic!r} is missing")
                continue
            out[(lang, topic)] = TopicFile(lang, topic, path, tuple(read_conversations(path)))
    return out
