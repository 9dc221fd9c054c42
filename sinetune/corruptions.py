"""Corruptions of a sampled signal for the inverse tasks (:mod:`sinetune.tasks`), on any grid.

Every function takes ``grid_shape + (C,)`` float values (or a ``grid_shape``) of any dimension ``d``;
randomness comes from an explicit :class:`numpy.random.Generator`. Gaussian noise (:func:`add_noise`,
:func:`sigma_for_snr`), masks of missing samples (:func:`random_mask`, :func:`box_mask`,
:func:`read_mask`), the area downsampling of super-resolution (:func:`downsample`) and where its
``k×`` samples lie (:func:`superres_coordinates`), and the noise level read from a noisy signal
alone (:func:`estimate_noise_sigma`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .errors import SinetuneError
from .signals import EVAL_CHUNK, grid_coordinate_chunks


def add_noise(values: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``values + σ·z``, ``z ~ N(0, 1)`` i.i.d. per sample and channel, float32, not clipped."""
    return (values + sigma * rng.standard_normal(values.shape)).astype(np.float32)


def sigma_for_snr(values: np.ndarray, snr_db: float) -> float:
    """The noise σ whose white Gaussian noise has ``snr_db`` dB against ``values``:
    ``σ = rms(x) · 10^(−snr/20)`` (so ``10 log10(Σx² / E Σn²) = snr``)."""
    return float(np.sqrt(np.mean(np.square(values, dtype=np.float64))) * 10.0 ** (-snr_db / 20.0))


def random_mask(grid_shape: tuple[int, ...], fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean ``grid_shape`` mask with exactly ``round(fraction · N)`` samples ``True`` (missing)."""
    count = math.prod(grid_shape)
    mask = np.zeros(count, dtype=bool)
    mask[rng.permutation(count)[: int(round(fraction * count))]] = True
    return mask.reshape(grid_shape)


def box_mask(grid_shape: tuple[int, ...], fraction: float, rng: np.random.Generator,
             box_size: float = 0.1) -> np.ndarray:
    """Boolean ``grid_shape`` mask of axis-aligned boxes drawn until at least ``fraction`` is covered.

    Each box has, per axis ``a``, a side uniform in ``[s_a / 4, s_a]`` samples with
    ``s_a = max(1, round(box_size · n_a))``, at a uniform position inside the grid (images:
    rectangles; audio: gaps; volumes: cuboids).
    """
    mask = np.zeros(grid_shape, dtype=bool)
    target = fraction * mask.size
    largest = [max(1, round(box_size * n)) for n in grid_shape]
    while mask.sum() < target:
        box = []
        for n, side in zip(grid_shape, largest):
            length = int(rng.integers(max(1, side // 4), side + 1))
            start = int(rng.integers(0, n - length + 1))
            box.append(slice(start, start + length))
        mask[tuple(box)] = True
    return mask


def read_mask(path: str | Path, grid_shape: tuple[int, ...]) -> np.ndarray:
    """The boolean ``grid_shape`` mask in ``path`` (non-zero = missing): a ``.npy`` array of that
    shape, or an image file (PNG, …; any channel non-zero) of the signal's size."""
    path = Path(path)
    if not path.is_file():
        raise SinetuneError(f"no such mask file: {path}")
    try:
        if path.suffix.lower() == ".npy":
            array = np.asarray(np.load(path, allow_pickle=False))
        else:
            from PIL import Image

            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB") if image.mode not in ("L", "1", "RGB") else image)
            if array.ndim == 3:
                array = array.any(axis=-1)
    except (OSError, ValueError) as error:
        raise SinetuneError(f"cannot read mask {path}: {str(error).splitlines()[0] if str(error) else error}") from None
    if array.shape != tuple(grid_shape):
        raise SinetuneError(f"mask {path} has shape {'×'.join(map(str, array.shape))}, the signal's grid is "
                            f"{'×'.join(map(str, grid_shape))}")
    return array != 0


def check_mask(missing: np.ndarray) -> None:
    """A mask that marks nothing or everything missing is a one-line :class:`SinetuneError`."""
    count = int(missing.sum())
    if count == 0:
        raise SinetuneError("the inpainting mask marks no sample missing: nothing to inpaint")
    if count == missing.size:
        raise SinetuneError(f"the inpainting mask marks all {missing.size} samples missing: nothing left to fit")


def downsample(values: np.ndarray, factor: int) -> np.ndarray:
    """Block-average ``grid_shape + (C,)`` values by ``factor`` along every grid axis (area filter).

    The grid must be a multiple of ``factor`` per axis (:func:`crop_to_multiple`); returns
    ``(n_1/k, …, n_d/k, C)`` float32 (``skimage.transform.downscale_local_mean``).
    """
    from skimage.transform import downscale_local_mean

    if any(n % factor for n in values.shape[:-1]):
        raise SinetuneError(f"grid {values.shape[:-1]} is not a multiple of the factor {factor}")
    return downscale_local_mean(values, (factor,) * (values.ndim - 1) + (1,)).astype(np.float32)


def crop_to_multiple(values: np.ndarray, factor: int) -> np.ndarray:
    """``values`` with every grid axis cropped (at its end) to a multiple of ``factor``; at least
    2 low-resolution samples must remain per axis."""
    shape = [n - n % factor for n in values.shape[:-1]]
    if min(shape) // factor < 2:
        raise SinetuneError(f"factor {factor} leaves fewer than 2 samples along an axis of the "
                            f"{'×'.join(map(str, values.shape[:-1]))} grid")
    return values[tuple(slice(0, n) for n in shape)]


def superres_coordinates(low_shape: tuple[int, ...], factor: int, chunk: int = EVAL_CHUNK):
    """Chunks ``(start, coords)`` of the ``factor×`` grid's sample positions in the low-resolution
    field's coordinates.

    The low-resolution sample ``i`` (coordinate ``−1 + 2i/(n − 1)``) averages the high-resolution
    samples ``ik … ik + k − 1``, so high-resolution sample ``j`` lies at low-resolution index
    ``(j − (k − 1)/2)/k``: the ``kn`` positions span ``±(1 + (k − 1)/(k(n − 1)))`` per axis — a
    little beyond [-1, 1]. Column order as :func:`~sinetune.signals.grid_coordinates`.
    """
    high = tuple(n * factor for n in low_shape)
    scale = torch.tensor([1.0 + (factor - 1) / (factor * (n - 1)) for n in reversed(low_shape)])
    for start, coords in grid_coordinate_chunks(high, (-1.0, 1.0), chunk):
        yield start, coords * scale


def estimate_noise_sigma(values: np.ndarray) -> float:
    """σ̂ of additive white Gaussian noise in ``grid_shape + (C,)`` values, from them alone:
    ``skimage.restoration.estimate_sigma`` (median absolute deviation of the finest wavelet
    detail coefficients / 0.6745, Donoho & Johnstone), averaged over channels."""
    from skimage.restoration import estimate_sigma

    return float(estimate_sigma(np.asarray(values, dtype=np.float64), channel_axis=-1, average_sigmas=True))


__all__ = ["add_noise", "box_mask", "check_mask", "crop_to_multiple", "downsample", "estimate_noise_sigma",
           "random_mask", "read_mask", "sigma_for_snr", "superres_coordinates"]
