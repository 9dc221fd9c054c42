"""TUNER's capacity chosen per signal by validation (issue #17; opt in with ``select: validation``).

No single capacity rule beats SIREN's held-out PSNR at 64² on every content class: per class the best
candidate differs (BENCHMARKS.md, "Rule search": two hidden layers win shapes / smooth noise /
grayscale, a wide hidden layer wins texture / DIV2K, the rule keeps the best gradient). So instead of one
rule, :func:`select` lets the signal choose:

1. carve a validation split from the *training* samples only — :data:`VALIDATION_FRACTION` of them,
   drawn by ``torch.randperm`` from ``torch.Generator().manual_seed(seed)``; the held-out samples are
   never seen (they are not among the rows passed in);
2. fit each candidate of ``select_candidates`` (:data:`CANDIDATES`: changes to the capacity rule's
   hidden width, depth and deep bound) for ``select_steps`` steps on the rest, through the one training
   loop (:func:`sinetune.training.train`), each built from a fresh generator seeded with ``seed`` (the
   same weights the real fit of that candidate starts from);
3. score the validation PSNR (dB) at the last step and keep the first candidate (in the listed order,
   smoothest first) unless a later one beats the best so far by more than :data:`TIE_DB` — a
   smoothness tie-break: the candidates are listed from the highest gradient PSNR (the rule) down.

The caller (:func:`sinetune.runs.prepare_fit`) then builds and fits the chosen candidate on all training
samples. The choice is recorded in the options (``selected`` and ``select_psnr``, with the chosen shape
resolved), so a saved ``config.yaml`` rebuilds the same field without searching again, and the
``derived:`` line (:func:`describe`) says what was chosen and the validation scores.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .errors import SinetuneError

if TYPE_CHECKING:
    from .methods.tuner import TunerOptions
    from .training import TrainOptions

#: Candidate name → the TUNER options it sets on top of the capacity rule (picked from the rule search:
#: the rule, the best one-layer candidates and the best two-layer one; listed smoothest first).
CANDIDATES: dict[str, dict[str, Any]] = {
    "rule": {},
    "h1024": {"hidden_width": 1024},
    "h2048": {"hidden_width": 2048},
    "l2-db0.15": {"hidden_layers": 2, "deep_bound": 0.15},
}
#: The default candidate set (``select_candidates``).
DEFAULT_CANDIDATES = ("rule", "h2048", "l2-db0.15")
#: Share of the training samples held back for validation (at least one sample, never all).
VALIDATION_FRACTION = 0.1
#: A later candidate must beat the best earlier one by more than this many dB of validation PSNR.
TIE_DB = 0.1
#: The options a candidate sets: a search refuses a user value for them (it would be overwritten).
CHOSEN_FIELDS = ("hidden_width", "hidden_layers", "deep_bound")


def check(options: TunerOptions) -> None:
    """The selection options are valid (one-line :class:`SinetuneError` otherwise)."""
    if options.select not in ("off", "validation"):
        raise SinetuneError(f"select must be off or validation, got {options.select!r}")
    if not (isinstance(options.select_steps, int) and options.select_steps >= 1):
        raise SinetuneError(f"select_steps must be a positive number of steps, got {options.select_steps!r}")
    names = tuple(options.select_candidates)
    unknown = [name for name in names if name not in CANDIDATES]
    if unknown or not names or len(set(names)) != len(names):
        raise SinetuneError(f"select_candidates must name distinct candidates among {', '.join(CANDIDATES)}, "
                            f"got {list(names)}")
    if options.selected is not None:
        if options.selected not in names:
            raise SinetuneError(f"selected {options.selected!r} is not among select_candidates {list(names)}")
        if options.select_psnr is None or len(options.select_psnr) != len(names):
            raise SinetuneError("select_psnr must hold one validation PSNR per candidate of select_candidates")


def pending(options: Any) -> bool:
    """Whether ``options`` ask for a search that has not run yet (TUNER with ``select: validation`` and no
    recorded ``selected``)."""
    return getattr(options, "select", "off") == "validation" and getattr(options, "selected", None) is None


def validation_split(count: int, seed: int) -> torch.Tensor:
    """Boolean ``(count,)`` mask over the training rows, ``True`` = validation:
    ``max(1, round(VALIDATION_FRACTION · count))`` rows drawn by ``torch.randperm`` from
    ``torch.Generator().manual_seed(seed)`` (fewer than ``count``)."""
    if count < 2:
        raise SinetuneError(f"select validation needs at least 2 training samples, got {count}")
    size = min(max(1, round(VALIDATION_FRACTION * count)), count - 1)
    mask = torch.zeros(count, dtype=torch.bool)
    mask[torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:size]] = True
    return mask


def choose(names: tuple[str, ...], scores: tuple[float, ...]) -> str:
    """The first candidate, replaced by a later one only when it beats the best so far by more than
    :data:`TIE_DB` dB (a non-finite score never wins)."""
    best, best_score = names[0], scores[0] if math.isfinite(scores[0]) else -math.inf
    for name, score in zip(names[1:], scores[1:]):
        if math.isfinite(score) and score > best_score + TIE_DB:
            best, best_score = name, score
    return best


def candidate_options(options: TunerOptions, name: str) -> TunerOptions:
    """``options`` with candidate ``name``'s changes (:data:`CANDIDATES`) applied."""
    return replace(options, **CANDIDATES[name])


def select(options: TunerOptions, grid_shape: tuple[int, ...], grid_values: np.ndarray, coords: torch.Tensor,
           values: torch.Tensor, train_options: TrainOptions, lr: float, seed: int, device: torch.device,
           data_range: float = 1.0) -> tuple[TunerOptions, float]:
    """Run the search (module docstring) and return ``(options with the choice recorded, seconds spent)``.

    Args:
        options: unresolved TUNER options with ``select: validation`` (the widths the candidates set unset).
        grid_shape: samples per axis of the fitted signal; ``grid_values`` its ``grid_shape + (C,)`` values
            (for the spectrum band rule, as :func:`sinetune.methods.build_field` takes them).
        coords, values: the ``(N, d)`` / ``(N, C)`` *training* samples (the held-out ones already removed).
        train_options: the run's options; each candidate runs ``select_steps`` of them, logging and
            scoring only at the last, with no stopping rule, ``keep_best`` or checkpoint.
        lr: the learning rate of the run.
    """
    from .methods import build_field
    from .methods.tuner import TunerOptions
    from .training import train

    check(options)
    defaults = TunerOptions()
    given = [name for name in CHOSEN_FIELDS if getattr(options, name) != getattr(defaults, name)]
    if given:
        raise SinetuneError(f"select validation chooses {', '.join(CHOSEN_FIELDS)}; leave {given[0]} unset "
                            f"(or use select off)")
    started = time.perf_counter()
    split = validation_split(len(coords), seed)
    fit_rows, check_rows = ~split, split
    short = replace(train_options, steps=options.select_steps, log_every=options.select_steps, stop_psnr=None,
                    stop_plateau=None, stop_mse=None, keep_best=False, checkpoint_every=None,
                    checkpoint_seconds=None)
    names = tuple(options.select_candidates)
    scores = []
    for name in names:
        generator = torch.Generator().manual_seed(seed)
        built = build_field("tuner", grid_shape, values.shape[-1], candidate_options(options, name),
                            generator=generator, values=grid_values)
        built.field.to(device)
        result = train(built.field, coords[fit_rows], values[fit_rows], short, lr, built.constraints,
                       built.penalties, heldout=(coords[check_rows], values[check_rows]), generator=generator,
                       data_range=data_range)
        score = result.history[-1]["heldout_psnr"] if result.history and not result.diverged else math.nan
        scores.append(round(float(score), 3) if math.isfinite(score) else -math.inf)
    chosen = choose(names, tuple(scores))
    recorded = replace(candidate_options(options, chosen), selected=chosen, select_psnr=tuple(scores))
    return recorded, time.perf_counter() - started


def describe(options: TunerOptions) -> str:
    """What the search chose, for the ``derived:`` line: ``validation chose l2-db0.15: validation PSNR rule
    24.10, h2048 24.51, l2-db0.15 25.02 dB on 10% of the training samples after 100 steps each``."""
    scores = ", ".join(f"{name} {score:.2f}" for name, score in zip(options.select_candidates, options.select_psnr))
    return (f"validation chose {options.selected}: validation PSNR {scores} dB on {100 * VALIDATION_FRACTION:g}% "
            f"of the training samples after {options.select_steps} steps each, a later candidate winning by "
            f"> {TIE_DB:g} dB")


__all__ = ["CANDIDATES", "CHOSEN_FIELDS", "DEFAULT_CANDIDATES", "TIE_DB", "VALIDATION_FRACTION", "candidate_options",
           "check", "choose", "describe", "pending", "select", "validation_split"]
