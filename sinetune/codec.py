"""An image codec from sinusoidal fields: fit, quantise, fine-tune, entropy-code — and back.

:func:`compress` fits networks of a few widths to the image (:func:`sinetune.training.train`, all
pixels, no hold-out), quantises each to a few bit depths (:mod:`sinetune.quantize`), encodes them
(:mod:`sinetune.bitstream`) and keeps the best that meets the target: the highest PSNR within
``bpp`` bits per pixel, or the fewest bytes reaching ``psnr`` dB. The chosen one gets a short
quantisation-aware fine-tune (kept only if it does not lose quality or break the budget) and is
written as a ``.stn`` file. :func:`decompress` rebuilds the field from the file and renders it, at
the image's size or any other.

Every size and PSNR :func:`compress` reports is measured on what :func:`decompress` returns: the
encoded bytes are decoded (on the CPU), rendered and rounded to 8 bits, exactly as a later
:func:`decompress` does.

**Determinism.** Decoding is deterministic on a given platform: the entropy decoder is exact
(integer arithmetic), dequantisation is float32 arithmetic, and the render is a fixed sequence of
float32 PyTorch operations on the CPU. Across platforms (another CPU, BLAS, PyTorch version, thread
count), the matrix products and ``sin`` may round differently in the last bits; an output pixel
near a rounding boundary can then differ by one 8-bit level, so the PSNR can differ in the last
printed digits. The ``.stn`` bytes themselves are read identically everywhere.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .bitstream import read_stn, write_stn
from .codec_search import (
    CODEC_METHODS,
    Candidate,
    CandidateSearch,
    CodecOptions,
    decode_image,
    encode_fitted,
    render_decoded,
    search_bpp,
    search_psnr,
)
from .errors import SinetuneError
from .progress import Progress, as_progress
from .rundir import check_output_file
from .signals import Signal, load_image

#: Image formats :func:`decompress` writes.
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".webp")


@dataclass
class CompressResult:
    """What :func:`compress` returns.

    Attributes:
        chosen: the network written (see :class:`Candidate`: ``bpp``, ``psnr``, ``ssim``, …).
        candidates: every network tried, in order.
        path: the ``.stn`` file, or ``None`` when nothing was written.
        decoded: the decoded image, ``(H, W, C)`` uint8 (what :func:`decompress` returns).
        method: ``tuner`` or ``siren``; seconds: the whole search.
    """

    chosen: Candidate
    candidates: list[Candidate]
    path: Path | None
    decoded: np.ndarray
    method: str
    seconds: float

    @property
    def bpp(self) -> float:
        return self.chosen.bpp

    @property
    def psnr(self) -> float:
        return self.chosen.psnr


def compress(
    image: str | Path | Signal,
    out: str | Path | None = None,
    *,
    bpp: float | None = None,
    psnr: float | None = None,
    method: str = "tuner",
    options: CodecOptions | None = None,
    size: int | None = None,
    device: str = "cpu",
    overwrite: bool = False,
    progress: bool | Progress = False,
) -> CompressResult:
    """Compress an image to a ``.stn`` file at a target rate or quality.

    Args:
        image: an image path, a built-in name (``astronaut``) or a loaded 2-D :class:`~sinetune.signals.Signal`.
        out: the ``.stn`` file to write (``None``: nothing written); never replaced unless ``overwrite``.
        bpp: the most bits per pixel (file bytes · 8 / pixels); the highest-PSNR network within it is kept.
        psnr: the least PSNR in dB (8-bit decoded image); the smallest network reaching it is kept.
            Exactly one of ``bpp`` and ``psnr``.
        method: ``tuner`` or ``siren`` (:data:`CODEC_METHODS`), searched under the same pipeline.
        options: the search (:class:`CodecOptions`); ``None`` = its defaults.
        size: resize the image so its longer side has this many pixels first (``None``: its own size).
        device: where the fits run (``cpu``, ``cuda``, ``auto``); measuring always decodes on the CPU.
        progress: report the fits on stderr.

    Returns:
        :class:`CompressResult`: ``.bpp``, ``.psnr``, the chosen network, every candidate, the path.

    Example::

        result = sinetune.codec.compress("photo.png", "photo.stn", bpp=0.3)
        result.bpp, result.psnr                 # ≤ 0.3, dB of the decoded image
        image = sinetune.codec.decompress("photo.stn")   # (H, W, 3) uint8
    """
    started = time.perf_counter()
    if (bpp is None) == (psnr is None):
        raise SinetuneError("give exactly one target: bpp or psnr")
    target = bpp if bpp is not None else psnr
    if not (isinstance(target, (int, float)) and math.isfinite(target) and target > 0):
        raise SinetuneError(f"the target must be a positive number, got {target!r}")
    if method not in CODEC_METHODS:
        raise SinetuneError(f"the codec fits {' or '.join(CODEC_METHODS)}, not {method!r}")
    options = options or CodecOptions()
    options.validate()
    if out is not None:
        out = check_output_file(out, (".stn",), "a compressed image")
        if out.exists() and not overwrite:
            raise SinetuneError(f"{out} already exists; pass --overwrite to replace it")
    signal = image if isinstance(image, Signal) else load_image(image, size)
    if signal.dim != 2:
        raise SinetuneError("the codec compresses images (2-D signals)")
    from .runs import resolve_device

    search = CandidateSearch(signal, method, options, str(resolve_device(device)), as_progress(progress))
    chosen = search_bpp(search, bpp) if bpp is not None else search_psnr(search, psnr)
    path = write_stn(out, chosen.encoded.data, overwrite) if out is not None else None
    return CompressResult(chosen, search.candidates, path, decode_image(chosen.encoded.data), method,
                          time.perf_counter() - started)


def rate_distortion(image: str | Path | Signal, widths: tuple[int, ...], *, method: str = "tuner",
                    options: CodecOptions | None = None, size: int | None = None, device: str = "cpu",
                    progress: bool | Progress = False) -> list[Candidate]:
    """Rate–distortion points of the codec's pipeline: every width × ``options.bits``, each after
    post-training quantisation and (with ``options.qat_steps``) after the fine-tune too.

    The same fits, quantisation, coding and measurement as :func:`compress`, without its choice:
    one fit per width, then per bit depth a :class:`Candidate` with ``finetuned=False`` and, when
    fine-tuning, one with ``finetuned=True`` (its ``encode_seconds`` include the fit). Arguments as
    :func:`compress`; ``options.widths`` is ignored.
    """
    if method not in CODEC_METHODS:
        raise SinetuneError(f"the codec fits {' or '.join(CODEC_METHODS)}, not {method!r}")
    options = options or CodecOptions()
    options.validate()
    signal = image if isinstance(image, Signal) else load_image(image, size)
    from .runs import resolve_device

    search = CandidateSearch(signal, method, options, str(resolve_device(device)), as_progress(progress))
    for width in widths:
        for bits in options.bits:
            search.candidate(width, bits)
            if options.qat_steps:
                search.candidate(width, bits, finetune=True)
    return search.candidates


def decompress(path: str | Path, size: int | None = None, out: str | Path | None = None,
               overwrite: bool = False) -> np.ndarray:
    """Decode a ``.stn`` file: the ``(H, W, C)`` uint8 image (at the stored size, or longer side ``size``).

    ``out``: also write it as an image (PNG, TIFF, BMP or lossless WebP, by suffix), atomically, never
    replacing a file unless ``overwrite``. A truncated, corrupt or foreign file is a one-line
    :class:`~sinetune.errors.SinetuneError`.
    """
    if out is not None:
        out = check_output_file(out, IMAGE_SUFFIXES, "a decompressed image")
        if out.exists() and not overwrite:
            raise SinetuneError(f"{out} already exists; pass --overwrite to replace it")
    fitted, header = read_stn(path)
    image = render_decoded(fitted, tuple(header["grid"]), size)
    if out is not None:
        partial = out.with_name(f".{out.name}.partial")
        picture = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        picture.save(partial, format=Image.registered_extensions()[out.suffix.lower()], lossless=True)
        os.replace(partial, out)
    return image


__all__ = ["CODEC_METHODS", "Candidate", "CodecOptions", "CompressResult", "compress", "decode_image", "decompress",
           "encode_fitted", "rate_distortion", "render_decoded"]
