"""The benchmark data sets, fetched on demand into a cache: a typed registry, :func:`fetch`, :func:`status`.

sinetune ships no benchmark data. ``sinetune data fetch NAME`` (:func:`fetch`) downloads a set from its
public source into ``CACHE/FOLDER/`` — the folder ``sinetune bench`` reads by default
(:mod:`sinetune.bench.data`) — with each file resumable and checksummed (:mod:`sinetune.download`).

* **The cache** (:func:`data_root`): ``cache=`` (``--cache DIR``), else ``$SINETUNE_DATA``, else
  ``$XDG_CACHE_HOME/sinetune``, else ``~/.cache/sinetune``.
* **Checksums.** A :class:`RemoteFile` with a known ``sha256`` is verified against it (Kodak:
  :data:`KODAK_SHA256`). Where none trustworthy was found (DIV2K, the audio clips), the SHA-256 of
  the first complete download is written into the folder's manifest (``sinetune-data.json``;
  *trust on first use*) and every later fetch and ``data list`` verifies the cached file against
  it. The URLs of files in git repositories are pinned to a commit, so their content cannot change
  under the same URL.
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
        sha256: the expected hex SHA-256; ``None``: none known, recorded at the first download.
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


#: SHA-256 of r0k.us's kodim01.png … kodim24.png. r0k.us publishes none; these are the values that
#: independent projects pin (two complete lists found identical, single values in several more),
#: i.e. corroborated, not the publisher's.
KODAK_SHA256 = (
    "a56e27cbf5f843c048b6af1d6e090760e9c92fadba88b7dee0205918a37523bd",  # kodim01.png
    "4f4b74a79237e311d72cad958237b5f7088d8bce1c82305ebefe1a70e3022dfd",  # kodim02.png
    "e25ca1ff2f0c0cb5fdfd5f9b0a0bb21ac4c3de3c84a67f35b09a85d3306249db",  # kodim03.png
    "e3b946107c5d3441c022f678d0c3caf1e224d81b1604ba840a4f88e562de61aa",  # kodim04.png
    "10349e963c5c813d327852f82c1795fa4148d69fedffc4c589bee458e3ac3d53",  # kodim05.png
    "363510303b715d4cbc384e1ce227e466b613a09e1b71ae985882bf8e7fbd9b18",  # kodim06.png
    "b77d3f006f42414bb242222e0482e750c0fb9e5ee8d4bed2f6f11c5605fe54a4",  # kodim07.png
    "ba23983c76b4832ee0e8af0592664756841a16779acd69f792e268fb6d13d6e7",  # kodim08.png
    "6a4361c2fc194feb4edaa9f9a4a0620fb9943e460ac7fdf037fb0f6dd6607a7d",  # kodim09.png
    "9dfb70f5867c29ff9ed6313683f19b3d867849e40fbc0c4c54a4a89df341cf23",  # kodim10.png
    "7936814b58b5387fce2e4e2488b4ec830dadd95fa9520f358ddb30990b50f2b6",  # kodim11.png
    "d78c37c2f04f23761ed2367dd77e2db584ddd4c3950833fecf89f199a8126980",  # kodim12.png
    "bc34a3ce58dea09dce1704c997171602de90cb34d0c8503a988b77f473d39b08",  # kodim13.png
    "55a94550ff18f3246c4074fd32b77b0c74447c26b6ad274d564d999c0450ba6e",  # kodim14.png
    "7538cbb80cb9103606c48b806eae57d56c885c7f90b9b3be70a41160f9cbb683",  # kodim15.png
    "a89c7268ccd4718ba424a99fc4643c572cf692ca6eae887185ceb4e9f11d2e54",  # kodim16.png
    "37afcc89fbdcb76d9518e04b2fc011027e2f4cd14b3b2f83cefd721641a47c5b",  # kodim17.png
    "1a9258c365988961d87a0598725b609139c303ad48a5aad6c503c3b1a87849aa",  # kodim18.png
    "b7450b264b1b0a411390d8931b112c27905a992520fc90569dc4b920aa32bbdc",  # kodim19.png
    "3b46c71e3b92a563820ba32936be8330c586c41f938efd94be938386aae4328a",  # kodim20.png
    "ac958597c82073f6bb65129c68f72b651db5b9efd82e11547d07350214bc268b",  # kodim21.png
    "1cee58eb1f2d9c7ebb254d208a03c783ce6cf2c4d8c2cf45e235dd23b4ce1b29",  # kodim22.png
    "e3111a2fd4da24af15d6459ef9eacfe54106b38e27b4a21821b75c3f5d2d5baf",  # kodim23.png
    "1071c68372cc5a01435c2c225a5cf7d4bb803846ec08bb6b3d6721b156d7cb96",  # kodim24.png
)

_SIREN = "https://raw.githubusercontent.com/vsitzmann/siren/fbd1d51da732e8bf67b8a5c32e1a3a46d842fa37/data"
_FINER = ("https://raw.githubusercontent.com/liuzhen0212/FINER/07a9a922e5bc20323d080ba382f71d333e9c7482/"
          "data/div2k/test_data")

#: The known data sets by name.
DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("kodak", "kodak", "the 24 Kodak PhotoCD images (768×512 PNG), kept as 512×512 centre crops",
            "Eastman Kodak, released for unrestricted usage (no formal licence text); attribute Kodak",
            "http://r0k.us/graphics/kodak/",
            tuple(RemoteFile(f"originals/kodim{i:02d}.png", f"http://r0k.us/graphics/kodak/kodak/kodim{i:02d}.png",
                             KODAK_SHA256[i - 1]) for i in range(1, 25)),
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
        recorded: files whose checksum was recorded now (none in the registry: trust on first use).
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

    A cached file is checked against its registry checksum, else the one recorded in the manifest;
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
                                "checksum": "registry" if file.sha256 else "recorded at first download"}
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


__all__ = ["DATASETS", "DATA_ENV", "KODAK_SHA256", "MANIFEST", "MIRROR_ENV", "Dataset", "DatasetStatus", "FetchResult",
           "RemoteFile", "data_root", "fetch", "get_dataset", "kodak_crops", "read_manifest", "status"]
