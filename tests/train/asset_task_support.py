"""A synthetic task whose model needs a slow cached asset (the stand-in for a pre-training build).

Used as the task id ``asset_task_support:SlowAssetTask``; the cache root comes from
``TRAM_BENCH_CACHE`` (each test points it at its own temporary directory).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tram_bench.tasks.synthetic import SyntheticShiftTask
from tram_bench.util.files import cached

BUILD_S = 1000.0  # what a build costs on CLOCK: a jump of the clock, so no assertion rests on real time
ASSET = ("test-slow-asset", {"asset": "slow", "version": 1})


class JumpClock:
    """``time.perf_counter`` plus jumps: a test patches it in (``monkeypatch.setattr(time, "perf_counter",
    CLOCK.now)``) and a stand-in build advances it by ``jump(seconds)`` instead of sleeping."""

    def __init__(self) -> None:
        self.real = time.perf_counter
        self.offset = 0.0

    def now(self) -> float:
        return self.real() + self.offset

    def jump(self, seconds: float) -> None:
        self.offset += seconds


CLOCK = JumpClock()


def build_slow_asset(tmp: Path, started: Any = None, release: Any = None) -> None:
    """Cost ``BUILD_S`` seconds on :data:`CLOCK`, as a pre-training would, then write the asset.
    ``started`` (an event) is set once the build holds the cache lock; with ``release`` (an event; a
    build in another process, whose clock is not the test's) the build waits for it instead."""
    if started is not None:
        started.set()
    if release is not None:
        assert release.wait(60)
    else:
        CLOCK.jump(BUILD_S)
    (tmp / "weights.txt").write_text("built\n")


class SlowAssetTask(SyntheticShiftTask):
    id = "slow-asset"

    def build_model(self):
        d = cached(*ASSET, build_slow_asset)
        assert (d / "weights.txt").read_text() == "built\n"
        return super().build_model()


HEAVY_ASSET = ("test-heavy-asset", {"asset": "heavy", "version": 1})
HEAVY_MB = 200


def build_heavy_asset(tmp: Path) -> None:
    """A build that touches ``HEAVY_MB`` MiB (a pre-training's activations), then writes a small asset."""
    import numpy as np

    scratch = np.ones(HEAVY_MB * 2**20 // 8)  # written, so every page is resident
    (tmp / "weights.txt").write_text(f"built {scratch.sum() > 0}\n")
    del scratch
    CLOCK.jump(BUILD_S)  # and its time, on the test's clock


class HeavyAssetTask(SyntheticShiftTask):
    id = "heavy-asset"

    def build_model(self):
        d = cached(*HEAVY_ASSET, build_heavy_asset)
        assert (d / "weights.txt").read_text() == "built True\n"
        return super().build_model()
