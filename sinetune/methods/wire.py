"""WIRE (Saragadam et al., CVPR 2023; peers-spec §4.3): complex Gabor wavelet activations.

* Every layer but the head computes ``ψ(z) = exp(j ω₀ z − |s₀ z|²)``, ``z = W h + b``; the first
  layer has real ``W, b`` (real coordinates in), the hidden layers complex ones; the output is the
  real part of a final complex linear layer.
* Widths are divided by √2 (``int(H / √2)``, the released code's parameter matching: a complex weight
  holds two reals), for the first and the hidden layers: 256 → 181.
* PyTorch's default init (``U(±1/√fan_in)``; real and imaginary parts drawn independently, as
  ``nn.Linear(dtype=cfloat)`` does), from the generator. ω₀ and s₀ are fixed.
* Defaults are the released code's image-representation values (ω₀ = 20, s₀ = 30, lr 5e-3, 2 hidden
  layers); the maintainer's stability advice (WIRE issue #16) is ``ω₀ / s₀ < 2``, so a larger ratio
  warns (it tends to produce NaNs).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from ..errors import SinetuneError
from ..models import ComplexLinear, GaborLayer, RealPartHead, SinusoidalField
from .base import Built

DEFAULT_LR = 5e-3

#: ω₀ / s₀ at or above which WIRE tends to diverge (WIRE issue #16).
STABLE_RATIO = 2.0


@dataclass(frozen=True)
class WireOptions:
    """WIRE hyper-parameters (the released code's image-representation defaults).

    Attributes:
        input_width: *nominal* width of the first Gabor layer: it has ``int(input_width / √2)`` complex
            units.
        hidden_width: *nominal* width of every hidden Gabor layer (``int(hidden_width / √2)`` complex units).
        hidden_layers: Gabor layers after the first.
        omega: ``ω₀`` (frequency of the wavelet, radians per unit ``z``).
        scale: ``s₀`` (inverse width of the Gaussian window, per unit ``z``).
    """

    input_width: int = 256
    hidden_width: int = 256
    hidden_layers: int = 2
    omega: float = 20.0
    scale: float = 30.0


def complex_width(width: int) -> int:
    """``int(width / √2)``: WIRE's width for a nominal real width."""
    return int(width / math.sqrt(2.0))


def resolve(options: WireOptions, grid_shape: tuple[int, ...]) -> WireOptions:
    """Validate; warn when ``ω₀ / s₀ ≥ 2`` (outside WIRE's stable range)."""
    if complex_width(options.input_width) < 1 or complex_width(options.hidden_width) < 1:
        raise SinetuneError("input_width and hidden_width must be at least 2 (WIRE uses int(width/√2) units)")
    if options.hidden_layers < 0:
        raise SinetuneError("hidden_layers must be non-negative")
    if not (options.omega > 0 and options.scale > 0 and math.isfinite(options.omega) and math.isfinite(options.scale)):
        raise SinetuneError(f"omega and scale must be positive numbers, got {options.omega} and {options.scale}")
    if options.omega / options.scale >= STABLE_RATIO:
        warnings.warn(f"WIRE omega/scale = {options.omega / options.scale:.2g} ≥ {STABLE_RATIO:g} is outside its "
                      f"stable range and often diverges (WIRE issue #16)", stacklevel=2)
    return options


def build(options: WireOptions, grid_shape: tuple[int, ...], channels: int, generator: torch.Generator) -> Built:
    """Build a WIRE field; every parameter ``U(±1/√fan_in)`` from ``generator``."""

    def draw(*shape: int, fan_in: int) -> torch.Tensor:
        bound = 1.0 / math.sqrt(fan_in)
        return torch.empty(*shape).uniform_(-bound, bound, generator=generator)

    def linear(fan_in: int, fan_out: int, complex_: bool) -> ComplexLinear:
        if not complex_:
            return ComplexLinear(draw(fan_out, fan_in, fan_in=fan_in), draw(fan_out, fan_in=fan_in))
        return ComplexLinear(draw(fan_out, fan_in, fan_in=fan_in), draw(fan_out, fan_in=fan_in),
                             draw(fan_out, fan_in, fan_in=fan_in), draw(fan_out, fan_in=fan_in))

    dim = len(grid_shape)
    first_width, width = complex_width(options.input_width), complex_width(options.hidden_width)
    first = GaborLayer(linear(dim, first_width, complex_=False), options.omega, options.scale)
    hidden, fan_in = [], first_width
    for _ in range(options.hidden_layers):
        hidden.append(GaborLayer(linear(fan_in, width, complex_=True), options.omega, options.scale))
        fan_in = width
    return Built(SinusoidalField(first, hidden, RealPartHead(linear(fan_in, channels, complex_=True))))
