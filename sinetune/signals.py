"""Signals: samples of a function on a regular grid over [-1, 1]^d with C channels.

Conventions (design.md): coordinates ``linspace(-1, 1, n)`` per axis with endpoints; for images
``x`` runs along columns (left → right) and ``y`` along rows (top → bottom); a coordinate vector is
``(x, y)``. Image values are in [0, 1].

Audio (d = 1): a mono clip of ``N`` samples is the grid ``(N,)`` with coordinates
``linspace(-1, 1, N)`` (the whole clip, whatever its duration), values ``(N, 1)`` divided by the
clip's peak ``max|x|`` so they lie in [-1, 1] with max|x| = 1 (peers-spec §0.3); the peak is kept in
:attr:`Signal.scale` and the sample rate in :attr:`Signal.sample_rate`, so ``values · scale`` at
``sample_rate`` Hz is the original (mono) clip.
"""

from __future__ import annotations

import glob
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import SinetuneError
from .resources import check_audio_size, check_image_size, pillow_pixel_limit

#: Built-in images (public domain, shipped inside scikit-image) usable instead of a path.
BUILTIN_IMAGES = ("astronaut", "camera", "coffee", "chelsea", "rocket")
MIN_SIZE, MAX_SIZE = 8, 8192
#: Without ``size``, an image whose longer side exceeds this many pixels is downsampled to it (a fit's
#: time and memory grow with the pixels); smaller images keep their own size, never upsampled.
#: ``SignalConfig.max_size`` / ``fit(max_size=...)`` change it, ``fit --full-size`` lifts it.
DEFAULT_MAX_SIZE = 256
#: Points per forward pass wherever a field is only evaluated (:attr:`sinetune.training.TrainOptions.eval_chunk`'s
#: default): with width 256 one ``(32768, 256)`` float32 activation is 32 MiB; the analytic
#: gradient keeps a few of them per chunk for its autograd pass (docs/guide.md, "Large signals").
EVAL_CHUNK = 32768
#: File suffixes read as audio by :func:`load_signal` (anything else is read as an image).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
#: Image file suffixes a directory given to :func:`find_signals` contributes (with :data:`AUDIO_SUFFIXES`).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def grid_coordinates(grid_shape: tuple[int, ...], domain: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Coordinates of a regular grid, flattened row-major.

    Args:
        grid_shape: ``(n_1, …, n_d)`` samples per axis, slowest axis first (images: ``(H, W)``).
        domain: ``(low, high)`` of every axis; the default [-1, 1] is the training domain, a larger
            one extrapolates.

    Returns:
        ``(prod(grid_shape), d)`` float tensor; column 0 varies along the *last* grid axis (``x``
        along image columns), column 1 along the second-to-last (``y`` along rows), and so on.
    """
    axes = [torch.linspace(domain[0], domain[1], n) for n in grid_shape]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.reshape(-1) for m in reversed(mesh)], dim=1)


def grid_coordinate_chunks(
    grid_shape: tuple[int, ...],
    domain: tuple[float, float],
    chunk: int,
) -> Iterator[tuple[int, torch.Tensor]]:
    """:func:`grid_coordinates` in consecutive pieces, never the whole grid at once.

    Yields ``(start, coords)`` with ``coords`` equal (bit for bit) to
    ``grid_coordinates(grid_shape, domain)[start:start + chunk]``: at most ``chunk × d`` floats
    besides the ``Σ n_i`` axis samples, whatever the grid's size.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    axes = [torch.linspace(domain[0], domain[1], n) for n in grid_shape]
    count = math.prod(grid_shape)
    for start in range(0, count, chunk):
        flat = torch.arange(start, min(start + chunk, count))
        columns = []
        for axis in reversed(axes):  # column 0 is the last (fastest) grid axis
            columns.append(axis[flat % len(axis)])
            flat = flat // len(axis)
        yield start, torch.stack(columns, dim=1)


@dataclass
class Signal:
    """A sampled signal.

    Attributes:
        values: ``grid_shape + (C,)`` float32 array (images: ``(H, W, C)`` in [0, 1]; audio:
            ``(N, 1)`` peak-normalised to [-1, 1]).
        name: short name used for run directories.
        source: where it came from (a path or ``builtin:NAME``).
        sample_rate: audio sample rate in Hz (``None`` for images).
        scale: the factor that undoes the normalisation: original amplitude = ``values · scale``
            (audio: the clip's peak ``max|x|``; images: 1).
        sizing: what loading did to the size, for the user to read (images: kept, resized or
            downsampled to the limit, and why; ``""`` when nothing is worth saying).
        form: what a grid of ``d ≥ 3`` axes holds: ``"video"`` (``T×H×W``), ``"volume"``
            (``D×H×W``, or 4-D) or ``"sdf"`` (signed distances, :mod:`sinetune.sdf`); ``None`` for
            images and audio (see :attr:`kind`; N-D readers: :mod:`sinetune.volumes`).
        frame_rate: a video's frames per second (``None`` otherwise).
        points: extra training samples off the grid, ``(coords (M, d), values (M, C))`` float32 (an
            SDF's near-surface points); always trained on, never held out. ``None``: the grid only.
    """

    values: np.ndarray
    name: str
    source: str = ""
    sample_rate: int | None = None
    scale: float = 1.0
    sizing: str = ""
    form: str | None = None
    frame_rate: float | None = None
    points: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape[:-1])

    @property
    def channels(self) -> int:
        return int(self.values.shape[-1])

    @property
    def dim(self) -> int:
        return len(self.grid_shape)

    @property
    def kind(self) -> str:
        """``"audio"`` for a 1-D signal, ``"image"`` for a 2-D one; beyond, :attr:`form` (``"volume"``
        by default)."""
        return {1: "audio", 2: "image"}.get(self.dim, self.form or "volume")

    @property
    def extent(self) -> int:
        """The ``size`` that reloads this signal at its shape: the longer side (a video's frames excluded)."""
        return max(self.grid_shape[1:] if self.kind == "video" else self.grid_shape)

    def coords(self) -> torch.Tensor:
        """``(N, d)`` grid coordinates in [-1, 1] (see :func:`grid_coordinates`)."""
        return grid_coordinates(self.grid_shape)

    def flat_values(self) -> torch.Tensor:
        """``(N, C)`` float32 tensor of values, in the order of :meth:`coords`."""
        return torch.from_numpy(np.ascontiguousarray(self.values.reshape(-1, self.channels), dtype=np.float32))


def holdout_mask(count: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean ``(count,)`` mask of ``round(fraction · count)`` held-out samples, drawn uniformly."""
    if not 0 <= fraction < 1:
        raise SinetuneError(f"holdout must be in [0, 1), got {fraction}")
    mask = np.zeros(count, dtype=bool)
    mask[rng.permutation(count)[: int(round(fraction * count))]] = True
    return mask


def _pil_to_unit_float(image: Image.Image) -> np.ndarray:
    """Convert any PIL image to ``(H, W, C)`` float32 in [0, 1] with C = 1 (gray) or 3 (colour)."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        warnings.warn(f"image has an alpha channel ({mode}); it is dropped", stacklevel=3)
        image = image.convert("RGB" if mode not in ("LA", "La") else "L")
        mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        array = np.asarray(image, dtype=np.float64) / 65535.0
    elif mode == "I":
        array = np.asarray(image, dtype=np.float64)
        array = array / (65535.0 if array.max(initial=0) > 255 else 255.0)
    elif mode == "F":
        array = np.asarray(image, dtype=np.float64)
        if array.min(initial=0) < 0 or array.max(initial=0) > 1:
            raise SinetuneError("floating-point image values must lie in [0, 1]")
    elif mode == "1":
        array = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    elif mode == "L":
        array = np.asarray(image, dtype=np.float64) / 255.0
    else:  # RGB, CMYK, YCbCr, LAB, HSV, ...
        array = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    if array.ndim == 2:
        array = array[..., None]
    return np.clip(array, 0.0, 1.0).astype(np.float32)


def resize_image(values: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(H, W, C)`` values so the longer side is ``size`` (aspect kept, Lanczos, antialiased)."""
    height, width = values.shape[:2]
    scale = size / max(height, width)
    new_shape = (max(1, round(width * scale)), max(1, round(height * scale)))
    if new_shape == (width, height):
        return values
    channels = [np.asarray(Image.fromarray(values[..., c], mode="F").resize(new_shape, Image.Resampling.LANCZOS))
                for c in range(values.shape[-1])]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


def _require_file(path: Path, kind: str, hint: str = "") -> None:
    """One-line :class:`SinetuneError` unless ``path`` is an existing, non-empty regular file."""
    if not path.exists():
        raise SinetuneError(f"no such file: {path}{hint}")
    if path.is_dir():
        raise SinetuneError(f"expected {kind} file, got a directory: {path}")
    if path.stat().st_size == 0:
        raise SinetuneError(f"file is empty: {path}")


def _shape_text(values: np.ndarray) -> str:
    return f"{values.shape[1]}×{values.shape[0]}"


def load_image(source: str | Path, size: int | None = None, max_size: int | None = None) -> Signal:
    """Load an image file (PNG, JPEG, TIFF, BMP, …) or a built-in image as a :class:`Signal`.

    Args:
        source: a path, or one of :data:`BUILTIN_IMAGES` (e.g. ``"astronaut"``).
        size: if given, resize so the longer side has ``size`` pixels (antialiased), up or down.
        max_size: without ``size``: downsample an image whose longer side exceeds ``max_size``
            to it; a smaller image keeps its own size. ``None``: no limit (the file's own size).
            :attr:`Signal.sizing` says which happened.

    Palette, RGBA (alpha dropped), 16-bit and grayscale images are converted; grayscale stays one
    channel; an EXIF orientation is applied (the image as a viewer shows it). The size is checked
    from the header before decoding (:func:`sinetune.resources.check_image_size`: decompression
    bombs, images above ``SINETUNE_MAX_IMAGE_PIXELS``). Raises :class:`SinetuneError` with a
    one-line message on any bad input.
    """
    for name, value in (("size", size), ("max_size", max_size)):
        if value is not None and not MIN_SIZE <= value <= MAX_SIZE:
            raise SinetuneError(f"{name} must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {value}")
    text = str(source)
    path = Path(text)
    if text in BUILTIN_IMAGES and not path.exists():
        from skimage import data

        array = getattr(data, text)()
        values = (array.astype(np.float32) / 255.0)
        values = values[..., None] if values.ndim == 2 else values
        name, origin = text, f"builtin:{text}"
    else:
        hint = f" (built-in images: {', '.join(BUILTIN_IMAGES)})" if path.suffix == "" else ""
        _require_file(path, "an image", hint)
        try:
            with pillow_pixel_limit(), Image.open(path) as image:
                check_image_size(text, image.width, image.height, len(image.getbands()))  # header only
                values = _pil_to_unit_float(ImageOps.exif_transpose(image))
        except SinetuneError:
            raise
        except UnidentifiedImageError:
            raise SinetuneError(f"not a supported image format: {text}") from None
        except Image.DecompressionBombError as error:
            raise SinetuneError(f"image {text} refused before decoding (a decompression bomb, or above "
                                f"SINETUNE_MAX_IMAGE_PIXELS): {error}") from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise SinetuneError(f"cannot read image {text}: {error}") from None
        name, origin = path.stem, str(path.resolve())
    if min(values.shape[:2]) < 2:
        raise SinetuneError(f"image is too small ({values.shape[1]}×{values.shape[0]} pixels)")
    own = _shape_text(values)
    if size is not None:
        sizing = f"image {own} resized to {{}} (--size {size})"
    elif max_size is not None and max(values.shape[:2]) > max_size:
        size = max_size
        sizing = (f"image {own} downsampled to {{}} (longer side above the {max_size}-pixel default limit; "
                  "--full-size keeps it, --size N sets it)")
    else:
        sizing = f"image kept at its own size {own}" + (" (--full-size)" if max_size is None else "")
    if size is not None:
        values = resize_image(values, size)
        if min(values.shape[:2]) < 2:
            raise SinetuneError(f"resizing to {size} leaves fewer than 2 pixels along one axis")
        if _shape_text(values) == own:
            sizing = f"image kept at its own size {own} (--size {size})"
    return Signal(values=values, name=name, source=origin, sizing=sizing.format(_shape_text(values)))


def image_from_array(values: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` float values → uint8 array for saving (clipped to [0, 1]; C = 1 squeezed)."""
    array = np.clip(values, 0.0, 1.0)
    array = (array * 255.0 + 0.5).astype(np.uint8)
    return array[..., 0] if array.shape[-1] == 1 else array


def is_audio_path(source: str | Path) -> bool:
    """Whether :func:`load_signal` reads ``source`` as audio (by suffix, case-insensitive)."""
    return Path(str(source)).suffix.lower() in AUDIO_SUFFIXES


def check_crop(start: float | None, duration: float | None, samples: int | None) -> None:
    """Validate an audio crop (see :func:`load_audio`); one-line :class:`SinetuneError` otherwise."""
    if start is not None and not (start >= 0 and np.isfinite(start)):
        raise SinetuneError(f"start must be a non-negative number of seconds, got {start}")
    if duration is not None and not (duration > 0 and np.isfinite(duration)):
        raise SinetuneError(f"duration must be a positive number of seconds, got {duration}")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, (int, np.integer))
                                or samples < 2):
        raise SinetuneError(f"samples must be an integer ≥ 2, got {samples}")
    if duration is not None and samples is not None:
        raise SinetuneError("give either duration or samples to crop audio, not both")


def load_audio(
    path: str | Path,
    start: float | None = None,
    duration: float | None = None,
    samples: int | None = None,
) -> Signal:
    """Load a WAV, FLAC or OGG file (soundfile) as a 1-D :class:`Signal`.

    Args:
        path: the audio file.
        start: crop start in seconds (``round(start · rate)`` samples are skipped); ``None`` = 0.
        duration: keep ``round(duration · rate)`` samples from ``start`` (fewer if the file ends).
        samples: keep the first ``samples`` samples from ``start`` (exclusive with ``duration``).

    Returns:
        A signal with ``values`` of shape ``(N, 1)`` float32: the channel mean (mono downmix) of
        the crop divided by its peak ``max|x|`` (so ``max|values| = 1``), ``scale`` = that peak,
        ``sample_rate`` = the file's rate in Hz; coordinates ``linspace(-1, 1, N)``.

    Raises :class:`SinetuneError` (one line) for a missing, empty, corrupt or unsupported file, a crop
    that leaves fewer than 2 samples, and an all-zero ("silent") crop.
    """
    check_crop(start, duration, samples)
    text = str(path)
    path = Path(text)
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise SinetuneError(f"not a supported audio format: {text} (use {', '.join(AUDIO_SUFFIXES)})")
    _require_file(path, "an audio")
    try:
        with soundfile.SoundFile(str(path)) as handle:
            rate, total = int(handle.samplerate), int(handle.frames)
            first = int(round((start or 0.0) * rate))
            if total > 0 and first >= total:
                raise SinetuneError(f"start {start} s is past the end of {text} ({total / rate:g} s)")
            count = samples if samples is not None else (
                int(round(duration * rate)) if duration is not None else total - first)
            count = max(0, min(count, total - first))
            check_audio_size(text, count, int(handle.channels))  # from the header, before reading
            if first:
                handle.seek(first)
            data = handle.read(count, dtype="float64", always_2d=True)
    except SinetuneError:
        raise
    except (soundfile.SoundFileError, RuntimeError, OSError, ValueError, TypeError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SinetuneError(f"cannot read audio {text}: {first_line}") from None
    if len(data) < 2:
        what = "the crop leaves" if (start or duration or samples) else "the file has"
        raise SinetuneError(f"{what} {len(data)} sample(s) of {text}; need at least 2")
    mono = data.mean(axis=1)
    if not np.isfinite(mono).all():
        raise SinetuneError(f"audio {text} contains non-finite samples")
    peak = float(np.abs(mono).max())
    if peak == 0.0:
        raise SinetuneError(f"signal is silent: {text} (every sample of the crop is 0)")
    values = (mono / peak).astype(np.float32)[:, None]
    return Signal(values=values, name=path.stem, source=str(path.resolve()), sample_rate=rate, scale=peak)


def load_signal(
    source: str | Path,
    size: int | None = None,
    start: float | None = None,
    duration: float | None = None,
    samples: int | None = None,
    max_size: int | None = None,
) -> Signal:
    """Load an image, a sound or an N-D signal, chosen by the file suffix (:data:`AUDIO_SUFFIXES` →
    audio; :func:`sinetune.volumes.is_nd_source` → video, volume or SDF, e.g. ``.npy``, an animated
    GIF, a multi-page TIFF, a mesh, a folder of frames, ``pan``, ``phantom3d``, ``sphere``).

    ``size`` and ``max_size`` (see :func:`load_image`) apply to images only (ignored for audio);
    ``start``/``duration``/``samples`` crop
    audio only (validated, then ignored for images). Built-in image names work as in
    :func:`load_image`.
    """
    check_crop(start, duration, samples)
    if is_audio_path(source):
        return load_audio(source, start, duration, samples)
    from . import volumes  # N-D readers (video, volumes, SDFs) build on this module

    if volumes.is_nd_source(source):
        return volumes.load_nd(source, size, max_size)
    return load_image(source, size, max_size)


def find_signals(sources: Sequence[str | Path]) -> list[Path]:
    """Expand directories (their image and sound files, :data:`IMAGE_SUFFIXES`, :data:`AUDIO_SUFFIXES`),
    glob patterns and files.

    Returns the files in order (each source sorted, duplicates dropped); a source that matches
    nothing is a one-line :class:`SinetuneError`.
    """
    found: list[Path] = []
    for source in sources:
        text = str(source)
        path = Path(text)
        if path.is_dir():
            suffixes = IMAGE_SUFFIXES + AUDIO_SUFFIXES
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
            if not matches:
                raise SinetuneError(f"no images or sounds ({', '.join(suffixes)}) in directory {text}")
        elif path.is_file():
            matches = [path]
        elif glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matches:
                raise SinetuneError(f"no files match {text}")
        else:
            raise SinetuneError(f"no such file or directory: {text}")
        found.extend(p for p in matches if p not in found)
    return found
