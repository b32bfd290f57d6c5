"""Shared fixtures of the cross-lingual tests: the run's asset cache (tests/conftest.py; the e5 conversion
runs once), offline hub settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No test here may reach a hub; set before transformers / datasets are imported by any test module.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def xling_cache(asset_cache) -> Path:
    return asset_cache


@pytest.fixture(autouse=True)
def _isolated_cache(xling_cache, monkeypatch):
    from tram_bench.util.files import single_threaded_torch

    monkeypatch.setenv("HF_DATASETS_CACHE", str(xling_cache / "hf-datasets"))
    with single_threaded_torch():  # the test machine's cores are shared
        yield
