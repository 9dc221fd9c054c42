"""Resources checked before they are spent: input sizes from file headers, a fit's memory against the machine's.

* Images: the pixel count is read from the header (Pillow's ``Image.open`` decodes nothing) and an
  image above :func:`max_image_pixels` (default 8192² = 67 Mpx; ``SINETUNE_MAX_IMAGE_PIXELS`` raises
  it) is refused before decoding, as is a decompression bomb Pillow itself flags.
* Audio: frames × channels (the soundfile header) above :func:`max_audio_values` (default 2²⁷;
  ``SINETUNE_MAX_AUDIO_VALUES``) is refused before reading.
* Both: the decode (float64 copies) must fit in the available memory.
* A fit: :func:`estimate_fit_memory` measures the bytes one training sample costs in a step (the
  tensors autograd saves in a forward pass on two small probe batches; the difference removes
  what does not grow with the batch) and adds the grid-sized arrays of the data and the
  evaluation; :func:`check_fit_memory` refuses a fit above the available memory (``psutil`` if
  installed, else ``/proc/meminfo``, capped by a cgroup limit; the GPU's free memory for CUDA) and
  names the largest ``--batch-size`` that fits. ``SINETUNE_MEMORY_CHECK=off`` skips it.

The estimate is deliberately high (a step's backward pass is counted as twice the saved tensors:
measured peaks of TUNER/SIREN 384²–1024² fits are 0.6–0.9 of it).
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

from .batching import resolve_batching, samples_per_step
from .errors import SinetuneError

if TYPE_CHECKING:
    from .runs import PreparedFit

#: Default largest image (pixels) decoded: 8192 × 8192.
MAX_IMAGE_PIXELS = 8192 * 8192
#: Default largest audio read: frames × channels values.
MAX_AUDIO_VALUES = 1 << 27
#: Bytes per pixel of the evaluation after training (prediction, float64 copies, SSIM's filtered
#: maps per channel, gradient maps): measured ≈ 150 for RGB, rounded up.
EVAL_BYTES_PER_SAMPLE = 256
#: A step's peak as a multiple of the tensors its forward pass saves (backward adds the gradients).
BACKWARD_FACTOR = 2.0
#: Below this many samples per step a suggested --batch-size is not worth it.
MIN_SUGGESTED_BATCH = 1024


def _gib(count: float) -> str:
    return f"{count / 2**30:.1f} GiB"


def _env_limit(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = int(float(text))
    except ValueError:
        value = 0
    if value < 1:
        raise SinetuneError(f"{name} must be a positive number, got {text!r}")
    return value


def max_image_pixels() -> int:
    """The largest image decoded (pixels): ``SINETUNE_MAX_IMAGE_PIXELS`` or :data:`MAX_IMAGE_PIXELS`."""
    return _env_limit("SINETUNE_MAX_IMAGE_PIXELS", MAX_IMAGE_PIXELS)


def max_audio_values() -> int:
    """The largest audio read (frames × channels): ``SINETUNE_MAX_AUDIO_VALUES`` or :data:`MAX_AUDIO_VALUES`."""
    return _env_limit("SINETUNE_MAX_AUDIO_VALUES", MAX_AUDIO_VALUES)


@contextlib.contextmanager
def pillow_pixel_limit() -> Iterator[int]:
    """While open: Pillow's own bomb check set to :func:`max_image_pixels` (it raises
    ``DecompressionBombError`` above twice ``Image.MAX_IMAGE_PIXELS``, warns above it; the warning
    is silenced, :func:`check_image_size` decides). Yields the limit. Not thread-safe (a PIL global)."""
    limit = max_image_pixels()
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield limit
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def check_image_size(name: str, width: int, height: int, bands: int) -> None:
    """Refuse (one line) an image of ``width × height`` pixels before it is decoded."""
    pixels, limit = width * height, max_image_pixels()
    if pixels > limit:
        raise SinetuneError(f"image {name} is {width}×{height} = {pixels / 1e6:.0f} Mpx, above the limit of "
                            f"{limit / 1e6:.0f} Mpx (a decompression bomb?); set SINETUNE_MAX_IMAGE_PIXELS to allow it")
    _check_decode(name, pixels * max(bands, 1) * 8 * 3)


def check_audio_size(name: str, frames: int, channels: int) -> None:
    """Refuse (one line) reading ``frames × channels`` audio values before anything is read."""
    values, limit = frames * channels, max_audio_values()
    if values > limit:
        raise SinetuneError(f"audio {name}: {frames} frames × {channels} channels is above the limit of {limit} "
                            f"values; crop it with --duration or --samples, or set SINETUNE_MAX_AUDIO_VALUES")
    _check_decode(name, values * 8 * 2)


def _check_decode(name: str, needed: int) -> None:
    available = available_memory()
    if available is not None and needed > available:
        raise SinetuneError(f"decoding {name} needs about {_gib(needed)} of memory; {_gib(available)} is available")


# --- Available memory ---------------------------------------------------------------------------


def _cgroup_room() -> int | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(0, int(limit) - used)


def available_memory(device: torch.device | str = "cpu") -> int | None:
    """Bytes a new allocation can use now on ``device`` (``None`` if unknown)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        import psutil

        host = int(psutil.virtual_memory().available)
    except ImportError:
        host = None
        with contextlib.suppress(OSError, ValueError):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    host = int(line.split()[1]) * 1024
    room = _cgroup_room()
    if host is None or room is None:
        return host if room is None else room
    return min(host, room)


# --- A fit's memory -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryEstimate:
    """A fit's estimated peak memory, in bytes.

    Attributes:
        per_sample: one training sample's share of a step (saved tensors × :data:`BACKWARD_FACTOR`).
        minibatch_per_sample: the same for a mini-batch step (no cached encoding).
        batch: samples per step.
        step: ``per_sample × batch`` plus the cached encoding (full batch) — on the fit's device.
        data: the signal, coordinates, targets, masks and parameters with Adam's state.
        evaluation: the grid-sized arrays and one chunk's autograd pass after training.
    """

    per_sample: float
    minibatch_per_sample: float
    batch: int
    step: float
    data: float
    evaluation: float

    @property
    def peak(self) -> float:
        return self.data + max(self.step, self.evaluation)


def _saved_bytes(prepared: PreparedFit, count: int, cached: bool) -> tuple[int, int]:
    """``(bytes autograd saves, bytes of the cached inputs)`` of one training forward pass on ``count``
    probe points — the path :func:`sinetune.training.train` takes (``prepare``d inputs with a full batch)."""
    from .models import SinusoidalField

    field = prepared.built.field
    device = next(field.parameters()).device
    coords = torch.linspace(-1.0, 1.0, count, device=device)[:, None].expand(count, prepared.signal.dim).contiguous()
    inputs, forward, cache = coords, field, 0
    if cached and isinstance(field, SinusoidalField):
        with torch.no_grad():
            inputs = field.prepare(coords)
        forward = field.forward_prepared
        cache = inputs.numel() * inputs.element_size() if inputs is not coords else 0
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = forward(inputs)
        loss = torch.mean(output ** 2)
    saved += output.numel() * output.element_size()
    del loss
    return saved, cache


def _per_sample(prepared: PreparedFit, cached: bool) -> tuple[float, float]:
    small, large = 64, 192
    saved_small, cache_small = _saved_bytes(prepared, small, cached)
    saved_large, cache_large = _saved_bytes(prepared, large, cached)
    return ((saved_large - saved_small) / (large - small) * BACKWARD_FACTOR,
            (cache_large - cache_small) / (large - small))


def estimate_fit_memory(prepared: PreparedFit) -> MemoryEstimate:
    """Estimate the peak memory of training and evaluating ``prepared`` (see the module docstring)."""
    signal, train = prepared.signal, prepared.config.train
    count = math.prod(signal.grid_shape)
    training = count - int(prepared.mask.sum())
    batch = samples_per_step(resolve_batching(train, training, signal.dim).batch_size, training)
    full = batch >= training
    per_sample, cache = _per_sample(prepared, cached=train.cache_encoding and full)
    minibatch = per_sample if not (train.cache_encoding and full) else _per_sample(prepared, cached=False)[0]
    from .tasks import observed_positions  # (tasks → signals → resources at import)

    positions = observed_positions(prepared.task)  # superres's area observation: k^d evaluations per sample
    per_sample, minibatch = per_sample * positions, minibatch * positions
    parameters = sum(p.numel() * p.element_size() for p in prepared.built.field.parameters())
    # values: the signal, flat, train and held-out subsets (×3); coords: full and train (×2); masks
    data = count * (signal.channels * 4 * 3 + signal.dim * 4 * 2 + 16) + parameters * 6
    chunk = min(train.eval_chunk, count)
    evaluation = count * EVAL_BYTES_PER_SAMPLE * max(1, signal.channels) / 3 + chunk * minibatch * 2
    return MemoryEstimate(per_sample, minibatch, batch, per_sample * batch + cache * count, data, evaluation)


def check_fit_memory(prepared: PreparedFit, signals: int = 1, hint: str | None = None) -> MemoryEstimate | None:
    """Refuse (one line) a fit of ``signals`` such fields at once whose estimate exceeds the memory
    available; suggests the largest ``--batch-size`` that fits (or ``hint``). Returns the estimate."""
    if os.environ.get("SINETUNE_MEMORY_CHECK", "").strip().lower() in ("off", "0", "no", "false"):
        return None
    estimate = estimate_fit_memory(prepared)
    host = available_memory("cpu")
    gpu = available_memory(prepared.device) if prepared.device.type == "cuda" else None
    step, data = estimate.step * signals, estimate.data * signals
    if host is not None and data + estimate.evaluation > host:
        raise SinetuneError(f"this signal's arrays and its evaluation alone need about "
                            f"{_gib(data + estimate.evaluation)} of memory but {_gib(host)} is available; "
                            f"fit a smaller signal (--size, or crop audio with --duration)")
    # the step runs on the GPU (its free memory) or on the host next to the data
    available, room = (gpu, gpu) if gpu is not None else (host, None if host is None else host - data)
    if available is None or room is None or step <= room:
        return estimate
    text = (f"this fit needs about {_gib(step + (0 if gpu is not None else data))} of memory "
            f"{'on the GPU ' if gpu is not None else ''}(a step on {estimate.batch * signals:,} samples "
            f"{_gib(step)}, data {_gib(data)}) but {_gib(available)} is available")
    if hint is not None:
        raise SinetuneError(f"{text}; {hint}")
    largest = int(room / (estimate.minibatch_per_sample * signals))
    if largest >= MIN_SUGGESTED_BATCH and 2 ** int(math.log2(largest)) < estimate.batch:
        raise SinetuneError(f"{text}; pass --batch-size {2 ** int(math.log2(largest))} (or fit a smaller --size)")
    raise SinetuneError(f"{text}; fit a smaller signal (--size, or crop audio with --duration)")


# --- Failures at run time -----------------------------------------------------------------------


def failure_message(error: BaseException) -> str | None:
    """The one line for an out-of-memory or file-system error raised mid-run; ``None`` for anything else."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    out_of_memory = (MemoryError, getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError))
    if isinstance(error, out_of_memory) or (isinstance(error, RuntimeError) and any(
            text in first for text in ("can't allocate memory", "out of memory", "not enough memory"))):
        return f"out of memory ({first[:120]}); pass a smaller --batch-size (e.g. 65536) or --size"
    if isinstance(error, OSError):
        return f"{error.strerror or first}" + (f": {error.filename}" if error.filename else "")
    return None


__all__ = ["MAX_AUDIO_VALUES", "MAX_IMAGE_PIXELS", "MemoryEstimate", "available_memory", "check_audio_size",
           "check_fit_memory", "check_image_size", "estimate_fit_memory", "failure_message", "max_audio_values",
           "max_image_pixels", "pillow_pixel_limit"]
