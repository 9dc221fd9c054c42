"""What every method recipe returns, and the registry entry that describes a method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..errors import SinetuneError
from ..training import Constraint, Penalty


def check_mlp_shape(options: Any) -> None:
    """The shared shape rule of MLP-style recipes: positive ``input_width`` and ``hidden_width``,
    non-negative ``hidden_layers`` (one-line :class:`SinetuneError` otherwise)."""
    if options.input_width < 1 or options.hidden_width < 1 or options.hidden_layers < 0:
        raise SinetuneError("input_width and hidden_width must be positive, hidden_layers non-negative")


@dataclass
class Built:
    """A freshly built field plus what training must do with it.

    Attributes:
        field: the ``nn.Module`` (coordinates ``(N, d)`` → values ``(N, C)``); a
            :class:`~sinetune.models.SinusoidalField` for most methods, with ``in_features`` and
            ``out_features`` properties in every case.
        constraints: objects whose ``apply()`` runs after every optimizer step.
        penalties: loss terms added to the MSE.
    """

    field: nn.Module
    constraints: list[Constraint] = field(default_factory=list)
    penalties: list[Penalty] = field(default_factory=list)


@dataclass(frozen=True)
class Method:
    """A registry entry: a recipe that builds a field from a signal's shape and typed options.

    Attributes:
        name: CLI name (``--method NAME``).
        description: one line for ``sinetune methods``.
        options_type: the frozen options dataclass.
        default_lr: documented Adam learning rate used when the run gives none.
        resolve: ``resolve(options, grid_shape) -> options`` fills signal-derived defaults, validates.
        build: ``build(options, grid_shape, channels, generator) -> Built``.
        prepare: optional ``prepare(options, values) -> options``, called with the signal's values
            (``grid_shape + (C,)`` array, as the signal holds them: images in [0, 1]) *before*
            ``resolve``, for defaults that need the samples and not just the grid (SIREN²'s spectral
            centroid). It fills only options left ``None`` and returns a new options object; ``None``
            (the default) means the method needs no such step.
        explain: optional ``explain(resolved_options, grid_shape) -> str``: one line on the
            signal-derived choices (band-limit, ω, noise scales) and the rule that made them; ``sinetune
            fit`` prints it and ``metrics.json`` keeps it as ``derived``.
    """

    name: str
    description: str
    options_type: type
    default_lr: float
    resolve: Callable[[Any, tuple[int, ...]], Any]
    build: Callable[[Any, tuple[int, ...], int, torch.Generator], Built]
    prepare: Callable[[Any, np.ndarray], Any] | None = None
    explain: Callable[[Any, tuple[int, ...]], str] | None = None
