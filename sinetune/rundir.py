"""Run directories on disk: written whole or not at all, one writer at a time, replaced only safely.

How a run reaches ``TARGET`` (all names are siblings of it, in the same parent, so renames are atomic):

1. ``.TARGET.sinetune-lock`` is locked (``fcntl.flock``, advisory, exclusive, non-blocking) for the
   whole fit: a second writer to the same target fails at once with one line. A killed writer's
   lock dies with its process.
2. The target is checked before anything is trained: it must not exist, be an empty directory, or
   — with ``overwrite`` — be a sinetune run (``manifest.json``, or ``config.yaml`` and
   ``model.safetensors``) holding no foreign files; never the working directory, one of its
   parents, the home directory or a symbolic link. An unwritable parent fails here too.
3. The files are written into ``.TARGET.sinetune-new-XXXX``; ``manifest.json`` (every file and its
   size, ``"complete": true``) is written last, after every file is flushed to disk.
4. The finished directory is renamed onto the target. An existing run is replaced only now: the two
   are exchanged atomically (Linux ``renameat2(RENAME_EXCHANGE)``) and the old one deleted; where the
   exchange is unsupported the old run is renamed aside (``.TARGET.sinetune-old-XXXX``), the new one
   renamed in and the old one deleted.

A fit interrupted at any point leaves the previous run (or nothing) at the target, never a mixture;
its leftovers are cleared by the next writer of that target, which first puts back an old run an
interrupted swap had set aside. :func:`check_run_dir` (used by ``load_run``, so by ``render`` and
``analyze``) refuses a directory without a complete manifest.

:attr:`PendingRun.workdir` lives only as long as its fit — the next writer deletes a dead writer's
workdir in :func:`_recover`. What survives a killed fit is its training checkpoint,
``.TARGET.sinetune-resume`` (:func:`resume_path`, :mod:`sinetune.train_state`), which ``--resume``
continues from; it is deleted once the run is complete.
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import json
import math
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ContextManager

import numpy as np

from . import __version__
from .atomic import exchange, fresh_directory, fsync, lock, unlock
from .checkpoint import save_field
from .config import save_config
from .errors import SinetuneError
from .metrics import field_gradient, gray, sobel_gradient
from .render import (
    save_audio,
    save_curves,
    save_error,
    save_error_waveform,
    save_gradient,
    save_image,
    save_spectrum,
    save_waveform,
)

if TYPE_CHECKING:
    from .runs import FitResult

#: The completion marker, written last: ``{"complete": true, "files": {name: bytes}, ...}``.
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
#: The files of an image run directory.
RUN_FILES = ("config.yaml", "metrics.json", "model.safetensors", "log.csv", "reconstruction.png",
             "error.png", "spectrum.png", "gradient.png", "curves.png", "report.html", MANIFEST)
#: The files of an audio run directory.
AUDIO_RUN_FILES = ("config.yaml", "metrics.json", "model.safetensors", "log.csv", "reconstruction.wav",
                   "waveform.png", "error.png", "curves.png", "report.html", MANIFEST)
#: Files sinetune adds to a finished run (``render``, ``analyze``, ``report``): replaced along with it, and
#: not listed in its manifest (``report.html`` is written with the run but may be rewritten later).
DERIVED_FILES = ("render-*.png", "render-*.wav", "render-*.npy", "render-*.gif", "render-*.ply",
                 "analysis_*.png", "analysis.txt", "report.html", ".report.html.partial")


def sibling(target: Path, role: str) -> Path:
    """``.NAME.sinetune-ROLE`` next to ``target`` (roles: ``lock``, ``new-…``, ``old-…``)."""
    return target.with_name(f".{target.name}.sinetune-{role}")


def resume_path(target: str | Path) -> Path:
    """The training checkpoint of a fit into ``target``: ``.NAME.sinetune-resume`` (:mod:`sinetune.train_state`)."""
    return sibling(Path(os.path.abspath(target)), "resume")


def stale_checkpoint(target: Path) -> bool:
    """Whether ``target``'s checkpoint is left over from a fit whose run was then completed (a kill
    between writing the run and deleting the checkpoint): the complete run is newer than it."""
    checkpoint, manifest = resume_path(target), Path(target) / MANIFEST
    if not (checkpoint.is_file() and manifest.is_file()):
        return False
    try:
        check_run_dir(target)
    except SinetuneError:
        return False
    return manifest.stat().st_mtime_ns >= checkpoint.stat().st_mtime_ns


def default_run_dir(root: Path, signal_name: str, method: str) -> Path:
    """``root/NAME-METHOD``, or ``…-2``, ``…-3`` if taken (existing, being written, or resumable)."""
    base = Path(root) / f"{signal_name}-{method}"
    candidate, index = base, 1
    while os.path.lexists(candidate) or sibling(candidate, "lock").exists() or sibling(candidate, "resume").exists():
        index += 1
        candidate = base.with_name(f"{base.name}-{index}")
    return candidate


def _os_text(error: OSError) -> str:
    return f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")


# --- What a directory is -----------------------------------------------------------------------


def read_manifest(run_dir: Path) -> dict[str, int] | None:
    """The ``name → bytes`` listing of a complete run's manifest; ``None`` if there is no manifest."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        data = None
    files = data.get("files") if isinstance(data, dict) and data.get("complete") is True else None
    if not isinstance(files, dict) or not all(isinstance(v, int) for v in files.values()):
        raise SinetuneError(f"{run_dir} is an incomplete run (unreadable {MANIFEST}); fit it again")
    return files


def check_run_dir(run_dir: str | Path) -> Path:
    """``run_dir`` if it holds a complete run; a one-line :class:`SinetuneError` otherwise.

    Complete: ``manifest.json`` says so and every file it lists is there with the size it lists.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SinetuneError(f"no such run directory: {run_dir}")
    files = read_manifest(run_dir)
    if files is None:
        for name in ("config.yaml", "model.safetensors"):
            if not (run_dir / name).is_file():
                raise SinetuneError(f"{run_dir} is not a run directory (missing {name})")
        raise SinetuneError(f"{run_dir} is an incomplete run (no {MANIFEST}: its writing was interrupted, or an "
                            f"older sinetune wrote it); fit it again")
    for name, size in files.items():
        path = run_dir / name
        if not path.is_file() or path.stat().st_size != size:
            raise SinetuneError(f"{run_dir} is an incomplete run ({name} is missing or changed); fit it again")
    return run_dir


def protected_reason(path: Path) -> str | None:
    """Why ``path`` may never be written over (a one-line reason), or ``None``."""
    real = Path(os.path.realpath(path))
    if real == Path(os.path.realpath(os.getcwd())) or Path(os.path.realpath(os.getcwd())).is_relative_to(real):
        return "it is the working directory or one of its parents"
    with contextlib.suppress(RuntimeError, KeyError):  # no home directory known
        if Path(os.path.realpath(Path.home())).is_relative_to(real):
            return "it is the home directory or one of its parents"
    return None


def _refuse_protected(target: Path) -> None:
    """One-line refusal of a target that must never be written over, or a symbolic link."""
    if not os.path.lexists(target):
        return
    reason = protected_reason(target)
    if reason is not None:
        raise SinetuneError(f"refusing to write a run to {target}: {reason}; give a new directory with --out")
    if target.is_symlink():
        raise SinetuneError(f"output path {target} is a symbolic link; give the directory itself")


def _check_target(target: Path, overwrite: bool) -> None:
    """Refuse (one line) a target a new run may not replace: see the module docstring, step 2."""
    if not os.path.lexists(target):
        return
    _refuse_protected(target)
    if not target.is_dir():
        raise SinetuneError(f"output path exists and is not a directory: {target}")
    entries = list(target.iterdir())
    if not entries:
        return
    if not overwrite:
        raise SinetuneError(f"run directory {target} already exists; pass --overwrite to replace it")
    listed = read_manifest(target)
    if listed is None and not all((target / name).is_file() for name in ("config.yaml", "model.safetensors")):
        raise SinetuneError(f"--overwrite replaces sinetune runs only; {target} is not one (no {MANIFEST})")
    known = set(RUN_FILES) | set(AUDIO_RUN_FILES) | set(listed or ())
    foreign = sorted(entry.name for entry in entries if entry.is_symlink() or not entry.is_file()
                     or not (entry.name in known or any(fnmatch.fnmatch(entry.name, p) for p in DERIVED_FILES)))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise SinetuneError(f"--overwrite would delete files that are not part of the run in {target} ({shown}); "
                            f"move them away first")


# --- Locking, writing, swapping -----------------------------------------------------------------


def _lock(target: Path) -> int:
    """The lock of ``target`` (:func:`sinetune.atomic.lock`), or a one-line error naming the holder."""
    path = sibling(target, "lock")
    try:
        handle = lock(path)
    except OSError as error:
        raise SinetuneError(f"cannot write in {path.parent} for run directory {target}: {error.strerror}") from None
    if handle is None:
        raise SinetuneError(f"another sinetune is writing {target} (lock {path.name}); wait for it to finish "
                            f"or choose another --out")
    return handle


def _recover(target: Path) -> None:
    """With the lock held: delete dead writers' workdirs; put back an old run a swap left aside;
    delete a checkpoint whose run was completed after it (:func:`stale_checkpoint`)."""
    for entry in sorted(target.parent.iterdir()):
        if entry.name.startswith(sibling(target, "new-").name):
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(sibling(target, "old-").name):
            if os.path.lexists(target):
                shutil.rmtree(entry, ignore_errors=True)
            else:
                os.rename(entry, target)
    if stale_checkpoint(target):
        resume_path(target).unlink()


def write_manifest(run_dir: Path) -> Path:
    """Flush every file of ``run_dir`` to disk, then write ``manifest.json`` listing them (last) but the
    derived ones (:data:`DERIVED_FILES`, e.g. ``report.html``: they may be rewritten later)."""
    files = {}
    for path in sorted(run_dir.iterdir()):
        if path.name != MANIFEST and path.is_file():
            fsync(path)
            if not any(fnmatch.fnmatch(path.name, pattern) for pattern in DERIVED_FILES):
                files[path.name] = path.stat().st_size
    manifest = {"complete": True, "format": MANIFEST_FORMAT, "sinetune": __version__, "files": files}
    partial = run_dir / (MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    fsync(partial)
    os.replace(partial, run_dir / MANIFEST)
    fsync(run_dir, directory=True)
    return run_dir / MANIFEST


def _swap_in(new: Path, target: Path) -> None:
    """Put the finished ``new`` at ``target``, replacing a run there (module docstring, step 4)."""
    if os.path.lexists(target) and any(target.iterdir()):
        if exchange(new, target):
            shutil.rmtree(new, ignore_errors=True)  # it now holds the old run
        else:
            aside = fresh_directory(sibling(target, "old"))
            os.rename(target, aside)  # (replaces that empty directory)
            try:
                os.rename(new, target)
            except BaseException:
                os.rename(aside, target)
                raise
            shutil.rmtree(aside, ignore_errors=True)
    else:
        os.rename(new, target)  # onto nothing, or onto an empty directory
    fsync(target.parent, directory=True)


class PendingRun:
    """A run directory being written: ``target`` is locked and checked; files go to ``workdir``.

    Use as a context manager around the whole fit; :meth:`commit` writes and places the run. On exit
    the lock is released and an uncommitted workdir deleted (the target is untouched).
    """

    def __init__(self, target: str | Path, overwrite: bool = False):
        self.target = Path(target)  # as given (messages, returned paths); ``_path``: absolute, normalised
        self.overwrite = overwrite
        self.workdir: Path | None = None
        self._lock: int | None = None
        path = self._path = Path(os.path.abspath(target))
        _refuse_protected(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SinetuneError(f"cannot create the parent of run directory {target}: {_os_text(error)}") from None
        self._lock_path = sibling(path, "lock")
        self._lock = _lock(self.target)
        with self._closed_on_error("prepare"):
            _recover(path)
            _check_target(path, overwrite)
            self.workdir = fresh_directory(sibling(path, "new"))

    @contextlib.contextmanager
    def _closed_on_error(self, doing: str) -> Iterator[None]:
        """On any exception: :meth:`close` (nothing left behind), an ``OSError`` becoming one line."""
        try:
            yield
        except OSError as error:
            self.close()
            raise SinetuneError(f"cannot {doing} run directory {self.target}: {_os_text(error)}") from None
        except BaseException:
            self.close()
            raise

    def commit(self, write: Callable[[Path], dict[str, Path]]) -> dict[str, Path]:
        """``write(workdir)`` (returns name → path), the manifest, then the swap; name → final path."""
        if self.workdir is None:
            raise RuntimeError("this run directory is already committed or closed")
        workdir = self.workdir
        with self._closed_on_error("write"):
            paths = write(workdir)
            write_manifest(workdir)
            _check_target(self._path, self.overwrite)  # nothing else appeared there meanwhile
            _swap_in(workdir, self._path)
        self.workdir = None
        return {name: self.target / path.relative_to(workdir) for name, path in paths.items()}

    def close(self) -> None:
        """Delete an uncommitted workdir and release the lock (idempotent)."""
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        if self._lock is not None:
            unlock(self._lock, self._lock_path)
            self._lock = None

    def __enter__(self) -> PendingRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def prepare_run_dir(path: str | Path | None, overwrite: bool = False) -> ContextManager[PendingRun | None]:
    """Lock and check ``path`` for a new run: a :class:`PendingRun` (``None`` → a context yielding ``None``)."""
    return contextlib.nullcontext() if path is None else PendingRun(path, overwrite)


def commit_run(run_dir: str | Path | PendingRun, write: Callable[[Path], dict[str, Path]]) -> tuple[Path, dict]:
    """Write a run with ``write(directory)`` into a pending run (or a plain path, locked here): ``(dir, paths)``."""
    if isinstance(run_dir, PendingRun):
        return run_dir.target, run_dir.commit(write)
    with PendingRun(run_dir) as pending:
        return pending.target, pending.commit(write)


def check_output_file(path: str | Path, suffixes: tuple[str, ...], what: str) -> Path:
    """A one-line :class:`SinetuneError` unless ``path`` can be a new ``what`` file (suffix, folder)."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise SinetuneError(f"{what} is written as {'/'.join(suffixes)}; {path.name!r} has another extension")
    if path.is_dir():
        raise SinetuneError(f"output path {path} is a directory; give a file name")
    if not path.parent.is_dir():
        raise SinetuneError(f"no such directory for the output: {path.parent}")
    if not os.access(path.parent, os.W_OK):
        raise SinetuneError(f"cannot write in {path.parent} (permission denied)")
    return path


# --- The files of a run -------------------------------------------------------------------------


def write_run(run_dir: Path, result: FitResult, prediction: np.ndarray,
              gradient: np.ndarray | None = None, name: str | None = None) -> dict[str, Path]:
    """Write every file of :data:`RUN_FILES` (:data:`AUDIO_RUN_FILES` for audio) into ``run_dir``
    but the manifest (:meth:`PendingRun.commit` adds it last), then ``report.html`` (named ``name``
    there: the run directory it will be); returns name → path of all of them."""
    signal = result.signal
    if signal.dim >= 3:  # videos, volumes, SDFs: their own files (sinetune.render_nd)
        from .render_nd import write_nd_run

        return write_nd_run(run_dir, result, prediction, name)
    audio = signal.kind == "audio"
    paths = {name.split(".")[0]: run_dir / name for name in (AUDIO_RUN_FILES if audio else RUN_FILES)}
    save_config(result.config, paths["config"])
    paths["metrics"].write_text(json.dumps(finite(result.metrics), indent=2) + "\n")
    save_field(result.field, paths["model"], result.config.method, signal.grid_shape, signal.channels,
               signal.sample_rate if audio else None, signal.scale)
    with paths["log"].open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["step", "loss", "train_psnr", "heldout_psnr", "elapsed_s"])
        writer.writeheader()
        writer.writerows(result.history)
    target = signal.values
    if audio:
        save_audio(prediction, paths["reconstruction"], signal.sample_rate, signal.scale)
        save_waveform(prediction, target, signal.sample_rate, paths["waveform"])
        save_error_waveform(prediction, target, signal.sample_rate, paths["error"])
        save_curves(result.history, paths["curves"])
        return _with_report(paths, run_dir, result, name)
    save_image(prediction, paths["reconstruction"])
    save_error(prediction, target, paths["error"])
    save_spectrum(prediction, target, paths["spectrum"])
    if gradient is None:
        gradient = np.hypot(*field_gradient(result.field, signal.grid_shape, chunk=result.config.train.eval_chunk))
    save_gradient(gradient, np.hypot(*sobel_gradient(gray(target))), paths["gradient"])
    save_curves(result.history, paths["curves"])
    return _with_report(paths, run_dir, result, name)


def _with_report(paths: dict[str, Path], run_dir: Path, result: FitResult, name: str | None) -> dict[str, Path]:
    """``paths`` and ``report.html``, written last before the manifest (which does not list it: a
    derived file, rewritten by ``sinetune report``)."""
    from .report import REPORT, build_report

    paths["report"] = run_dir / REPORT
    paths["report"].write_text(build_report(run_dir, result.signal, name), encoding="utf-8")
    return paths


def finite(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null (recursively through dicts and lists)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


__all__ = ["AUDIO_RUN_FILES", "MANIFEST", "PendingRun", "RUN_FILES", "check_output_file", "check_run_dir",
           "commit_run", "default_run_dir", "prepare_run_dir", "protected_reason", "resume_path", "write_manifest",
           "write_run"]
