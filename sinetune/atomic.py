"""File-system primitives for writing that survives a kill: exclusive locks, atomic swaps, flushes.

* :func:`lock` / :func:`unlock`: an advisory, exclusive, non-blocking ``fcntl.flock`` on a lock
  file. The kernel drops it when its process dies (``kill -9`` included). The holder deletes the
  file on release *while still holding it*; a process that locked the file just before it was
  unlinked notices (the path no longer names the file it locked) and retries on the new one, so
  at most one process ever holds the lock of a path.
* :func:`exchange`: swap two directories in one step (Linux ``renameat2(RENAME_EXCHANGE)``).
* :func:`fsync`: flush a file's or a directory's entries to disk (power loss, not just a kill).
* :func:`fresh_directory`: create a new, empty, uniquely named directory (the umask applies).
* :func:`apply_umask`: give a file written by a library that creates it ``0600`` (safetensors) the
  mode an ordinary ``open()`` would have given it (``0666`` less the umask).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import secrets
import sys
from pathlib import Path

_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def lock(path: Path) -> int | None:
    """An exclusive lock on ``path`` (created if needed): its file descriptor, or ``None`` if another
    process holds it. Raises ``OSError`` if the file cannot be created (e.g. a read-only folder)."""
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            return None
        try:  # retry if we locked a file its holder has unlinked meanwhile
            if os.path.samestat(os.fstat(handle), os.stat(path)):
                os.ftruncate(handle, 0)
                os.write(handle, f"{os.getpid()}\n".encode())  # who holds it, for a curious user
                return handle
        except FileNotFoundError:
            pass
        os.close(handle)


def unlock(handle: int, path: Path) -> None:
    """Delete the lock file ``path`` (while still holding it) and release the lock ``handle``."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.close(handle)


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def fsync(path: Path, directory: bool = False) -> None:
    """Flush ``path`` (a file, or with ``directory`` a directory's entries) to disk."""
    handle = os.open(path, (os.O_RDONLY | os.O_DIRECTORY) if directory else os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def fresh_directory(prefix: Path) -> Path:
    """Create and return the empty directory ``PREFIX-XXXXXXXX`` (a name no one else took)."""
    while True:
        path = prefix.with_name(f"{prefix.name}-{secrets.token_hex(4)}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def current_umask() -> int:
    """The process's umask, read without changing it where the OS tells it (Linux ``/proc``)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but only a fallback)
    os.umask(mask)
    return mask


def apply_umask(path: Path) -> None:
    """Set ``path``'s permissions to ``0666 & ~umask``, those of a file made by ``open(path, "w")``."""
    os.chmod(path, 0o666 & ~current_umask())


__all__ = ["apply_umask", "current_umask", "exchange", "fresh_directory", "fsync", "lock", "unlock"]
