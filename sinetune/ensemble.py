"""Ensembles of independently seeded fields: the mean of ``K`` fits to the same samples (issue #14).

Denoising benefits from averaging: ``K`` fields fitted to the same noisy input from different random
initialisations (weights, frequencies) fit different parts of the noise, so their mean is closer to the
clean signal than any one of them. ``RunConfig.ensemble = K`` (``sinetune fit --ensemble K``) trains ``K``
members one after another through the one training loop; member ``k`` is built from a generator seeded by
:func:`member_seed` ``(seed, k)`` (member 0 is the run's own seed, so ``K = 1`` is today's fit), while the
hold-out split and any task corruption stay the run's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .errors import SinetuneError
from .methods import build_field
from .progress import Progress, as_progress
from .tasks import observed_field
from .training import TrainResult, train


def member_seed(seed: int, index: int) -> int:
    """The seed member ``index`` of an ensemble is built and trained with: ``seed`` itself for member 0,
    else a 64-bit integer drawn from ``numpy.random.SeedSequence([seed, index])`` (independent streams)."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0])


class EnsembleField(nn.Module):
    """The mean of ``K`` fields: coordinates ``(N, d)`` → values ``(N, C)``, ``(1/K) Σ_k member_k(x)``.

    Render, metrics and the analytic gradient work on it unchanged (each is linear in the members'
    outputs). ``members``: fields sharing one input dimension ``d`` and ``C`` output channels.
    """

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if len(members) < 1:
            raise SinetuneError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    @property
    def in_features(self) -> int:
        return self.members[0].in_features

    @property
    def out_features(self) -> int:
        return self.members[0].out_features

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        total = self.members[0](coords)
        for member in self.members[1:]:
            total = total + member(coords)
        return total / len(self.members)


def build_members(method: str, grid_shape: tuple[int, ...], channels: int, options: Any, count: int) -> EnsembleField:
    """An ensemble of ``count`` freshly built fields of ``options`` (their weights are loaded next:
    :func:`sinetune.checkpoint.load_field`)."""
    return EnsembleField([build_field(method, grid_shape, channels, options).field for _ in range(count)])


def train_ensemble(prepared: Any, progress: bool | Progress = False) -> tuple[EnsembleField, TrainResult, dict]:
    """Train the ``config.ensemble`` members of a prepared fit (:class:`sinetune.runs.PreparedFit`) one after
    another through :func:`sinetune.training.train`.

    Member 0 is ``prepared.built`` (the run's seed); member ``k`` is built and draws its mini-batches from a
    generator seeded by :func:`member_seed` ``(seed, k)``, from the resolved options, on the same training
    samples (the run's hold-out split and task input). Not checkpointed during training.

    Returns ``(ensemble, trained, metrics)``: ``trained`` has member 0's logged history and every member's
    step times (so ``steps`` and ``train_seconds`` count all members), ``diverged`` if any member diverged;
    ``metrics``: ``ensemble`` (K) and per member ``member_steps``, ``member_stopped``, ``member_train_psnr``.
    """
    config, report = prepared.config, as_progress(progress)
    coords, values, heldout = prepared.training_data()
    members, results = [], []
    for index in range(config.ensemble):
        if index == 0:
            built, generator = prepared.built, prepared.generator
        else:
            generator = torch.Generator().manual_seed(member_seed(config.seed, index))
            built = build_field(config.method, prepared.signal.grid_shape, prepared.signal.channels, config.options,
                                generator=generator, values=prepared.signal.values)
            built.field.to(prepared.device)
        report.note(f"ensemble member {index + 1}/{config.ensemble} (seed {member_seed(config.seed, index)})")
        results.append(train(observed_field(prepared.task, built.field), coords, values, config.train,
                             config.train.lr, built.constraints, built.penalties, heldout=heldout,
                             generator=generator, progress=report, data_range=prepared.data_range))
        members.append(built.field)
    first = results[0]
    trained = TrainResult(history=first.history, step_seconds=[s for r in results for s in r.step_seconds],
                          diverged=any(r.diverged for r in results), stopped=first.stopped,
                          best_step=first.best_step)
    metrics = {"ensemble": config.ensemble, "member_steps": [len(r.step_seconds) for r in results],
               "member_stopped": [r.stopped for r in results],
               "member_train_psnr": [r.history[-1]["train_psnr"] if r.history else None for r in results]}
    return EnsembleField(members), trained, metrics


__all__ = ["EnsembleField", "build_members", "member_seed", "train_ensemble"]
