"""Constraints (run after every optimizer step) and penalties (added to the loss) of a method.

Each acts on one layer (``layer`` attribute) and broadcasts over a leading signal axis, so the same
object serves one field and a stack of ``B`` fields (:func:`sinetune.stacking.rebind` points it at
the stacked layer):

* a *constraint* has ``apply()``, called after every optimizer step (and once before the first);
* a *penalty*'s ``__call__()`` returns the loss term per signal: a scalar for one field, ``(B,)``
  for a stack.
"""

from __future__ import annotations

from typing import Protocol

import torch

from .models import SineLayer


class Constraint(Protocol):
    def apply(self) -> None: ...


class Penalty(Protocol):
    def __call__(self) -> torch.Tensor: ...


def _require_mode(layer: SineLayer, mode: str, who: str) -> None:
    if layer.bound_mode != mode:
        raise ValueError(f"{who} needs a SineLayer with bound_mode={mode!r}")


class ColumnClamp:
    """Project ``|Ŵ_ij| ≤ c_j`` for a :class:`SineLayer` with ``bound_mode="clamp"`` (tuner-spec §3a).

    The stored weight is ``W = Ŵ / ω``, so it is clamped to ``±c_j / ω`` per *column* ``j`` (input
    feature) — the intended behaviour, not the official code's per-layer clamp (§8.4).
    """

    def __init__(self, layer: SineLayer):
        _require_mode(layer, "clamp", "ColumnClamp")
        self.layer = layer

    @torch.no_grad()
    def apply(self) -> None:
        limit = (self.layer.column_bounds / self.layer.omega).unsqueeze(-2)  # (1, in) or (B, 1, in)
        self.layer.weight.copy_(torch.maximum(torch.minimum(self.layer.weight, limit), -limit))


class PositiveBounds:
    """Keep learned bounds non-negative: ``c ← |c|`` after every step (tuner-spec §3b)."""

    def __init__(self, layer: SineLayer):
        _require_mode(layer, "learned", "PositiveBounds")
        self.layer = layer

    @torch.no_grad()
    def apply(self) -> None:
        self.layer.scaled_bounds.abs_()  # c = ω · scaled_bounds, ω > 0


class BoundPenalty:
    """``λ Σ_j |c_j|`` on a layer's learned column bounds (tuner-spec §3b); gradient ``λ sign(c_j)``.

    ``λ`` weighs the bounds in effective units (radians per unit activation) against the MSE of
    values in [0, 1]: at the default ``1e-6`` and 256 columns near 1, the term is ``2.6e-4``, about the
    MSE of a 36 dB fit, so it trims columns the fit does not use without competing with the fit.
    """

    def __init__(self, layer: SineLayer, weight: float):
        _require_mode(layer, "learned", "BoundPenalty")
        self.layer, self.weight = layer, float(weight)

    def __call__(self) -> torch.Tensor:
        return self.weight * self.layer.column_bounds.abs().sum(dim=-1)


__all__ = ["BoundPenalty", "ColumnClamp", "Constraint", "Penalty", "PositiveBounds"]
