"""Data on demand (issue #15): ``sinetune data fetch|list`` against a local HTTP server, no internet.

The server (:class:`Server`, ``http.server`` in a thread on 127.0.0.1) serves in-memory files with
``Range`` support, can cut a response short (a dropped connection) or ignore ``Range``, and records
the requests, so resuming, checksums and network errors are all exercised for real.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import socket
import threading

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli
from PIL import Image

from sinetune import datasets
from sinetune.bench.data import benchmark_data
from sinetune.datasets import MANIFEST, Dataset, RemoteFile, fetch, status
from sinetune.errors import SinetuneError


class Server:
    """In-memory files over HTTP on the loopback address, with ``Range``, truncation and a request log."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}  # path → bytes to send before dropping the connection (once)
        self.ranges = True
        self.claimed_start: int | None = None  # Content-Range start to claim instead of the true one
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if server.ranges and self.headers.get("Range", "").startswith("bytes="):
                    start = int(self.headers["Range"][6:].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                self.send_response(206 if start else 200)
                if start:
                    claimed = start if server.claimed_start is None else server.claimed_start
                    self.send_header("Content-Range", f"bytes {claimed}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                limit = server.cut.pop(self.path, None)
                self.wfile.write(body[start:] if limit is None else body[start:start + limit])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    served = Server()
    yield served
    served.close()


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def tiny(server: Server, monkeypatch, sha256: str | None = None, size: int = 200_000) -> bytes:
    """Register the set ``tiny`` (one file ``blob.bin`` on ``server``) and return the file's bytes."""
    body = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
    server.files["/blob.bin"] = body
    monkeypatch.setitem(datasets.DATASETS, "tiny", Dataset("tiny", "tiny", "a test blob", "none", server.url,
                                                           (RemoteFile("blob.bin", f"{server.url}/blob.bin",
                                                                       sha256),)))
    return body


def test_kodak_fetch_verifies_crops_and_bench_finds_it(server, tmp_path, monkeypatch, capsys):
    originals = {}
    for i in range(1, 25):  # the real registry entry, served by a mirror: landscape and portrait originals
        shape = (768, 512) if i in (4, 9, 10, 17, 18, 19) else (512, 768)
        y, x = np.mgrid[0:shape[0], 0:shape[1]]  # each pixel tells where it is (and which image)
        originals[i] = np.stack([x % 256, y % 256, x // 256 * 64 + y // 256 * 16 + i], axis=-1).astype(np.uint8)
        server.files[f"/kodak/originals/kodim{i:02d}.png"] = png_bytes(originals[i])
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))  # the default cache: no --cache, no SINETUNE_DATA
    with pytest.raises(SinetuneError, match="run `sinetune data fetch kodak` or pass --data DIR"):
        benchmark_data(None, "kodak", "kodak-256", "kodimNN.png")
    code, _, err = run_cli(capsys, "data", "fetch", "kodak", "--mirror", server.url, "--quiet")
    assert_one_line_error(code, err, "kodim01.png does not match its checksum", "expected a56e27cbf5f843c0")
    assert not list((cache / "sinetune" / "kodak").rglob("*.png*"))  # the real checksums refuse test images
    kodak = datasets.DATASETS["kodak"]  # so the test registers theirs, as the registry holds Kodak's
    monkeypatch.setitem(datasets.DATASETS, "kodak", dataclasses.replace(kodak, files=tuple(
        dataclasses.replace(file, sha256=hashlib.sha256(server.files[f"/kodak/{file.name}"]).hexdigest())
        for file in kodak.files)))
    code, out, _ = run_cli(capsys, "data", "fetch", "kodak", "--mirror", server.url)
    assert code == 0 and "24 downloaded" in out and "recorded" not in out and "24 derived" in out
    folder = cache / "sinetune" / "kodak"
    manifest = json.loads((folder / MANIFEST).read_text())["files"]
    for i, original in originals.items():
        entry = manifest[f"originals/kodim{i:02d}.png"]
        assert entry["sha256"] == hashlib.sha256(server.files[f"/kodak/originals/kodim{i:02d}.png"]).hexdigest()
        assert entry["checksum"] == "registry"
        assert entry["url"] == f"http://r0k.us/graphics/kodak/kodak/kodim{i:02d}.png"  # the source, not the mirror
        crop = np.asarray(Image.open(folder / f"kodim{i:02d}.png"))
        y0, x0 = (original.shape[0] - 512) // 2, (original.shape[1] - 512) // 2
        assert crop.shape == (512, 512, 3) and np.array_equal(crop, original[y0:y0 + 512, x0:x0 + 512])
    assert not list(folder.rglob("*.partial"))
    requests = len(server.requests)
    code, out, _ = run_cli(capsys, "data", "fetch", "kodak", "--mirror", server.url)
    assert code == 0 and "0 downloaded, 24 already cached and verified" in out and len(server.requests) == requests
    code, out, _ = run_cli(capsys, "data", "list")
    assert code == 0 and f"kodak  cached (24 files, verified) in {folder} (bench kodak-256)" in out
    assert "div2k  not cached" in out
    assert benchmark_data(None, "kodak", "kodak-256", "kodimNN.png") == folder
    code, out, err = run_cli(capsys, "bench", "kodak-256", "--images", "03", "--methods", "siren", "--steps", "1",
                             "--size", "32", "--width", "16", "--device", "cpu", "--out", tmp_path / "b", "--quiet")
    assert code == 0, err
    rows = json.loads((tmp_path / "b" / "results.json").read_text())["rows"]
    assert [(row["image"], row["method"]) for row in rows] == [("kodim03", "siren")]


def test_a_truncated_download_resumes_with_range(server, tmp_path, monkeypatch, capsys):
    body = tiny(server, monkeypatch)
    server.cut["/blob.bin"] = 70_000
    code, _, err = run_cli(capsys, "data", "fetch", "tiny", "--cache", tmp_path, "--quiet")
    assert_one_line_error(code, err, f"cannot download {server.url}/blob.bin", "70000 bytes kept in blob.bin.partial",
                          "run again to resume")
    assert not (tmp_path / "tiny" / "blob.bin").exists()
    assert (tmp_path / "tiny" / "blob.bin.partial").read_bytes() == body[:70_000]
    assert status("tiny", tmp_path).summary == "not cached"
    result = fetch("tiny", tmp_path)
    assert server.requests[-1] == ("/blob.bin", "bytes=70000-")  # only the rest was asked for
    assert (tmp_path / "tiny" / "blob.bin").read_bytes() == body and result.downloaded == ("blob.bin",)
    assert not (tmp_path / "tiny" / "blob.bin.partial").exists()
    assert status("tiny", tmp_path).summary == "cached (1 files, verified)"


def test_a_server_ignoring_range_restarts_the_file(server, tmp_path, monkeypatch):
    body = tiny(server, monkeypatch)
    server.ranges = False
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "blob.bin.partial").write_bytes(b"stale bytes of another file")
    fetch("tiny", tmp_path)
    assert server.requests[-1][1] == "bytes=27-"
    assert (tmp_path / "tiny" / "blob.bin").read_bytes() == body


def test_a_checksum_mismatch_removes_the_download(server, tmp_path, monkeypatch, capsys):
    body = tiny(server, monkeypatch, sha256="0" * 64)
    code, _, err = run_cli(capsys, "data", "fetch", "tiny", "--cache", tmp_path, "--quiet")
    digest = hashlib.sha256(body).hexdigest()
    assert_one_line_error(code, err, "blob.bin does not match its checksum", f"sha256 {digest[:16]}",
                          "expected 0000000000000000", "the download was deleted")
    assert not list((tmp_path / "tiny").glob("blob.bin*"))
    tiny(server, monkeypatch, sha256=digest)  # the registry's checksum: accepted and recorded as such
    assert fetch("tiny", tmp_path).recorded == ()
    assert json.loads((tmp_path / "tiny" / MANIFEST).read_text())["files"]["blob.bin"]["checksum"] == "registry"


def test_the_first_download_s_checksum_guards_the_cache(server, tmp_path, monkeypatch, capsys):
    body = tiny(server, monkeypatch)
    assert fetch("tiny", tmp_path).recorded == ("blob.bin",)
    cached = tmp_path / "tiny" / "blob.bin"
    cached.write_bytes(body[:-1] + b"x")  # the cached copy is damaged
    assert status("tiny", tmp_path).mismatched == ("blob.bin",)
    fetch("tiny", tmp_path)  # downloaded again, verified against the recorded checksum
    assert cached.read_bytes() == body
    server.files["/blob.bin"] = body[::-1]  # the source now serves other bytes: refused, cache untouched
    cached.write_bytes(b"damaged")
    code, _, err = run_cli(capsys, "data", "fetch", "tiny", "--cache", tmp_path, "--quiet")
    assert_one_line_error(code, err, "does not match its checksum")
    assert cached.read_bytes() == b"damaged" and not (tmp_path / "tiny" / "blob.bin.partial").exists()


def test_a_file_placed_by_hand_is_kept(server, tmp_path, monkeypatch):
    tiny(server, monkeypatch)
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "blob.bin").write_bytes(b"mine")
    result = fetch("tiny", tmp_path)
    assert result.kept == ("blob.bin",) and result.downloaded == () and not server.requests
    assert (tmp_path / "tiny" / "blob.bin").read_bytes() == b"mine"
    assert status("tiny", tmp_path).unverified == ("blob.bin",)


def test_network_errors_are_one_line(server, tmp_path, monkeypatch, capsys):
    tiny(server, monkeypatch)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    code, _, err = run_cli(capsys, "data", "fetch", "tiny", "--cache", tmp_path, "--quiet", "--mirror",
                           f"http://127.0.0.1:{closed}")
    assert_one_line_error(code, err, f"cannot download http://127.0.0.1:{closed}/tiny/blob.bin", "refused")
    code, _, err = run_cli(capsys, "data", "fetch", "tiny", "--cache", tmp_path, "--mirror", server.url, "--quiet")
    assert_one_line_error(code, err, f"cannot download {server.url}/tiny/blob.bin: HTTP 404")
    code, _, err = run_cli(capsys, "data", "fetch", "tiny", "nope", "--cache", tmp_path)
    assert_one_line_error(code, err, "unknown data set 'nope'; known: kodak, div2k, audio")
    assert not (tmp_path / "tiny" / "blob.bin").exists()


def test_the_cache_defaults_to_sinetune_data_then_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.data_root() == tmp_path / "xdg" / "sinetune"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.data_root() == tmp_path / "home" / ".cache" / "sinetune"
    monkeypatch.setenv("SINETUNE_DATA", str(tmp_path / "data"))
    assert datasets.data_root() == tmp_path / "data" and datasets.data_root(tmp_path / "c") == tmp_path / "c"


def test_the_registry_is_complete():
    assert [file.sha256 for file in datasets.DATASETS["kodak"].files] == list(datasets.KODAK_SHA256)
    assert len(set(datasets.KODAK_SHA256)) == 24
    for name, dataset in datasets.DATASETS.items():
        assert dataset.name == name and dataset.files and dataset.licence and dataset.description
        assert len({file.name for file in dataset.files}) == len(dataset.files)
        for file in dataset.files:
            assert file.url.startswith(("http://", "https://"))
            assert file.sha256 is None or (len(file.sha256) == 64 and int(file.sha256, 16) >= 0)
            if "github" in file.url:  # pinned to a commit: the content behind the URL cannot change
                assert any(len(part) == 40 for part in file.url.split("/")), file.url


def test_a_complete_partial_file_is_verified_and_renamed(server, tmp_path, monkeypatch):
    body = tiny(server, monkeypatch)
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "blob.bin.partial").write_bytes(body)  # killed between the last byte and the rename
    assert fetch("tiny", tmp_path).downloaded == ("blob.bin",)
    assert server.requests == [("/blob.bin", f"bytes={len(body)}-")]  # answered 416: nothing left to send
    assert (tmp_path / "tiny" / "blob.bin").read_bytes() == body


def test_one_fetch_at_a_time_per_folder(server, tmp_path, monkeypatch):
    from sinetune.atomic import lock, unlock

    tiny(server, monkeypatch)
    (tmp_path / "tiny").mkdir()
    handle = lock(tmp_path / "tiny" / ".fetch.lock")
    try:
        with pytest.raises(SinetuneError, match="another sinetune data fetch is writing"):
            fetch("tiny", tmp_path)
    finally:
        unlock(handle, tmp_path / "tiny" / ".fetch.lock")
    assert fetch("tiny", tmp_path).downloaded == ("blob.bin",)


def test_list_counts_a_hand_made_folder(tmp_path, capsys):
    (tmp_path / "kodak").mkdir()
    (tmp_path / "kodak" / "kodim01.png").write_bytes(b"")
    code, out, _ = run_cli(capsys, "data", "list", "--cache", tmp_path)
    assert code == 0 and "kodak  not cached (the folder holds 1 kodim*.png, not fetched)" in out


def test_a_wrong_content_range_starts_over(server, tmp_path, monkeypatch, capsys):
    body = tiny(server, monkeypatch)
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "blob.bin.partial").write_bytes(body[:1000])
    server.claimed_start = 0
    code, _, err = run_cli(capsys, "data", "fetch", "tiny", "--cache", tmp_path, "--quiet")
    assert_one_line_error(code, err, "asked for bytes 1000- and got bytes 0-")
    assert not list((tmp_path / "tiny").glob("blob.bin*"))  # nothing half-right is kept
    server.claimed_start = None
    fetch("tiny", tmp_path)
    assert (tmp_path / "tiny" / "blob.bin").read_bytes() == body
