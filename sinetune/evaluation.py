"""Every metric of a fitted field against its signal: what ``metrics.json`` holds (definitions in
:mod:`sinetune.metrics`)."""

from __future__ import annotations

import platform
import statistics
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from . import __version__
from .metrics import (
    AUDIO_DATA_RANGE,
    field_gradient,
    gradient_psnr_of_magnitude,
    log_spectral_distance,
    psnr,
    psnr_siren2,
    snr,
    ssim,
)
from .signals import Signal
from .training import TrainResult

if TYPE_CHECKING:
    from torch import nn

    from .config import RunConfig


def evaluate(fitted: nn.Module, signal: Signal, prediction: np.ndarray, mask: np.ndarray,
             trained: TrainResult, config: RunConfig, gradient: np.ndarray | None = None,
             missing: np.ndarray | None = None) -> dict[str, Any]:
    """All metrics of a fitted image or sound (see :mod:`sinetune.metrics` for the definitions).

    ``mask``: ``True`` = not trained. ``gradient``: the field's ``(H, W)`` analytic ``|∇gray|`` if
    already computed (else computed here). ``missing``: an inpainting task's missing samples (inside
    ``mask``; :mod:`sinetune.tasks`), whose values are unknown: left out of the held-out and full PSNR.

    Audio: PSNR with data range 2 on the peak-normalised signal, ``psnr_siren2`` (SIREN²'s
    convention, 6.02 dB lower), ``snr`` and ``lsd`` on the whole clip; no SSIM or gradient PSNR.
    """
    flat_prediction = prediction.reshape(-1, signal.channels)
    flat_target = signal.values.reshape(-1, signal.channels)
    audio = signal.kind == "audio"
    data_range = AUDIO_DATA_RANGE if audio else 1.0
    known = ~missing if missing is not None else np.ones(len(mask), dtype=bool)
    held = mask & known
    metrics: dict[str, Any] = {
        "signal": signal.name,
        "source": signal.source,
        "grid_shape": list(signal.grid_shape),
        "channels": signal.channels,
        "method": config.method,
        "steps": len(trained.step_seconds),
        "diverged": trained.diverged,
        "stopped_early": trained.stopped,
        "best_step": trained.best_step,
        "train_psnr": psnr(flat_prediction[~mask], flat_target[~mask], data_range),
        "heldout_psnr": psnr(flat_prediction[held], flat_target[held], data_range) if held.any() else None,
        "full_psnr": psnr(flat_prediction[known], flat_target[known], data_range),
        "heldout_fraction": config.holdout,
        "heldout_count": int(held.sum()),
        "parameters": sum(p.numel() for p in fitted.parameters() if p.requires_grad),
        "seconds_per_step_median": statistics.median(trained.step_seconds) if trained.step_seconds else None,
        "train_seconds": sum(trained.step_seconds),
        "device": str(next(fitted.parameters()).device),
        "versions": {"sinetune": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "definitions": "PSNR 10log10(1/MSE) on [0,1], unclipped; SSIM skimage Gaussian σ=1.5 data_range=1; "
                       "gradient_psnr: BT.709 gray, gray levels per pixel, / target max (sinetune.metrics)",
    }
    if audio:
        metrics.update({
            "sample_rate": signal.sample_rate,
            "duration_s": len(flat_target) / signal.sample_rate,
            "scale": signal.scale,
            "psnr_siren2": psnr_siren2(flat_prediction, flat_target),
            "snr": snr(flat_prediction, flat_target),
            "lsd": log_spectral_distance(flat_prediction, flat_target, signal.sample_rate),
            "definitions": "audio peak-normalised to [-1,1]; PSNR 10log10(2^2/MSE) (range 2, = [0,1] convention), "
                           "psnr_siren2 20log10(1/sqrt(MSE)) = PSNR - 6.02 dB; SNR 10log10(sum x^2/sum err^2); "
                           "LSD dB, Hann STFT n_fft 2048 hop 512, eps 1e-10 (sinetune.metrics); full clip",
        })
    if signal.dim >= 3:
        from .volumes import nd_metrics

        metrics.update(nd_metrics(signal, prediction))
    if signal.dim == 2:
        metrics["ssim"] = ssim(prediction, signal.values)
        metrics["ssim_paper"] = ssim(prediction, signal.values, variant="paper")
        if gradient is None:
            gradient = np.hypot(*field_gradient(fitted, signal.grid_shape, chunk=config.train.eval_chunk))
        metrics["gradient_psnr"] = gradient_psnr_of_magnitude(gradient, signal.values)
        metrics["gradient_psnr_paper"] = gradient_psnr_of_magnitude(gradient, signal.values, variant="paper")
    return metrics


__all__ = ["evaluate"]
