"""Gaussian-activation networks (Ramasinghe & Lucey, ECCV 2022; peers-spec §4.4).

Every layer but the head computes ``exp(−(s z)²)``, ``z = W h + b``; linear head; PyTorch's default
init (``U(±1/√fan_in)``) from the generator. Defaults are FINER's and SIREN²'s released settings
(s = 30, 1 + 3 hidden layers × 256, lr 5e-3); WIRE's module uses s = 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import SinetuneError
from ..models import GaussLayer, SinusoidalField, default_linear
from .base import Built, check_mlp_shape

DEFAULT_LR = 5e-3


@dataclass(frozen=True)
class GaussOptions:
    """Gauss hyper-parameters (FINER's released script).

    Attributes:
        input_width: width of the first Gaussian layer.
        hidden_width: width of every hidden Gaussian layer.
        hidden_layers: Gaussian layers after the first.
        scale: ``s`` (per unit ``z``); the activation is a Gaussian of std ``1/(√2 s)`` in ``z``.
    """

    input_width: int = 256
    hidden_width: int = 256
    hidden_layers: int = 3
    scale: float = 30.0


def resolve(options: GaussOptions, grid_shape: tuple[int, ...]) -> GaussOptions:
    """Validate (no signal-derived defaults)."""
    check_mlp_shape(options)
    if not (options.scale > 0 and math.isfinite(options.scale)):
        raise SinetuneError(f"scale must be a positive number, got {options.scale}")
    return options


def build(options: GaussOptions, grid_shape: tuple[int, ...], channels: int, generator: torch.Generator) -> Built:
    """Build a Gauss field; randomness from ``generator``."""
    first = GaussLayer(default_linear(len(grid_shape), options.input_width, generator), options.scale)
    hidden, fan_in = [], options.input_width
    for _ in range(options.hidden_layers):
        hidden.append(GaussLayer(default_linear(fan_in, options.hidden_width, generator), options.scale))
        fan_in = options.hidden_width
    return Built(SinusoidalField(first, hidden, default_linear(fan_in, channels, generator)))
