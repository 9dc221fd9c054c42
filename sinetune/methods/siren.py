"""SIREN (Sitzmann et al., NeurIPS 2020), as the official code does it (peers-spec.md §1).

* Every sine layer computes ``sin(ω (W z + b))`` — ω multiplies the bias too.
* First layer ``W ~ U(-1/n, 1/n)`` (n = coordinate dimension), hidden *and* output layers
  ``W ~ U(±√(6/n)/ω_hidden)``, every bias PyTorch's default ``U(±1/√n)``.
* Linear output layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import SinetuneError
from ..models import SineLayer, SinusoidalField, default_linear, uniform_
from .base import Built, check_mlp_shape

DEFAULT_LR = 1e-4


@dataclass(frozen=True)
class SirenOptions:
    """SIREN hyper-parameters (same shape names as :class:`~sinetune.methods.tuner.TunerOptions`).

    Attributes:
        input_width: width of the first sine layer.
        hidden_width: width of every hidden sine layer.
        hidden_layers: number of hidden sine layers after the first (the SIREN colab uses 3).
        first_omega: ``ω_0`` of the first layer (30 for images, 3000 for audio on [-1, 1]).
        hidden_omega: ``ω`` of the hidden layers (and the divisor of the hidden/output init).
    """

    input_width: int = 256
    hidden_width: int = 256
    hidden_layers: int = 3
    first_omega: float = 30.0
    hidden_omega: float = 30.0


def resolve(options: SirenOptions, grid_shape: tuple[int, ...]) -> SirenOptions:
    """Validate (SIREN has no signal-derived defaults yet)."""
    check_mlp_shape(options)
    if not (options.first_omega > 0 and options.hidden_omega > 0):
        raise SinetuneError("first_omega and hidden_omega must be positive")
    return options


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
