"""Building blocks of sinusoidal fields: plain ``nn.Module``s mapping coordinates to values.

Shapes: coordinates are ``(N, d)`` in ``[-1, 1]``, values ``(N, C)``. Every random draw takes an
explicit ``torch.Generator``; frozen quantities (integer frequencies, period, bounds) are buffers, so
``.to(device)``, ``state_dict()`` and safetensors carry them.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

BoundMode = Literal["none", "clamp", "learned"]


def uniform_(tensor: torch.Tensor, bound: float, generator: torch.Generator) -> torch.Tensor:
    """Fill ``tensor`` in place with U(-bound, bound) drawn from ``generator``."""
    with torch.no_grad():
        return tensor.uniform_(-bound, bound, generator=generator)


def default_linear(in_features: int, out_features: int, generator: torch.Generator) -> nn.Linear:
    """``nn.Linear`` with PyTorch's default init (U(±1/√fan_in) for weight and bias) from ``generator``."""
    layer = nn.Linear(in_features, out_features)
    bound = 1.0 / math.sqrt(in_features)
    uniform_(layer.weight, bound, generator)
    uniform_(layer.bias, bound, generator)
    return layer


class SpectralEncoding(nn.Module):
    """TUNER's input layer ``s(x) = sin(Ω x + φ)`` with frozen ``Ω = 2π K / p`` (tuner-spec §1.1).

    Args:
        input_frequencies: ``(n_0, d)`` integer tensor ``K`` (cycles per period).
        period: ``p``, in units of the coordinate; the field is ``p``-periodic in every axis.
        phases: ``(n_0,)`` initial phases ``φ`` in radians (trainable).

    Forward: ``(N, d)`` coordinates → ``(N, n_0)`` activations in [-1, 1].
    """

    def __init__(self, input_frequencies: torch.Tensor, period: float, phases: torch.Tensor):
        super().__init__()
        if input_frequencies.ndim != 2 or phases.shape != (input_frequencies.shape[0],):
            raise ValueError("input_frequencies must be (n_0, d) and phases (n_0,)")
        self.period = float(period)
        self.register_buffer("input_frequencies", input_frequencies.to(torch.int64))
        self.register_buffer("angular_frequencies", (2 * math.pi / self.period) * input_frequencies.double())
        self.phases = nn.Parameter(phases.to(torch.get_default_dtype()).clone())

    @property
    def in_features(self) -> int:
        return self.input_frequencies.shape[1]

    @property
    def out_features(self) -> int:
        return self.input_frequencies.shape[0]

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        omega = self.angular_frequencies.to(coords.dtype)
        return torch.sin(torch.addmm(self.phases, coords, omega.T))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, period={self.period}"


class SineLayer(nn.Module):
    """``h = sin(ω (W z + b))`` — SIREN's convention, ω also scales the bias (peers-spec §0.1).

    The stored ``weight`` is ``W``; the *effective* weight is ``Ŵ = ω W`` (radians per unit input),
    which is what TUNER's bounds ``c_j`` refer to. Column bounds (one per input feature) are
    optional:

    * ``"none"``: plain layer.
    * ``"clamp"``: a buffer ``column_bounds`` ``c`` (effective units); :class:`sinetune.training.ColumnClamp`
      projects ``|Ŵ_ij| ≤ c_j`` after every optimizer step (tuner-spec §3a).
    * ``"learned"``: ``Ŵ_ij = c_j tanh(ω V_ij)`` with trainable ``c`` (parameter ``column_bounds``)
      and raw ``V`` (parameter ``weight``); an L1 penalty on ``c`` is added by the method (§3b).

    Args:
        in_features, out_features: sizes of ``z`` and ``h``.
        omega: ``ω`` (dimensionless frequency factor).
        weight: ``(out, in)`` initial *effective* weights ``Ŵ``.
        bias: ``(out,)`` initial stored bias ``b`` (effective bias is ``ω b``).
        bound_mode: see above.
        column_bounds: ``(in,)`` bounds ``c`` (required unless ``bound_mode == "none"``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        omega: float,
        weight: torch.Tensor,
        bias: torch.Tensor,
        bound_mode: BoundMode = "none",
        column_bounds: torch.Tensor | None = None,
    ):
        super().__init__()
        if weight.shape != (out_features, in_features) or bias.shape != (out_features,):
            raise ValueError("weight must be (out, in) and bias (out,)")
        self.in_features, self.out_features = in_features, out_features
        self.omega = float(omega)
        self.bound_mode: BoundMode = bound_mode
        self.bias = nn.Parameter(bias.clone())
        if bound_mode == "none":
            self.weight = nn.Parameter(weight / self.omega)
            return
        if column_bounds is None or column_bounds.shape != (in_features,):
            raise ValueError(f"bound_mode={bound_mode!r} needs column_bounds of shape ({in_features},)")
        bounds = column_bounds.to(weight.dtype)
        inside = torch.maximum(torch.minimum(weight, bounds), -bounds)
        if bound_mode == "clamp":
            self.register_buffer("column_bounds", bounds.clone())
            self.weight = nn.Parameter(inside / self.omega)
        elif bound_mode == "learned":
            self.column_bounds = nn.Parameter(bounds.clone())
            ratio = (inside / bounds).clamp(-0.999, 0.999)
            self.weight = nn.Parameter(torch.atanh(ratio) / self.omega)
        else:
            raise ValueError(f"unknown bound_mode {bound_mode!r}")

    def effective_weight(self) -> torch.Tensor:
        """``Ŵ`` of shape ``(out, in)``: ``ω W``, or ``c_j tanh(ω V_ij)`` for learned bounds."""
        if self.bound_mode == "learned":
            return self.column_bounds * torch.tanh(self.omega * self.weight)
        return self.omega * self.weight

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.bound_mode == "learned":
            return torch.sin(torch.addmm(self.omega * self.bias, features, self.effective_weight().T))
        return torch.sin(self.omega * torch.addmm(self.bias, features, self.weight.T))

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"omega={self.omega}, bound_mode={self.bound_mode!r}")


class SinusoidalField(nn.Module):
    """A coordinate network ``head(hidden_L(… hidden_1(encoding(x))))`` (linear head).

    Args:
        encoding: first layer, ``(N, d) → (N, n_0)`` (a :class:`SpectralEncoding` for TUNER, a first
            :class:`SineLayer` for SIREN).
        hidden: hidden :class:`SineLayer` s, applied in order.
        head: linear output layer ``(N, n_L) → (N, C)``.

    Forward: ``(N, d)`` coordinates in [-1, 1] → ``(N, C)`` values.
    """

    def __init__(self, encoding: nn.Module, hidden: list[SineLayer], head: nn.Linear):
        super().__init__()
        self.encoding = encoding
        self.hidden = nn.ModuleList(hidden)
        self.head = head

    @property
    def in_features(self) -> int:
        return self.encoding.in_features

    @property
    def out_features(self) -> int:
        return self.head.out_features

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        features = self.encoding(coords)
        for layer in self.hidden:
            features = layer(features)
        return self.head(features)
