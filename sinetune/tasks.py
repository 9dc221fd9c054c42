"""Inverse tasks: fit a corrupted signal, score the field against the clean one (issue #14).

Each task corrupts a clean signal reproducibly (an explicit :class:`numpy.random.Generator` seeded by
:attr:`TaskOptions.seed`), fits the corrupted samples with the one training loop, and scores the
field against the clean signal as ``clean_psnr`` in ``metrics.json``:

* ``denoise``: ``y = x + n``, ``n ~ N(0, σ²)`` i.i.d. per sample and channel (``--noise σ`` in the
  signal's value units, or ``--snr`` dB: ``σ = rms(x) · 10^(−SNR/20)``), not clipped. Scored on the
  whole grid. Training stops by the *discrepancy principle* (Morozov): once the training MSE falls
  to ``stop_factor · σ̂²`` — the field explains the data down to the noise level, any further
  decrease fits noise — where ``σ̂`` is estimated from the noisy input alone
  (:func:`~sinetune.corruptions.estimate_noise_sigma`, wavelet MAD), never from the clean target.
  With ``band_gain`` the band-limit is keyed to the noise too: TUNER's ``band_fraction`` becomes
  ``band_gain · ν_f``, ``ν_f`` the radius where the input's spectrum sinks to the white-noise floor
  ``σ̂²`` (:func:`~sinetune.spectral.noise_floor_radius`), and its input width is capped at what
  that band holds (:func:`method_options`), so the field cannot represent the frequencies that are
  mostly noise.
* ``inpaint``: a boolean mask of *missing* samples (``--mask FILE``, or ``--mask-fraction F`` drawn
  as random samples or as boxes — image rectangles, audio gaps — :data:`MASK_PATTERNS`). The fit
  never sees them (they join the run's held-out mask; :attr:`sinetune.runs.PreparedFit.missing`);
  ``clean_psnr`` is over the missing samples only, ``clean_psnr_full`` over the whole grid.
* ``superres``: the clean grid cropped to a multiple of ``k`` per axis and block-averaged by ``k``
  (area / box filter, anti-aliased: :func:`~sinetune.corruptions.downsample`); the field fits the
  low-resolution grid and is rendered at ``k×`` at the high-resolution sample positions
  (:func:`~sinetune.corruptions.superres_coordinates`); ``clean_psnr`` is against the (cropped) original.

Without ``noise``/``snr``, ``mask``/``mask_fraction`` or ``factor`` (or with ``corrupted``), the input
is taken as already corrupted and nothing clean is scored. Everything here works on any
:class:`~sinetune.signals.Signal` grid (``d`` axes, ``C`` channels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .corruptions import (
    add_noise,
    box_mask,
    check_mask,
    crop_to_multiple,
    downsample,
    estimate_noise_sigma,
    random_mask,
    read_mask,
    sigma_for_snr,
    superres_coordinates,
)
from .errors import SinetuneError
from .metrics import AUDIO_DATA_RANGE, psnr, ssim
from .signals import EVAL_CHUNK, Signal
from .spectral import noise_floor_radius

TASKS = ("fit", "denoise", "inpaint", "superres")
MASK_PATTERNS = ("random", "boxes")
#: How a superres field is fitted to its low-resolution samples (:class:`TaskOptions`).
OBSERVATIONS = ("point", "area")
#: TUNER's depth recipe per task, for options that leave ``hidden_layers`` unset (:func:`method_options`):
#: superres — three hidden layers, the 2nd+ bounded at ``deep_bound`` 0.15 (chosen on DIV2K crops, confirmed
#: on Kodak at ×2 and ×4: BENCHMARKS.md "Super-resolution: depth, steps and the forward model").
TASK_DEPTH: dict[str, dict[str, object]] = {"superres": {"hidden_layers": 3, "deep_bound": 0.15}}


@dataclass(frozen=True)
class TaskOptions:
    """What the fit is for (``task:`` section; ``sinetune fit --task``; see docs/tasks.md).

    Attributes:
        task: ``fit`` (represent the signal), ``denoise``, ``inpaint`` or ``superres`` (super-resolve).
        noise: denoise: add Gaussian noise of this standard deviation σ to the clean signal, in its
            value units (images in [0, 1], audio peak-normalised to [-1, 1]), and score against the
            clean one. ``null`` (and no ``snr``): the input is already noisy; nothing clean is scored.
        snr: denoise: add white Gaussian noise at this signal-to-noise ratio in dB instead
            (``σ = rms(x) · 10^(−snr/20)``; audio's usual measure). Exclusive with ``noise``.
        mask: inpaint: a file marking the missing samples (non-zero = missing): an image of the
            signal's size, or a ``.npy`` boolean array of its grid shape (any dimension). They are
            removed from the input and scored (with ``corrupted``: the input lacks them already).
        mask_fraction: inpaint: remove this fraction of the samples, in (0, 1), drawn by ``seed``.
        mask_pattern: how ``mask_fraction`` is drawn: ``random`` samples (pixels) or ``boxes``
            (axis-aligned boxes: rectangles in an image, gaps in a sound) until the fraction is covered.
        box_size: ``boxes``: the largest box side as a fraction of each axis (the smallest is a
            quarter of it; at least one sample).
        factor: superres: downsample the clean signal by this integer factor per axis (area average),
            fit the low-resolution grid and render it at ``factor×`` against the original. With
            ``corrupted``: the input is the low-resolution grid and ``factor`` only the render's.
        corrupted: the input is already corrupted (inpaint: ``mask`` marks its missing samples;
            superres: it is the low-resolution grid): nothing is added or removed and nothing
            clean is scored. Implied for denoise without ``noise``/``snr``.
        seed: seeds the corruption (noise, random mask), separately from the run's ``seed``, so every
            method of a comparison sees the same corrupted input.
        stop_factor: denoise: stop training once the training MSE falls to ``stop_factor · σ̂²``,
            ``σ̂`` estimated from the noisy input (the discrepancy principle); ``null``: no such
            rule (the training options' own rules still apply).
        band_gain: denoise, TUNER: set ``band_fraction = band_gain · ν_f`` (at most 1), ``ν_f`` the
            noise-floor radius of the noisy input at ``σ̂`` (fraction of Nyquist,
            :func:`~sinetune.spectral.noise_floor_radius`), and cap the input width at the distinct
            frequencies that band holds. Applies when the TUNER options leave ``band_limit``,
            ``band_fraction`` and ``input_frequencies`` unset under the resolution band rule (given
            values win); other methods are unchanged. ``null``: the method's own band.
        floor_snr: the signal-to-noise power ratio at which a frequency ring counts as noise for
            ``ν_f`` (1: where the signal's power has fallen to the noise's).
        observation: superres: how the field is fitted to the low-resolution samples: ``point`` (the
            field at each sample's centre) or ``area`` (the mean of the field over the ``factor^d``
            high-resolution positions the sample averages: the area filter's forward model,
            :mod:`sinetune.observation`).
    """

    task: Literal["fit", "denoise", "inpaint", "superres"] = "fit"
    noise: float | None = None
    snr: float | None = None
    mask: str | None = None
    mask_fraction: float | None = None
    mask_pattern: Literal["random", "boxes"] = "random"
    box_size: float = 0.1
    factor: int | None = None
    corrupted: bool = False
    seed: int = 0
    stop_factor: float | None = 1.0
    band_gain: float | None = None
    floor_snr: float = 1.0
    observation: Literal["point", "area"] = "point"

    def validate(self) -> None:
        """One-line :class:`SinetuneError` for options that contradict each other or the task."""
        if self.task not in TASKS:
            raise SinetuneError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        names = ("noise", "snr", "mask", "mask_fraction", "factor")
        given = {name for name in names if getattr(self, name) is not None}
        needs = {"denoise": {"noise", "snr"}, "inpaint": {"mask", "mask_fraction"}, "superres": {"factor"},
                 "fit": set()}[self.task]
        stray = sorted(given - needs)
        if stray:
            flags = ", ".join("--" + name.replace("_", "-") for name in stray)
            raise SinetuneError(f"{flags} does not apply to --task {self.task}")
        if self.noise is not None and self.snr is not None:
            raise SinetuneError("give either --noise or --snr, not both")
        if self.noise is not None and not (self.noise > 0 and math.isfinite(self.noise)):
            raise SinetuneError(f"noise must be a positive standard deviation, got {self.noise}")
        if self.snr is not None and not math.isfinite(self.snr):
            raise SinetuneError(f"snr must be a finite number of dB, got {self.snr}")
        if self.mask is not None and self.mask_fraction is not None:
            raise SinetuneError("give either --mask or --mask-fraction, not both")
        if self.mask_fraction is not None and not 0 < self.mask_fraction < 1:
            raise SinetuneError(f"mask_fraction must be in (0, 1), got {self.mask_fraction}")
        if self.mask_pattern not in MASK_PATTERNS:
            raise SinetuneError(f"mask_pattern must be one of {', '.join(MASK_PATTERNS)}, got {self.mask_pattern!r}")
        if not 0 < self.box_size <= 1:
            raise SinetuneError(f"box_size must be in (0, 1], got {self.box_size}")
        if self.task == "inpaint" and self.mask is None and self.mask_fraction is None:
            raise SinetuneError("--task inpaint needs --mask FILE or --mask-fraction F")
        if self.task == "inpaint" and self.corrupted and self.mask is None:
            raise SinetuneError("an already corrupted input needs --mask FILE marking its missing samples")
        if self.task == "superres" and (self.factor is None or isinstance(self.factor, bool) or self.factor < 2):
            raise SinetuneError(f"--task superres needs --factor K, an integer ≥ 2 (got {self.factor})")
        if self.corrupted and (self.noise is not None or self.snr is not None or self.mask_fraction is not None):
            raise SinetuneError("an already corrupted input takes no --noise, --snr or --mask-fraction")
        if self.stop_factor is not None and not (self.stop_factor > 0 and math.isfinite(self.stop_factor)):
            raise SinetuneError(f"stop_factor must be positive, got {self.stop_factor}")
        for name in ("band_gain", "floor_snr"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not (value > 0 and math.isfinite(value))):
                raise SinetuneError(f"{name} must be a positive number, got {value!r}")
        if self.observation not in OBSERVATIONS:
            raise SinetuneError(f"observation must be one of {', '.join(OBSERVATIONS)}, got {self.observation!r}")
        if self.observation != "point" and self.task != "superres":
            raise SinetuneError(f"observation {self.observation} applies to --task superres, not {self.task}")
        if self.band_gain is not None and self.task != "denoise":
            raise SinetuneError(f"band_gain (a noise-keyed band) applies to --task denoise, not {self.task}")

    @property
    def scores_clean(self) -> bool:
        """Whether the input is clean and corrupted here (so ``clean_psnr`` is scored)."""
        return self.task != "fit" and not self.corrupted and (
            self.task != "denoise" or self.noise is not None or self.snr is not None)


# --- a task applied to a signal -----------------------------------------------------------------


@dataclass
class TaskInput:
    """What a task makes of a loaded signal (:func:`prepare_task`).

    Attributes:
        options: the task's options.
        signal: the signal to fit (noisy; missing samples filled with the known mean; low-resolution).
        clean: the clean signal to score against (superres: the cropped original), or ``None``.
        missing: inpaint: boolean mask over the flattened samples of ``signal``, ``True`` = missing
            (never trained); ``None`` otherwise.
        sigma: denoise: the σ of the added noise (``None`` for an already noisy input).
        sigma_estimate: denoise: σ̂ estimated from the noisy input (:func:`~sinetune.corruptions.estimate_noise_sigma`).
        noise_radius: denoise: ``ν_f``, where the input's spectrum reaches the noise floor ``σ̂²``
            (fraction of Nyquist, :func:`~sinetune.spectral.noise_floor_radius`).
        recipe: the task's depth recipe as applied to the method's options (:func:`method_options`; for
            the ``derived:`` line), ``""`` when none was.
    """

    options: TaskOptions
    signal: Signal
    clean: Signal | None = None
    missing: np.ndarray | None = None
    sigma: float | None = None
    sigma_estimate: float | None = None
    noise_radius: float | None = None
    recipe: str = ""

    @property
    def stop_mse(self) -> float | None:
        """The denoise stopping threshold ``stop_factor · σ̂²`` on the training MSE (else ``None``)."""
        if self.options.task != "denoise" or self.options.stop_factor is None or not self.sigma_estimate:
            return None
        return self.options.stop_factor * self.sigma_estimate ** 2

    @property
    def band_fraction(self) -> float | None:
        """The noise-keyed band ``min(1, band_gain · ν_f)`` (fraction of Nyquist), else ``None``."""
        if self.options.task != "denoise" or self.options.band_gain is None or not self.noise_radius:
            return None
        return round(min(1.0, self.options.band_gain * self.noise_radius), 6)


def method_options(task: TaskInput, method: str, options: object) -> tuple[TaskInput, object]:
    """``(task, options)``: a method's options with the task's TUNER recipes applied (other methods come back
    unchanged), and the task with :attr:`TaskInput.recipe` saying which depth recipe was applied.

    * Depth (:data:`TASK_DEPTH`): when ``hidden_layers`` is unset (``None``) and no validation search
      chooses it, the task's recipe fills every option it names that is still at its default (a given
      ``deep_bound`` wins).
    * Band (denoise with ``band_gain``): ``band_fraction`` becomes :attr:`TaskInput.band_fraction` and the
      input width (given, or the capacity rule's) is capped at the distinct frequencies that band holds on
      the grid (:func:`sinetune.capacity.held_input_width`): a smaller band is also a smaller capacity.
      Options that fix the band (``band_limit``, ``band_fraction``, ``input_frequencies``, ``band_rule:
      spectrum``) are left as they are.
    """
    if method != "tuner":
        return task, options
    from .capacity import held_input_width, tuner_capacity
    from .methods.tuner import TunerOptions

    recipe = TASK_DEPTH.get(task.options.task)
    if recipe and options.hidden_layers is None and options.select == "off":
        defaults = TunerOptions()
        changes = {name: value for name, value in recipe.items() if getattr(options, name) == getattr(defaults, name)}
        options = replace(options, **changes)
        task = replace(task, recipe=f"TUNER {task.options.task} depth recipe (hidden_layers unset): "
                                    + ", ".join(f"{name} {value}" for name, value in changes.items()))
    fraction = task.band_fraction
    if fraction is None or (options.band_limit is not None or options.band_fraction is not None
                            or options.input_frequencies is not None or options.band_rule != "resolution"):
        return task, options
    grid_shape = task.signal.grid_shape
    width = options.input_width or tuner_capacity(grid_shape, options.period).input_width
    return task, replace(options, band_fraction=fraction,
                         input_width=held_input_width(grid_shape, width, options.period, fraction))


def describe_task(task: TaskInput) -> str:
    """One line on what the task did to the input and to the method's options (part of a run's ``derived:``
    line)."""
    return "; ".join(part for part in (_describe_input(task), task.recipe) if part)


def _describe_input(task: TaskInput) -> str:
    options, shape = task.options, "×".join(map(str, task.signal.grid_shape))
    given = "already corrupted input, nothing clean scored" if task.clean is None else f"corruption seed {options.seed}"
    if options.task == "denoise":
        added = f"Gaussian noise σ = {task.sigma:.4g} added, " if task.sigma is not None else ""
        stop = f", stop at training MSE ≤ {task.stop_mse:.3g}" if task.stop_mse is not None else ""
        band = (f", noise floor at {task.noise_radius:.3f} of Nyquist: TUNER band_fraction {task.band_fraction:g} "
                f"(× gain {options.band_gain:g})" if task.band_fraction is not None else "")
        return f"denoise: {added}σ̂ = {task.sigma_estimate:.4g} estimated from the input{stop}{band} ({given})"
    if options.task == "inpaint":
        count = int(task.missing.sum())
        how = f"mask {options.mask}" if options.mask is not None else f"{options.mask_pattern} mask"
        return f"inpaint: {count} of {task.missing.size} samples missing ({how}; {given})"
    if options.task == "superres":
        source = f" block average of {'×'.join(map(str, task.clean.grid_shape))}" if task.clean is not None else ""
        scored = "scored against the original" if task.clean is not None else "nothing clean scored"
        how = (f", as the mean over each sample's {options.factor ** task.signal.dim} high-resolution positions"
               if options.observation == "area" else "")
        return f"superres: fitting the {shape}{source}{how}, rendered at ×{options.factor} ({scored})"
    return ""


def prepare_task(options: TaskOptions, signal: Signal) -> TaskInput:
    """Apply ``options`` to the loaded ``signal``: the corrupted signal to fit and the clean one."""
    options.validate()
    rng = np.random.default_rng([options.seed, 14])
    task, clean = options.task, signal if options.scores_clean else None
    if task == "fit":
        return TaskInput(options, signal)
    if task == "denoise":
        sigma = None
        if clean is not None:
            sigma = options.noise if options.noise is not None else sigma_for_snr(signal.values, options.snr)
            signal = replace(signal, values=add_noise(signal.values, sigma, rng), name=signal.name)
        estimate = estimate_noise_sigma(signal.values)
        radius = noise_floor_radius(signal.values, estimate, options.floor_snr) if estimate > 0 else None
        return TaskInput(options, signal, clean, sigma=sigma, sigma_estimate=estimate, noise_radius=radius)
    if task == "inpaint":
        if options.mask is not None:
            missing = read_mask(options.mask, signal.grid_shape)
        elif options.mask_pattern == "boxes":
            missing = box_mask(signal.grid_shape, options.mask_fraction, rng, options.box_size)
        else:
            missing = random_mask(signal.grid_shape, options.mask_fraction, rng)
        check_mask(missing)
        flat = missing.reshape(-1)
        values = signal.values.reshape(-1, signal.channels).copy()
        values[flat] = values[~flat].mean(axis=0)  # neutral for the spectrum-measuring defaults; never trained
        return TaskInput(options, replace(signal, values=values.reshape(signal.values.shape)), clean, flat)
    factor = options.factor
    if clean is None:
        return TaskInput(options, signal)
    cropped = replace(signal, values=np.ascontiguousarray(crop_to_multiple(signal.values, factor)))
    rate = round(signal.sample_rate / factor) if signal.sample_rate else None  # audio: k times fewer samples
    low = replace(signal, values=downsample(cropped.values, factor), sample_rate=rate)
    return TaskInput(options, low, cropped)


def _area_observed(task: TaskInput | None) -> bool:
    return task is not None and task.options.task == "superres" and task.options.observation == "area"


def observed_field(task: TaskInput | None, field: torch.nn.Module) -> torch.nn.Module:
    """What the training loop fits: ``field`` itself, or for superres with ``observation: area`` the
    field seen through the area filter (:class:`~sinetune.observation.AreaObserved`)."""
    if not _area_observed(task):
        return field
    from .observation import AreaObserved

    return AreaObserved(field, task.signal.grid_shape, task.options.factor)


def observed_positions(task: TaskInput | None) -> int:
    """Field evaluations per training sample: ``factor^d`` under superres's area observation, else 1
    (what :func:`sinetune.resources.estimate_fit_memory` scales a step's activations by)."""
    return task.options.factor ** task.signal.dim if _area_observed(task) else 1


def render_task(field: torch.nn.Module, task: TaskInput, prediction: np.ndarray,
                chunk: int = EVAL_CHUNK) -> np.ndarray:
    """The field's answer to the task: superres: the ``factor×`` render (``grid_shape·k + (C,)``,
    :func:`~sinetune.corruptions.superres_coordinates`); otherwise ``prediction`` (the render on the fitted grid)."""
    if task.options.task != "superres":
        return prediction
    low = task.signal.grid_shape
    high = tuple(n * task.options.factor for n in low)
    out = np.empty((math.prod(high), prediction.shape[-1]), dtype=np.float32)
    device = next(field.parameters()).device
    with torch.no_grad():
        for start, coords in superres_coordinates(low, task.options.factor, chunk):
            values = field(coords.to(device)).cpu().numpy()
            out[start:start + len(values)] = values
    return out.reshape(*high, -1)


def score_task(task: TaskInput, answer: np.ndarray) -> dict[str, object]:
    """``metrics.json`` entries of a task: ``task``, its corruption, and (clean input) ``clean_psnr``
    — over the missing samples for inpaint (``clean_psnr_full``: the whole grid), at full
    resolution for superres — plus ``clean_ssim`` for images. PSNR in the signal's range (2 for audio)."""
    options = task.options
    metrics: dict[str, object] = {"task": options.task}
    if options.task == "fit":
        return metrics
    metrics.update({"noise_sigma": task.sigma, "noise_sigma_estimate": task.sigma_estimate,
                    "stop_mse": task.stop_mse, "noise_floor_radius": task.noise_radius,
                    "noise_band_fraction": task.band_fraction, "factor": options.factor,
                    "missing_count": int(task.missing.sum()) if task.missing is not None else None,
                    "clean_psnr": None})
    if task.clean is None:
        return metrics
    clean = task.clean
    data_range = AUDIO_DATA_RANGE if clean.kind == "audio" else 1.0
    flat_answer, flat_clean = answer.reshape(-1, clean.channels), clean.values.reshape(-1, clean.channels)
    if task.missing is not None:
        metrics["clean_psnr"] = psnr(flat_answer[task.missing], flat_clean[task.missing], data_range)
        metrics["clean_psnr_full"] = psnr(flat_answer, flat_clean, data_range)
    else:
        metrics["clean_psnr"] = psnr(flat_answer, flat_clean, data_range)
    if clean.dim == 2:
        metrics["clean_ssim"] = ssim(answer, clean.values)
    return metrics


def write_task_files(run_dir: Path, task: TaskInput, answer: np.ndarray) -> dict[str, Path]:
    """A task's extra files in its run directory: the corrupted input it fitted (``input.png`` /
    ``input.wav``) and, for superres, the ``k×`` render (``reconstruction_xK.png`` / ``.wav`` at ``k``
    times the rate); other grids as ``.npy``."""
    from .render import save_audio, save_image

    signal, paths = task.signal, {}
    items = [("input", signal.values, signal.sample_rate)]
    if task.options.task == "superres":
        rate = signal.sample_rate * task.options.factor if signal.sample_rate else None
        items.append((f"reconstruction_x{task.options.factor}", answer, rate))
    for name, values, rate in items:
        if signal.kind == "audio":
            paths[name] = run_dir / f"{name}.wav"
            save_audio(values, paths[name], rate, signal.scale)
        elif signal.dim == 2:
            paths[name] = run_dir / f"{name}.png"
            save_image(values, paths[name])
        else:
            paths[name] = run_dir / f"{name}.npy"
            np.save(paths[name], values)
    return paths


__all__ = ["MASK_PATTERNS", "OBSERVATIONS", "TASKS", "TASK_DEPTH", "TaskInput", "TaskOptions", "describe_task",
           "method_options", "observed_field", "observed_positions", "prepare_task", "render_task", "score_task",
           "write_task_files"]
