"""What every method recipe returns, and the registry entry that describes a method."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..models import SinusoidalField
from ..training import Constraint, Penalty


@dataclass
class Built:
    """A freshly built field plus what training must do with it.

    Attributes:
        field: the ``nn.Module`` (coordinates ``(N, d)`` → values ``(N, C)``).
        constraints: objects whose ``apply()`` runs after every optimizer step.
        penalties: loss terms added to the MSE.
    """

    field: SinusoidalField
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
    """

    name: str
    description: str
    options_type: type
    default_lr: float
    resolve: Callable[[Any, tuple[int, ...]], Any]
    build: Callable[[Any, tuple[int, ...], int, torch.Generator], Built]
