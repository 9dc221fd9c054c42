"""Multiplicative filter networks, FourierNet variant (Fathony et al., ICLR 2021; peers-spec §4.5).

``z₁ = g₁(x)``, ``z_{i+1} = g_{i+1}(x) ⊙ (W_i z_i + b_i)``, ``y = W_out z_{L+1} + b_out``, with
``L + 1`` sine filters ``g(x) = sin(Ω x + φ)``:

* ``Ω = U(±1/√d) · input_scale / √(L + 1)`` (PyTorch's default linear init, scaled), radians per unit
  coordinate; ``φ ~ U(−π, π)``. A product of ``L + 1`` filters holds sums of ``L + 1`` frequencies,
  hence the ``1/√(L + 1)``.
* ``W_i ~ U(±√(weight_scale / H))``, ``b_i`` and the head PyTorch's default.

The released image script fits a 256² image on coordinates in [-1, 1] (as sinetune's) with
``input_scale = 256``; sinetune's default is therefore ``input_scale = N``, the smallest grid side
(256 at 256², so the released value there; it grows with the resolution). Other defaults are the
released code's (3 layers × 256, lr 1e-2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from ..errors import SinetuneError
from ..models import MultiplicativeFilterField, SineLayer, default_linear, uniform_
from .base import Built

DEFAULT_LR = 1e-2


@dataclass(frozen=True)
class MfnOptions:
    """FourierNet hyper-parameters (the released image script's).

    Attributes:
        input_width: width of the filters; must equal ``hidden_width`` (element-wise products).
        hidden_width: ``H``, width of the linear layers.
        hidden_layers: ``L``, number of linear layers (``L + 1`` filters).
        input_scale: scale of the filter frequencies (rad per unit coordinate, before ``/√(L+1)``
            and the ``U(±1/√d)`` draw); ``None``: the smallest grid side ``N``.
        weight_scale: ``W_i ~ U(±√(weight_scale / H))``.
    """

    input_width: int = 256
    hidden_width: int = 256
    hidden_layers: int = 3
    input_scale: float | None = None
    weight_scale: float = 1.0


def check_filter_shape(options: MfnOptions | Any) -> None:
    """The shape rule of every multiplicative filter network (MFN, BACON): ``hidden_width`` positive,
    ``hidden_layers`` non-negative, ``input_width == hidden_width`` (one-line :class:`SinetuneError`)."""
    if options.hidden_width < 1 or options.hidden_layers < 0:
        raise SinetuneError("hidden_width must be positive, hidden_layers non-negative")
    if options.input_width != options.hidden_width:
        raise SinetuneError(f"a multiplicative filter network multiplies filters and hidden features element-wise: "
                            f"input_width ({options.input_width}) must equal hidden_width ({options.hidden_width})")


def filter_network(filters: list[nn.Module], width: int, weight_scale: float, channels: int,
                   generator: torch.Generator, head_scale: float | None = None) -> MultiplicativeFilterField:
    """The MFN around ``L + 1`` given filters, its linear layers drawn from ``generator`` in order.

    ``W_i ~ U(±√(weight_scale / H))`` for the ``L`` hidden ``(H, H)`` layers, their biases PyTorch's
    default; the ``(H, channels)`` head PyTorch's default, or ``U(±√(head_scale / H))`` weights.
    """
    linears = []
    for _ in range(len(filters) - 1):
        linear = default_linear(width, width, generator)
        uniform_(linear.weight, math.sqrt(weight_scale / width), generator)
        linears.append(linear)
    head = default_linear(width, channels, generator)
    if head_scale is not None:
        uniform_(head.weight, math.sqrt(head_scale / width), generator)
    return MultiplicativeFilterField(filters, linears, head)


def resolve(options: MfnOptions, grid_shape: tuple[int, ...]) -> MfnOptions:
    """Validate; fill ``input_scale`` with the smallest grid side when ``None``."""
    check_filter_shape(options)
    if options.input_scale is not None and not (options.input_scale > 0 and math.isfinite(options.input_scale)):
        raise SinetuneError(f"input_scale must be a positive number (or null), got {options.input_scale}")
    if not (options.weight_scale > 0 and math.isfinite(options.weight_scale)):
        raise SinetuneError(f"weight_scale must be a positive number, got {options.weight_scale}")
    if options.input_scale is None:
        options = replace(options, input_scale=float(min(grid_shape)))
    return options


def build(options: MfnOptions, grid_shape: tuple[int, ...], channels: int, generator: torch.Generator) -> Built:
    """Build a FourierNet; randomness from ``generator``. ``options`` must be resolved."""
    dim, width, layers = len(grid_shape), options.hidden_width, options.hidden_layers
    filters = []
    for _ in range(layers + 1):
        omega, phase = torch.empty(width, dim), torch.empty(width)
        uniform_(omega, 1.0 / math.sqrt(dim), generator)
        uniform_(phase, math.pi, generator)
        # SineLayer with ω = 1 is sin(Ω x + φ), storing Ω as its weight and φ as its bias.
        filters.append(SineLayer(dim, width, 1.0, omega * (options.input_scale / math.sqrt(layers + 1)), phase))
    return Built(filter_network(filters, width, options.weight_scale, channels, generator))
