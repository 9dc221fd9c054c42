"""SIREN² = SIREN + WINNER (Chandravamsi et al., arXiv 2509.09719; peers-spec §2).

A plain SIREN (:mod:`sinetune.methods.siren`, same layers, same init, same draws) whose first two
weight matrices then get zero-mean Gaussian noise, drawn from the same generator *after* every SIREN
draw (so with one seed SIREN² and SIREN differ only in ``W₁`` and ``W₂``)::

    W₁ ← W₁ + N(0, (s₀ / ω_h)²),    W₂ ← W₂ + N(0, (s₁ / ω_h)²)

on the *stored* weights; the divisor is the **hidden** ω for both matrices (the released code's).
Biases, layers ≥ 3 and the head are not perturbed.

The scales come from the target's spectral centroid ``ζ`` (:func:`sinetune.spectral.spectral_centroid`
gives ``SC``), filled in by :func:`prepare` from the signal's values:

* ``preset="code"`` (SIREN-square c3a60f5): ``ζ = SC / C``; images ``s₀ = 50 (1 − e^{−5ζ})``,
  ``s₁ = 0.4 ζ``; audio (d = 1) ``s₀ = 3500 (1 − e^{−7ζ})``, ``s₁ = 3 ζ``.
* ``preset="paper"`` (Eq. 11 as relayed, and the repo's first commit): ``ζ = SC / √C``; audio
  ``a = 5`` instead of 7; images as in the code.
* d = 3 has no formula: give ``s0`` and ``s1``.

The released image script computes the centroid on the [-1, 1] targets; sinetune's images are in
[0, 1], so :func:`prepare` maps them to ``2v − 1`` first (camera 512²: ζ = 0.312 flattened, 0.173
row-wise, as peers-spec §2 lists). 1-D signals (audio, peak-normalised) are used as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from ..errors import SinetuneError
from ..spectral import spectral_centroid
from . import siren
from .base import Built
from .siren import SirenOptions

DEFAULT_LR = 1e-4

#: ``(s0_max, a, s1_slope)`` of ``s₀ = s0_max (1 − e^{−a ζ})``, ``s₁ = s1_slope · ζ`` per preset and dimension.
NOISE_CONSTANTS: dict[str, dict[int, tuple[float, float, float]]] = {
    "code": {1: (3500.0, 7.0, 3.0), 2: (50.0, 5.0, 0.4)},
    "paper": {1: (3500.0, 5.0, 3.0), 2: (50.0, 5.0, 0.4)},
}


@dataclass(frozen=True)
class Siren2Options:
    """SIREN² hyper-parameters; the shape defaults are the released image script's (n_HLs = 5 × 256).

    The audio protocol of the paper uses ``hidden_width=222, hidden_layers=3`` (n_HLs = 4); the first
    layer keeps ω = 30 for audio too (unlike the SIREN audio baseline's 3000).

    Attributes:
        input_width: width of the first sine layer.
        hidden_width: width of every hidden sine layer.
        hidden_layers: sine layers after the first (≥ 1: ``W₂`` must exist).
        first_omega: ω of the first layer.
        hidden_omega: ω of the hidden layers, divisor of the SIREN init *and* of both noise scales.
        preset: ``"code"`` (released constants, ζ = SC/C) or ``"paper"`` (audio a = 5, ζ = SC/√C).
        centroid_mode: ``"flattened"`` (the released scripts) or ``"rowwise"`` (the code's 2-D branch).
        centroid: ``ζ`` (after the channel normalisation); ``None``: computed by :func:`prepare`.
        s0: noise scale of the first layer's weights ``W₁`` (effective units, radians per unit input:
            the stored weights get ``N(0, (s0 / hidden_omega)²)`` noise); ``None``: from ``centroid``.
        s1: noise scale of the first hidden layer's weights ``W₂``, likewise; ``None``: from ``centroid``.
    """

    input_width: int = 256
    hidden_width: int = 256
    hidden_layers: int = 4
    first_omega: float = 30.0
    hidden_omega: float = 30.0
    preset: Literal["code", "paper"] = "code"
    centroid_mode: Literal["flattened", "rowwise"] = "flattened"
    centroid: float | None = None
    s0: float | None = None
    s1: float | None = None


def noise_scales(centroid: float, dim: int, preset: str) -> tuple[float, float]:
    """``(s₀, s₁)`` for a centroid ``ζ`` on a ``dim``-dimensional grid (module docstring)."""
    if dim not in NOISE_CONSTANTS[preset]:
        raise SinetuneError(f"SIREN² has no noise formula for {dim}-D signals: set s0 and s1")
    s0_max, a, slope = NOISE_CONSTANTS[preset][dim]
    return s0_max * (1.0 - math.exp(-a * centroid)), slope * centroid


def prepare(options: Siren2Options, values: np.ndarray) -> Siren2Options:
    """Fill ``centroid`` (and through :func:`resolve` ``s0``, ``s1``) from the signal's values.

    Args:
        values: ``grid_shape + (C,)`` samples as sinetune holds them (images in [0, 1], mapped to
            [-1, 1] here like the released script's targets; 1-D signals used as given).
    """
    if options.centroid is not None or (options.s0 is not None and options.s1 is not None):
        return options
    values = np.asarray(values, dtype=np.float64)
    if values.ndim >= 3:
        values = 2.0 * values - 1.0
    channels = values.shape[-1]
    norm = channels if options.preset == "code" else math.sqrt(channels)
    return replace(options, centroid=spectral_centroid(values, options.centroid_mode) / norm)


def explain(options: Siren2Options, grid_shape: tuple[int, ...]) -> str:
    """One line on the noise scales and the centroid they come from."""
    why = "given"
    if options.centroid is not None and len(grid_shape) in NOISE_CONSTANTS[options.preset]:
        s0, s1 = noise_scales(options.centroid, len(grid_shape), options.preset)
        if math.isclose(options.s0, s0, rel_tol=1e-6, abs_tol=1e-9) and \
                math.isclose(options.s1, s1, rel_tol=1e-6, abs_tol=1e-9):
            why = (f"from the {options.centroid_mode} spectral centroid ζ = {options.centroid:.4g}, "
                   f"preset {options.preset}")
    return f"SIREN² noise s0 = {options.s0:g}, s1 = {options.s1:g} ({why})"


def resolve(options: Siren2Options, grid_shape: tuple[int, ...]) -> Siren2Options:
    """Validate; fill ``s0``/``s1`` from ``centroid``. Without either, refuse (call :func:`prepare`)."""
    siren.resolve(SirenOptions(options.input_width, options.hidden_width, options.hidden_layers,
                               options.first_omega, options.hidden_omega), grid_shape)
    if options.hidden_layers < 1:
        raise SinetuneError("SIREN² needs hidden_layers ≥ 1 (it perturbs the second weight matrix)")
    if options.preset not in NOISE_CONSTANTS:
        raise SinetuneError(f"preset must be code or paper, got {options.preset!r}")
    if options.centroid_mode not in ("flattened", "rowwise"):
        raise SinetuneError(f"centroid_mode must be flattened or rowwise, got {options.centroid_mode!r}")
    if options.centroid is not None and not (0 <= options.centroid and math.isfinite(options.centroid)):
        raise SinetuneError(f"centroid must be a non-negative number, got {options.centroid}")
    for name in ("s0", "s1"):
        value = getattr(options, name)
        if value is not None and not (value >= 0 and math.isfinite(value)):
            raise SinetuneError(f"{name} must be a non-negative number, got {value}")
    if options.s0 is None or options.s1 is None:
        if options.centroid is None:
            raise SinetuneError("SIREN² needs the signal's spectral centroid: set centroid (or s0 and s1), "
                                "or let the run compute it")
        s0, s1 = noise_scales(options.centroid, len(grid_shape), options.preset)
        options = replace(options, s0=options.s0 if options.s0 is not None else round(s0, 9),
                          s1=options.s1 if options.s1 is not None else round(s1, 9))
    return options


def build(options: Siren2Options, grid_shape: tuple[int, ...], channels: int, generator: torch.Generator) -> Built:
    """SIREN's build, then the WINNER noise on the stored ``W₁`` and ``W₂`` (``options`` resolved)."""
    base = SirenOptions(options.input_width, options.hidden_width, options.hidden_layers,
                        options.first_omega, options.hidden_omega)
    built = siren.build(base, grid_shape, channels, generator)
    field = built.field
    with torch.no_grad():
        for layer, scale in ((field.encoding, options.s0), (field.hidden[0], options.s1)):
            noise = torch.randn(layer.weight.shape, generator=generator) * (scale / options.hidden_omega)
            layer.weight.add_(noise)
    return built
