"""The benchmark data sets, fetched on demand into a cache: a typed registry, :func:`fetch`, :func:`status`.

sinetune ships no benchmark data. ``sinetune data fetch NAME`` (:func:`fetch`) downloads a set from its
public source into ``CACHE/FOLDER/`` — the folder ``sinetune bench`` reads by default
(:mod:`sinetune.bench.data`) — with each file resumable and checksummed (:mod:`sinetune.download`).

* **The cache** (:func:`data_root`): ``cache=`` (``--cache DIR``), else ``$SINETUNE_DATA``, else
  ``$XDG_CACHE_HOME/sinetune``, else ``~/.cache/sinetune``.
* **Checksums.** A :class:`RemoteFile` with a published ``sha256`` is verified against it. Where no
  trustworthy published checksum was found (every file at present: the sources publish none, see
  README "Data and licences"), the SHA-256 of the first complete download is written into the
  folder's manifest (``sinetune-data.json``; *trust on first use*) and every later fetch and
  ``data list`` verifies the cached file against it. The URLs of files in git repositories are
  pinned to a commit, so their content cannot change under the same URL.
* **Derived files.** Kodak's 768×512 originals are kept in ``kodak/originals/``; the benchmark reads
  their 512×512 centre crops ``kodak/kodimNN.png`` (x0 = (W−512)/2, y0 = (H−512)/2, the crops of the
  TUNER repository), written by :func:`fetch` after the originals verify.
* **A mirror** (``mirror=`` / ``$SINETUNE_DATA_MIRROR``, a base URL): every file is fetched from
  ``MIRROR/FOLDER/NAME`` instead, i.e. a cache folder served over HTTP is a mirror (the tests do this).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .atomic import lock, unlock
from .download import PARTIAL_SUFFIX, download, partial_path, sha256_of
from .errors import SinetuneError
from .progress import Progress, as_progress

#: Environment variable naming the data folder (one sub-folder per set); also the default cache.
DATA_ENV = "SINETUNE_DATA"
#: Environment variable with a base URL every file is fetched from instead of its source.
MIRROR_ENV = "SINETUNE_DATA_MIRROR"
#: The manifest in each set's folder: ``{"dataset": NAME, "files": {NAME: {"sha256", "url", "checksum"}}}``.
MANIFEST = "sinetune-data.json"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set.

    Attributes:
        name: its path inside the set's folder (``originals/kodim01.png``).
        url: where it is published.
        sha256: the published hex SHA-256; ``None``: none published, recorded on first download.
    """

    name: str
    url: str
    sha256: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A benchmark data set: where its files come from, under which terms, which benchmark reads it.

    Attributes:
        name: registry key (``sinetune data fetch NAME``).
        folder: its sub-folder of the cache (what ``sinetune bench`` looks for).
        description: what the files are.
        licence: the terms of use, as the source states them.
        source: the source's home page.
        files: the files to download.
        benchmark: the ``sinetune bench`` name that reads it (``None``: none yet).
        prepare: derives the files the benchmark reads from the downloaded ones (``folder → paths``).
        note: what the set lacks, if anything, and why.
        reads: the pattern of the files the benchmark reads in the folder (``data list`` counts them).
    """

    name: str
    folder: str
    description: str
    licence: str
    source: str
    files: tuple[RemoteFile, ...]
    benchmark: str | None = None
    prepare: Callable[[Path], list[Path]] | None = None
    note: str = ""
    reads: str = "*"


KODAK_CROP = 512


def kodak_crops(folder: Path) -> list[Path]:
    """Write the 512×512 centre crop ``folder/kodimNN.png`` of each ``folder/originals/kodimNN.png``
    (x0 = (W−512)//2, y0 = (H−512)//2; portrait and landscape alike) that has none yet."""
    from PIL import Image

    written = []
    for original in sorted((folder / "originals").glob("kodim*.png")):
        target = folder / original.name
        if target.is_file():
            continue
        with Image.open(original) as image:
            x0, y0 = (image.width - KODAK_CROP) // 2, (image.height - KODAK_CROP) // 2
            if min(x0, y0) < 0:
                raise SinetuneError(f"{original} is {image.width}×{image.height}, smaller than the {KODAK_CROP}² crop")
            crop = image.convert("RGB").crop((x0, y0, x0 + KODAK_CROP, y0 + KODAK_CROP))
        partial = partial_path(target)
        crop.save(partial, format="PNG")
        os.replace(partial, target)
        written.append(target)
    return written


_SIREN = "https://raw.githubusercontent.com/vsitzmann/siren/fbd1d51da732e8bf67b8a5c32e1a3a46d842fa37/data"
_FINER = ("https://raw.githubusercontent.com/liuzhen0212/FINER/07a9a922e5bc20323d080ba382f71d333e9c7482/"
          "data/div2k/test_data")

#: The known data sets by name.
DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("kodak", "kodak", "the 24 Kodak PhotoCD images (768×512 PNG), kept as 512×512 centre crops",
            "Eastman Kodak, released for unrestricted usage (no formal licence text); attribute Kodak",
            "http://r0k.us/graphics/kodak/",
            tuple(RemoteFile(f"originals/kodim{i:02d}.png", f"http://r0k.us/graphics/kodak/kodak/kodim{i:02d}.png")
                  for i in range(1, 25)),
            benchmark="kodak-256", prepare=kodak_crops, reads="kodim*.png"),
    Dataset("div2k", "div2k", "16 DIV2K 512×512 crops, the test images of the FINER/TUNER DIV2K comparison",
            "DIV2K: academic research use only", "https://github.com/liuzhen0212/FINER (data/div2k/test_data)",
            tuple(RemoteFile(f"{i:02d}.png", f"{_FINER}/{i:02d}.png") for i in range(16)), reads="*.png"),
    Dataset("audio", "audio", "SIREN's audio clips bach.wav (7 s) and counting.wav (12 s), 44.1 kHz mono",
            "from the SIREN repository (MIT-licensed repository; recording source unstated)",
            "https://github.com/vsitzmann/siren (data/)",
            (RemoteFile("bach.wav", f"{_SIREN}/gt_bach.wav"), RemoteFile("counting.wav", f"{_SIREN}/gt_counting.wav")),
            benchmark="audio", reads="*.wav",
            note="trumpet and speech are not fetched (Freesound serves the original only after a login; "
                 "LibriSpeech has it inside a multi-GB archive): bench audio --clips bach,counting"),
)}


def get_dataset(name: str) -> Dataset:
    """The registry entry ``name``; one-line error naming the known sets otherwise."""
    if name not in DATASETS:
        raise SinetuneError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def data_root(cache: str | Path | None = None) -> Path:
    """The cache folder: ``cache``, else ``$SINETUNE_DATA``, else ``$XDG_CACHE_HOME/sinetune``, else
    ``~/.cache/sinetune``."""
    if cache is not None:
        return Path(cache)
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sinetune"


def read_manifest(folder: Path) -> dict[str, dict[str, str]]:
    """The recorded files of a set's folder (``{}`` without a manifest); a corrupt one is a one-line error."""
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
        if not isinstance(files, dict):
            raise TypeError
        return files
    except (ValueError, KeyError, TypeError):
        raise SinetuneError(f"{path} is not a sinetune data manifest; delete it to fetch again") from None


def _write_manifest(folder: Path, name: str, files: dict[str, dict[str, str]]) -> None:
    partial = partial_path(folder / MANIFEST)
    partial.write_text(json.dumps({"dataset": name, "files": files}, indent=2, sort_keys=True) + "\n",
                       encoding="utf-8")
    os.replace(partial, folder / MANIFEST)


def _url(dataset: Dataset, file: RemoteFile, mirror: str | None) -> str:
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    return f"{mirror.rstrip('/')}/{dataset.folder}/{file.name}" if mirror else file.url


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch` did.

    Attributes:
        folder: the set's folder in the cache (what ``sinetune bench`` reads).
        downloaded: files downloaded now (names inside ``folder``).
        verified: files already cached that matched their checksum.
        recorded: files whose checksum was recorded now (no published one: trust on first use).
        kept: files found in the folder with no checksum to compare (placed there by hand), left as they are.
        derived: files written from the downloads (Kodak's crops).
    """

    folder: Path
    downloaded: tuple[str, ...]
    verified: tuple[str, ...]
    recorded: tuple[str, ...]
    kept: tuple[str, ...]
    derived: tuple[str, ...]


def fetch(name: str, cache: str | Path | None = None, *, mirror: str | None = None,
          progress: bool | Progress = False) -> FetchResult:
    """Download the set ``name`` into ``data_root(cache)/FOLDER`` unless cached and verified.

    A cached file is checked against its published checksum, else the one recorded in the manifest;
    one that does not match is downloaded again (replaced only once the new copy verifies). An
    interrupted download resumes. Raises :class:`SinetuneError` (one line) on a network error, a
    checksum mismatch, or another fetch writing the same folder.
    """
    dataset = get_dataset(name)
    say = as_progress(progress)
    folder = data_root(cache) / dataset.folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = lock(folder / ".fetch.lock")
    except OSError as error:
        raise SinetuneError(f"cannot write the data cache {folder}: {error.strerror or error}") from None
    if handle is None:
        raise SinetuneError(f"another sinetune data fetch is writing {folder}; wait for it")
    downloaded, verified, recorded, kept = [], [], [], []
    try:
        files = read_manifest(folder)
        for index, file in enumerate(dataset.files, 1):
            dest = folder / file.name
            expected = file.sha256 or files.get(file.name, {}).get("sha256")
            if dest.is_file() and expected is None:  # placed there by hand: never replaced
                say.note(f"{dataset.name}: keeping {dest} (not downloaded by sinetune, so not verified)")
                kept.append(file.name)
                continue
            if dest.is_file() and sha256_of(dest) == expected:
                verified.append(file.name)
                continue
            if dest.is_file():
                say.note(f"{dataset.name}: {file.name} does not match its checksum; downloading it again")
            url = _url(dataset, file, mirror)
            say.note(f"{dataset.name} [{index}/{len(dataset.files)}]: {url}")
            digest = download(url, dest, expected)
            downloaded.append(file.name)
            if expected is None:
                recorded.append(file.name)
            files[file.name] = {"sha256": digest, "url": file.url,
                                "checksum": "published" if file.sha256 else "recorded at first download"}
            _write_manifest(folder, dataset.name, files)  # after each file: an interrupted fetch keeps its work
        derived = [path.relative_to(folder).as_posix() for path in dataset.prepare(folder)] if dataset.prepare else []
    finally:
        unlock(handle, folder / ".fetch.lock")
    return FetchResult(folder, tuple(downloaded), tuple(verified), tuple(recorded), tuple(kept), tuple(derived))


@dataclass(frozen=True)
class DatasetStatus:
    """What the cache holds of a set.

    Attributes:
        dataset: the registry entry.
        folder: its folder in the cache.
        cached: files present and matching their checksum.
        mismatched: files present that do not match it.
        unverified: files present with no checksum to compare (placed there by hand).
        missing: files not there (a ``.partial`` counts as missing).
        readable: how many files matching :attr:`Dataset.reads` the folder holds, fetched or not.
    """

    dataset: Dataset
    folder: Path
    cached: tuple[str, ...]
    mismatched: tuple[str, ...]
    unverified: tuple[str, ...]
    missing: tuple[str, ...]
    readable: int = 0

    @property
    def summary(self) -> str:
        """``"cached (24 files, verified)"``, ``"not cached"``, ``"partly cached: 3 of 24 files"``, …"""
        total = len(self.dataset.files)
        if len(self.missing) == total:
            held = f" (the folder holds {self.readable} {self.dataset.reads}, not fetched)" if self.readable else ""
            return f"not cached{held}"
        parts = [f"cached ({total} files, verified)" if len(self.cached) == total
                 else f"partly cached: {len(self.cached)} of {total} files verified"]
        if self.mismatched:
            parts.append(f"{len(self.mismatched)} not matching their checksum (fetch again)")
        if self.unverified:
            parts.append(f"{len(self.unverified)} without a recorded checksum")
        return "; ".join(parts)


def status(name: str, cache: str | Path | None = None) -> DatasetStatus:
    """What ``data_root(cache)`` holds of the set ``name``, each present file verified."""
    dataset = get_dataset(name)
    folder = data_root(cache) / dataset.folder
    files = read_manifest(folder) if folder.is_dir() else {}
    groups: dict[str, list[str]] = {"cached": [], "mismatched": [], "unverified": [], "missing": []}
    for file in dataset.files:
        expected = file.sha256 or files.get(file.name, {}).get("sha256")
        path = folder / file.name
        group = ("missing" if not path.is_file() else "unverified" if expected is None
                 else "cached" if sha256_of(path) == expected else "mismatched")
        groups[group].append(file.name)
    readable = sum(path.is_file() and path.name != MANIFEST and not path.name.startswith(".")
                   and not path.name.endswith(PARTIAL_SUFFIX) for path in folder.glob(dataset.reads)) \
        if folder.is_dir() else 0
    return DatasetStatus(dataset, folder, **{key: tuple(value) for key, value in groups.items()}, readable=readable)


__all__ = ["DATASETS", "DATA_ENV", "MANIFEST", "MIRROR_ENV", "Dataset", "DatasetStatus", "FetchResult", "RemoteFile",
           "data_root", "fetch", "get_dataset", "kodak_crops", "read_manifest", "status"]
