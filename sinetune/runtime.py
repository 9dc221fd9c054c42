"""Process-level performance settings, applied explicitly by the CLI (never on import).

Measured on a 2-core CPU (BENCHMARKS.md, "Allocator"): a full-batch 256² step allocates many
64 MB activations; glibc serves each with a fresh ``mmap`` and returns it with ``munmap``, so every
step page-faults its whole working set again. ``x * x`` on a (62259, 256) tensor took 31 ms that
way and 6 ms with the heap kept. :func:`tune_cpu_allocator` asks glibc to keep freed memory
(``M_MMAP_MAX = 0``, ``M_TRIM_THRESHOLD = -1``), trading a larger resident size for speed.
Set ``SINETUNE_MALLOC=system`` to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


def tune_cpu_allocator() -> bool:
    """Keep freed heap memory for reuse (glibc only). Returns whether the setting was applied."""
    if os.environ.get("SINETUNE_MALLOC", "").lower() == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = mallopt(M_MMAP_MAX, 0) == 1
    applied &= mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
    return bool(applied)
