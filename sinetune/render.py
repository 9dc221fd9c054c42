"""Renders of a field: at any resolution or domain, and the PNG figures of a run directory."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

from .metrics import gray  # noqa: E402
from .signals import grid_coordinates, image_from_array  # noqa: E402
from .spectral import log_magnitude_spectrum  # noqa: E402
from .training import predict  # noqa: E402


def render_field(
    field: nn.Module,
    grid_shape: tuple[int, ...],
    domain: tuple[float, float] = (-1.0, 1.0),
    chunk: int = 65536,
) -> np.ndarray:
    """Evaluate ``field`` on a regular grid.

    Args:
        field: coordinates ``(N, d)`` → values ``(N, C)``.
        grid_shape: samples per axis, slowest first (images ``(H, W)``).
        domain: ``(low, high)`` per axis; [-1, 1] is the training domain, e.g. (-2, 2) shows a TUNER
            field's periodic tiling.
        chunk: coordinates evaluated at once (bounds memory at large resolutions).

    Returns:
        ``grid_shape + (C,)`` float32 array (not clipped).
    """
    coords = grid_coordinates(grid_shape, domain)
    values = predict(field, coords, chunk).cpu().numpy()
    return values.reshape(*grid_shape, -1).astype(np.float32)


def save_image(values: np.ndarray, path: Path) -> None:
    """Save ``(H, W, C)`` values in [0, 1] (clipped) as an 8-bit PNG."""
    Image.fromarray(image_from_array(values)).save(path)


def save_error(prediction: np.ndarray, target: np.ndarray, path: Path) -> None:
    """Absolute error, mean over channels, as a colour-mapped figure with a colour bar."""
    error = np.abs(prediction - target).mean(axis=-1)
    figure, axis = plt.subplots(figsize=(5, 4.3), dpi=100)
    shown = axis.imshow(error, cmap="inferno", vmin=0, vmax=max(float(np.percentile(error, 99.5)), 1e-6))
    axis.set_title("|prediction − target| (mean over channels)")
    axis.axis("off")
    figure.colorbar(shown, ax=axis, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def save_pair(left: np.ndarray, right: np.ndarray, titles: tuple[str, str], path: Path, cmap: str = "gray") -> None:
    """Two 2-D maps side by side with a shared colour scale."""
    figure, axes = plt.subplots(1, 2, figsize=(9, 4.6), dpi=100)
    vmax = max(float(left.max()), float(right.max()), 1e-12)
    for axis, image, title in zip(axes, (left, right), titles):
        axis.imshow(image, cmap=cmap, vmin=0, vmax=vmax)
        axis.set_title(title)
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def save_spectrum(prediction: np.ndarray, target: np.ndarray, path: Path) -> None:
    """Centred ``log(1 + |FFT|)`` of the gray reconstruction next to the target's (tuner-spec §5)."""
    save_pair(log_magnitude_spectrum(gray(prediction)), log_magnitude_spectrum(gray(target)),
              ("reconstruction log|FFT|", "target log|FFT|"), path, cmap="magma")


def save_gradient(predicted: np.ndarray, target: np.ndarray, path: Path) -> None:
    """Gradient magnitudes (analytic for the field, Sobel for the target), same scale."""
    save_pair(predicted, target, ("field |∇gray| (analytic)", "target |∇gray| (Sobel)"), path, cmap="gray")


def save_curves(history: list[dict[str, float]], path: Path) -> None:
    """Loss and PSNR (train / held-out) against the step."""
    steps = [row["step"] for row in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    left.semilogy(steps, [row["loss"] for row in history])
    left.set_xlabel("step")
    left.set_ylabel("loss")
    left.grid(alpha=0.3)
    right.plot(steps, [row["train_psnr"] for row in history], label="train")
    heldout = [row["heldout_psnr"] for row in history]
    if not all(np.isnan(heldout)):
        right.plot(steps, heldout, label="held-out")
    right.set_xlabel("step")
    right.set_ylabel("PSNR (dB)")
    right.legend()
    right.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)

