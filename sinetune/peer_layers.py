"""The layers of the peer methods (peers-spec §3–§4): FFN, FINER, Gauss, WIRE, MFN.

Same conventions as :mod:`sinetune.models`: ``(N, ·)`` inputs, and a leading signal axis ``B`` on the
parameters gives ``(B, N, ·)`` outputs (products through :func:`sinetune.models.affine`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .models import Linear, affine


class FourierFeatures(nn.Module):
    """Gaussian Fourier features ``γ(v) = [cos(2π B v), sin(2π B v)]`` (Tancik et al., peers-spec §4.1).

    The mapping is defined on ``v = (x + 1) / 2 ∈ [0, 1]^d`` (the paper's coordinate range), so
    ``B`` is in cycles per unit of ``v``: a row ``b`` makes ``2π b`` radians per unit ``v`` and
    ``π b`` radians per unit of the sinetune coordinate ``x ∈ [-1, 1]``.

    Args:
        frequencies: ``(m, d)`` matrix ``B`` (frozen buffer ``frequencies``).

    Forward: ``(N, d)`` coordinates in [-1, 1] → ``(N, 2m)`` features ``[cos | sin]`` in [-1, 1].
    """

    def __init__(self, frequencies: torch.Tensor):
        super().__init__()
        if frequencies.ndim != 2:
            raise ValueError("frequencies must be (m, d)")
        self.register_buffer("frequencies", frequencies.to(torch.get_default_dtype()).clone())

    @property
    def in_features(self) -> int:
        return self.frequencies.shape[-1]

    @property
    def out_features(self) -> int:
        return 2 * self.frequencies.shape[-2]

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        angles = (2 * math.pi) * torch.matmul((coords + 1) / 2, self.frequencies.transpose(-1, -2))
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class ReluLayer(nn.Module):
    """``h = max(0, W z + b)`` around a given :class:`Linear` (FFN's MLP)."""

    def __init__(self, linear: Linear):
        super().__init__()
        self.linear = linear
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(features))


class SigmoidHead(nn.Module):
    """``y = σ(W h + b)`` (logistic), an output layer that keeps values in (0, 1) (FFN's image head)."""

    def __init__(self, linear: Linear):
        super().__init__()
        self.linear = linear
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(features))


class FinerLayer(nn.Module):
    """FINER's variable-periodic sine ``h = sin(ω α(z) z)``, ``z = W x + b``, ``α(z) = |z| + 1`` (§4.2).

    ω multiplies the bias too (it sits outside ``z``), as in the official code. With
    ``alpha_grad=False`` (the code's ``scale_req_grad=False``) ``α`` is computed without gradient:
    backprop treats it as a constant, so ``∂h/∂z = ω α cos(ω α z)``.

    Args:
        omega: ``ω`` (dimensionless).
        weight: ``(out, in)`` stored ``W``; bias: ``(out,)`` stored ``b``.
        alpha_grad: let the gradient flow through ``α``.
    """

    def __init__(self, omega: float, weight: torch.Tensor, bias: torch.Tensor, alpha_grad: bool = False):
        super().__init__()
        if weight.ndim != 2 or bias.shape != (weight.shape[0],):
            raise ValueError("weight must be (out, in) and bias (out,)")
        self.out_features, self.in_features = weight.shape[-2:]
        self.omega, self.alpha_grad = float(omega), bool(alpha_grad)
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(bias.clone())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = affine(features, self.weight, self.bias)
        alpha = z.abs() + 1 if self.alpha_grad else z.detach().abs() + 1
        return torch.sin(self.omega * alpha * z)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, omega={self.omega}, "
                f"alpha_grad={self.alpha_grad}")


class GaussLayer(nn.Module):
    """``h = exp(−(s z)²)``, ``z = W x + b`` (Ramasinghe & Lucey's Gaussian activation, §4.4).

    Args:
        linear: the affine map ``z``; scale: ``s`` (= 1/(√2 σ) for a Gaussian of std σ in ``z``).
    """

    def __init__(self, linear: Linear, scale: float):
        super().__init__()
        self.linear, self.scale = linear, float(scale)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.exp(-(self.scale * self.linear(features)) ** 2)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class ComplexLinear(nn.Module):
    """``z = W h + b`` with complex ``W, b`` stored as real/imaginary parameter pairs (WIRE, §4.3).

    Real pairs keep ``state_dict`` real-valued (safetensors) and Adam on them equals PyTorch's Adam on
    complex parameters (which works on the real view). Without imaginary parts the layer is real.

    Args:
        weight_real, weight_imag: ``(out, in)``; ``weight_imag=None`` for a real layer.
        bias_real, bias_imag: ``(out,)``; ``bias_imag=None`` for a real bias.

    Forward: ``(N, in)`` real or complex → ``(N, out)`` (complex unless everything is real).
    """

    def __init__(self, weight_real: torch.Tensor, bias_real: torch.Tensor,
                 weight_imag: torch.Tensor | None = None, bias_imag: torch.Tensor | None = None):
        super().__init__()
        self.out_features, self.in_features = weight_real.shape[-2:]
        self.weight_real = nn.Parameter(weight_real.clone())
        self.bias_real = nn.Parameter(bias_real.clone())
        self.weight_imag = None if weight_imag is None else nn.Parameter(weight_imag.clone())
        self.bias_imag = None if bias_imag is None else nn.Parameter(bias_imag.clone())

    def weight(self) -> torch.Tensor:
        """``W`` (complex when it has an imaginary part)."""
        return self.weight_real if self.weight_imag is None else torch.complex(self.weight_real, self.weight_imag)

    def bias(self) -> torch.Tensor:
        """``b`` (complex when it has an imaginary part)."""
        return self.bias_real if self.bias_imag is None else torch.complex(self.bias_real, self.bias_imag)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        weight, bias = self.weight(), self.bias()
        if features.is_complex() or weight.is_complex():
            dtype = torch.complex64 if features.dtype in (torch.float32, torch.complex64) else torch.complex128
            return torch.matmul(features.to(dtype), weight.to(dtype).transpose(-1, -2)) + bias.to(dtype).unsqueeze(-2)
        return affine(features, weight, bias)


class GaborLayer(nn.Module):
    """WIRE's complex Gabor wavelet ``ψ(z) = exp(j ω₀ z − |s₀ z|²)``, ``z = W h + b`` (§4.3).

    For complex ``z = a + j c``: ``ψ = exp(−ω₀ c − s₀² (a² + c²)) · exp(j ω₀ a)``.

    Args:
        linear: the (real or complex) affine map ``z``; omega: ``ω₀``; scale: ``s₀`` (both fixed).
    """

    def __init__(self, linear: ComplexLinear, omega: float, scale: float):
        super().__init__()
        self.linear, self.omega, self.scale = linear, float(omega), float(scale)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = self.linear(features)
        return torch.exp(1j * self.omega * z - (self.scale * z).abs().square())

    def extra_repr(self) -> str:
        return f"omega={self.omega}, scale={self.scale}"


class RealPartHead(nn.Module):
    """``y = Re(W h + b)`` — WIRE's output: the real part of a complex linear layer."""

    def __init__(self, linear: ComplexLinear):
        super().__init__()
        self.linear = linear
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features).real


class MultiplicativeFilterField(nn.Module):
    """A multiplicative filter network (Fathony et al., §4.5).

    ``z_1 = g_1(x)``, ``z_{i+1} = g_{i+1}(x) ⊙ (W_i z_i + b_i)``, ``y = W_out z_{L+1} + b_out``.

    Args:
        filters: ``L + 1`` modules ``(N, d) → (N, H)`` (FourierNet: :class:`SineLayer` with ω = 1, i.e.
            ``sin(Ω x + φ)``).
        linears: ``L`` :class:`Linear` ``(H → H)``.
        head: :class:`Linear` ``(H → C)``.

    Forward: ``(N, d)`` coordinates in [-1, 1] → ``(N, C)`` values.
    """

    def __init__(self, filters: list[nn.Module], linears: list[Linear], head: Linear):
        super().__init__()
        if len(filters) != len(linears) + 1:
            raise ValueError("need exactly one more filter than linear layers")
        self.filters = nn.ModuleList(filters)
        self.linears = nn.ModuleList(linears)
        self.head = head

    @property
    def in_features(self) -> int:
        return self.filters[0].in_features

    @property
    def out_features(self) -> int:
        return self.head.out_features

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        z = self.filters[0](coords)
        for filter_, linear in zip(self.filters[1:], self.linears):
            z = filter_(coords) * linear(z)
        return self.head(z)
