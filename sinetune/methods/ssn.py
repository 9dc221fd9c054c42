"""Simple sinusoidal networks (SSN; Belbute-Peres & Kolter, arXiv 2211.14503; peers-spec §3).

* First layer ``sin(ω (W₁ x + b₁))``, hidden layers ``sin(W z + b)`` (no ω, no 1/ω in the init),
  linear head.
* **Every** weight and bias (head included) is Kaiming-normal, ``N(0, 2 / fan_in)``.
* ω from the grid (kernel-bandwidth rule, peers-spec §3): the first layer's NTK is a Gaussian
  low-pass whose angular std is the effective first-layer weight std ``ω σ_w`` (``σ_w = √(2/d)``),
  so ``ω = κ · ω_max / σ_w`` with ``ω_max = π (N − 1) / 2`` the grid's Nyquist angular frequency
  (rad per unit coordinate, ``N`` = smallest grid side). The default ``κ`` is *calibrated* so that a
  256² image gets the first-layer weight std of SIREN ω₀ = 30 (``30 / (√3 · 2) ≈ 8.66`` rad/unit,
  the "SIREN equivalence" of §3): ``κ = 30 / (√3 π · 255) ≈ 0.0216``, i.e. the bandwidth is ≈ 2.2 %
  of Nyquist. The paper's own constant was not retrievable; this calibration is to be revisited by
  benchmarks.
* ω from the spectrum (``omega_rule="spectrum"``, issue #4): the paper tunes the bandwidth to "the
  maximum frequency present in the signal"; this rule takes that frequency as ``ν`` times the grid's
  Nyquist, ``ν`` the target's measured band (:func:`~sinetune.methods.base.measure_band`), so
  ``ω = ν · κ ω_max / σ_w`` (the grid rule is the case ``ν = 1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from ..errors import SinetuneError
from ..models import Linear, SineLayer, SinusoidalField
from .base import Built, check_band_measure, check_mlp_shape, describe_band, measure_band

DEFAULT_LR = 1e-3

#: κ such that ω·σ_w equals SIREN ω₀ = 30's first-layer std (30/(2√3) rad/unit) on a 256² grid.
SIREN_EQUIVALENT_BANDWIDTH = 30.0 / (math.sqrt(3.0) * math.pi * 255.0)


@dataclass(frozen=True)
class SsnOptions:
    """SSN hyper-parameters (defaults: SIREN's shape; no official code exists).

    Attributes:
        input_width: width of the first sine layer.
        hidden_width: width of every hidden sine layer.
        hidden_layers: number of hidden sine layers after the first.
        omega: ``ω`` of the first layer (dimensionless; multiplies weight and bias). ``None``: derived,
            ``ω = bandwidth_fraction · π (N − 1) / 2 / √(2/d)`` (≈ 8.65 at 256², ≈ 17.4 at 512²).
        bandwidth_fraction: ``κ``, the first layer's effective weight std ``ω √(2/d)`` as a fraction of
            the grid's Nyquist angular frequency (default: the SIREN-ω₀ = 30 calibration above).
        omega_rule: how ``omega`` is derived when it is ``None``: ``"grid"`` (above) or ``"spectrum"``
            (the grid's value times ``ν``, the target's band as a fraction of Nyquist).
        band_energy: the energy share that defines ``ν`` for the spectrum rule.
        band_psnr: if set, ``ν`` is the band whose outside energy costs at most this many dB of PSNR.
        energy_radius: ``ν`` as measured by :func:`prepare` (recorded in ``config.yaml``).
    """

    input_width: int = 256
    hidden_width: int = 256
    hidden_layers: int = 3
    omega: float | None = None
    bandwidth_fraction: float = round(SIREN_EQUIVALENT_BANDWIDTH, 6)
    omega_rule: Literal["grid", "spectrum"] = "grid"
    band_energy: float = 0.99
    band_psnr: float | None = None
    energy_radius: float | None = None


def _check_omega_rule(options: SsnOptions) -> None:
    if options.omega_rule not in ("grid", "spectrum"):
        raise SinetuneError(f"omega_rule must be grid or spectrum, got {options.omega_rule!r}")
    check_band_measure(options.band_energy, options.band_psnr)


def prepare(options: SsnOptions, values: np.ndarray) -> SsnOptions:
    """Under ``omega_rule="spectrum"`` (and no given ``omega``), measure ``ν`` from the target's values."""
    _check_omega_rule(options)
    if options.omega_rule != "spectrum" or options.omega is not None or options.energy_radius is not None:
        return options
    return replace(options, energy_radius=round(measure_band(values, options.band_energy, options.band_psnr), 6))


def derived_omega(grid_shape: tuple[int, ...], bandwidth_fraction: float) -> float:
    """``ω = κ ω_max / σ_w`` with ``ω_max = π (N − 1) / 2`` rad/unit (N = smallest side) and ``σ_w = √(2/d)``."""
    nyquist = math.pi * (min(grid_shape) - 1) / 2.0
    return bandwidth_fraction * nyquist / math.sqrt(2.0 / len(grid_shape))


def _rule_omega(options: SsnOptions, grid_shape: tuple[int, ...]) -> float:
    """The ω the options' rule gives (the spectrum rule scales the grid rule by ``ν``)."""
    omega = derived_omega(grid_shape, options.bandwidth_fraction)
    if options.omega_rule == "spectrum":
        omega *= options.energy_radius
    return omega


def resolve(options: SsnOptions, grid_shape: tuple[int, ...]) -> SsnOptions:
    """Validate and fill ``omega`` by ``omega_rule`` when it is ``None``."""
    check_mlp_shape(options)
    _check_omega_rule(options)
    if not (options.bandwidth_fraction > 0 and math.isfinite(options.bandwidth_fraction)):
        raise SinetuneError(f"bandwidth_fraction must be a positive number, got {options.bandwidth_fraction}")
    if options.omega is not None and not (options.omega > 0 and math.isfinite(options.omega)):
        raise SinetuneError(f"omega must be a positive number (or null to derive it), got {options.omega}")
    if options.omega is None:
        if options.omega_rule == "spectrum" and options.energy_radius is None:
            raise SinetuneError("omega_rule spectrum measures the target: fit a signal (or give omega)")
        omega = _rule_omega(options, grid_shape)
        if not omega > 0:
            raise SinetuneError("the target has no energy to measure a band from: give omega")
        options = replace(options, omega=round(omega, 6))
    return options


def explain(options: SsnOptions, grid_shape: tuple[int, ...]) -> str:
    """One line on ``ω``: derived from the grid or the spectrum (and how) or given."""
    nyquist = f"{math.pi * (min(grid_shape) - 1) / 2:.1f} rad/unit"
    rule_applies = options.omega_rule == "grid" or options.energy_radius is not None
    if not rule_applies or not math.isclose(options.omega, _rule_omega(options, grid_shape), rel_tol=1e-5):
        why = "given"
    elif options.omega_rule == "spectrum":
        band = describe_band(options.band_energy, options.band_psnr, options.energy_radius)
        why = (f"spectrum rule: {band}; first-layer std ω·√(2/d) = {options.bandwidth_fraction:g} × "
               f"{options.energy_radius:.3f} of the Nyquist {nyquist}")
    else:
        why = f"grid rule: first-layer std ω·√(2/d) = {options.bandwidth_fraction:g} of the Nyquist {nyquist}"
    return f"SSN ω = {options.omega:g} ({why})"


def build(options: SsnOptions, grid_shape: tuple[int, ...], channels: int, generator: torch.Generator) -> Built:
    """Build an SSN; every parameter ``~ N(0, 2 / fan_in)`` from ``generator``. ``options`` must be resolved."""

    def kaiming(*shape: int, fan_in: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * math.sqrt(2.0 / fan_in)

    dim = len(grid_shape)
    omega = float(options.omega)
    # SineLayer takes effective weights ω W and stores W, so the stored W₁ is the Kaiming draw.
    first = SineLayer(dim, options.input_width, omega, omega * kaiming(options.input_width, dim, fan_in=dim),
                      kaiming(options.input_width, fan_in=dim))
    hidden, fan_in = [], options.input_width
    for _ in range(options.hidden_layers):
        hidden.append(SineLayer(fan_in, options.hidden_width, 1.0, kaiming(options.hidden_width, fan_in, fan_in=fan_in),
                                kaiming(options.hidden_width, fan_in=fan_in)))
        fan_in = options.hidden_width
    head = Linear(kaiming(channels, fan_in, fan_in=fan_in), kaiming(channels, fan_in=fan_in))
    return Built(SinusoidalField(first, hidden, head))
