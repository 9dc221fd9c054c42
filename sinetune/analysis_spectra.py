"""Step 3 of ``sinetune analyze``: a TUNER field's spectrum three ways, on the integer lattice.

The order-``B`` expansion's ``c_F`` (:mod:`sinetune.bessel`), the FFT of the field rendered over one
full period ``[0, p)²`` (which must agree with ``c_F`` where it resolves them), and the DFT of the
target image on the same frequency scale (cycles per period ``p``), all mixed to luma; with the share
of their non-constant energy beyond the band-limit ``b`` and beyond the training grid's Nyquist
frequency. Used by :func:`sinetune.analysis.analyze_run`, drawn by
:func:`sinetune.analysis_figures.save_spectrum_figure`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .bessel import Expansion, channel_weights, coefficients_at, period_fft, signed_fft_frequencies
from .config import SignalConfig
from .errors import SinetuneError
from .metrics import gray
from .models import SinusoidalField
from .signals import load_image
from .spectral import nyquist_index

#: Largest render per axis for the period FFT of ``analyze`` (1024² field evaluations).
MAX_FFT_SAMPLES = 1024


@dataclass(frozen=True, eq=False)
class TargetSpectrum:
    """The DFT of the run's target, on the expansion's frequency scale.

    Attributes:
        power: ``(W, H)`` ``|DFT|² / (H·W)²`` of the mean-free gray image (axis 0 = x, i.e. columns).
        fx, fy: ``(W, H)`` frequency of each entry along x and y, in cycles per period ``p``.
    """

    power: np.ndarray
    fx: np.ndarray
    fy: np.ndarray

    @property
    def ring(self) -> np.ndarray:
        """``(W, H)`` ring ``max(|f_x|, |f_y|)``."""
        return np.maximum(np.abs(self.fx), np.abs(self.fy))


@dataclass(frozen=True, eq=False)
class SpectrumComparison:
    """The expansion, the period FFT of the render and the target's DFT, mixed to luma.

    Attributes:
        expansion: the order-``B`` expansion.
        weights: ``(C,)`` channel mix (:func:`~sinetune.bessel.channel_weights`).
        render: ``(M, M)`` complex luma ``c_F`` of the render over one period (:func:`~sinetune.bessel.period_fft`
            mixed by ``weights``; axis 0 is ``F_x``, entries at ``F mod M``).
        fft_mismatch: max |c_F − FFT of the render| over the expansion's frequencies (all channels).
        target: the target's spectrum, ``None`` when the signal cannot be re-loaded as trained.
        band: the band-limit ``b``.
        nyquist: ``(2,)`` training-grid Nyquist frequency along ``(x, y)``.
        fft_note, target_note: why the render FFT or the target may mislead (empty when they do not).
    """

    expansion: Expansion
    weights: np.ndarray
    render: np.ndarray
    fft_mismatch: float
    target: TargetSpectrum | None
    band: int
    nyquist: np.ndarray
    fft_note: str
    target_note: str

    @property
    def samples(self) -> int:
        """``M``, render samples per axis over one period."""
        return self.render.shape[0]

    @property
    def render_frequencies(self) -> tuple[np.ndarray, np.ndarray]:
        """``(fx, fy)``: ``(M, M)`` signed integer frequency of each entry of :attr:`render`."""
        axis = signed_fft_frequencies(self.samples)
        return tuple(np.meshgrid(axis, axis, indexing="ij"))

    @cached_property
    def render_power(self) -> np.ndarray:
        """``(M, M)`` ``|render|²`` with the constant term set to 0."""
        power = np.abs(self.render) ** 2
        power[0, 0] = 0.0
        return power

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(note for note in (self.fft_note, self.target_note) if note)

    @cached_property
    def energy_beyond_band(self) -> dict[str, float]:
        """Fraction of the non-constant luma energy with ``max|F_i| > b``: expansion, render (, target)."""
        fx, fy = self.render_frequencies
        ring = np.abs(self.expansion.frequencies).max(axis=1)
        fractions = {"expansion": _fraction(self.expansion.energy(self.weights), ring > self.band),
                     "render": _fraction(self.render_power, np.maximum(np.abs(fx), np.abs(fy)) > self.band)}
        if self.target is not None:
            fractions["target"] = _fraction(self.target.power, self.target.ring > self.band)
        return fractions

    @cached_property
    def energy_beyond_nyquist(self) -> dict[str, float]:
        """Fraction beyond the training grid's Nyquist frequency along either axis: expansion, render."""
        fx, fy = self.render_frequencies
        beyond = (np.abs(self.expansion.frequencies) > self.nyquist).any(axis=1)
        return {"expansion": _fraction(self.expansion.energy(self.weights), beyond),
                "render": _fraction(self.render_power, (np.abs(fx) > self.nyquist[0]) | (np.abs(fy) > self.nyquist[1]))}


def _fraction(energy: np.ndarray, beyond: np.ndarray) -> float:
    total = float(energy.sum())
    return float(energy[beyond].sum()) / total if total > 0 else 0.0


def compare_spectra(field: SinusoidalField, expansion: Expansion, grid_shape: tuple[int, int], band: int,
                    signal: SignalConfig) -> SpectrumComparison:
    """Render ``field`` over one period, FFT it, and set it beside its ``expansion`` and the target.

    Args:
        field: the one-hidden-layer TUNER field that ``expansion`` expands.
        expansion: its :func:`~sinetune.bessel.bessel_expansion`.
        grid_shape: the training grid ``(H, W)`` (for the Nyquist frequency and the target).
        band: the band-limit ``b``.
        signal: the run's signal config; the target is re-loaded from it (:func:`target_spectrum`).

    The render has ``M = 2^m ≤`` :data:`MAX_FFT_SAMPLES` samples per axis, enough to resolve the
    expansion's largest ``|F_i|`` and the grid's Nyquist frequency when the cap allows.
    """
    nyquist = np.array([nyquist_index(n, expansion.period) for n in reversed(grid_shape)])  # per axis (x, y)
    reach = int(np.abs(expansion.frequencies).max(initial=1))
    samples = int(2 ** math.ceil(math.log2(2 * max(reach, math.ceil(nyquist.max())) + 2)))
    samples = min(samples, MAX_FFT_SAMPLES)
    fft_note = "" if samples > 2 * reach else (f"the {samples}² render FFT does not resolve the expansion's "
                                               f"max |F_i| = {reach}: its numbers include aliasing")
    spectrum = period_fft(field, samples)
    fft_mismatch = float(np.abs(coefficients_at(spectrum, expansion.frequencies) - expansion.coefficients).max())
    weights = channel_weights(expansion.coefficients.shape[1])
    target, target_note = target_spectrum(signal, grid_shape, expansion.period)
    return SpectrumComparison(expansion, weights, spectrum @ weights, fft_mismatch, target, band, nyquist,
                              fft_note, target_note)


def target_spectrum(signal: SignalConfig, grid_shape: tuple[int, int],
                    period: float) -> tuple[TargetSpectrum | None, str]:
    """The target re-loaded from ``signal`` and its DFT, or ``(None, why not)`` if it is gone or changed.

    ``grid_shape``: the training grid ``(H, W)`` it must still load as; ``period``: ``p``, the unit of
    the frequencies (a DFT bin ``f`` cycles per sample spacing is ``f · p (n − 1) / 2`` cycles per period).
    """
    try:
        loaded = load_image(signal.path, signal.size)
    except SinetuneError as error:
        return None, f"target not available ({error}); plotted without it"
    if loaded.grid_shape != grid_shape:
        return None, (f"target {signal.path} now loads as {loaded.grid_shape}, not {grid_shape}; "
                      f"plotted without it")
    luma = gray(loaded.values).astype(np.float64)
    dft = np.fft.fft2(luma - luma.mean()).T / luma.size  # transpose: axis 0 = x (columns)
    height, width = grid_shape
    fx, fy = np.meshgrid(np.fft.fftfreq(width) * (period * (width - 1) / 2),
                         np.fft.fftfreq(height) * (period * (height - 1) / 2), indexing="ij")
    return TargetSpectrum(np.abs(dft) ** 2, fx, fy), ""


__all__ = ["MAX_FFT_SAMPLES", "SpectrumComparison", "TargetSpectrum", "compare_spectra", "target_spectrum"]
