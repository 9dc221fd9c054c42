"""Gaussian Fourier feature networks (FFN; Tancik et al., NeurIPS 2020; peers-spec §4.1).

``γ(v) = [cos(2π B v), sin(2π B v)]`` with a frozen ``B ∈ R^{m×d}``, ``B_ij ~ N(0, σ²)``, on
``v = (x + 1) / 2 ∈ [0, 1]^d`` — the paper's coordinate range, so ``σ`` keeps its published meaning
(cycles per unit ``v``; σ = 10 natural images, 14 text, 5 MRI). Then a ReLU MLP and a linear head
(the notebook's sigmoid head is the option ``output="sigmoid"``). Dense layers use PyTorch's default
init (the notebook's JAX stax init differs slightly). Defaults are the released notebook's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import SinetuneError
from ..models import FourierFeatures, ReluLayer, SigmoidHead, SinusoidalField, default_linear
from .base import Built

DEFAULT_LR = 1e-3


@dataclass(frozen=True)
class FfnOptions:
    """FFN hyper-parameters (the released notebook's: 256 frequencies, 4 dense layers × 256).

    Attributes:
        input_width: encoding width ``2m`` (even); ``m = input_width // 2`` frequency rows of ``B``.
        hidden_width: width of every ReLU layer.
        hidden_layers: number of ReLU layers (the notebook's 4 dense layers = 3 ReLU + the head).
        sigma: ``σ``, std of ``B``'s entries (cycles per unit of ``v ∈ [0, 1]``; π σ rad per unit ``x``).
        output: ``"linear"`` head, or ``"sigmoid"`` (values in (0, 1), the notebook's image head).
    """

    input_width: int = 512
    hidden_width: int = 256
    hidden_layers: int = 3
    sigma: float = 10.0
    output: Literal["linear", "sigmoid"] = "linear"


def resolve(options: FfnOptions, grid_shape: tuple[int, ...]) -> FfnOptions:
    """Validate (no signal-derived defaults)."""
    if options.input_width < 2 or options.input_width % 2:
        raise SinetuneError(f"input_width must be an even number ≥ 2 (cos and sin of each frequency), "
                            f"got {options.input_width}")
    if options.hidden_width < 1 or options.hidden_layers < 1:
        raise SinetuneError("hidden_width and hidden_layers must be positive")
    if not (options.sigma > 0 and math.isfinite(options.sigma)):
        raise SinetuneError(f"sigma must be a positive number, got {options.sigma}")
    if options.output not in ("linear", "sigmoid"):
        raise SinetuneError(f"output must be linear or sigmoid, got {options.output!r}")
    return options


def build(options: FfnOptions, grid_shape: tuple[int, ...], channels: int, generator: torch.Generator) -> Built:
    """Build an FFN; ``B`` and every layer drawn from ``generator``."""
    dim = len(grid_shape)
    frequencies = torch.randn(options.input_width // 2, dim, generator=generator) * options.sigma
    encoding = FourierFeatures(frequencies)
    hidden, fan_in = [], options.input_width
    for _ in range(options.hidden_layers):
        hidden.append(ReluLayer(default_linear(fan_in, options.hidden_width, generator)))
        fan_in = options.hidden_width
    head = default_linear(fan_in, channels, generator)
    return Built(SinusoidalField(encoding, hidden, SigmoidHead(head) if options.output == "sigmoid" else head))
