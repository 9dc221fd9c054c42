"""SIREN (Sitzmann et al., NeurIPS 2020), as the official code does it (peers-spec.md §1).

* Every sine layer computes ``sin(ω (W z + b))`` — ω multiplies the bias too.
* First layer ``W ~ U(-1/n, 1/n)`` (n = coordinate dimension), hidden *and* output layers
  ``W ~ U(±√(6/n)/ω_hidden)``, every bias PyTorch's default ``U(±1/√n)``.
* Linear output layer.
* ``ω₀`` from the spectrum (``omega_rule="spectrum"``, issue #4, our rule — not SIREN's): the first
  layer's per-axis frequency range ``ω₀/d`` (rad per unit coordinate) is made a fixed share of the
  target's band ``ν · π (N − 1) / 2`` (``ν`` from :func:`~sinetune.methods.base.measure_band`, ``N`` the
  smallest grid side). The share is calibrated so that a 256² image whose band reaches Nyquist gets
  SIREN's ω₀ = 30: ``ω₀ = d · ν · 15 (N − 1) / 255``. For 1 s of 44.1 kHz audio at ``ν = 1`` this gives
  ≈ 2594 where SIREN's audio setting is 3000.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from ..errors import SinetuneError
from ..models import SineLayer, SinusoidalField, default_linear, uniform_
from .base import Built, check_band_measure, check_mlp_shape, describe_band, measure_band

DEFAULT_LR = 1e-4


@dataclass(frozen=True)
class SirenOptions:
    """SIREN hyper-parameters (same shape names as :class:`~sinetune.methods.tuner.TunerOptions`).

    Attributes:
        input_width: width of the first sine layer.
        hidden_width: width of every hidden sine layer.
        hidden_layers: number of hidden sine layers after the first (the SIREN colab uses 3).
        first_omega: ``ω_0`` of the first layer (30 for images, 3000 for audio on [-1, 1]); under
            ``omega_rule="spectrum"`` it is derived (a given value is replaced).
        hidden_omega: ``ω`` of the hidden layers (and the divisor of the hidden/output init).
        omega_rule: ``"fixed"`` (``first_omega`` as given) or ``"spectrum"`` (from the target's band).
        band_energy: the energy share that defines ``ν`` for the spectrum rule.
        band_psnr: if set, ``ν`` is the band whose outside energy costs at most this many dB of PSNR.
        energy_radius: ``ν`` as measured by :func:`prepare` (recorded in ``config.yaml``).
    """

    input_width: int = 256
    hidden_width: int = 256
    hidden_layers: int = 3
    first_omega: float = 30.0
    hidden_omega: float = 30.0
    omega_rule: Literal["fixed", "spectrum"] = "fixed"
    band_energy: float = 0.99
    band_psnr: float | None = None
    energy_radius: float | None = None


#: The spectrum rule's calibration: SIREN's ω₀ = 30 on a 256² image whose band reaches Nyquist.
REFERENCE_OMEGA, REFERENCE_SIDE = 30.0, 256


def spectrum_first_omega(energy_radius: float, grid_shape: tuple[int, ...]) -> float:
    """``ω₀ = d · ν · (ω_ref / 2) · (N − 1) / (N_ref − 1)`` (module docstring; ``ν = energy_radius``)."""
    dim = len(grid_shape)
    per_axis = REFERENCE_OMEGA / 2 * (min(grid_shape) - 1) / (REFERENCE_SIDE - 1)
    return dim * energy_radius * per_axis


def _check_omega_rule(options: SirenOptions) -> None:
    if options.omega_rule not in ("fixed", "spectrum"):
        raise SinetuneError(f"omega_rule must be fixed or spectrum, got {options.omega_rule!r}")
    check_band_measure(options.band_energy, options.band_psnr)


#: Below this first-layer ω a SIREN cannot represent audio-rate detail on [-1, 1] (peers-spec §1: 3000).
AUDIO_MIN_OMEGA = 1000.0


def prepare(options: SirenOptions, values: np.ndarray) -> SirenOptions:
    """Under ``omega_rule="spectrum"``, measure ``ν`` and derive ``first_omega`` (once: a saved config
    that has ``energy_radius`` keeps its ``first_omega``). Warns when a fixed ``first_omega`` is too low
    for a 1-D signal (audio: coordinates span the whole clip)."""
    _check_omega_rule(options)
    if options.omega_rule != "spectrum" and np.ndim(values) == 2 and options.first_omega < AUDIO_MIN_OMEGA:
        warnings.warn(f"SIREN with first_omega={options.first_omega:g} on audio underfits (coordinates span the "
                      f"whole clip); pass --set first_omega=3000 (peers-spec §1)", stacklevel=3)
    if options.omega_rule != "spectrum" or options.energy_radius is not None:
        return options
    radius = measure_band(values, options.band_energy, options.band_psnr)
    omega = spectrum_first_omega(radius, np.shape(values)[:-1])
    if not omega > 0:
        raise SinetuneError("the target has no energy to measure a band from: use omega_rule fixed")
    return replace(options, energy_radius=round(radius, 6), first_omega=round(omega, 6))


def resolve(options: SirenOptions, grid_shape: tuple[int, ...]) -> SirenOptions:
    """Validate (the spectrum rule's ``first_omega`` is filled by :func:`prepare`)."""
    check_mlp_shape(options)
    _check_omega_rule(options)
    if options.omega_rule == "spectrum" and options.energy_radius is None:
        raise SinetuneError("omega_rule spectrum measures the target: fit a signal (or use omega_rule fixed)")
    if not (options.first_omega > 0 and options.hidden_omega > 0):
        raise SinetuneError("first_omega and hidden_omega must be positive")
    return options


def explain(options: SirenOptions, grid_shape: tuple[int, ...]) -> str:
    """One line on ``ω₀``: given, or what the spectrum rule measured and derived."""
    if options.omega_rule != "spectrum" or not math.isclose(
            options.first_omega, spectrum_first_omega(options.energy_radius, grid_shape), rel_tol=1e-5):
        return f"SIREN ω₀ = {options.first_omega:g} (given), hidden ω = {options.hidden_omega:g}"
    band = describe_band(options.band_energy, options.band_psnr, options.energy_radius)
    return (f"SIREN ω₀ = {options.first_omega:g} (spectrum rule: {band}; first-layer range ω₀/d = "
            f"{options.energy_radius:.3f} × the ω₀ = {REFERENCE_OMEGA:g} at {REFERENCE_SIDE}² share of Nyquist), "
            f"hidden ω = {options.hidden_omega:g}")


def build(options: SirenOptions, grid_shape: tuple[int, ...], channels: int, generator: torch.Generator) -> Built:
    """Build a SIREN for a ``grid_shape`` signal with ``channels`` outputs; randomness from ``generator``."""
    dim = len(grid_shape)

    def sine_layer(fan_in: int, fan_out: int, omega: float, weight_bound: float) -> SineLayer:
        weight = torch.empty(fan_out, fan_in)
        uniform_(weight, weight_bound, generator)
        bias = torch.empty(fan_out)
        uniform_(bias, 1.0 / math.sqrt(fan_in), generator)
        return SineLayer(fan_in, fan_out, omega, omega * weight, bias)

    first = sine_layer(dim, options.input_width, options.first_omega, 1.0 / dim)
    hidden, fan_in = [], options.input_width
    for _ in range(options.hidden_layers):
        hidden.append(sine_layer(fan_in, options.hidden_width, options.hidden_omega,
                                 math.sqrt(6.0 / fan_in) / options.hidden_omega))
        fan_in = options.hidden_width
    head = default_linear(fan_in, channels, generator)
    uniform_(head.weight, math.sqrt(6.0 / fan_in) / options.hidden_omega, generator)
    return Built(SinusoidalField(first, hidden, head))
