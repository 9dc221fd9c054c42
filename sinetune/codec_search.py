"""The candidates of :mod:`sinetune.codec`: fitting a network per width, encoding it at a bit depth,
measuring it as :func:`sinetune.codec.decompress` will see it, and choosing among them for a target.

* A *candidate* (:class:`Candidate`) is one width × bit depth, fitted (once per width), put in plain
  form, quantised (optionally after the quantisation-aware fine-tune), encoded, then decoded on the
  CPU, rendered, rounded to 8 bits and scored.
* :func:`search_bpp` keeps the best PSNR within a byte budget; :func:`search_psnr` the fewest bytes
  reaching a PSNR (see :class:`CodecOptions` for how widths are chosen).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from .bitstream import CODERS, Coder, Encoded, decode_field, encode_field
from .config import RunConfig, SignalConfig
from .errors import SinetuneError
from .methods import get_method
from .metrics import psnr as psnr_of
from .metrics import ssim as ssim_of
from .models import SinusoidalField
from .progress import Progress
from .quantize import (
    Granularity,
    QuantizeOptions,
    check_bits,
    plain_field,
    quantization_aware_finetune,
    quantize_field,
)
from .render import render_field
from .signals import Signal, image_from_array
from .training import TrainOptions, train

CODEC_METHODS = ("tuner", "siren")
#: Widths tried for a PSNR target, smallest first (a bisection picks among them).
PSNR_LADDER = (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
#: The fits' learning rate by method when :attr:`CodecOptions.lr` is ``None`` (BENCHMARKS.md, *Compression*:
#: TUNER's 5e-4 default is slightly slow for networks of 30–80 units); a method not named keeps its default.
CODEC_LR = {"tuner": 2e-3}
#: ``dictionary="spectrum"`` picks atoms up to this multiple of TUNER's band-limit (the picks lie mostly
#: far below it; 1.5 and 2 picked the same atoms on DIV2K 00 and 05 at 256², BENCHMARKS.md *Compression*).
SPECTRUM_BAND_SCALE = 1.5
#: The narrowest network a bpp target may choose.
MIN_WIDTH = 4


@dataclass(frozen=True)
class CodecOptions:
    """How :func:`compress` searches.

    Attributes:
        widths: hidden widths to try (SIREN: ``input_width = hidden_width``; TUNER: ``input_ratio`` times as
            many input frequencies, at most those its band-limit holds on the image's grid); ``None``: for a bpp target,
            the widest that the budget allows at each bit depth (estimated, then corrected by the
            measured size); for a PSNR target, a bisection over :data:`PSNR_LADDER`.
        bits: bit depths to try for every width.
        granularity: ``"column"`` (one grid per input feature of a weight) or ``"tensor"``
            (:mod:`sinetune.quantize`).
        hidden_layers: hidden sine layers; ``None`` = the method's default (TUNER 1, SIREN 3).
        steps: optimizer steps of each fit (``keep_best``).
        batch_size: samples per fit step, or ``"full"`` (every pixel every step).
        lr: the fits' Adam learning rate; ``None``: :data:`CODEC_LR` for the method (TUNER 2e-3, chosen for
            the codec's tiny networks), else the method's default (SIREN 1e-4).
        lr_schedule: ``"constant"`` or ``"cosine"`` (decayed to zero over the fit;
            :class:`~sinetune.training.TrainOptions`).
        dictionary: TUNER's input frequencies: ``"sampled"`` (the method's dense-low, sparse-high draw) or
            ``"spectrum"`` (``e_1, e_2``, the low block, then the image's own strongest frequencies up to
            :data:`SPECTRUM_BAND_SCALE` times the band-limit: :func:`sinetune.growing.spectrum_dictionary`,
            growing's criterion once, before the fit; the file stores the atoms either way). Ignored by SIREN.
        input_ratio: TUNER's input frequencies per hidden unit (``n_0 = input_ratio · n_1``; frozen
            integers, the file stores them in about a byte each, but every one adds a column of ``n_1``
            weights to the hidden matrix). Ignored by SIREN.
        qat_steps: steps of the quantisation-aware fine-tune of the chosen network (0: none; full batch,
            cosine-decayed).
        qat_lr: its learning rate; ``None``: the fit's.
        coder: ``"ans"`` (constriction) or ``"zlib"`` (the baseline).
        seed: seeds every fit.
    """

    widths: tuple[int, ...] | None = None
    bits: tuple[int, ...] = (5, 6)
    granularity: Granularity = "tensor"
    hidden_layers: int | None = None
    steps: int = 1200
    batch_size: int | Literal["full"] = 16384
    lr: float | None = None
    lr_schedule: Literal["constant", "cosine"] = "constant"
    dictionary: Literal["sampled", "spectrum"] = "sampled"
    input_ratio: float = 1.0
    qat_steps: int = 100
    qat_lr: float | None = None
    coder: Coder = "ans"
    seed: int = 0

    def validate(self) -> None:
        if self.widths is not None and (not self.widths or any(w < 1 for w in self.widths)):
            raise SinetuneError(f"widths must be positive integers, got {self.widths}")
        if not self.bits:
            raise SinetuneError("bits needs at least one bit depth")
        for bits in self.bits:
            check_bits(bits)
        QuantizeOptions(self.bits[0], self.granularity, self.qat_steps, self.qat_lr).validate()
        if self.batch_size != "full" and (isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int)
                                          or self.batch_size < 1):
            raise SinetuneError(f"batch_size must be a positive integer or 'full', got {self.batch_size!r}")
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise SinetuneError(f"lr must be a positive number, got {self.lr!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise SinetuneError(f"lr_schedule must be constant or cosine, got {self.lr_schedule!r}")
        if not (isinstance(self.input_ratio, (int, float)) and math.isfinite(self.input_ratio)
                and 0 < self.input_ratio <= 64):
            raise SinetuneError(f"input_ratio must be a number in (0, 64], got {self.input_ratio!r}")
        if self.dictionary not in ("sampled", "spectrum"):
            raise SinetuneError(f"dictionary must be sampled or spectrum, got {self.dictionary!r}")
        if self.hidden_layers is not None and self.hidden_layers < 1:
            raise SinetuneError(f"hidden_layers must be positive, got {self.hidden_layers}")
        if self.steps < 1:
            raise SinetuneError(f"steps must be positive, got {self.steps}")
        if self.coder not in CODERS:
            raise SinetuneError(f"coder must be one of {', '.join(CODERS)}, got {self.coder!r}")


@dataclass
class Candidate:
    """One encoded network: its shape, size and quality (as :func:`decompress` will give it).

    Attributes:
        width, bits: the network width and bit depth; ``finetuned``: after the quantisation-aware fine-tune.
        parameters: number of weights stored.
        bytes, bpp: file size and bits per pixel (``8 · bytes / (H · W)``).
        psnr, ssim: of the decoded 8-bit image against the input (dB; :func:`sinetune.metrics.ssim`).
        encode_seconds: the fit, quantisation, fine-tune and encoding of this network.
        decode_seconds: reading the bytes, rebuilding the field and rendering it (CPU).
        encoded: the file's bytes and their parts.
    """

    width: int
    bits: int
    finetuned: bool
    parameters: int
    bytes: int
    bpp: float
    psnr: float
    ssim: float
    encode_seconds: float
    decode_seconds: float
    encoded: Encoded = field(repr=False)

    def row(self) -> dict[str, Any]:
        """The plain numbers (for a benchmark's rows or a summary)."""
        return {key: getattr(self, key) for key in ("width", "bits", "finetuned", "parameters", "bytes", "bpp",
                                                    "psnr", "ssim", "encode_seconds", "decode_seconds")}


def decode_image(data: bytes, size: int | None = None, where: str = "the data") -> np.ndarray:
    """``.stn`` bytes → ``(H, W, C)`` uint8 image, rendered on the CPU at the stored grid or with the
    longer side ``size`` (aspect kept; 2 to 16384)."""
    fitted, header = decode_field(data, where)
    return render_decoded(fitted, tuple(header["grid"]), size)


def render_decoded(fitted: SinusoidalField, grid: tuple[int, ...], size: int | None = None) -> np.ndarray:
    """Render a decoded field to 8 bits: ``(H, W, C)`` uint8 (rounded, clipped to [0, 1] first)."""
    height, width = grid
    if size is not None:
        if not 2 <= size <= 16384:
            raise SinetuneError(f"size must be between 2 and 16384, got {size}")
        scale = size / max(height, width)
        height, width = max(2, round(height * scale)), max(2, round(width * scale))
    with torch.no_grad():
        values = render_field(fitted, (height, width))
    image = image_from_array(values)
    return image[..., None] if image.ndim == 2 else image


def encode_fitted(field: torch.nn.Module, signal: Signal, bits: int, *, method: str = "tuner",
                  granularity: Granularity = "column", coder: Coder = "ans", qat_steps: int = 0,
                  lr: float = 1e-4, device: str = "cpu") -> Candidate:
    """Encode an already fitted field of ``signal`` and measure it as :func:`sinetune.codec.decompress` will.

    Any TUNER- or SIREN-style :class:`~sinetune.models.SinusoidalField` (a pruned one too: the file
    stores its own widths); ``field`` itself is left as it is.

    Args:
        field: the fitted field (any device).
        signal: the image it was fitted to (``(H, W, C)`` values in [0, 1]).
        bits, granularity: the quantisation (:mod:`sinetune.quantize`).
        method: the method name the file records.
        coder: ``"ans"`` or ``"zlib"``.
        qat_steps, lr, device: the quantisation-aware fine-tune before quantising (0: none), its
            learning rate and where it runs.

    Returns:
        A :class:`Candidate` (``width``: the first hidden layer's; ``encode_seconds``: plain form,
        fine-tune and coding) whose ``encoded.data`` are the file's bytes.
    """
    started = time.perf_counter()
    return _encode_plain(plain_field(field), signal, bits, method, granularity, coder, qat_steps, lr, device, started)


def _encode_plain(network: SinusoidalField, signal: Signal, bits: int, method: str, granularity: Granularity,
                  coder: Coder, qat_steps: int, lr: float, device: str, started: float) -> Candidate:
    """:func:`encode_fitted` of a plain field it may change (fine-tune in place); timed from ``started``."""
    if qat_steps:
        quantization_aware_finetune(network.to(device), signal.coords(), signal.flat_values(),
                                    QuantizeOptions(bits, granularity, qat_steps), lr)
        network = network.cpu()
    tensors = quantize_field(network, bits, granularity)
    encoded = encode_field(network, tensors, signal.grid_shape, method, coder)
    encode_seconds = time.perf_counter() - started
    started = time.perf_counter()
    decoded = decode_image(encoded.data)
    decode_seconds = time.perf_counter() - started
    quality = decoded.astype(np.float32) / 255
    pixels = math.prod(signal.grid_shape)
    width = network.hidden[0].out_features if len(network.hidden) else network.encoding.out_features
    return Candidate(width, bits, qat_steps > 0, sum(t.levels.size for t in tensors.values()), len(encoded.data),
                     8 * len(encoded.data) / pixels, psnr_of(quality, signal.values), ssim_of(quality, signal.values),
                     encode_seconds, decode_seconds, encoded)


class CandidateSearch:
    """One image and method: fits cached by width, candidates measured as the decoder sees them."""

    def __init__(self, signal: Signal, method: str, options: CodecOptions, device: str, report: Progress):
        self.signal, self.method, self.options, self.device, self.report = signal, method, options, device, report
        self.fits: dict[int, tuple[SinusoidalField, float, float]] = {}
        self.candidates: list[Candidate] = []
        self.coords, self.values = signal.coords(), signal.flat_values()

    def config(self, width: int) -> RunConfig:
        entry = get_method(self.method)
        shape = {"input_width": width, "hidden_width": width}
        if self.method == "tuner":  # a small image holds few distinct frequencies below TUNER's band-limit
            from .capacity import held_input_width

            inputs = max(1, round(width * self.options.input_ratio))
            shape["input_width"] = held_input_width(self.signal.grid_shape, inputs, entry.options_type().period)
            if self.options.dictionary == "spectrum":
                shape.update(self.spectrum_atoms(replace(entry.options_type(), **shape)))
        if self.options.hidden_layers is not None:
            shape["hidden_layers"] = self.options.hidden_layers
        lr = self.options.lr if self.options.lr is not None else CODEC_LR.get(self.method)
        train_options = TrainOptions(steps=self.options.steps, lr=lr, batch_size=self.options.batch_size,
                                     lr_schedule=self.options.lr_schedule, keep_best=True, checkpoint_seconds=None)
        return RunConfig(signal=SignalConfig(path=self.signal.source or self.signal.name), method=self.method,
                         options=replace(entry.options_type(), **shape), train=train_options,
                         seed=self.options.seed, holdout=0.0, device=self.device)

    def spectrum_atoms(self, options: Any) -> dict[str, Any]:
        """The TUNER fields of ``options``' size whose atoms are the image's own (``dictionary="spectrum"``)."""
        from .growing import spectrum_dictionary
        from .methods import tuner

        sized = tuner.resolve(options, self.signal.grid_shape)
        band = max(2, round(sized.band_limit * SPECTRUM_BAND_SCALE))
        atoms = spectrum_dictionary(self.signal.values, sized.input_width, band, sized.period)
        return {"input_width": len(atoms), "input_frequencies": tuple(map(tuple, atoms.tolist())),
                "band_limit": max(band, int(np.abs(atoms).max()))}

    def parameters(self, width: int) -> int:
        """Weights of a network of ``width`` (built, not trained)."""
        from .methods import build_field

        config = self.config(width)
        built = build_field(self.method, self.signal.grid_shape, self.signal.channels, config.options,
                            values=self.signal.values)
        return sum(p.numel() for p in built.field.parameters())

    def fitted(self, width: int) -> tuple[SinusoidalField, float, float]:
        """``(plain field, learning rate, fit seconds)`` of a network of ``width``, fitted once."""
        if width not in self.fits:
            from .runs import prepare_fit

            started = time.perf_counter()
            prepared = prepare_fit(self.config(width), self.signal)
            self.report.note(f"compress: fitting {self.method} width {width} ({self.options.steps} steps)")
            coords, values, _ = prepared.training_data()
            train(prepared.built.field, coords, values, prepared.config.train, prepared.config.train.lr,
                  prepared.built.constraints, prepared.built.penalties, generator=prepared.generator,
                  progress=self.report)
            self.fits[width] = (plain_field(prepared.built.field), prepared.config.train.lr,
                                time.perf_counter() - started)
        return self.fits[width]

    def candidate(self, width: int, bits: int, finetune: bool = False) -> Candidate:
        plain, lr, fit_seconds = self.fitted(width)
        found = _encode_plain(copy.deepcopy(plain), self.signal, bits, self.method, self.options.granularity,
                              self.options.coder, self.options.qat_steps if finetune else 0,
                              self.options.qat_lr or lr, self.device,
                              time.perf_counter())  # a copy: the cached fit stays as trained
        found.width, found.encode_seconds = width, found.encode_seconds + fit_seconds
        self.candidates.append(found)
        self.report.note(f"compress: width {width}, {bits} bits{' (fine-tuned)' * finetune}: "
                         f"{found.bpp:.4f} bpp, {found.psnr:.2f} dB")
        return found

    def finetuned(self, best: Candidate, keep: Any) -> Candidate:
        """The fine-tuned ``best`` if ``keep(candidate)`` holds for it and it is no worse, else ``best``."""
        if self.options.qat_steps == 0:
            return best
        tuned = self.candidate(best.width, best.bits, finetune=True)
        return tuned if keep(tuned) and tuned.psnr >= best.psnr else best


def widths_for_budget(search: CandidateSearch, budget_bytes: float, bits: int, rate: float) -> int:
    """The widest network whose estimated size (``rate`` bits per weight, plus a fixed overhead)
    fits ``budget_bytes``; the weight count is quadratic in the width, so three builds give it."""
    samples = [(w, search.parameters(w)) for w in (4, 8, 12)]
    a, b, c = np.polyfit([w for w, _ in samples], [p for _, p in samples], 2)
    overhead = 200.0  # header, frequencies, grids: measured per candidate after the first
    usable = (budget_bytes - overhead) * 8 / rate
    if usable <= c:
        return MIN_WIDTH
    width = (-b + math.sqrt(max(b * b - 4 * a * (c - usable), 0.0))) / (2 * a)
    return max(MIN_WIDTH, int(width))


def search_bpp(search: CandidateSearch, target: float) -> Candidate:
    pixels = math.prod(search.signal.grid_shape)
    budget = target * pixels / 8
    fitting: list[Candidate] = []
    for bits in search.options.bits:
        widths = sorted(search.options.widths or (), reverse=True)
        if widths:
            for width in widths:  # widest first: the first that fits is the best of this depth
                found = search.candidate(width, bits)
                if found.bytes <= budget:
                    fitting.append(found)
                    break
            continue
        rate = bits - 1.0  # bits per weight after entropy coding, before anything was measured
        tried: set[int] = set()
        width = widths_for_budget(search, budget, bits, rate)
        for _ in range(4):
            if width in tried:
                break
            tried.add(width)
            found = search.candidate(width, bits)
            if found.bytes <= budget:
                fitting.append(found)
                break
            # correct the estimate by the measured size and try the width that fits it
            rate = max(8 * found.bytes / found.parameters, 0.5) * 1.02
            smaller = widths_for_budget(search, budget, bits, rate)
            width = min(smaller, width - 1)
            if width < MIN_WIDTH:
                break
    if not fitting:
        smallest = min(search.candidates, key=lambda c: c.bytes)
        raise SinetuneError(f"no {search.method} network fits {target:g} bpp: the smallest tried (width "
                            f"{smallest.width}, {smallest.bits} bits) takes {smallest.bpp:.3f} bpp; ask for more bpp")
    best = max(fitting, key=lambda c: c.psnr)
    return search.finetuned(best, lambda c: c.bytes <= budget)


def search_psnr(search: CandidateSearch, target: float) -> Candidate:
    ladder = sorted(search.options.widths or PSNR_LADDER)
    low, high, reaching = 0, len(ladder) - 1, []
    while low <= high:
        middle = (low + high) // 2
        found = [search.candidate(ladder[middle], bits) for bits in sorted(search.options.bits)]
        good = [c for c in found if c.psnr >= target]
        if good:
            reaching.append(min(good, key=lambda c: c.bytes))
            high = middle - 1
        else:
            low = middle + 1
    if not reaching:
        best = max(search.candidates, key=lambda c: c.psnr)
        warnings.warn(f"no {search.method} network tried reaches {target:g} dB; keeping the best, "
                      f"{best.psnr:.2f} dB at {best.bpp:.3f} bpp (width {best.width}, {best.bits} bits)", stacklevel=3)
        return search.finetuned(best, lambda c: True)
    best = min(reaching, key=lambda c: c.bytes)
    return search.finetuned(best, lambda c: c.psnr >= target)


__all__ = ["CODEC_LR", "CODEC_METHODS", "MIN_WIDTH", "PSNR_LADDER", "SPECTRUM_BAND_SCALE", "Candidate",
           "CandidateSearch", "CodecOptions", "decode_image", "encode_fitted", "render_decoded", "search_bpp",
           "search_psnr", "widths_for_budget"]
