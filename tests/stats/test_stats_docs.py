"""The code blocks of docs/statistics.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "statistics.md"


def test_statistics_doc_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks
    assert not re.findall(r"```(?!python\n|\n)", DOC.read_text())  # no block in another language
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), {})
