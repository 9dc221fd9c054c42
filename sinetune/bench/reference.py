"""The straightforward PyTorch reference every speed ratio is measured against.

:class:`PlainSineNetwork` is what a user would write without sinetune (``nn.Linear`` + ``torch.sin``
+ Adam, clamping with ``torch.clamp``-style ops); :func:`interleaved_step_seconds` times one of our
steps and one reference step *alternately*, so both see the same machine load.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Callable

import torch
from torch import nn

from ..methods import build_field
from ..training import TrainOptions, train

SINE_MLPS = ("tuner", "siren", "siren2", "ssn")
"""Methods whose network *is* a plain sine MLP, so :class:`PlainSineNetwork` times the same network;
the others (FFN, FINER, WIRE, Gauss, MFN) get no ``× plain`` ratio."""


class PlainSineNetwork(nn.Module):
    """The straightforward reference: ``nn.Linear`` layers and ``torch.sin``, nothing else.

    ``first_omega`` multiplies the first pre-activation (SIREN; 1 for TUNER, whose frozen first
    weights already hold ``2πK/p``), ``hidden_omega`` the hidden one.
    """

    def __init__(self, dim: int, input_width: int, hidden_width: int, channels: int, first_omega: float,
                 hidden_omega: float, hidden_layers: int, frozen_first: torch.Tensor | None):
        super().__init__()
        self.first = nn.Linear(dim, input_width)
        widths = [input_width] + [hidden_width] * hidden_layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.out = nn.Linear(widths[-1], channels)
        self.first_omega, self.hidden_omega = first_omega, hidden_omega
        if frozen_first is not None:
            self.first.weight = nn.Parameter(frozen_first.clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.sin(self.first_omega * self.first(x))
        for layer in self.hidden:
            h = torch.sin(self.hidden_omega * layer(h))
        return self.out(h)


def plain_stepper(method: str, options: Any, coords: torch.Tensor, values: torch.Tensor, lr: float,
                  device: torch.device) -> Callable[[], float]:
    """A closure that runs one full-batch Adam step of :class:`PlainSineNetwork` and returns its seconds.

    ``coords`` ``(N, d)``, ``values`` ``(N, C)``; any ``d`` (1 for audio) and any ``hidden_layers``.
    The network has the shape of ``options``: ``first_omega`` (SSN: ``omega``; TUNER: 1) on the first
    layer, ``hidden_omega`` (SSN: 1) on the hidden ones. For TUNER the first layer is frozen and,
    with ``bound_mode="clamp"`` every step clamps, like sinetune's :class:`~sinetune.training.ColumnClamp`,
    the first hidden layer and, when ``deep_bound`` is set, each further hidden layer.
    """
    dim = coords.shape[1]
    with torch.random.fork_rng(devices=[]):  # weights do not matter for timing; leave the global RNG alone
        torch.manual_seed(0)
        frozen = None
        if method == "tuner":
            frozen = torch.randint(-20, 21, (options.input_width, dim)).float() * (2 * math.pi / options.period)
        hidden_omega = getattr(options, "hidden_omega", 1.0)
        first_omega = getattr(options, "first_omega", None) or getattr(options, "omega", None) or 1.0
        network = PlainSineNetwork(dim, options.input_width, options.hidden_width, values.shape[1],
                                   first_omega, hidden_omega, options.hidden_layers, frozen).to(device)
    clamps: list[tuple[torch.Tensor, torch.Tensor]] = []  # (stored weight, bound on it)
    if method == "tuner" and options.bound_mode == "clamp":
        deep_bound = options.deep_bound
        for index, layer in enumerate(network.hidden):
            if index == 0 or deep_bound is not None:
                bound = 0.4 if index == 0 else deep_bound
                clamps.append((layer.weight, torch.full((layer.in_features,), bound / hidden_omega, device=device)))
    optimizer = torch.optim.Adam([p for p in network.parameters() if p.requires_grad], lr=lr)
    coords, values = coords.to(device), values.to(device)

    def step() -> float:
        started = time.perf_counter()
        optimizer.zero_grad()
        loss = torch.mean((network(coords) - values) ** 2)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for weight, bound in clamps:
                weight.copy_(torch.maximum(torch.minimum(weight, bound), -bound))
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    return step


def interleaved_step_seconds(method_name: str, options: Any, grid_shape: tuple[int, ...], coords: torch.Tensor,
                             values: torch.Tensor, lr: float, device: torch.device, rounds: int = 7,
                             warmup: int = 2) -> tuple[float, float]:
    """Median seconds per step of sinetune's training step and of the plain reference, *alternating*.

    Each round runs one sinetune step (:func:`sinetune.training.train`, its own measured step time:
    forward, backward, Adam, constraints) then one plain step, so both medians see the same machine
    load — a shared, noisy machine then changes both, not the ratio.
    """
    built = build_field(method_name, grid_shape, values.shape[1], options)
    field = built.field.to(device)
    plain = plain_stepper(method_name, options, coords, values, lr, device)
    ours, reference = [], []
    for _ in range(warmup + rounds):
        ours.append(train(field, coords, values, TrainOptions(steps=1, batch_size="full"), lr, built.constraints,
                          built.penalties).step_seconds[0])
        reference.append(plain())
    return statistics.median(ours[warmup:]), statistics.median(reference[warmup:])


__all__ = ["SINE_MLPS", "PlainSineNetwork", "interleaved_step_seconds", "plain_stepper"]
