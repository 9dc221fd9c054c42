"""One training loop for every method: Adam on MSE, explicit constraints and penalties.

* A *constraint* is an object with ``apply()`` that is called after every optimizer step (e.g.
  :class:`ColumnClamp`, TUNER's fixed bounds).
* A *penalty* is an object whose ``__call__()`` returns a scalar loss term added to the MSE (e.g.
  :class:`BoundPenalty`, TUNER's L1 on learned bounds).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from .models import SineLayer, SinusoidalField

#: Points per forward pass when a field is only evaluated (:attr:`TrainOptions.eval_chunk`'s
#: default): with width 256 one ``(32768, 256)`` float32 activation is 32 MiB; the analytic
#: gradient keeps a few of them per chunk for its autograd pass (README, "Large signals").
EVAL_CHUNK = 32768


class Constraint(Protocol):
    def apply(self) -> None: ...


class Penalty(Protocol):
    def __call__(self) -> torch.Tensor: ...


class ColumnClamp:
    """Project ``|Ŵ_ij| ≤ c_j`` for a :class:`SineLayer` with ``bound_mode="clamp"`` (tuner-spec §3a).

    The stored weight is ``W = Ŵ / ω``, so it is clamped to ``±c_j / ω`` per *column* ``j`` (input
    feature) — the intended behaviour, not the official code's per-layer clamp (§8.4).
    """

    def __init__(self, layer: SineLayer):
        if layer.bound_mode != "clamp":
            raise ValueError("ColumnClamp needs a SineLayer with bound_mode='clamp'")
        self.layer = layer

    @torch.no_grad()
    def apply(self) -> None:
        limit = self.layer.column_bounds / self.layer.omega
        self.layer.weight.copy_(torch.maximum(torch.minimum(self.layer.weight, limit), -limit))


class PositiveBounds:
    """Keep learned bounds non-negative: ``c ← |c|`` after every step (tuner-spec §3b)."""

    def __init__(self, layer: SineLayer):
        if layer.bound_mode != "learned":
            raise ValueError("PositiveBounds needs a SineLayer with bound_mode='learned'")
        self.layer = layer

    @torch.no_grad()
    def apply(self) -> None:
        self.layer.column_bounds.abs_()


class BoundPenalty:
    """``λ Σ_j |c_j|`` on a layer's learned column bounds (tuner-spec §3b); gradient ``λ sign(c_j)``."""

    def __init__(self, layer: SineLayer, weight: float):
        if layer.bound_mode != "learned":
            raise ValueError("BoundPenalty needs a SineLayer with bound_mode='learned'")
        self.layer, self.weight = layer, float(weight)

    def __call__(self) -> torch.Tensor:
        return self.weight * self.layer.column_bounds.abs().sum()


@dataclass(frozen=True)
class TrainOptions:
    """How a field is optimised.

    Attributes:
        steps: number of optimizer steps (not epochs).
        lr: Adam learning rate on the *stored* parameters; ``None`` uses the method's documented
            default. For sine layers the stored weight is ``W = Ŵ/ω`` so the effective weights move
            about ``ω·lr`` per step (README, "Learning rate").
        batch_size: samples per step; ``None`` = full batch (all training samples every step).
        log_every: evaluate and log every this many steps (and at the last step).
        stop_psnr: stop early once the PSNR at a log step reaches this many dB — the held-out
            PSNR when there are held-out samples, else the training PSNR. ``None``: never.
        stop_plateau: stop early when the loss at the last ``stop_plateau`` log steps improved on
            the best earlier logged loss by less than a relative ``plateau_tolerance``. ``None``: never.
        plateau_tolerance: relative improvement that still counts as progress (default 1e-3).
        cache_encoding: with a full batch, compute the frozen part of a TUNER encoding
            (``sin/cos(Ωx)``, :meth:`sinetune.models.SinusoidalField.prepare`) once instead of every
            step — equal results up to float rounding; costs ``2 n_0`` floats per sample.
        keep_best: end with the weights of the best logged step rather than the last ones. "Best"
            is the score ``stop_psnr`` uses: the held-out PSNR (weights after that step's update)
            when there are held-out samples, else the training PSNR (the step's loss is of the
            weights *before* its update, so those are the weights kept). Protects a fit from a late
            Adam spike; with mini-batches the training PSNR is that of one batch. Costs one copy
            of the parameters per improvement.
        eval_chunk: at most this many points per forward pass wherever the field is only
            evaluated — held-out scoring, the render and the analytic gradient of a run, ``sinetune
            render`` — so those hold ``eval_chunk × width`` activations, not ``N × width``. Results
            do not depend on it beyond float rounding. Optimizer steps use ``batch_size`` instead.
    """

    steps: int = 300
    lr: float | None = None
    batch_size: int | None = None
    log_every: int = 10
    stop_psnr: float | None = None
    stop_plateau: int | None = None
    plateau_tolerance: float = 1e-3
    cache_encoding: bool = True
    keep_best: bool = False
    eval_chunk: int = EVAL_CHUNK

    def validate(self) -> None:
        from .errors import SinetuneError

        if self.steps < 1:
            raise SinetuneError(f"steps must be a positive integer, got {self.steps}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise SinetuneError(f"lr must be a positive number, got {self.lr}")
        if self.batch_size is not None and self.batch_size < 1:
            raise SinetuneError(f"batch_size must be positive, got {self.batch_size}")
        if self.eval_chunk < 1:
            raise SinetuneError(f"eval_chunk must be positive, got {self.eval_chunk}")
        if self.log_every < 1:
            raise SinetuneError(f"log_every must be positive, got {self.log_every}")
        if self.stop_plateau is not None and self.stop_plateau < 1:
            raise SinetuneError(f"stop_plateau must be a positive number of log steps, got {self.stop_plateau}")
        if not 0 <= self.plateau_tolerance < 1:
            raise SinetuneError(f"plateau_tolerance must be in [0, 1), got {self.plateau_tolerance}")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        history: one dict per logged step: ``step``, ``loss`` (objective of that step, MSE plus
            penalties), ``train_psnr`` (from the step's MSE, before its update), ``heldout_psnr``
            (after the update; NaN without held-out data), ``elapsed_s`` (training time so far,
            evaluation excluded).
        step_seconds: wall time of every optimizer step (forward, backward, update, constraints).
        diverged: the loss (or the weights) became non-finite; the field holds the last weights
            whose loss was finite (or, with ``keep_best``, the best logged ones).
        best_step: with ``keep_best``, the logged step whose weights the field ends with (``None``
            otherwise).
        stopped: why training ended before ``steps``: ``"psnr"`` (``stop_psnr`` reached),
            ``"plateau"``, ``"diverged"``, or ``None`` (ran all steps).
    """

    history: list[dict[str, float]] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    diverged: bool = False
    stopped: str | None = None
    best_step: int | None = None


def _score(row: dict[str, float]) -> float:
    """A logged step's score: held-out PSNR if there is one, else training PSNR."""
    return row["heldout_psnr"] if not math.isnan(row["heldout_psnr"]) else row["train_psnr"]


def _early_stop(history: list[dict[str, float]], options: TrainOptions) -> str | None:
    """``"psnr"`` / ``"plateau"`` when the logged history meets a stopping rule, else ``None``."""
    latest = history[-1]
    if options.stop_psnr is not None:
        if _score(latest) >= options.stop_psnr:
            return "psnr"
    window = options.stop_plateau
    if window is not None and len(history) > window:
        best_before = min(row["loss"] for row in history[:-window])
        best_recent = min(row["loss"] for row in history[-window:])
        if best_recent > best_before * (1 - options.plateau_tolerance):
            return "plateau"
    return None


def mse_psnr(mse: float) -> float:
    """PSNR in dB for values in [0, 1]: ``10 log10(1 / mse)`` (−inf for an infinite MSE, NaN for NaN)."""
    if math.isnan(mse) or math.isinf(mse):
        return -math.inf if mse > 0 else math.nan
    return 10.0 * math.log10(1.0 / mse) if mse > 0 else math.inf


@torch.no_grad()
def predict(field: nn.Module, coords: torch.Tensor, chunk: int = EVAL_CHUNK) -> torch.Tensor:
    """Evaluate ``field`` on ``(N, d)`` coordinates, ``chunk`` points per pass; ``(N, C)`` on the field's device.

    Holds one chunk's activations (``chunk × width``) and the ``(N, C)`` result, which every chunk
    is written into (no list of pieces concatenated at the end).
    """
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    device = next(field.parameters()).device
    out = None
    for start in range(0, len(coords), chunk):
        values = field(coords[start:start + chunk].to(device))
        if out is None:
            out = torch.empty(len(coords), values.shape[1], dtype=values.dtype, device=device)
        out[start:start + len(values)] = values
    return out if out is not None else torch.zeros(0, field.out_features, device=device)


class MinibatchOrder:
    """Which rows each mini-batch step uses: consecutive slices of a permutation drawn from
    ``generator``, redrawn when fewer than ``batch`` unused rows remain (the tail is skipped).

    ``next()`` returns a ``(batch,)`` index tensor on ``device``.
    """

    def __init__(self, count: int, batch: int, generator: torch.Generator | None, device: torch.device):
        self.count, self.batch, self.generator, self.device = count, batch, generator, device
        self.order = torch.arange(count, device=device)
        self.cursor = count

    def next(self) -> torch.Tensor:
        if self.cursor + self.batch > self.count:
            self.order = torch.randperm(self.count, generator=self.generator).to(self.device)
            self.cursor = 0
        index = self.order[self.cursor:self.cursor + self.batch]
        self.cursor += self.batch
        return index


def train(
    field: nn.Module,
    coords: torch.Tensor,
    values: torch.Tensor,
    options: TrainOptions,
    lr: float,
    constraints: list[Constraint] = (),
    penalties: list[Penalty] = (),
    heldout: tuple[torch.Tensor, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
    on_step: Callable[[int, nn.Module], None] | None = None,
) -> TrainResult:
    """Fit ``field`` to ``values`` at ``coords`` with Adam on the MSE (+ penalties).

    Args:
        field: the model, already on its device.
        coords: ``(N, d)`` training coordinates; values ``(N, C)`` targets (moved to the field's device).
        options: see :class:`TrainOptions`; ``lr`` is the resolved learning rate.
        constraints: applied after every optimizer step (and once before the first).
        penalties: loss terms added to the MSE.
        heldout: optional ``(coords, values)`` scored at every log step.
        generator: draws mini-batches (only used when ``options.batch_size`` is set).
        progress: show a tqdm bar (off when not a terminal).
        on_step: called as ``on_step(step, field)`` after each step's constraints (for tests, hooks).
    """
    device = next(field.parameters()).device
    coords, values = coords.to(device), values.to(device)
    if heldout is not None:
        heldout = (heldout[0].to(device), heldout[1].to(device))
    trainable = [p for p in field.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=lr)
    for constraint in constraints:
        constraint.apply()
    result = TrainResult()
    count = len(coords)
    batch = options.batch_size or count
    batches = MinibatchOrder(count, batch, generator, device)
    forward: Callable[[torch.Tensor], torch.Tensor] = field
    inputs = coords
    if options.cache_encoding and batch >= count and isinstance(field, SinusoidalField):
        with torch.no_grad():
            inputs = field.prepare(coords)
        forward = field.forward_prepared
    elapsed = 0.0
    # Weights whose loss was evaluated and finite: restored if a later step goes non-finite.
    last_good = {name: tensor.detach().clone() for name, tensor in field.state_dict().items()}
    best: dict[str, torch.Tensor] | None = None  # keep_best: the weights of the best logged step
    best_score = -math.inf
    bar = tqdm(range(1, options.steps + 1), disable=not progress or None, desc="fit", unit="step",
               leave=False, dynamic_ncols=True)
    for step in bar:
        started = time.perf_counter()
        if batch >= count:
            batch_inputs, batch_values = inputs, values
        else:
            index = batches.next()
            batch_inputs, batch_values = inputs[index], values[index]
        optimizer.zero_grad(set_to_none=True)
        mse = torch.mean((forward(batch_inputs) - batch_values) ** 2)
        loss = mse
        for penalty in penalties:
            loss = loss + penalty()
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            field.load_state_dict(last_good)
            result.diverged = True
            result.stopped = "diverged"
            break
        with torch.no_grad():
            for name, tensor in field.state_dict().items():
                last_good[name].copy_(tensor)
        loss.backward()
        optimizer.step()
        for constraint in constraints:
            constraint.apply()
        step_time = time.perf_counter() - started
        elapsed += step_time
        result.step_seconds.append(step_time)
        if on_step is not None:
            on_step(step, field)
        if step % options.log_every == 0 or step == options.steps:
            heldout_psnr = math.nan
            if heldout is not None and len(heldout[0]):
                prediction = predict(field, heldout[0], options.eval_chunk)
                heldout_psnr = mse_psnr(float(torch.mean((prediction - heldout[1]) ** 2)))
            train_psnr = mse_psnr(float(mse.detach()))
            result.history.append({"step": step, "loss": loss_value, "train_psnr": train_psnr,
                                   "heldout_psnr": heldout_psnr, "elapsed_s": elapsed})
            bar.set_postfix(train=f"{train_psnr:.2f}dB", heldout=f"{heldout_psnr:.2f}dB")
            score = _score(result.history[-1])
            if options.keep_best and score > best_score:
                best_score, result.best_step = score, step
                # the training PSNR is of the weights before this step's update (last_good)
                source = last_good if math.isnan(heldout_psnr) else field.state_dict()
                best = {name: tensor.detach().clone() for name, tensor in source.items()}
            result.stopped = _early_stop(result.history, options)
            if result.stopped is not None:
                break
    bar.close()
    if not result.diverged and not all(torch.isfinite(p).all() for p in field.parameters()):
        field.load_state_dict(last_good)  # the last update produced non-finite weights
        result.diverged = True
        result.stopped = "diverged"
    if best is not None:
        field.load_state_dict(best)
    return result
