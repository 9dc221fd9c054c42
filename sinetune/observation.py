"""How a field is observed by the samples it is trained on (the forward model of an inverse task).

Every fit compares the field *at* each training coordinate with the sample there: a point observation.
A low-resolution image is not a point sample of the scene, though: each of its pixels averages the
``k^d`` high-resolution samples of its block (:func:`sinetune.corruptions.downsample`, the area
filter that ``superres`` applies to make its input, and what a camera's pixel integrates). Fitting
points then asks the field for the *blurred* image at the low-resolution centres, and rendering it at
``k×`` returns that blur. The area observation fits the forward model instead:

    y_i = (1 / k^d) Σ_{m ∈ {0 … k−1}^d} f(x_i + δ_m),   δ_m = 2 (m − (k − 1)/2) / (k (n − 1))  (per axis),

with ``x_i`` the low-resolution sample's coordinate and ``n`` that axis's low-resolution samples — the
``k^d`` positions are exactly where :func:`sinetune.corruptions.superres_coordinates` renders the
``k×`` grid, so the area observation of a field equals the block average of its ``k×`` render. The
field is then free to put detail between the low-resolution centres that the band-limit (TUNER) or the
architecture allows, as long as its block means match the input (back-projection, Irani & Peleg 1991,
with the field as the prior).

:class:`AreaObserved` wraps a field so that the one training loop (:func:`sinetune.training.train`)
fits it through this model unchanged: mini-batches draw low-resolution samples, each evaluating the
field ``k^d`` times.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def area_offsets(low_shape: tuple[int, ...], factor: int) -> torch.Tensor:
    """``(k^d, d)`` coordinate offsets ``δ_m`` of the high-resolution positions a low-resolution sample
    averages (see the module docstring); columns in :func:`~sinetune.signals.grid_coordinates`' order
    (the last grid axis first)."""
    steps = [torch.tensor([2.0 * (m - (factor - 1) / 2) / (factor * (n - 1)) for m in range(factor)])
             for n in reversed(low_shape)]
    return torch.tensor(list(itertools.product(*[s.tolist() for s in steps])), dtype=torch.float32)


class AreaObserved(nn.Module):
    """``field`` observed through the area filter: ``(N, d)`` low-resolution coordinates → ``(N, C)``
    (or ``(B, N, C)`` for a stack) means of the field over each sample's ``k^d`` positions.

    The wrapped field is a submodule (its parameters are the module's); nothing else is learned.
    """

    def __init__(self, field: nn.Module, low_shape: tuple[int, ...], factor: int):
        super().__init__()
        self.field = field
        self.register_buffer("offsets", area_offsets(low_shape, factor), persistent=False)

    @property
    def out_features(self) -> int:
        return self.field.out_features

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        count, positions = coords.shape[0], self.offsets.shape[0]
        points = (coords[:, None, :] + self.offsets.to(coords)[None]).reshape(count * positions, -1)
        values = self.field(points)  # (N·k^d, C) or (B, N·k^d, C)
        return values.reshape(*values.shape[:-2], count, positions, values.shape[-1]).mean(dim=-2)


__all__ = ["AreaObserved", "area_offsets"]
