"""Where a result came from: code version, packages, hardware."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("numpy", "transformers", "tokenizers", "datasets", "scikit-learn", "duckdb", "omegaconf")


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the tram_bench source tree, with ``-dirty`` when it has uncommitted changes."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


@functools.lru_cache(maxsize=None)
def _version(name: str) -> str | None:
    # Cached: installed versions do not change under a running process, and reading package
    # metadata costs ~5 ms a package, a visible share of a short run's wall time.
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def collect(device: str, precision: str) -> dict[str, Any]:
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        device_name = torch.cuda.get_device_name(index)
    else:
        device_name = platform.processor() or platform.machine()
    return {
        "git_commit": git_commit(),
        "tram_bench_version": _version("tram-bench"),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.version.cuda if dev.type == "cuda" else None,
        "device": str(dev),
        "device_name": device_name,
        "precision": precision,
        "world_size": 1,
        # Which GPUs this process was given (set per worker by the local GPU pool, Ray or Slurm).
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "num_threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "packages": {name: _version(name) for name in _PACKAGES},
    }
