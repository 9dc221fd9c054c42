"""What every method recipe returns, and the registry entry that describes a method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..constraints import Constraint, Penalty
from ..errors import SinetuneError
from ..metrics import AUDIO_DATA_RANGE
from ..spectral import energy_radius, psnr_energy_share


def check_mlp_shape(options: Any) -> None:
    """The shared shape rule of MLP-style recipes: positive ``input_width`` and ``hidden_width``,
    non-negative ``hidden_layers`` (one-line :class:`SinetuneError` otherwise)."""
    if options.input_width < 1 or options.hidden_width < 1 or options.hidden_layers < 0:
        raise SinetuneError("input_width and hidden_width must be positive, hidden_layers non-negative")


def check_band_measure(band_energy: float, band_psnr: float | None) -> None:
    """``band_energy`` in (0, 1] and ``band_psnr`` a finite number or ``None`` (one-line error otherwise)."""
    if not 0 < band_energy <= 1:
        raise SinetuneError(f"band_energy must be in (0, 1], got {band_energy}")
    if band_psnr is not None and not (isinstance(band_psnr, (int, float)) and np.isfinite(band_psnr)):
        raise SinetuneError(f"band_psnr must be a number of dB (or null), got {band_psnr}")


def measure_band(values: np.ndarray, band_energy: float, band_psnr: float | None) -> float:
    """``ν``, the target's band as a fraction of Nyquist, for the signal-derived rules of issue #4.

    With ``band_psnr`` set, the band whose outside energy costs at most ``band_psnr`` dB
    (:func:`sinetune.spectral.psnr_energy_share`, data range 2 for 1-D signals, else 1); otherwise the
    band holding ``band_energy`` of the energy (:func:`sinetune.spectral.energy_radius`).

    Args:
        values: ``grid_shape + (C,)`` samples as sinetune holds them.
    """
    check_band_measure(band_energy, band_psnr)
    share = band_energy
    if band_psnr is not None:
        data_range = AUDIO_DATA_RANGE if np.ndim(values) == 2 else 1.0
        share = psnr_energy_share(values, band_psnr, data_range)
    return energy_radius(values, share)


def describe_band(band_energy: float, band_psnr: float | None, radius: float) -> str:
    """Why ``ν`` is what it is, for the ``derived:`` line of a fit."""
    if band_psnr is not None:
        return f"the energy outside {radius:.3f} of Nyquist costs less than {band_psnr:g} dB PSNR"
    return f"{100 * band_energy:g}% of the target's energy lies below {radius:.3f} of Nyquist"


@dataclass
class Built:
    """A freshly built field plus what training must do with it.

    Attributes:
        field: the ``nn.Module`` (coordinates ``(N, d)`` → values ``(N, C)``); a
            :class:`~sinetune.models.SinusoidalField` for most methods, with ``in_features`` and
            ``out_features`` properties in every case.
        constraints: objects whose ``apply()`` runs after every optimizer step.
        penalties: loss terms added to the MSE.
        options: the resolved options the field was built from (set by
            :func:`sinetune.methods.build_field`).
    """

    field: nn.Module
    constraints: list[Constraint] = field(default_factory=list)
    penalties: list[Penalty] = field(default_factory=list)
    options: Any = None


@dataclass(frozen=True)
class Method:
    """A registry entry: a recipe that builds a field from a signal's shape and typed options.

    Attributes:
        name: CLI name (``--method NAME``).
        description: one line for ``sinetune methods``.
        options_type: the frozen options dataclass.
        default_lr: documented Adam learning rate used when the run gives none.
        resolve: ``resolve(options, grid_shape) -> options`` fills signal-derived defaults, validates.
        build: ``build(options, grid_shape, channels, generator) -> Built``.
        prepare: optional ``prepare(options, values) -> options``, called with the signal's values
            (``grid_shape + (C,)`` array, as the signal holds them: images in [0, 1]) *before*
            ``resolve``, for defaults that need the samples and not just the grid (SIREN²'s spectral
            centroid). It fills only options left ``None`` and returns a new options object; ``None``
            (the default) means the method needs no such step.
        explain: optional ``explain(resolved_options, grid_shape) -> str``: one line on the
            signal-derived choices (band-limit, ω, noise scales) and the rule that made them; ``sinetune
            fit`` prints it and ``metrics.json`` keeps it as ``derived``.
    """

    name: str
    description: str
    options_type: type
    default_lr: float
    resolve: Callable[[Any, tuple[int, ...]], Any]
    build: Callable[[Any, tuple[int, ...], int, torch.Generator], Built]
    prepare: Callable[[Any, np.ndarray], Any] | None = None
    explain: Callable[[Any, tuple[int, ...]], str] | None = None
