"""Shared helpers for the suite tests (tasks and methods live in tests/suite/fixtures.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

TOY_TASK = "tests.suite.fixtures:ToyTask"
TOY_SGD = "tests.suite.fixtures:ToySGD"
TOY_SAM = "tests.suite.fixtures:ToySAM"


@pytest.fixture
def write_suite(tmp_path: Path):
    """write_suite(yaml_text, name="s.yaml") -> path of a dedented suite file in tmp_path."""

    def write(text: str, name: str = "s.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write
