"""Image and audio metrics, defined once and used by every method (tuner-spec.md §5, peers-spec §0.4).

* **PSNR**: ``10 log10(1 / MSE)``, MSE over samples × channels, values in [0, 1], prediction *not*
  clipped (as the TUNER code does).
* **SSIM** (``variant="sinetune"``, default): ``skimage.metrics.structural_similarity`` on the
  prediction clipped to [0, 1], with ``data_range=1`` and Wang et al.'s Gaussian window (σ = 1.5,
  truncated at 3.5 σ: 11×11, population covariance). ``variant="paper"`` is what the TUNER tech
  report's tooling (the MR-Net handler, ``log_SSIM``) computes: both images to 8 bit by truncation,
  ``uint8(float32(x) · 255)`` (prediction clipped to [0, 1] first), then scikit-image's default
  window — 7×7 uniform, sample covariance — with ``data_range=1`` as that code passes it
  (:data:`PAPER_SSIM_DATA_RANGE`; scikit-image's own default for uint8 would be 255).
* **MS-SSIM** (:func:`ms_ssim`): Wang et al.'s multi-scale SSIM as ``pytorch_msssim.ms_ssim``
  computes it (5 scales, weights 0.0448 … 0.1333, 11×11 Gaussian window σ = 1.5), prediction
  clipped to [0, 1], ``data_range=1``, mean over channels. Four 2× downsamplings of an 11-pixel
  window need more than 160 pixels on the shorter side (:data:`MS_SSIM_MIN_SIDE`); a smaller image
  is NaN (``null``), as SSIM is for a too-thin one. Needs the ``bench`` extra (``pytorch-msssim``).
* **Gradient PSNR** (``variant="sinetune"``, default): both gradients of the BT.709 gray image in
  the same unit, *gray levels per pixel*. Target: Sobel (``skimage.filters.sobel`` along each axis,
  reflect borders) divided by 2, the Sobel gain for a unit ramp. Prediction: the analytic gradient
  ``∂gray/∂x`` of the field (autograd) times the pixel spacing ``2 / (n - 1)``. Both magnitudes are
  divided by the *target's* maximum magnitude, then ``PSNR = 10 log10(1 / MSE)`` over the whole grid.
  ``variant="paper"`` reproduces the TUNER code (``log_grad_psnr``): target = BT.601 gray, Sobel
  magnitude / its max; prediction = the BT.709 analytic magnitude min–max normalised to [0, 255] and
  *truncated* to 8 bit (what ``PIL.Image.convert("L")`` does to a float image), divided by 255; both
  maps cast to float16, the squared difference and its mean in float16 (numpy accumulates in
  float32), ``PSNR = 10 log10(1 / MSE)``. The authors' code also rounds the final dB value to
  float16 (steps of 1/64 dB between 16 and 32 dB); sinetune reports it unrounded.

Audio (values peak-normalised to [-1, 1], see :func:`sinetune.signals.load_audio`):

* **PSNR** (``train_psnr``, ``heldout_psnr``, ``full_psnr``): ``10 log10(R² / MSE)`` with the value
  *range* ``R = 2`` (:data:`AUDIO_DATA_RANGE`), prediction not clipped. This is the image
  convention applied after mapping [-1, 1] onto [0, 1] (the SIREN and FINER repositories' rule),
  so an audio and an image PSNR mean the same relative error.
* **SIREN² PSNR** (:func:`psnr_siren2`): ``20 log10(1 / √MSE)`` on the [-1, 1] data (peak 1 over a
  range of 2), the SIREN² repository's formula; for the same reconstruction it is
  ``20 log10 2 ≈ 6.02`` dB *below* the PSNR above.
* **SNR** (:func:`snr`): ``10 log10(Σ x² / Σ (x − x̂)²)`` in dB, independent of the normalisation.
* **Log-spectral distance** (:func:`log_spectral_distance`): dB distance between the power
  spectrograms (Hann STFT), averaged over frames.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from scipy.signal import stft
from skimage.filters import sobel
from skimage.metrics import structural_similarity
from torch import nn

from .signals import EVAL_CHUNK, grid_coordinate_chunks

BT709 = (0.2126, 0.7152, 0.0722)
BT601 = (0.299, 0.587, 0.114)
SOBEL_RAMP_GAIN = 2.0  # skimage's sobel(axis=...) returns 2 on a ramp of slope 1 per pixel
#: Value range of peak-normalised audio ([-1, 1]); the ``data_range`` of sinetune's audio PSNR.
AUDIO_DATA_RANGE = 2.0
#: ε added to the STFT power before taking dB in :func:`log_spectral_distance` (−100 dB).
LSD_EPSILON = 1e-10


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """PSNR ``10 log10(data_range² / MSE)`` in dB — the one PSNR formula of sinetune.

    ``data_range`` is the span of the values: 1 for images in [0, 1], :data:`AUDIO_DATA_RANGE` (2)
    for peak-normalised audio in [-1, 1]. ``+inf`` for a zero MSE, ``−inf`` for an infinite one (a
    diverged field), NaN for NaN.
    """
    if math.isnan(mse):
        return math.nan
    if math.isinf(mse):
        return -math.inf
    return 10.0 * math.log10(data_range ** 2 / mse) if mse > 0 else math.inf


def psnr(prediction: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor, data_range: float = 1.0) -> float:
    """PSNR :func:`psnr_from_mse` of the MSE over samples × channels, no clipping. Shapes must match."""
    return psnr_from_mse(_mse(prediction, target), data_range)


def _mse(prediction: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    prediction = torch.as_tensor(prediction, dtype=torch.float64)
    target = torch.as_tensor(target, dtype=torch.float64)
    if prediction.shape != target.shape:
        raise ValueError(f"shape mismatch: {tuple(prediction.shape)} vs {tuple(target.shape)}")
    return float(torch.mean((prediction - target) ** 2))


#: ``data_range`` of the ``paper`` SSIM: the MR-Net handler passes 1 although its images are uint8.
PAPER_SSIM_DATA_RANGE = 1.0


def to_uint8(values: np.ndarray) -> np.ndarray:
    """``uint8(float32(clip(x, 0, 1)) · 255)``: 8 bit by truncation, as the TUNER/MR-Net code converts."""
    return (np.clip(np.asarray(values, dtype=np.float32), 0, 1) * np.float32(255)).astype(np.uint8)


#: The smallest image side SSIM is defined on (skimage's 7-px window; both variants need it).
SSIM_MIN_SIDE = 7
#: The smallest side the ``sinetune`` variant's Gaussian window fits (σ = 1.5 truncated at 3.5 σ: 11 px).
SSIM_GAUSSIAN_MIN_SIDE = 11


def ssim(prediction: np.ndarray, target: np.ndarray, variant: Literal["sinetune", "paper"] = "sinetune") -> float:
    """SSIM of ``(H, W, C)`` images in [0, 1], mean over channels (see the module docstring).

    ``"sinetune"``: prediction clipped, float, Gaussian window σ = 1.5, population covariance,
    ``data_range=1``. ``"paper"``: both images :func:`to_uint8`, 7×7 uniform window, sample covariance,
    ``data_range=PAPER_SSIM_DATA_RANGE``. NaN (``null`` in metrics.json) for an image thinner than
    :data:`SSIM_MIN_SIDE` pixels (``sinetune``: :data:`SSIM_GAUSSIAN_MIN_SIDE`).
    """
    if min(target.shape[:2]) < (SSIM_GAUSSIAN_MIN_SIDE if variant == "sinetune" else SSIM_MIN_SIDE):
        return float("nan")
    if variant == "sinetune":
        return float(structural_similarity(
            np.clip(prediction, 0, 1).astype(np.float64), target.astype(np.float64), data_range=1.0,
            channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False))
    if variant == "paper":
        return float(structural_similarity(to_uint8(target), to_uint8(prediction), data_range=PAPER_SSIM_DATA_RANGE,
                                           channel_axis=-1))
    raise ValueError(f"unknown SSIM variant {variant!r}")


#: The shortest side :func:`ms_ssim` measures: 5 scales are 4 halvings of an 11-pixel window, (11 − 1)·2⁴ + 1.
MS_SSIM_MIN_SIDE = 161


def ms_ssim(prediction: np.ndarray, target: np.ndarray) -> float:
    """MS-SSIM of ``(H, W, C)`` images in [0, 1] (module docstring): 1 for identical images, lower for
    worse; NaN when the shorter side is under :data:`MS_SSIM_MIN_SIDE` pixels.

    Raises:
        SinetuneError: ``pytorch-msssim`` is not installed (``pip install 'sinetune[bench]'``).
    """
    if prediction.shape != target.shape or target.ndim != 3:
        raise ValueError(f"ms_ssim compares two (H, W, C) images of one shape, got {prediction.shape} and "
                         f"{target.shape}")
    if min(target.shape[:2]) < MS_SSIM_MIN_SIDE:
        return float("nan")
    try:
        from pytorch_msssim import ms_ssim as multi_scale
    except ImportError:
        from .errors import SinetuneError

        raise SinetuneError("MS-SSIM needs pytorch-msssim: pip install 'sinetune[bench]'") from None

    def batch(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64)).permute(2, 0, 1)[None]

    with torch.no_grad():
        return float(multi_scale(batch(np.clip(prediction, 0, 1)), batch(target), data_range=1.0))


def gray(values: np.ndarray, weights: tuple[float, float, float] = BT709) -> np.ndarray:
    """``(H, W, C)`` → ``(H, W)`` luma with the given RGB weights (C = 1 passes through)."""
    if values.shape[-1] == 1:
        return values[..., 0]
    return values[..., :3] @ np.asarray(weights, dtype=values.dtype)


def sobel_gradient(gray_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(gx, gy)`` of a 2-D array in gray levels per pixel (x along columns, y along rows)."""
    image = gray_image.astype(np.float64)
    return sobel(image, axis=1) / SOBEL_RAMP_GAIN, sobel(image, axis=0) / SOBEL_RAMP_GAIN


def field_gradient(
    field: nn.Module,
    grid_shape: tuple[int, int],
    weights: tuple[float, float, float] = BT709,
    chunk: int = EVAL_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Analytic gradient of the field's gray output on an ``(H, W)`` grid over [-1, 1]².

    Returns ``(gx, gy)``, each ``(H, W)`` float64, in gray levels per *pixel* (∂/∂x times
    ``2 / (W - 1)``, ∂/∂y times ``2 / (H - 1)``).

    ``chunk`` points go through autograd at a time: memory is one chunk's forward graph (a few
    ``chunk × width`` activations) plus the ``(H·W, 2)`` float64 result; the grid's coordinates are
    generated chunk by chunk. The result does not depend on ``chunk`` beyond float rounding.
    """
    height, width = grid_shape
    device = next(field.parameters()).device
    gradient = np.empty((height * width, 2), dtype=np.float64)
    with torch.enable_grad():
        for start, coords in grid_coordinate_chunks(grid_shape, (-1.0, 1.0), chunk):
            points = coords.to(device).requires_grad_(True)
            output = field(points)
            if output.shape[1] == 1:
                luma = output[:, 0]
            else:
                luma = output[:, :3] @ torch.tensor(weights, dtype=output.dtype, device=device)
            (piece,) = torch.autograd.grad(luma.sum(), points)
            gradient[start:start + len(piece)] = piece.detach().cpu().double().numpy()
    gx = gradient[:, 0].reshape(height, width) * (2.0 / (width - 1))
    gy = gradient[:, 1].reshape(height, width) * (2.0 / (height - 1))
    return gx, gy


def gradient_psnr(
    field: nn.Module,
    target: np.ndarray,
    variant: Literal["sinetune", "paper"] = "sinetune",
) -> float:
    """Gradient PSNR of a field against an ``(H, W, C)`` target image (see module docstring)."""
    predicted = np.hypot(*field_gradient(field, target.shape[:2]))
    return gradient_psnr_of_magnitude(predicted, target, variant)


def gradient_psnr_of_magnitude(
    predicted: np.ndarray,
    target: np.ndarray,
    variant: Literal["sinetune", "paper"] = "sinetune",
) -> float:
    """Gradient PSNR from the field's ``(H, W)`` analytic ``|∇gray|`` (BT.709, gray levels per pixel,
    as :func:`field_gradient` returns it) — both variants use that same map, so a run computes it once.
    """
    if variant == "paper":
        target_magnitude = np.hypot(*sobel_gradient(gray(target, BT601)))
        target_map = target_magnitude / max(target_magnitude.max(), 1e-12)
        magnitude = np.asarray(predicted, dtype=np.float32)
        span = magnitude.max() - magnitude.min()
        levels = np.float32(255) * (magnitude - magnitude.min()) / (span if span > 0 else np.float32(1))
        levels = np.clip(levels, 0, 255).astype(np.uint8)  # truncation, as PIL's float → "L" conversion
        difference = levels.astype(np.float16) / np.float16(255) - target_map.astype(np.float16)
        mse = float(np.mean(difference * difference))  # float16 squares; numpy's float16 mean sums in float32
    elif variant == "sinetune":
        target_magnitude = np.hypot(*sobel_gradient(gray(target)))
        scale = max(target_magnitude.max(), 1e-12)
        mse = float(np.mean((predicted / scale - target_magnitude / scale) ** 2))
    else:
        raise ValueError(f"unknown gradient PSNR variant {variant!r}")
    return 10.0 * np.log10(1.0 / mse) if mse > 0 else float("inf")


# --- audio ----------------------------------------------------------------------------------------

def psnr_siren2(prediction: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """SIREN²'s PSNR ``20 log10(1 / √MSE)`` in dB on [-1, 1] data (peers-spec §0.4).

    Equals ``psnr(prediction, target, AUDIO_DATA_RANGE) − 20 log10 2`` (≈ 6.02 dB lower).
    """
    mse = _mse(prediction, target)
    return 20.0 * np.log10(1.0 / np.sqrt(mse)) if mse > 0 else float("inf")


def snr(prediction: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """Signal-to-noise ratio ``10 log10(Σ x² / Σ (x − x̂)²)`` in dB (``x`` target, ``x̂`` prediction)."""
    prediction = torch.as_tensor(prediction, dtype=torch.float64)
    target = torch.as_tensor(target, dtype=torch.float64)
    if prediction.shape != target.shape:
        raise ValueError(f"shape mismatch: {tuple(prediction.shape)} vs {tuple(target.shape)}")
    noise = float(torch.sum((target - prediction) ** 2))
    energy = float(torch.sum(target ** 2))
    if noise == 0:
        return float("inf")
    return 10.0 * np.log10(energy / noise) if energy > 0 else float("-inf")


def log_spectral_distance(
    prediction: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    sample_rate: float,
    n_fft: int = 2048,
    hop: int = 512,
) -> float:
    """Log-spectral distance in dB between two mono signals of ``N`` samples (shape ``(N,)`` or ``(N, 1)``).

    ``LSD = mean_t sqrt(mean_f (10 log10(|X|² + ε) − 10 log10(|X̂|² + ε))²)`` with ``X`` the
    ``scipy.signal.stft`` of the target (Hann window of ``n_fft`` samples, hop ``hop``, zero-padded
    boundaries, ``scaling="spectrum"`` so a full-scale sinusoid has |X| ≈ 1/2) and
    ``ε = LSD_EPSILON = 1e-10`` (a −100 dB floor, so silent frames do not dominate). Clips shorter
    than ``n_fft`` use the largest power of two ≤ N as the window and a quarter of it as the hop.
    ``sample_rate`` (Hz) only labels the frequency axis; the distance does not depend on it.
    """
    x = torch.as_tensor(target, dtype=torch.float64).reshape(-1).numpy()
    y = torch.as_tensor(prediction, dtype=torch.float64).reshape(-1).numpy()
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: {x.shape} vs {y.shape}")
    if n_fft < 2 or hop < 1:
        raise ValueError(f"need n_fft ≥ 2 and hop ≥ 1, got {n_fft}, {hop}")
    if len(x) < n_fft:
        n_fft = 1 << (max(len(x), 2).bit_length() - 1)
        hop = max(1, n_fft // 4)
    hop = min(hop, n_fft)

    def power_db(signal: np.ndarray) -> np.ndarray:
        _, _, spectrum = stft(signal, fs=sample_rate, window="hann", nperseg=n_fft, noverlap=n_fft - hop,
                              scaling="spectrum")
        return 10.0 * np.log10(np.abs(spectrum) ** 2 + LSD_EPSILON)

    difference = power_db(x) - power_db(y)  # (bins, frames)
    return float(np.mean(np.sqrt(np.mean(difference ** 2, axis=0))))
