"""Signals: samples of a function on a regular grid over [-1, 1]^d with C channels.

Conventions (design.md): coordinates ``linspace(-1, 1, n)`` per axis with endpoints; for images
``x`` runs along columns (left → right) and ``y`` along rows (top → bottom); a coordinate vector is
``(x, y)``. Image values are in [0, 1].
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import SinetuneError

#: Built-in images (public domain, shipped inside scikit-image) usable instead of a path.
BUILTIN_IMAGES = ("astronaut", "camera", "coffee", "chelsea", "rocket")
MIN_SIZE, MAX_SIZE = 8, 8192


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


@dataclass
class Signal:
    """A sampled signal.

    Attributes:
        values: ``grid_shape + (C,)`` float32 array (images: ``(H, W, C)`` in [0, 1]).
        name: short name used for run directories.
        source: where it came from (a path or ``builtin:NAME``).
    """

    values: np.ndarray
    name: str
    source: str = ""

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape[:-1])

    @property
    def channels(self) -> int:
        return int(self.values.shape[-1])

    @property
    def dim(self) -> int:
        return len(self.grid_shape)

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


def load_image(source: str | Path, size: int | None = None) -> Signal:
    """Load an image file (PNG, JPEG, TIFF, BMP, …) or a built-in image as a :class:`Signal`.

    Args:
        source: a path, or one of :data:`BUILTIN_IMAGES` (e.g. ``"astronaut"``).
        size: if given, resize so the longer side has ``size`` pixels (antialiased).

    Palette, RGBA (alpha dropped), 16-bit and grayscale images are converted; grayscale stays one
    channel. Raises :class:`SinetuneError` with a one-line message on any bad input.
    """
    if size is not None and not MIN_SIZE <= size <= MAX_SIZE:
        raise SinetuneError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {size}")
    text = str(source)
    path = Path(text)
    if text in BUILTIN_IMAGES and not path.exists():
        from skimage import data

        array = getattr(data, text)()
        values = (array.astype(np.float32) / 255.0)
        values = values[..., None] if values.ndim == 2 else values
        name, origin = text, f"builtin:{text}"
    else:
        if not path.exists():
            hint = f" (built-in images: {', '.join(BUILTIN_IMAGES)})" if path.suffix == "" else ""
            raise SinetuneError(f"no such file: {text}{hint}")
        if path.is_dir():
            raise SinetuneError(f"expected an image file, got a directory: {text}")
        if path.stat().st_size == 0:
            raise SinetuneError(f"file is empty: {text}")
        try:
            with Image.open(path) as image:
                image.load()
                values = _pil_to_unit_float(image)
        except UnidentifiedImageError:
            raise SinetuneError(f"not a supported image format: {text}") from None
        except (OSError, SyntaxError, ValueError) as error:
            raise SinetuneError(f"cannot read image {text}: {error}") from None
        name, origin = path.stem, str(path.resolve())
    if min(values.shape[:2]) < 2:
        raise SinetuneError(f"image is too small ({values.shape[1]}×{values.shape[0]} pixels)")
    if size is not None:
        values = resize_image(values, size)
        if min(values.shape[:2]) < 2:
            raise SinetuneError(f"resizing to {size} leaves fewer than 2 pixels along one axis")
    return Signal(values=values, name=name, source=origin)


def image_from_array(values: np.ndarray) -> np.ndarray:
    """``(H, W, C)`` float values → uint8 array for saving (clipped to [0, 1]; C = 1 squeezed)."""
    array = np.clip(values, 0.0, 1.0)
    array = (array * 255.0 + 0.5).astype(np.uint8)
    return array[..., 0] if array.shape[-1] == 1 else array
