"""Peak memory of one run: the run's own, not what earlier runs of the same process left behind.

A worker process runs many cells one after another, so the process's lifetime high-water mark
(``getrusage().ru_maxrss``) says how large the largest run so far was, not how large this one is.

- CUDA: ``torch.cuda.reset_peak_memory_stats`` when the run starts, ``max_memory_allocated`` when it
  ends: the peak of the tensors the run had allocated at once, in MiB (the caching allocator's
  reserved pool and the CUDA context are not counted).
- CPU (Linux): when the run starts, memory that earlier runs freed is handed back to the kernel
  (glibc ``malloc_trim``), so this run cannot reuse it without it counting, and the kernel's
  peak-RSS counter of the process is reset to the current RSS (writing ``5`` to
  ``/proc/self/clear_refs``, Linux >= 4.0). When it ends, ``peak_memory_mb`` = peak RSS (``VmHWM``)
  minus the RSS at the start, in MiB: the resident memory the run added on top of what the process
  already held (the interpreter, torch, modules imported and in-memory caches filled by earlier
  runs). This costs two small file writes and reads per run instead of a fork per run.
- Cached assets built during the run (a one-off pretraining, data read once per worker) are not the
  run's: around each build (``ASSET_CLOCK.watcher``) the peak so far is kept, the resident memory the
  build leaves behind is moved into the baseline, and the peak counter is reset again, so the run
  that happened to build an asset reports what the runs that found it ready report.
- Elsewhere (no ``/proc/self/clear_refs``, or a kernel that refuses the reset): ``None``. No per-run
  figure is honest there, and the lifetime high-water mark is the number this module replaces.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
from pathlib import Path
from typing import Any

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_RESET_PEAK_RSS = "5"  # proc(5): "reset the peak resident set size to the process's current value"
_KIB_PER_MIB = 1024.0


def _status_kib(field: str) -> int:
    """One ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise OSError(f"{_STATUS} has no {field} field")
    return int(match.group(1))


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim`` (None on a C library without it, e.g. musl or macOS)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class PeakMemory:
    """Measures one run's peak memory (module docstring): ``start()`` when the run begins,
    ``peak_mb()`` when it ends (MiB, or None where it cannot be measured per run)."""

    def __init__(self, device: Any) -> None:
        self._cuda = device if getattr(device, "type", str(device)).startswith("cuda") else None
        self._rss_at_start_kib: int | None = None
        self._peak_before_assets_kib = 0  # the run's own peak before its latest asset build
        self._rss_before_asset_kib: int | None = None

    def start(self) -> None:
        from tram_bench.util.files import ASSET_CLOCK

        ASSET_CLOCK.watcher = self  # replaces the meter of an earlier run of this process, ended or failed
        if self._cuda is not None:
            import torch

            torch.cuda.reset_peak_memory_stats(self._cuda)
            return
        trim = _malloc_trim()
        if trim is not None:
            trim(0)
        try:
            _CLEAR_REFS.write_text(_RESET_PEAK_RSS)
            self._rss_at_start_kib = _status_kib("VmRSS")
        except OSError:
            self._rss_at_start_kib = None

    def asset_started(self) -> None:
        """An asset build begins (``ASSET_CLOCK``): keep the run's peak so far (CPU)."""
        if self._cuda is not None or self._rss_at_start_kib is None:
            return
        try:
            self._peak_before_assets_kib = max(self._peak_before_assets_kib,
                                               _status_kib("VmHWM") - self._rss_at_start_kib)
            self._rss_before_asset_kib = _status_kib("VmRSS")
        except OSError:
            self._rss_at_start_kib = None

    def asset_finished(self) -> None:
        """An asset build ended: what it left resident joins the baseline, and the peak counter restarts."""
        if self._cuda is not None or self._rss_at_start_kib is None or self._rss_before_asset_kib is None:
            return
        try:
            self._rss_at_start_kib += max(0, _status_kib("VmRSS") - self._rss_before_asset_kib)
            _CLEAR_REFS.write_text(_RESET_PEAK_RSS)
        except OSError:
            self._rss_at_start_kib = None
        self._rss_before_asset_kib = None

    def peak_mb(self) -> float | None:
        if self._cuda is not None:
            import torch

            return torch.cuda.max_memory_allocated(self._cuda) / 2**20
        if self._rss_at_start_kib is None:
            return None
        try:
            peak = _status_kib("VmHWM")
        except OSError:
            return None
        return max(0, self._peak_before_assets_kib, peak - self._rss_at_start_kib) / _KIB_PER_MIB
