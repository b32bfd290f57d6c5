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

    def start(self) -> None:
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
        return max(0, peak - self._rss_at_start_kib) / _KIB_PER_MIB
