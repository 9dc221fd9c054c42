"""Time-to-quality levers of the training loop (issue #16): a learning-rate schedule and an exactly
solved linear head. Both are off by default; ``sinetune bench ttq`` measures them.

* :func:`lr_factor` — the multiplier of the base learning rate at a step: linear warm-up over
  ``warmup_steps`` steps, then constant or a cosine decay to ``lr_floor`` (a fraction of the base):
  ``f(t) = t / w`` for ``t ≤ w``; cosine: ``f(t) = φ + (1 − φ) · (1 + cos(π (t − w) / (T − w))) / 2``.
  A pure function of the step, so a resumed fit (:mod:`sinetune.train_state`) gets the same rates.
* :func:`solve_head` — the linear head ``y = W h + b`` of a :class:`~sinetune.models.SinusoidalField`
  is the least-squares solution for the current hidden features ``h`` of the training samples:
  ``[W b]ᵀ = (Hᵀ H + λ I)⁻¹ Hᵀ Y`` with ``H = [h 1]`` (``(N, n_L + 1)``), accumulated ``chunk`` rows
  at a time in float64 (memory ``(n_L + 1)²``, not ``N × n_L``), ``λ = ridge · tr(HᵀH) / (n_L + 1)``.
  Works on a stack of fields (a leading signal axis, :mod:`sinetune.stacking`).
"""

from __future__ import annotations

import math

import torch

from .models import SinusoidalField, SpectralEncoding


def lr_factor(step: int, steps: int, schedule: str = "constant", warmup_steps: int = 0,
              lr_floor: float = 0.0) -> float:
    """Multiplier of the base learning rate at ``step`` (1-based) of ``steps`` (module docstring)."""
    if warmup_steps > 0 and step <= warmup_steps:
        return step / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"unknown lr schedule {schedule!r}")
    span = max(steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return lr_floor + (1.0 - lr_floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def solve_head(field: torch.nn.Module, inputs: torch.Tensor, values: torch.Tensor, prepared: bool = False,
               chunk: int = 1 << 15, ridge: float = 1e-8) -> bool:
    """Set ``field.head`` to the least-squares fit of ``values`` on the hidden features (module docstring).

    Args:
        field: a :class:`SinusoidalField` (or a stack of them); anything else is left alone.
        inputs: ``(N, d)`` coordinates, or with ``prepared`` the output of ``field.prepare``.
        values: ``(N, C)`` targets, ``(B, N, C)`` for a stack.

    Returns whether the head was set (``False``: not a sinusoidal field, or a non-finite solution).
    """
    if not isinstance(field, SinusoidalField):
        return False
    gram = moment = None
    for start in range(0, len(inputs), chunk):
        part = inputs[start:start + chunk]
        spectral = prepared and isinstance(field.encoding, SpectralEncoding)
        features = field.encoding.from_basis(part) if spectral else field.encoding(part)
        for layer in field.hidden:
            features = layer(features)
        ones = torch.ones(features.shape[:-1] + (1,), dtype=features.dtype, device=features.device)
        design = torch.cat([features, ones], dim=-1).double()  # (…, n, n_L + 1)
        target = values[..., start:start + chunk, :].double()
        if design.ndim < target.ndim:
            design = design.expand(target.shape[:-2] + design.shape[-2:])
        step_gram, step_moment = design.transpose(-1, -2) @ design, design.transpose(-1, -2) @ target
        gram = step_gram if gram is None else gram + step_gram
        moment = step_moment if moment is None else moment + step_moment
    size = gram.shape[-1]
    scale = torch.diagonal(gram, dim1=-2, dim2=-1).sum(-1) / size
    regularised = gram + ridge * scale[..., None, None] * torch.eye(size, dtype=gram.dtype, device=gram.device)
    solution = torch.linalg.solve(regularised, moment)  # (…, n_L + 1, C)
    if not torch.isfinite(solution).all():
        return False
    weight = solution[..., :-1, :].transpose(-1, -2)
    field.head.weight.copy_(weight.to(field.head.weight.dtype).expand_as(field.head.weight))
    field.head.bias.copy_(solution[..., -1, :].to(field.head.bias.dtype).expand_as(field.head.bias))
    return True


__all__ = ["lr_factor", "solve_head"]
