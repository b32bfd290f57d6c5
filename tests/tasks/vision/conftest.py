"""Fixtures of the vision task tests: offline hub switches, one CPU thread, tiny hub stand-ins (assets go to the
run's cache, tests/conftest.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tram_bench.util.files import single_threaded_torch

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vision" / "hub_fixtures.py"


@pytest.fixture(autouse=True)
def vision_env(monkeypatch, asset_cache):
    """Every vision test: no hub, one CPU thread (derived assets in the run's cache)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with single_threaded_torch():
        yield asset_cache


def _load_fixture_writers():
    spec = importlib.util.spec_from_file_location("vision_hub_fixtures", FIXTURES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class HubFixtures:
    """Writes each stand-in on first request into one session directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.writers = _load_fixture_writers().WRITERS

    def __call__(self, name: str) -> str:
        path = self.root / name
        if not path.exists():
            self.writers[name](path)
        return str(path)


@pytest.fixture(scope="session")
def hub_fixtures(tmp_path_factory) -> HubFixtures:
    return HubFixtures(tmp_path_factory.mktemp("vision-hub"))


@pytest.fixture
def hf_datasets_cache(monkeypatch, tmp_path_factory):
    """Keep the ``datasets`` Arrow cache of fixture loads out of the user's home."""
    datasets = pytest.importorskip("datasets")
    cache = tmp_path_factory.getbasetemp() / "hf-datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    return cache
