"""FINER (Liu et al., CVPR 2024; peers-spec §4.2): variable-periodic sine ``sin(ω (|z| + 1) z)``.

* Every layer but the head computes ``sin(ω α(z) z)``, ``z = W x + b``, ``α = |z| + 1``; ω sits
  outside ``z`` (it scales the bias too); ``α`` carries no gradient by default (the code's
  ``scale_req_grad=False``).
* SIREN init: first ``W ~ U(±1/d)``, hidden and head ``W ~ U(±√(6/n)/ω_h)``, biases PyTorch's default
  ``U(±1/√n)``; with ``first_bias_scale = k`` the first-layer bias is ``U(−k, k)`` (a larger ``k``
  selects higher-frequency sub-functions; SIREN²'s FINER++ uses 5).
* Defaults are the official image script's: 1 + 3 hidden layers × 256, ω 30/30, lr 5e-4 (the script
  also decays the lr to 0.1×, which sinetune's constant-lr loop does not do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import SinetuneError
from ..models import FinerLayer, SinusoidalField, default_linear, uniform_
from .base import Built, check_mlp_shape

DEFAULT_LR = 5e-4


@dataclass(frozen=True)
class FinerOptions:
    """FINER hyper-parameters (the released image script's).

    Attributes:
        input_width: width of the first FINER layer.
        hidden_width: width of every hidden FINER layer.
        hidden_layers: FINER layers after the first.
        first_omega: ω of the first layer.
        hidden_omega: ω of the hidden layers (also divides the hidden/head init bound).
        first_bias_scale: ``k`` of the first-layer bias ``U(−k, k)``; ``None`` = PyTorch's ``U(±1/√d)``.
        alpha_grad: backpropagate through ``α = |z| + 1`` (FINER's default: no).
    """

    input_width: int = 256
    hidden_width: int = 256
    hidden_layers: int = 3
    first_omega: float = 30.0
    hidden_omega: float = 30.0
    first_bias_scale: float | None = None
    alpha_grad: bool = False


def resolve(options: FinerOptions, grid_shape: tuple[int, ...]) -> FinerOptions:
    """Validate (no signal-derived defaults)."""
    check_mlp_shape(options)
    if not (options.first_omega > 0 and options.hidden_omega > 0):
        raise SinetuneError("first_omega and hidden_omega must be positive")
    if options.first_bias_scale is not None and not (options.first_bias_scale > 0
                                                     and math.isfinite(options.first_bias_scale)):
        raise SinetuneError(f"first_bias_scale must be a positive number (or null), got {options.first_bias_scale}")
    return options


def build(options: FinerOptions, grid_shape: tuple[int, ...], channels: int, generator: torch.Generator) -> Built:
    """Build a FINER field; randomness from ``generator`` (draw order as SIREN's)."""
    dim = len(grid_shape)

    def finer_layer(fan_in: int, fan_out: int, omega: float, weight_bound: float, bias_bound: float) -> FinerLayer:
        weight, bias = torch.empty(fan_out, fan_in), torch.empty(fan_out)
        uniform_(weight, weight_bound, generator)
        uniform_(bias, bias_bound, generator)
        return FinerLayer(omega, weight, bias, options.alpha_grad)

    first_bias = options.first_bias_scale if options.first_bias_scale is not None else 1.0 / math.sqrt(dim)
    first = finer_layer(dim, options.input_width, options.first_omega, 1.0 / dim, first_bias)
    hidden, fan_in = [], options.input_width
    for _ in range(options.hidden_layers):
        hidden.append(finer_layer(fan_in, options.hidden_width, options.hidden_omega,
                                  math.sqrt(6.0 / fan_in) / options.hidden_omega, 1.0 / math.sqrt(fan_in)))
        fan_in = options.hidden_width
    head = default_linear(fan_in, channels, generator)
    uniform_(head.weight, math.sqrt(6.0 / fan_in) / options.hidden_omega, generator)
    return Built(SinusoidalField(first, hidden, head))
