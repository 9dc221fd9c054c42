"""Process-level performance settings: never on import; the CLI applies them for its whole process,
every training loop (:func:`sinetune.training.train`, so the Python API too) for its own duration.

Measured on a 2-core CPU (BENCHMARKS.md, "Allocator"): a full-batch 256² step allocates many
64 MB activations; glibc serves each with a fresh ``mmap`` and returns it with ``munmap``, so every
step page-faults its whole working set again. ``x * x`` on a (62259, 256) tensor took 31 ms that
way and 6 ms with the heap kept. The fast setting asks glibc to keep freed memory
(``M_MMAP_MAX = 0``, ``M_TRIM_THRESHOLD = 2³¹ − 1``), trading a larger resident size for speed:

* :func:`tune_cpu_allocator` — process-wide, for a program (the ``sinetune`` command).
* :func:`fast_allocator` — scoped: applied on entry, and on leaving the outermost scope glibc's
  defaults (``M_MMAP_MAX = 65536``, ``M_TRIM_THRESHOLD = 128 KiB``) are put back and the kept memory
  returned to the system (``malloc_trim(0)``), so a library user's process does not stay large
  after a fit. Inside a process-wide setting it does nothing.

The allocator is one per process, so the nesting depth of :func:`fast_allocator` is the one piece of
module state here. Set ``SINETUNE_MALLOC=system`` to leave the allocator alone everywhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import sys
from collections.abc import Callable, Iterator

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
#: glibc's own defaults, restored when the outermost :func:`fast_allocator` scope ends.
GLIBC_MMAP_MAX, GLIBC_TRIM_THRESHOLD = 65536, 128 * 1024

_state = {"process_wide": False, "depth": 0, "scoped": False}


def _libc():
    """glibc's ``mallopt`` and ``malloc_trim``, or ``None`` (another platform, or disabled)."""
    if os.environ.get("SINETUNE_MALLOC", "").lower() == "system" or not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return mallopt, trim


def _keep_freed_memory(mallopt) -> bool:
    applied = mallopt(M_MMAP_MAX, 0) == 1
    applied &= mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1
    return bool(applied)


def tune_cpu_allocator() -> bool:
    """Keep freed heap memory for reuse for the rest of the process (glibc only); whether applied."""
    functions = _libc()
    if functions is None:
        return False
    _state["process_wide"] = _keep_freed_memory(functions[0])
    return _state["process_wide"]


def allocator_tuned() -> bool:
    """Whether the fast setting is in effect now (process-wide or inside :func:`fast_allocator`)."""
    return _state["process_wide"] or _state["scoped"]


@contextlib.contextmanager
def fast_allocator() -> Iterator[bool]:
    """The fast setting for the duration of the block (see the module docstring); yields whether it
    is in effect. Re-entrant; thread-safe only in the sense that the outermost scope restores."""
    functions = _libc()
    outermost = _state["depth"] == 0
    _state["depth"] += 1
    try:
        if outermost and functions is not None and not _state["process_wide"]:
            _state["scoped"] = _keep_freed_memory(functions[0])
        yield allocator_tuned()
    finally:
        _state["depth"] -= 1
        if outermost and _state["scoped"]:
            mallopt, trim = functions
            mallopt(M_MMAP_MAX, GLIBC_MMAP_MAX)
            mallopt(M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD)
            trim(0)
            _state["scoped"] = False


def with_fast_allocator(function: Callable) -> Callable:
    """Decorate ``function`` to run inside :func:`fast_allocator` (used on the training loop)."""
    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        with fast_allocator():
            return function(*args, **kwargs)

    return wrapped


__all__ = ["allocator_tuned", "fast_allocator", "tune_cpu_allocator", "with_fast_allocator"]
