"""One file over HTTP(S): resumable (``Range``), checksummed, renamed into place only when verified.

:func:`download` writes ``DEST.partial`` beside the destination; an interrupted download (network
error, kill) leaves it there, and the next call asks the server for the rest (``Range: bytes=N-``;
a server that ignores the header sends the whole file again, which replaces the partial). Once
complete the partial file's SHA-256 is compared with the expected one: a match is renamed onto
``DEST`` in one step (``os.replace``), a mismatch is deleted and reported. A network error, an HTTP
error status or a mismatch raises :class:`sinetune.errors.SinetuneError` with a one-line message;
the standard library's ``urllib`` does the transfer (no dependency).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from .errors import SinetuneError

#: Seconds a connection or a read may stall before the download counts as failed (resumable).
TIMEOUT = 30.0
CHUNK = 1 << 16
PARTIAL_SUFFIX = ".partial"


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of the file ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def partial_path(dest: Path) -> Path:
    """Where :func:`download` keeps the unfinished bytes of ``dest``."""
    return dest.with_name(dest.name + PARTIAL_SUFFIX)


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        if not isinstance(error.reason, BaseException):
            return str(error.reason)
        error = error.reason
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())


def _fetch_rest(url: str, partial: Path, timeout: float, say: Callable[[int, int | None], None] | None) -> None:
    """Append the rest of ``url`` to ``partial`` (or write it anew if the server ignores ``Range``)."""
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "sinetune", "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to send: the partial file is complete (or wrong)
            return
        raise
    with response:
        resumed = have and response.status == 206
        if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            partial.unlink()  # the server sent another range: start over next time
            raise http.client.HTTPException(f"asked for bytes {have}- and got {response.headers.get('Content-Range')}")
        length = response.headers.get("Content-Length")
        total = (int(length) + (have if resumed else 0)) if length and length.isdigit() else None
        written = have if resumed else 0
        with open(partial, "ab" if resumed else "wb") as handle:
            while block := response.read(CHUNK):
                handle.write(block)
                written += len(block)
            handle.flush()
            os.fsync(handle.fileno())
        if total is not None and written < total:
            raise http.client.IncompleteRead(b"", total - written)
        if say is not None:
            say(written, have if resumed else 0)


def download(url: str, dest: Path, sha256: str | None = None, *, timeout: float = TIMEOUT,
             say: Callable[[int, int], None] | None = None) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.partial``) and return the file's SHA-256.

    Args:
        sha256: the expected hex digest; ``None`` accepts any content (the caller records the
            returned digest: trust on first use).
        timeout: seconds a connection or read may stall.
        say: called once when done with ``(bytes in the file, bytes that were already there)``.

    Raises :class:`SinetuneError` (one line) on a network or HTTP error (the partial file is kept for
    the next try) or a checksum mismatch (the partial file is deleted). ``dest`` is only ever
    replaced by a verified, complete file.
    """
    partial = partial_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        _fetch_rest(url, partial, timeout, say)
    except (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, TimeoutError,
            ValueError) as error:
        kept = partial.stat().st_size if partial.exists() else 0
        resume = f"; {kept} bytes kept in {partial.name}, run again to resume" if kept else ""
        raise SinetuneError(f"cannot download {url}: {_reason(error)}{resume}") from None
    digest = sha256_of(partial)
    if sha256 is not None and digest != sha256.lower():
        partial.unlink()
        raise SinetuneError(f"{url} does not match its checksum (sha256 {digest[:16]}…, expected "
                            f"{sha256[:16]}…); the download was deleted: run again, or report a changed source")
    os.replace(partial, dest)
    return digest


__all__ = ["PARTIAL_SUFFIX", "TIMEOUT", "download", "partial_path", "sha256_of"]
