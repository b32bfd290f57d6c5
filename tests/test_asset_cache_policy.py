"""Every test builds its assets in the run's temporary cache (tests/conftest.py), never in the user's."""

from __future__ import annotations

import os
from pathlib import Path

from tram_bench.util.files import cache_root, cached


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tram-bench"


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def test_the_cache_is_the_runs_temporary_directory(asset_cache, tmp_path_factory):
    run_dir = tmp_path_factory.getbasetemp()
    run_dir = run_dir.parent if os.environ.get("PYTEST_XDIST_WORKER") else run_dir
    assert cache_root() == asset_cache == Path(os.environ["TRAM_BENCH_CACHE"])
    assert asset_cache.parent == run_dir
    assert not asset_cache.is_relative_to(_user_cache())


def test_building_an_asset_leaves_the_user_cache_untouched(asset_cache, tmp_path):
    user = _user_cache()
    before = _listing(user)
    config = {"test": "asset-cache-policy", "nonce": str(tmp_path)}  # a fresh asset, so it is built now
    built = cached("policy-test", config, lambda d: (d / "weights.txt").write_text("w\n"))
    assert built.is_relative_to(asset_cache) and (built / "weights.txt").read_text() == "w\n"
    assert _listing(user) == before
