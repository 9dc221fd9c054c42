"""N-D signals: videos ``T×H×W×C`` and volumes ``D×H×W`` (readers, built-in generators, metrics).

Every reader returns a :class:`~sinetune.signals.Signal` on a ``d = 3`` grid (``d = 4`` for a 4-D
array) with the usual conventions: coordinates ``linspace(-1, 1, n)`` per axis, column 0 along the
last (fastest) axis, so a video coordinate is ``(x, y, t)`` and a volume's ``(x, y, z)``; values
in [0, 1]. :func:`sinetune.signals.load_signal` dispatches here for every source
:func:`is_nd_source` accepts:

* video: an animated GIF (Pillow), a folder of equally sized frames (sorted by name), the built-in
  ``pan`` (a camera pan over scikit-image's astronaut, :func:`pan_clip`) and ``no_time_for_that``
  (the 24-frame GIF scikit-image ships);
* volume: ``.npy`` / ``.npz`` arrays, multi-page TIFF stacks (tifffile if installed, else Pillow),
  NIfTI ``.nii`` / ``.nii.gz`` (only if nibabel is installed), the built-in ``phantom3d``
  (:func:`phantom3d`, a 3-D Shepp–Logan phantom);
* signed distance fields of meshes and primitives: :mod:`sinetune.sdf`.

Arrays: ``(D, H, W)`` → one channel; ``(D, H, W, C)`` with ``C ≤ 4`` → ``C`` channels, else a 4-D
grid; ``(A, B, D, H, W)``-like 5-axis arrays need ``C ≤ 4`` last. Fewer than 3 or more than 4 grid
axes, an axis below 2 samples or non-finite values are one-line :class:`SinetuneError`\\ s.
Integer arrays are divided by their type's maximum; float arrays outside [0, 1] are min–max scaled
to it (the ``derived:`` line says so).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from .errors import SinetuneError
from .metrics import psnr
from .signals import IMAGE_SUFFIXES, MIN_SIZE, Signal, _pil_to_unit_float, load_image, resize_image

#: Built-in N-D signals (generated in code or shipped with scikit-image, nothing downloaded): name → form.
BUILTIN_ND = {"pan": "video", "no_time_for_that": "video", "phantom3d": "volume"}
#: Array files read as volumes.
ARRAY_SUFFIXES = (".npy", ".npz")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
#: Grid dimensions an N-D signal may have (images and audio are d = 2 and 1).
ND_DIMS = (3, 4)
#: ``pan`` and ``phantom3d`` without ``size``: 16 frames of 64×64, a 64³ volume.
DEFAULT_ND_SIZE = 64
PAN_FRAMES = 16
PAN_FRAME_RATE = 8.0


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _frame_count(path: Path) -> int:
    """Frames of a GIF / pages of a TIFF (1 when unreadable: the image reader then says why)."""
    try:
        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1))
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return 1


def is_nd_source(source: str | Path) -> bool:
    """Whether :func:`load_nd` reads ``source``: a built-in N-D name or shape, an array, NIfTI or mesh
    file, an animated GIF or multi-page TIFF, or a folder of frames."""
    from .sdf import BUILTIN_SHAPES, MESH_SUFFIXES

    text = str(source)
    path = Path(text)
    if not path.exists():
        return text in BUILTIN_ND or text in BUILTIN_SHAPES or _suffix(path) in (
            ARRAY_SUFFIXES + NIFTI_SUFFIXES + MESH_SUFFIXES)
    if path.is_dir():
        return True
    suffix = _suffix(path)
    if suffix in ARRAY_SUFFIXES + NIFTI_SUFFIXES + MESH_SUFFIXES:
        return True
    return suffix in (".gif", ".tif", ".tiff") and _frame_count(path) > 1


def load_nd(source: str | Path, size: int | None = None, max_size: int | None = None) -> Signal:
    """Load a video, a volume or a shape's SDF (see the module docstring) as a :class:`Signal`.

    Args:
        source: a path or a built-in name (:data:`BUILTIN_ND`, :data:`sinetune.sdf.BUILTIN_SHAPES`).
        size: resample so the longer side (a video's longer *spatial* side; its frames are kept) has
            ``size`` samples (linear interpolation); an SDF is sampled on a ``size³`` grid.
        max_size: without ``size``, a longer side above this is downsampled to it.
    """
    from . import sdf

    text = str(source)
    path = Path(text)
    for name, value in (("size", size), ("max_size", max_size)):
        if value is not None and not MIN_SIZE <= value <= 1024:
            raise SinetuneError(f"{name} must be between {MIN_SIZE} and 1024 samples for an N-D signal, got {value}")
    if text in sdf.BUILTIN_SHAPES and not path.exists() or _suffix(path) in sdf.MESH_SUFFIXES:
        resolution = size or min(DEFAULT_ND_SIZE, max_size or DEFAULT_ND_SIZE)
        return sdf.sdf_signal(text, resolution)
    if text in BUILTIN_ND and not path.exists():
        built_size = size or min(DEFAULT_ND_SIZE, max_size or DEFAULT_ND_SIZE)
        if text == "pan":
            return array_signal(pan_clip(PAN_FRAMES, built_size), "pan", "builtin:pan", "video",
                                frame_rate=PAN_FRAME_RATE)
        if text == "no_time_for_that":  # scikit-image's animated GIF (24 frames of 25×14)
            import skimage

            gif = read_gif(Path(skimage.__file__).parent / "data" / "no_time_for_that_tiny.gif")
            gif.name, gif.source = text, f"builtin:{text}"
            return resample(gif, size, None)
        return array_signal(phantom3d(built_size), "phantom3d", "builtin:phantom3d", "volume")
    if not path.exists():
        raise SinetuneError(f"no such file or directory: {text} (built-in N-D signals: "
                            f"{', '.join([*BUILTIN_ND, *sdf.BUILTIN_SHAPES])})")
    if path.is_dir():
        signal = read_frames(path)
    else:
        suffix = _suffix(path)
        if path.stat().st_size == 0:
            raise SinetuneError(f"file is empty: {text}")
        readers = {".npy": read_array, ".npz": read_array, ".gif": read_gif, ".tif": read_tiff,
                   ".tiff": read_tiff, ".nii": read_nifti, ".nii.gz": read_nifti}
        if suffix not in readers:
            raise SinetuneError(f"not a supported N-D format: {text}")
        signal = readers[suffix](path)
    return resample(signal, size, max_size)


# --- Arrays → signals ----------------------------------------------------------------------------


def to_unit_range(array: np.ndarray, what: str) -> tuple[np.ndarray, str]:
    """``array`` as float32 in [0, 1] and a note on the scaling (``""`` when none was needed)."""
    if array.dtype.kind == "b":
        return array.astype(np.float32), ""
    if array.dtype.kind in "ui":
        info = np.iinfo(array.dtype)
        if array.dtype.kind == "u":
            return (array.astype(np.float64) / info.max).astype(np.float32), ""
        array = array.astype(np.float64)
    elif array.dtype.kind != "f":
        raise SinetuneError(f"{what} must hold numbers, got dtype {array.dtype}")
    array = np.asarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        raise SinetuneError(f"{what} contains non-finite values")
    low, high = float(array.min()), float(array.max())
    if low >= 0 and high <= 1:
        return array.astype(np.float32), ""
    scaled = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return scaled.astype(np.float32), f"values min–max scaled from [{low:.4g}, {high:.4g}] to [0, 1]"


def array_signal(array: np.ndarray, name: str, source: str, form: str, frame_rate: float | None = None,
                 note: str = "") -> Signal:
    """Wrap an N-D array as a :class:`Signal` (shape rules and scaling: module docstring).

    ``form``: ``"video"`` or ``"volume"``; ``note`` joins the ``sizing`` text.
    """
    array = np.asarray(array)
    what = f"{source or name} ({'×'.join(map(str, array.shape))})"
    channel_axis = array.ndim >= 4 and array.shape[-1] <= 4
    grid_dims = array.ndim - 1 if channel_axis else array.ndim
    if grid_dims not in ND_DIMS:
        raise SinetuneError(f"unsupported dimensions: {what} has {grid_dims} grid axes; an N-D signal needs "
                            f"{' or '.join(map(str, ND_DIMS))} (images and sounds are read from image and audio files)")
    values, scaling = to_unit_range(array if channel_axis else array[..., None], what)
    if min(values.shape[:-1]) < 2:
        raise SinetuneError(f"bad shape: {what} has an axis with fewer than 2 samples")
    sizing = "; ".join(part for part in (note, scaling) if part)
    return Signal(values=values, name=name, source=source, sizing=sizing, form=form, frame_rate=frame_rate)


def resample(signal: Signal, size: int | None, max_size: int | None) -> Signal:
    """Resize so the longer side (a video's longer spatial side) is ``size``, or at most ``max_size``
    (linear interpolation per channel, :func:`scipy.ndimage.zoom`); ``sizing`` says what was done."""
    from scipy import ndimage

    shape = signal.grid_shape
    own = "×".join(map(str, shape))
    longer = signal.extent
    target = size if size is not None else (max_size if max_size is not None and longer > max_size else None)
    if target is None or target == longer:
        note = f"{signal.kind} kept at its own size {own}"
        return _with_sizing(signal, note)
    factor = target / longer
    factors = [1.0 if (signal.kind == "video" and axis == 0) else factor for axis in range(len(shape))]
    channels = [ndimage.zoom(signal.values[..., c], factors, order=1, mode="nearest", grid_mode=False)
                for c in range(signal.channels)]
    values = np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)
    if min(values.shape[:-1]) < 2:
        raise SinetuneError(f"resizing to {target} leaves fewer than 2 samples along one axis")
    why = f"(--size {size})" if size is not None else f"(longer side above the {max_size}-sample limit)"
    resized = Signal(values=values, name=signal.name, source=signal.source, form=signal.form,
                     frame_rate=signal.frame_rate, sizing=signal.sizing)
    return _with_sizing(resized, f"{signal.kind} {own} resized to {'×'.join(map(str, values.shape[:-1]))} {why}")


def _with_sizing(signal: Signal, note: str) -> Signal:
    signal.sizing = "; ".join(part for part in (note, signal.sizing) if part)
    return signal


# --- Readers ---------------------------------------------------------------------------------------


def read_array(path: Path) -> Signal:
    """A ``.npy`` array or the single array of a ``.npz`` (or its ``values`` entry) as a volume."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise SinetuneError(f"cannot read array {path}: {error}") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.keys())
            if not keys:
                raise SinetuneError(f"{path} holds no arrays")
            if len(keys) > 1 and "values" not in keys:
                raise SinetuneError(f"{path} holds several arrays ({', '.join(keys[:5])}); name the one to fit "
                                    "'values'")
            array = loaded["values" if "values" in keys else keys[0]]
    else:
        array = loaded
    return array_signal(array, path.stem, str(path.resolve()), "volume")


def read_tiff(path: Path) -> Signal:
    """A multi-page TIFF stack ``D×H×W[×C]`` (tifffile if installed, else Pillow page by page)."""
    try:
        import tifffile
    except ImportError:
        tifffile = None
    try:
        if tifffile is not None:
            array = tifffile.imread(str(path))
        else:
            with Image.open(path) as image:
                array = np.stack([np.asarray(page) for page in ImageSequence.Iterator(image)])
    except Exception as error:  # tifffile raises its own error types for corrupt files
        raise SinetuneError(f"cannot read TIFF stack {path}: {str(error).splitlines()[0] if str(error) else error!r}"
                            ) from None
    return array_signal(array, path.stem, str(path.resolve()), "volume")


def read_nifti(path: Path) -> Signal:
    """A NIfTI volume (needs the optional ``nibabel``); the data array as stored (no reorientation)."""
    try:
        import nibabel
    except ImportError:
        raise SinetuneError(f"reading NIfTI ({path.name}) needs nibabel: pip install nibabel") from None
    try:
        array = np.asarray(nibabel.load(str(path)).dataobj)
    except Exception as error:
        raise SinetuneError(f"cannot read NIfTI {path}: {error}") from None
    return array_signal(array, path.name.split(".")[0], str(path.resolve()), "volume")


def read_gif(path: Path) -> Signal:
    """An animated GIF as a video ``T×H×W×C`` (frames composited by Pillow; rate from the frame duration)."""
    try:
        with Image.open(path) as image:
            duration = image.info.get("duration") or 100
            frames = [_pil_to_unit_float(frame.convert("RGB")) for frame in ImageSequence.Iterator(image)]
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError) as error:
        raise SinetuneError(f"cannot read GIF {path}: {error}") from None
    return array_signal(np.stack(frames), path.stem, str(path.resolve()), "video",
                        frame_rate=round(1000.0 / float(duration), 3))


def read_frames(folder: Path, frame_rate: float = PAN_FRAME_RATE) -> Signal:
    """A folder of equally sized images (sorted by name) as a video ``T×H×W×C`` at ``frame_rate`` fps."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) < 2:
        raise SinetuneError(f"a folder of frames needs at least 2 images ({', '.join(IMAGE_SUFFIXES)}); "
                            f"{folder} has {len(files)}")
    frames = [load_image(p).values for p in files]
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise SinetuneError(f"bad shape: the frames in {folder} differ in size or channels "
                            f"({', '.join('×'.join(map(str, s)) for s in sorted(shapes)[:3])})")
    return array_signal(np.stack(frames), folder.name, str(folder.resolve()), "video", frame_rate=frame_rate)


# --- Built-in signals ----------------------------------------------------------------------------


def pan_clip(frames: int = PAN_FRAMES, size: int = DEFAULT_ND_SIZE, image: str = "astronaut") -> np.ndarray:
    """A camera pan: a ``size × size`` window sliding left → right across a built-in image.

    The image is resized to a longer side of ``2 · size``; frame ``t`` is the window whose left edge
    is at ``round(t · size / (frames − 1))`` pixels, vertically centred (a constant horizontal
    motion of ``size / (frames − 1)`` pixels per frame).

    Returns:
        ``(frames, size, size, 3)`` float32 in [0, 1].
    """
    if frames < 2:
        raise SinetuneError(f"a pan needs at least 2 frames, got {frames}")
    picture = resize_image(load_image(image).values, 2 * size)
    top = (picture.shape[0] - size) // 2
    lefts = [round(t * (picture.shape[1] - size) / (frames - 1)) for t in range(frames)]
    return np.stack([picture[top:top + size, left:left + size] for left in lefts]).astype(np.float32)


#: The modified 3-D Shepp–Logan phantom (Kak & Slaney's ellipsoids with Toft's contrasts): intensity
#: ``A``, semi-axes ``(a, b, c)``, centre ``(x0, y0, z0)`` and a rotation ``φ`` (degrees) about ``z``.
SHEPP_LOGAN_3D = (
    (1.0, 0.69, 0.92, 0.81, 0.0, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.78, 0.0, -0.0184, 0.0, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.22, 0.0, 0.0, -18.0),
    (-0.2, 0.16, 0.41, 0.28, -0.22, 0.0, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.41, 0.0, 0.35, -0.15, 0.0),
    (0.1, 0.046, 0.046, 0.05, 0.0, 0.1, 0.25, 0.0),
    (0.1, 0.046, 0.046, 0.05, 0.0, -0.1, 0.25, 0.0),
    (0.1, 0.046, 0.023, 0.05, -0.08, -0.605, 0.0, 0.0),
    (0.1, 0.023, 0.023, 0.02, 0.0, -0.606, 0.0, 0.0),
    (0.1, 0.023, 0.046, 0.02, 0.06, -0.605, 0.0, 0.0),
)


def phantom3d(size: int = DEFAULT_ND_SIZE) -> np.ndarray:
    """The 3-D Shepp–Logan phantom (:data:`SHEPP_LOGAN_3D`) sampled on a ``size³`` grid over [-1, 1]³.

    A point ``(x, y, z)`` (``x`` along the last axis, ``z`` along the first) inside ellipsoid ``i``
    — ``Σ (R_φ(p − p0))_k² / s_k² ≤ 1`` — adds ``A_i``; the sum lies in [0, 1].

    Returns:
        ``(size, size, size)`` float32.
    """
    if size < 2:
        raise SinetuneError(f"phantom size must be at least 2, got {size}")
    axis = np.linspace(-1.0, 1.0, size)
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    volume = np.zeros((size,) * 3)
    for amplitude, a, b, c, x0, y0, z0, phi in SHEPP_LOGAN_3D:
        cos, sin = math.cos(math.radians(phi)), math.sin(math.radians(phi))
        u, v = cos * (x - x0) + sin * (y - y0), -sin * (x - x0) + cos * (y - y0)
        volume += amplitude * ((u / a) ** 2 + (v / b) ** 2 + ((z - z0) / c) ** 2 <= 1.0)
    return np.clip(volume, 0.0, 1.0).astype(np.float32)


# --- Metrics ---------------------------------------------------------------------------------------


def nd_metrics(signal: Signal, prediction: np.ndarray) -> dict:
    """The N-D entries of ``metrics.json`` for a ``grid_shape + (C,)`` prediction.

    * ``kind``: ``video``, ``volume`` or ``sdf``;
    * video: ``frame_psnr``, PSNR of each frame (data range 1, all its pixels and channels);
    * volume: ``slice_psnr``, PSNR of each slice along the first axis, and its minimum;
    * 4-D grids: per index of the first axis, as for a volume;
    * sdf: IoU and Chamfer distance (:func:`sinetune.sdf.sdf_metrics`).
    """
    metrics: dict = {"kind": signal.kind, "frame_rate": signal.frame_rate}
    if signal.kind == "sdf":
        from .sdf import sdf_metrics

        metrics.update(sdf_metrics(signal, prediction))
        return metrics
    per = [psnr(prediction[i].reshape(-1, signal.channels), signal.values[i].reshape(-1, signal.channels), 1.0)
           for i in range(signal.grid_shape[0])]
    key = "frame_psnr" if signal.kind == "video" else "slice_psnr"
    metrics[key] = [round(float(v), 4) for v in per]
    metrics[f"{key}_min"] = float(min(per))
    return metrics


__all__ = ["BUILTIN_ND", "array_signal", "is_nd_source", "load_nd", "nd_metrics", "pan_clip", "phantom3d",
           "read_array", "read_frames", "read_gif", "read_nifti", "read_tiff", "resample"]
