"""Renders of a field: at any resolution or domain, and the figures (and audio) of a run directory.

Figures are built with :class:`matplotlib.figure.Figure` and saved with ``figure.savefig``: no pyplot,
no global backend switch (importing sinetune leaves the user's matplotlib backend alone), no display needed.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile
import torch
from matplotlib.figure import Figure
from PIL import Image
from scipy.signal import stft
from torch import nn

from .metrics import gray
from .signals import grid_coordinate_chunks, image_from_array
from .spectral import log_magnitude_spectrum
from .training import EVAL_CHUNK


def render_field(
    field: nn.Module,
    grid_shape: tuple[int, ...],
    domain: tuple[float, float] = (-1.0, 1.0),
    chunk: int = EVAL_CHUNK,
) -> np.ndarray:
    """Evaluate ``field`` on a regular grid.

    Args:
        field: coordinates ``(N, d)`` → values ``(N, C)``.
        grid_shape: samples per axis, slowest first (images ``(H, W)``).
        domain: ``(low, high)`` per axis; [-1, 1] is the training domain, e.g. (-2, 2) shows a TUNER
            field's periodic tiling.
        chunk: coordinates evaluated at once. Memory is the float32 result (``N × C``) plus one
            chunk's coordinates and activations (``chunk × width``): the grid's coordinates are
            generated chunk by chunk (:func:`~sinetune.signals.grid_coordinate_chunks`) and every
            chunk is written straight into the result, on the CPU.

    Returns:
        ``grid_shape + (C,)`` float32 array (not clipped).
    """
    device = next(field.parameters()).device
    out = None
    with torch.no_grad():
        for start, coords in grid_coordinate_chunks(grid_shape, domain, chunk):
            values = field(coords.to(device)).cpu()
            if out is None:
                out = np.empty((math.prod(grid_shape), values.shape[1]), dtype=np.float32)
            out[start:start + len(values)] = values.numpy()
    if out is None:
        out = np.zeros((0, field.out_features), dtype=np.float32)
    return out.reshape(*grid_shape, -1)


def save_image(values: np.ndarray, path: Path) -> None:
    """Save ``(H, W, C)`` values in [0, 1] (clipped) as an 8-bit PNG."""
    Image.fromarray(image_from_array(values)).save(path)


def new_figure(width: float, height: float, layout: str = "constrained") -> Figure:
    """An empty ``width × height``-inch figure at 100 dpi, laid out by matplotlib's layout engine.

    A plain :class:`~matplotlib.figure.Figure` (no pyplot state): titles, labels and colour bars are
    kept inside the canvas when it is saved. ``layout``: ``"constrained"``, or ``"compressed"`` for
    grids of fixed-aspect images (constrained layout can push their outer labels off the canvas).
    """
    return Figure(figsize=(width, height), dpi=100, layout=layout)


def save_error(prediction: np.ndarray, target: np.ndarray, path: Path) -> None:
    """Absolute error, mean over channels, as a colour-mapped figure with a colour bar."""
    error = np.abs(prediction - target).mean(axis=-1)
    figure = new_figure(5.4, 4.6, layout="compressed")
    axis = figure.subplots()
    shown = axis.imshow(error, cmap="inferno", vmin=0, vmax=max(float(np.percentile(error, 99.5)), 1e-6))
    axis.set_title("|prediction − target| (mean over channels)")
    axis.axis("off")
    figure.colorbar(shown, ax=axis, fraction=0.046)
    figure.savefig(path)


def save_pair(left: np.ndarray, right: np.ndarray, titles: tuple[str, str], path: Path, cmap: str = "gray") -> None:
    """Two 2-D maps side by side with a shared colour scale."""
    figure = new_figure(9, 4.9, layout="compressed")
    axes = figure.subplots(1, 2)
    vmax = max(float(left.max()), float(right.max()), 1e-12)
    for axis, image, title in zip(axes, (left, right), titles):
        axis.imshow(image, cmap=cmap, vmin=0, vmax=vmax)
        axis.set_title(title)
        axis.axis("off")
    figure.savefig(path)


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
    figure = new_figure(10, 4)
    left, right = figure.subplots(1, 2)
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
    figure.savefig(path)


# --- audio ----------------------------------------------------------------------------------------

def save_audio(values: np.ndarray, path: Path, sample_rate: int, scale: float = 1.0) -> None:
    """Write ``(N,)`` or ``(N, 1)`` normalised values times ``scale`` as a mono 32-bit float WAV.

    Not clipped (float WAV holds values beyond ±1); ``sample_rate`` in Hz.
    """
    samples = (np.asarray(values, dtype=np.float64).reshape(-1) * scale).astype(np.float32)
    soundfile.write(str(path), samples, int(sample_rate), subtype="FLOAT", format="WAV")


def _spectrogram_db(signal: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(frequencies Hz, times s, power dB)`` of a Hann STFT (window ≤ 1024 samples, hop 1/4)."""
    n_fft = min(1024, 1 << (max(len(signal), 2).bit_length() - 1))
    freqs, times, spectrum = stft(signal, fs=sample_rate, window="hann", nperseg=n_fft,
                                  noverlap=n_fft - n_fft // 4, scaling="spectrum")
    return freqs, times, 10.0 * np.log10(np.abs(spectrum) ** 2 + 1e-10)


def save_waveform(prediction: np.ndarray, target: np.ndarray, sample_rate: int, path: Path) -> None:
    """Target and reconstruction waveforms overlaid (top), their spectrograms side by side (bottom).

    ``prediction``, ``target``: ``(N, 1)`` normalised values; time axis in seconds.
    """
    target, prediction = target.reshape(-1), prediction.reshape(-1)
    time = np.arange(len(target)) / sample_rate
    figure = new_figure(11, 7)
    panels = figure.subplot_mosaic([["waveform", "waveform"], ["target", "reconstruction"]])
    top = panels["waveform"]
    top.plot(time, target, lw=0.6, label="target")
    top.plot(time, prediction, lw=0.6, alpha=0.8, label="reconstruction")
    top.set_xlabel("time (s)")
    top.set_ylabel("amplitude (peak-normalised)")
    top.legend(loc="upper right")
    top.grid(alpha=0.3)
    spectrograms = [_spectrogram_db(x, sample_rate) for x in (target, prediction)]
    vmax = max(float(s[2].max()) for s in spectrograms)
    for (freqs, times, power), title in zip(spectrograms, ("target", "reconstruction")):
        axis = panels[title]
        shown = axis.pcolormesh(times, freqs, power, shading="auto", cmap="magma", vmin=vmax - 100, vmax=vmax)
        axis.set_title(f"{title} spectrogram (dB)")
        axis.set_xlabel("time (s)")
        axis.set_ylabel("frequency (Hz)")
        figure.colorbar(shown, ax=axis, fraction=0.046)
    figure.savefig(path)


def save_error_waveform(prediction: np.ndarray, target: np.ndarray, sample_rate: int, path: Path) -> None:
    """The error ``prediction − target`` (normalised units) against time in seconds."""
    error = (prediction - target).reshape(-1)
    time = np.arange(len(error)) / sample_rate
    figure = new_figure(10, 3.5)
    axis = figure.subplots()
    axis.plot(time, error, lw=0.6, color="tab:red")
    axis.set_title("prediction − target (peak-normalised units)")
    axis.set_xlabel("time (s)")
    axis.set_ylabel("error")
    axis.grid(alpha=0.3)
    figure.savefig(path)
