"""The figures of ``sinetune analyze``: ``analysis_spectrum.png`` and ``analysis_bounds.png``.

Drawn with :func:`sinetune.render.new_figure` (a plain :class:`matplotlib.figure.Figure` with
constrained layout; no pyplot, no backend switch) from what :func:`sinetune.analysis.analyze_run`
computed (:class:`~sinetune.analysis_spectra.SpectrumComparison`). Frequencies are integers in
cycles per period ``p`` on the lattice of :mod:`sinetune.bessel`.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle
from scipy.special import jv

from .analysis_spectra import SpectrumComparison
from .render import new_figure


def _lattice_image(frequencies: np.ndarray, values: np.ndarray, radius: int) -> np.ndarray:
    """``(2r+1, 2r+1)`` image (rows: F_y from −r, columns: F_x from −r) of ``values`` at ``±F``."""
    image = np.zeros((2 * radius + 1, 2 * radius + 1))
    inside = (np.abs(frequencies) <= radius).all(axis=1)
    for f, v in zip(frequencies[inside], values[inside]):
        image[f[1] + radius, f[0] + radius] = v
        image[-f[1] + radius, -f[0] + radius] = v
    return image


def _ring_energy(rings: np.ndarray, energy: np.ndarray, radius: int) -> np.ndarray:
    """``(radius + 1,)`` sum of ``energy`` over each integer ring ``0 … radius``."""
    rings = np.rint(rings).astype(np.int64).reshape(-1)
    inside = rings <= radius
    return np.bincount(rings[inside], energy.reshape(-1)[inside], radius + 1)


def save_spectrum_figure(path: Path, comparison: SpectrumComparison) -> None:
    """``analysis_spectrum.png``: expansion ``|c_F|``, render ``|FFT|``, target ``|DFT|`` and energy per ring.

    The three lattice maps share one log10 colour scale (6 decades below the peak) and show the
    band-limit ``b`` (cyan) and the training grid's Nyquist frequency (white) as dashed squares.
    """
    expansion, weights, band, nyquist = comparison.expansion, comparison.weights, comparison.band, comparison.nyquist
    target, samples = comparison.target, comparison.samples
    reach = int(np.abs(expansion.frequencies).max(initial=1))
    radius = min(max(reach, band) + 2, samples // 2 - 1)
    generated = np.abs(expansion.coefficients @ weights)
    fx, fy = comparison.render_frequencies
    render_abs = np.sqrt(comparison.render_power)
    window = (np.abs(fx) <= radius) & (np.abs(fy) <= radius)
    render_image = np.zeros((2 * radius + 1, 2 * radius + 1))
    render_image[fy[window] + radius, fx[window] + radius] = render_abs[window]
    peak = max(float(generated.max(initial=0)), float(render_abs.max()), 1e-12)
    style = dict(cmap="magma", vmin=np.log10(peak) - 6, vmax=np.log10(peak), origin="lower")
    lattice_extent = (-radius - 0.5, radius + 0.5, -radius - 0.5, radius + 0.5)

    def log_image(image):
        return np.log10(np.maximum(image, peak * 1e-7))

    figure = new_figure(11, 10, layout="compressed")
    axes = figure.subplots(2, 2)
    panels = [(axes[0, 0], _lattice_image(expansion.frequencies, generated, radius),
               f"expansion (order {expansion.order}): log10 |c_F|"),
              (axes[0, 1], render_image, f"FFT of the render over one period ({samples}²)")]
    for axis, image, title in panels:
        shown = axis.imshow(log_image(image), extent=lattice_extent, **style)
        axis.set_title(title, fontsize=10)
    axis = axes[1, 0]
    if target is not None:
        order_x, order_y = np.argsort(target.fx[:, 0]), np.argsort(target.fy[0, :])
        image = np.sqrt(target.power)[np.ix_(order_x, order_y)].T
        axis.imshow(log_image(image), extent=(target.fx.min(), target.fx.max(), target.fy.min(), target.fy.max()),
                    **style)
        axis.set_xlim(-radius - 0.5, radius + 0.5)
        axis.set_ylim(-radius - 0.5, radius + 0.5)
        axis.set_title("target: log10 |DFT| / (H·W) of the mean-free gray image\n"
                       "(not periodic: edge leakage on the axes)", fontsize=10)
    else:
        axis.text(0.5, 0.5, textwrap.fill(comparison.target_note or "target not available", 60), ha="center",
                  va="center", transform=axis.transAxes, fontsize=9)
        axis.set_title("target", fontsize=10)
        axis.set_axis_off()
    for axis in (axes[0, 0], axes[0, 1]) + ((axes[1, 0],) if target is not None else ()):
        for (size_x, size_y), colour in (((band, band), "cyan"), (tuple(nyquist), "white")):
            if max(size_x, size_y) <= radius:
                axis.add_patch(Rectangle((-size_x, -size_y), 2 * size_x, 2 * size_y, fill=False, ec=colour,
                                         ls="--", lw=0.8))
        axis.set_xlabel("F_x (cycles per period)")
        axis.set_ylabel("F_y (cycles per period)")
    figure.colorbar(shown, ax=[axes[0, 0], axes[0, 1]], fraction=0.025, label="log10 magnitude")

    axis = axes[1, 1]
    ring_radius = int(max(radius, math.ceil(nyquist.max())))
    ring_radius = min(ring_radius, samples // 2)
    curves = [("expansion", _ring_energy(np.abs(expansion.frequencies).max(axis=1), expansion.energy(weights),
                                         ring_radius)),
              ("render FFT", _ring_energy(np.maximum(np.abs(fx), np.abs(fy)), comparison.render_power, ring_radius))]
    if target is not None:
        curves.append(("target", _ring_energy(target.ring, target.power, ring_radius)))
    for label, values in curves:
        rings = np.arange(len(values))[1:]
        axis.semilogy(rings, np.where(values[1:] > 0, values[1:], np.nan), ".-", label=label, lw=1, ms=3)
    axis.axvline(band, color="c", ls="--", lw=0.8, label="band-limit b")
    axis.axvline(nyquist.min(), color="k", ls=":", lw=0.8, label="Nyquist (training grid)")
    axis.set_title("energy per ring max|F_i| = r (empty rings left out)", fontsize=10)
    axis.set_xlabel("ring max|F_i| (cycles per period)")
    axis.set_ylabel("energy (luma, non-constant)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.savefig(path)


def save_bounds_figure(path: Path, parts: dict, bound_mode: str) -> None:
    """``analysis_bounds.png``: Theorem 2's caps against the actual amplitudes, and the column bounds.

    Args:
        path: the PNG to write.
        parts: :func:`~sinetune.bessel.tuner_parts` of the field.
        bound_mode: the field's ``bound_mode`` (named in the title and legend).
    """
    K, A, bounds = parts["K"], parts["weight"], parts["bounds"]
    j0 = jv(0, A)
    before = np.concatenate([np.ones((A.shape[0], 1)), np.cumprod(j0, axis=1)[:, :-1]], axis=1)
    after = np.concatenate([np.cumprod(j0[:, ::-1], axis=1)[:, ::-1][:, 1:], np.ones((A.shape[0], 1))], axis=1)
    others = before * after  # ∏_{l≠i} J_0(a_jl), (H, n0)
    first = np.abs(jv(1, A) * others).max(axis=0)
    second = np.abs(jv(2, A) * others).max(axis=0)
    magnitude = np.abs(K).max(axis=1)
    order = np.lexsort((np.arange(len(K)), magnitude))
    columns = np.arange(len(K))

    figure = new_figure(13, 4.8)
    left, right = figure.subplots(1, 2)
    left.semilogy(columns, (np.abs(A).max(axis=0) / 2)[order], "C0-", lw=1, label="bound max_j |a_ji|/2 (order 1)")
    left.semilogy(columns, np.maximum(first[order], 1e-16), "C0.", ms=4, label="actual max_j |α_{e_i}|")
    left.semilogy(columns, ((np.abs(A).max(axis=0) / 2) ** 2 / 2)[order], "C1-", lw=1,
                  label="bound max_j (a_ji/2)²/2 (order 2)")
    left.semilogy(columns, np.maximum(second[order], 1e-16), "C1.", ms=4, label="actual max_j |α_{2e_i}|")
    left.set_xlabel("input column, sorted by max|K_i|")
    if len(K) <= 24:
        left.set_xticks(columns, [str(tuple(int(v) for v in K[i])) for i in order], rotation=90, fontsize=7)
    left.set_ylabel("amplitude")
    left.set_title("Theorem 2 per column (first and second order)", fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3)

    right.plot(magnitude, np.abs(A).max(axis=0), "C2.", ms=5, label="max_j |Ŵ_ji| (actual)")
    if bounds is not None:
        kind = "learned" if bound_mode == "learned" else "fixed"
        right.plot(magnitude, bounds, "C3x", ms=5, label=f"column bound c_j ({kind})")
    right.axhline(2.0, color="k", ls=":", lw=0.8, label="2 (Bessel zeros beyond)")
    right.set_xlabel("max|K_j| (cycles per period)")
    right.set_ylabel("effective weight (radians)")
    right.set_title(f"column bounds vs input frequency (bound_mode {bound_mode})", fontsize=10)
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    figure.savefig(path)


__all__ = ["save_bounds_figure", "save_spectrum_figure"]
