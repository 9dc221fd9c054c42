"""Building blocks of sinusoidal fields: plain ``nn.Module``s mapping coordinates to values.

Shapes: coordinates are ``(N, d)`` in ``[-1, 1]``, values ``(N, C)``. Every random draw takes an
explicit ``torch.Generator``; frozen quantities (integer frequencies, period, bounds) are buffers, so
``.to(device)``, ``state_dict()`` and safetensors carry them.

**A leading signal axis.** Every layer also computes ``B`` fields at once when its parameters carry
a leading axis ``B`` (``weight`` ``(B, out, in)``, ``bias`` ``(B, out)``, …; see
:func:`sinetune.stacking.stack_fields`): inputs ``(N, ·)`` shared by the signals or ``(B, N, ·)``
give outputs ``(B, N, ·)``. One implementation serves one signal and many; the products go through
:func:`affine`, which is ``torch.addmm`` for one signal and ``torch.baddbmm`` for many.
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


def affine(features: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``z = features · weightᵀ + bias``, with an optional leading signal axis on any argument.

    Shapes: ``features`` ``(N, in)`` or ``(B, N, in)``, ``weight`` ``(out, in)`` or ``(B, out, in)``,
    ``bias`` ``(out,)`` or ``(B, out)`` → ``(N, out)``, or ``(B, N, out)`` when anything is stacked.
    """
    if weight.ndim == 2 and features.ndim == 2 and bias.ndim == 1:
        return torch.addmm(bias, features, weight.T)
    if weight.ndim == 2:  # one weight (e.g. TUNER's shared frequencies), stacked features or bias
        return torch.matmul(features, weight.T) + bias.unsqueeze(-2)
    if features.ndim == 2:
        features = features.expand(weight.shape[0], -1, -1)
    return torch.baddbmm(bias.unsqueeze(-2), features, weight.transpose(-1, -2))


class Linear(nn.Module):
    """``z = W h + b`` (``weight`` ``(out, in)``, ``bias`` ``(out,)``, or with a leading signal axis).

    ``nn.Linear``'s parameters and ``state_dict`` names, computed by :func:`affine` so that a stack of
    ``B`` heads is one module.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        if weight.ndim < 2 or bias.shape != weight.shape[:-1]:
            raise ValueError("weight must be (out, in) and bias (out,)")
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(bias.clone())

    @property
    def in_features(self) -> int:
        return self.weight.shape[-1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[-2]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return affine(features, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


def default_linear(in_features: int, out_features: int, generator: torch.Generator) -> Linear:
    """:class:`Linear` with PyTorch's default init (U(±1/√fan_in) for weight and bias) from ``generator``."""
    bound = 1.0 / math.sqrt(in_features)
    weight = uniform_(torch.empty(out_features, in_features), bound, generator)
    return Linear(weight, uniform_(torch.empty(out_features), bound, generator))


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
        return self.input_frequencies.shape[-1]

    @property
    def out_features(self) -> int:
        return self.input_frequencies.shape[-2]

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return torch.sin(affine(coords, self.angular_frequencies.to(coords.dtype), self.phases))

    def basis(self, coords: torch.Tensor) -> torch.Tensor:
        """``(N, 2 n_0)`` = ``[sin(Ω x) | cos(Ω x)]`` (angles in float64, then cast to ``coords.dtype``).

        The part of the encoding that does not train: :meth:`from_basis` turns it into
        ``sin(Ωx + φ)`` for the current phases, so a training loop that sees the same coordinates
        every step computes it once.
        """
        angles = torch.matmul(coords.to(torch.float64), self.angular_frequencies.transpose(-1, -2))
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).to(coords.dtype)

    def from_basis(self, basis: torch.Tensor) -> torch.Tensor:
        """``sin(Ωx + φ) = sin(Ωx) cos φ + cos(Ωx) sin φ`` from :meth:`basis` rows → ``(N, n_0)``.

        Equal to :meth:`forward` up to float rounding (~1e-6), with two multiply-adds in place of
        the ``(N, d) @ (d, n_0)`` product and the sine, and a multiply-sum per phase gradient in
        place of the cosine.
        """
        sines, cosines = basis.split(self.out_features, dim=-1)
        phases = self.phases.unsqueeze(-2)  # (1, n_0) or (B, 1, n_0)
        return torch.addcmul(sines * torch.cos(phases), cosines, torch.sin(phases))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, period={self.period}"


class SineLayer(nn.Module):
    """``h = sin(ω (W z + b))`` — SIREN's convention, ω also scales the bias (peers-spec §0.1).

    The stored ``weight`` is ``W``; the *effective* weight is ``Ŵ = ω W`` (radians per unit input),
    which is what TUNER's bounds ``c_j`` refer to. Column bounds (one per input feature) are
    optional:

    * ``"none"``: plain layer.
    * ``"clamp"``: a buffer ``column_bounds`` ``c`` (effective units); :class:`sinetune.constraints.ColumnClamp`
      projects ``|Ŵ_ij| ≤ c_j`` after every optimizer step (tuner-spec §3a).
    * ``"learned"``: ``Ŵ_ij = c_j tanh(ω V_ij)`` with trainable ``c`` and raw ``V`` (parameter
      ``weight``); an L1 penalty on ``c`` is added by the method (§3b). Like the weights, ``c`` is
      *stored divided by ω* (parameter ``scaled_bounds`` ``= c / ω``, the authors' parametrisation;
      ``column_bounds`` reads ``c``): an Adam step of size ``lr`` on the stored value moves ``c`` by
      ``ω · lr``, as it moves ``Ŵ``. Stored raw, ``c`` would move at most ``lr`` per step (≈ 0.15 over
      a 300-step fit at 5e-4) and learned bounds would stay where they started.

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
            self.scaled_bounds = nn.Parameter(bounds / self.omega)
            ratio = (inside / bounds).clamp(-0.999, 0.999)
            self.weight = nn.Parameter(torch.atanh(ratio) / self.omega)
        else:
            raise ValueError(f"unknown bound_mode {bound_mode!r}")

    def __getattr__(self, name: str):
        if name == "column_bounds" and self.__dict__.get("bound_mode") == "learned":
            return self.omega * self.scaled_bounds  # c, in effective units (differentiable)
        return super().__getattr__(name)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the ω-scaled parametrisation stored learned bounds raw as c
        old, new = prefix + "column_bounds", prefix + "scaled_bounds"
        if self.bound_mode == "learned" and old in state_dict and new not in state_dict:
            state_dict[new] = state_dict.pop(old) / self.omega
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def effective_weight(self) -> torch.Tensor:
        """``Ŵ`` of shape ``(out, in)``: ``ω W``, or ``c_j tanh(ω V_ij)`` for learned bounds."""
        if self.bound_mode == "learned":
            return self.column_bounds.unsqueeze(-2) * torch.tanh(self.omega * self.weight)
        return self.omega * self.weight

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # ω is folded into the small (out, in) weight and the bias, not applied to the (N, out)
        # pre-activation: the same function, two fewer full-size element-wise passes per step.
        return torch.sin(affine(features, self.effective_weight(), self.omega * self.bias))

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

    def __init__(self, encoding: nn.Module, hidden: list[SineLayer], head: Linear):
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
        return self._after_encoding(self.encoding(coords))

    def prepare(self, coords: torch.Tensor) -> torch.Tensor:
        """What :meth:`forward_prepared` takes for ``coords``: the frozen part of the encoding
        (``(N, 2 n_0)``, :meth:`SpectralEncoding.basis`) for TUNER fields, ``coords`` otherwise.

        Rows correspond to coordinates, so a subset of rows is the prepared subset.
        """
        return self.encoding.basis(coords) if isinstance(self.encoding, SpectralEncoding) else coords

    def forward_prepared(self, inputs: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` from :meth:`prepare`'s output → ``(N, C)``."""
        if isinstance(self.encoding, SpectralEncoding):
            return self._after_encoding(self.encoding.from_basis(inputs))
        return self.forward(inputs)

    def _after_encoding(self, features: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            features = layer(features)
        return self.head(features)


# The peer methods' layers live in :mod:`sinetune.peer_layers`; importable from here too.
from .peer_layers import (  # noqa: E402
    ComplexLinear,
    FinerLayer,
    FourierFeatures,
    GaborLayer,
    GaussLayer,
    MultiplicativeFilterField,
    RealPartHead,
    ReluLayer,
    SigmoidHead,
)

__all__ = ["ComplexLinear", "FinerLayer", "FourierFeatures", "GaborLayer", "GaussLayer", "Linear",
           "MultiplicativeFilterField", "RealPartHead", "ReluLayer", "SigmoidHead", "SineLayer", "SinusoidalField",
           "SpectralEncoding", "affine", "default_linear", "uniform_"]
