"""One training loop for every method and for one signal or many: Adam on MSE, explicit
constraints and penalties (:mod:`sinetune.constraints`).

:func:`train` fits one field to ``(N, C)`` values, or a stack of ``B`` fields
(:func:`sinetune.stacking.stack_fields`) to ``(B, N, C)`` values sampled at the same coordinates.
The stack's loss is ``Σ_b mean-MSE_b`` (+ each signal's penalties), so each signal's parameters get
exactly the gradient of its own fit and Adam (element-wise) makes its own updates; every rule —
logging, early stopping, the divergence guard, ``keep_best`` — is applied per signal. A signal that
meets a stopping rule or diverges is *finished* then (its history, step count and weights are frozen)
while the others go on; the run ends when every signal has finished. One signal is ``B = 1``.

PSNR is computed once, in the signal's own value range (``data_range``: 1 for images, 2 for audio),
by :func:`sinetune.metrics.psnr_from_mse`: the logged curve, ``stop_psnr`` and ``keep_best`` are on
the scale the user reads in ``metrics.json``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal

import torch
from torch import nn

from .batching import resolve_batching, samples_per_step
from .constraints import BoundPenalty, ColumnClamp, Constraint, Penalty, PositiveBounds
from .levers import lr_factor, solve_head
from .metrics import psnr_from_mse
from .models import SinusoidalField
from .progress import Progress, as_progress
from .runtime import with_fast_allocator
from .signals import EVAL_CHUNK

if TYPE_CHECKING:
    from .train_state import Checkpointer


@dataclass(frozen=True)
class TrainOptions:
    """How a field is optimised.

    Attributes:
        steps: number of optimizer steps (not epochs); ``null``: derived, 300 passes over the training
            samples (300 with a full batch; :mod:`sinetune.batching`).
        lr: Adam learning rate on the *stored* parameters; ``None`` uses the method's documented
            default. For sine layers the stored weight is ``W = Ŵ/ω`` so the effective weights move
            about ``ω·lr`` per step (docs/methods.md, "Learning rate").
        batch_size: samples per step, or ``full`` (all training samples every step); ``null``: derived,
            16384 for images and other signals of 2+ dimensions with more than 32768 training samples,
            else ``full`` (:mod:`sinetune.batching`).
        log_every: evaluate and log every this many steps (and at the last step).
        stop_psnr: stop early once the PSNR at a log step reaches this many dB — the held-out
            PSNR when there are held-out samples, else the training PSNR. ``None``: never.
        stop_plateau: stop early when the loss at the last ``stop_plateau`` log steps improved on
            the best earlier logged loss by less than a relative ``plateau_tolerance``. ``None``: never.
        plateau_tolerance: relative improvement that still counts as progress (default 1e-3).
        stop_mse: stop early once the training MSE at a log step falls to this value or below
            (the denoising discrepancy rule: a noisy input's estimated noise variance; ``task:
            denoise`` with a ``stop_factor`` sets it from the input on every run, :mod:`sinetune.tasks`).
            ``None``: never.
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
        checkpoint_every: a fit that writes a run directory also saves its training state every
            this many steps (``null``: by time only); ``sinetune fit --resume RUN`` continues an
            interrupted fit from it bit for bit (:mod:`sinetune.train_state`). The state is also
            saved before the first step, after the last and on Ctrl-C; it is deleted with success.
        checkpoint_seconds: also save the training state whenever this many seconds passed since
            the last save (``null``: by steps only). Saving never changes the result.
        lr_schedule: ``constant``, or ``cosine``: decay from ``lr`` to ``lr_floor · lr`` over the
            steps after the warm-up (:func:`sinetune.levers.lr_factor`; a time-to-quality lever).
        warmup_steps: raise the learning rate linearly from ``lr / warmup_steps`` to ``lr`` over
            this many first steps (0: none).
        lr_floor: the cosine schedule's last learning rate, as a fraction of ``lr``.
        solve_head: at every log step, set the linear head to the least-squares fit of the
            training samples on the current hidden features (:func:`sinetune.levers.solve_head`;
            TUNER, SIREN and other sinusoidal fields; a time-to-quality lever).
    """

    steps: int | None = None
    lr: float | None = None
    batch_size: int | Literal["full"] | None = None
    log_every: int = 10
    stop_psnr: float | None = None
    stop_plateau: int | None = None
    plateau_tolerance: float = 1e-3
    stop_mse: float | None = None
    cache_encoding: bool = True
    keep_best: bool = False
    eval_chunk: int = EVAL_CHUNK
    checkpoint_every: int | None = None
    checkpoint_seconds: float | None = 60.0
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = 0
    lr_floor: float = 0.0
    solve_head: bool = False

    def validate(self) -> None:
        from .errors import SinetuneError

        if self.steps is not None and self.steps < 1:
            raise SinetuneError(f"steps must be a positive integer, got {self.steps}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise SinetuneError(f"lr must be a positive number, got {self.lr}")
        if self.batch_size is not None and self.batch_size != "full" and (
                isinstance(self.batch_size, str) or self.batch_size < 1):
            raise SinetuneError(f"batch_size must be a positive integer or full, got {self.batch_size}")
        if self.eval_chunk < 1:
            raise SinetuneError(f"eval_chunk must be positive, got {self.eval_chunk}")
        if self.log_every < 1:
            raise SinetuneError(f"log_every must be positive, got {self.log_every}")
        if self.stop_plateau is not None and self.stop_plateau < 1:
            raise SinetuneError(f"stop_plateau must be a positive number of log steps, got {self.stop_plateau}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise SinetuneError(f"checkpoint_every must be a positive number of steps, got {self.checkpoint_every}")
        if self.checkpoint_seconds is not None and not self.checkpoint_seconds > 0:
            raise SinetuneError(f"checkpoint_seconds must be positive, got {self.checkpoint_seconds}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise SinetuneError(f"lr_schedule must be constant or cosine, got {self.lr_schedule!r}")
        if self.warmup_steps < 0 or not 0 <= self.lr_floor <= 1:
            raise SinetuneError("warmup_steps must be ≥ 0 and lr_floor in [0, 1]")
        if self.stop_mse is not None and not self.stop_mse > 0:
            raise SinetuneError(f"stop_mse must be positive, got {self.stop_mse}")
        if not 0 <= self.plateau_tolerance < 1:
            raise SinetuneError(f"plateau_tolerance must be in [0, 1), got {self.plateau_tolerance}")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        history: one dict per logged step: ``step``, ``loss`` (objective of that step, MSE plus
            penalties), ``train_psnr`` (dB in the signal's range, from the step's MSE, before its
            update), ``heldout_psnr`` (after the update; NaN without held-out data), ``elapsed_s``
            (training time so far, evaluation excluded).
        step_seconds: wall time of every optimizer step (forward, backward, update, constraints);
            for a stack, of the batched steps while this signal was active.
        diverged: the loss (or the weights) became non-finite; the field holds the last weights
            whose loss was finite (or, with ``keep_best``, the best logged ones).
        best_step: with ``keep_best``, the logged step whose weights the field ends with (``None``
            otherwise).
        stopped: why training ended before ``steps``: ``"psnr"`` (``stop_psnr`` reached),
            ``"plateau"``, ``"mse"`` (``stop_mse`` reached), ``"diverged"``, or ``None`` (ran all steps).
    """

    history: list[dict[str, float]] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    diverged: bool = False
    stopped: str | None = None
    best_step: int | None = None




def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


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


@torch.no_grad()
def predict(field: nn.Module, coords: torch.Tensor, chunk: int = EVAL_CHUNK) -> torch.Tensor:
    """Evaluate ``field`` on ``(N, d)`` coordinates, ``chunk`` points per pass, on the field's device.

    Returns ``(N, C)``, or ``(B, N, C)`` for a stack of fields. Holds one chunk's activations
    (``chunk × width``, per signal) and the result, which every chunk is written into.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    device = next(field.parameters()).device
    out = None
    for start in range(0, len(coords), chunk):
        values = field(coords[start:start + chunk].to(device))
        if out is None:
            out = torch.empty(values.shape[:-2] + (len(coords), values.shape[-1]), dtype=values.dtype, device=device)
        out[..., start:start + values.shape[-2], :] = values
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


class _SignalRun:
    """One signal's part of a :func:`train` call: its result and its saved weights.

    Weights are lists of tensors, one per trainable parameter (this signal's slice of a stack).
    """

    def __init__(self):
        self.result = TrainResult()
        self.final: list[torch.Tensor] | None = None  # the weights it ends with
        self.good: list[torch.Tensor] | None = None  # the last weights whose loss was finite
        self.best: list[torch.Tensor] | None = None  # keep_best: the best logged weights
        self.best_score = -math.inf

    def finish(self, final: list[torch.Tensor], good: list[torch.Tensor], stopped: str | None = None) -> None:
        self.final, self.good = [w.clone() for w in final], [w.clone() for w in good]
        if stopped == "diverged":
            self.result.diverged = True
        self.result.stopped = stopped or self.result.stopped

    def log(self, row: dict[str, float], options: TrainOptions, before: list[torch.Tensor],
            after: list[torch.Tensor]) -> str | None:
        """Record a logged step; returns the stopping reason it meets (or ``None``).

        ``before``/``after``: the weights before and after the step's update (the training PSNR is
        of the former, the held-out PSNR of the latter).
        """
        self.result.history.append(row)
        score = _score(row)
        if options.keep_best and score > self.best_score:
            self.best_score, self.result.best_step = score, row["step"]
            source = before if math.isnan(row["heldout_psnr"]) else after
            self.best = [w.detach().clone() for w in source]
        return _early_stop(self.result.history, options)

    def weights(self) -> list[torch.Tensor]:
        """What the field ends with: the best logged weights, else the final ones if finite."""
        if not self.result.diverged and not all(torch.isfinite(w).all() for w in self.final):
            self.final = self.good  # the last update produced non-finite weights
            self.result.diverged, self.result.stopped = True, "diverged"
        return self.best if self.best is not None else self.final


@with_fast_allocator  # the allocator setting that makes a step fast, for every caller (sinetune.runtime)
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
    progress: bool | Progress = False,
    on_step: Callable[[int, nn.Module], None] | None = None,
    data_range: float = 1.0,
    checkpoint: Checkpointer | None = None,
    resume: tuple[dict[str, Any], dict[str, torch.Tensor]] | None = None,
) -> TrainResult | list[TrainResult]:
    """Fit ``field`` to ``values`` at ``coords`` with Adam on the MSE (+ penalties).

    Args:
        field: the model, already on its device: one field, or a stack of ``B`` fields
            (:func:`sinetune.stacking.stack_fields`).
        coords: ``(N, d)`` training coordinates (shared by every signal of a stack).
        values: ``(N, C)`` targets for one field, ``(B, N, C)`` for a stack (moved to the field's device).
        options: see :class:`TrainOptions`; ``lr`` is the resolved learning rate.
        constraints: applied after every optimizer step (and once before the first).
        penalties: loss terms added to the MSE (a scalar, or ``(B,)`` per signal for a stack).
        heldout: optional ``(coords (M, d), values (M, C) or (B, M, C))`` scored at every log step.
        generator: draws mini-batches (only used when a step takes fewer than all samples); a stack's
            signals share one order, the one a separate fit with the same generator draws.
        progress: report the steps (:class:`~sinetune.progress.Progress`: a bar on a terminal, else
            a line every few seconds with the step, loss, PSNR and ETA); ``True``: the default
            reporter, ``False``: nothing.
        on_step: called as ``on_step(step, field)`` after each step's constraints (for tests, hooks).
        data_range: the value range of the signal, for PSNR: 1 for images in [0, 1], 2 for audio
            in [-1, 1] (:data:`sinetune.metrics.AUDIO_DATA_RANGE`).
        checkpoint: saves the loop's state when due (:class:`sinetune.train_state.Checkpointer`: before the
            first step, on its schedule, after the last step, and on a deferred Ctrl-C, after which
            :class:`sinetune.train_state.FitInterrupted` is raised).
        resume: ``(state, tensors)`` of a checkpoint (:func:`sinetune.train_state.read_checkpoint`): go on
            from its step exactly as the interrupted call would have (same ``field`` set-up and options).

    Returns:
        A :class:`TrainResult` for one field; a list of ``B`` of them, one per signal, for a stack.
        On return the field holds every signal's final weights (see the module docstring).
    """
    device = next(field.parameters()).device
    coords, values = coords.to(device), values.to(device)
    stacked = values.ndim == 3
    count_signals = values.shape[0] if stacked else 1
    if heldout is not None:
        heldout = (heldout[0].to(device), heldout[1].to(device))
    trainable = [p for p in field.parameters() if p.requires_grad]

    def part(weights: list[torch.Tensor], index: int) -> list[torch.Tensor]:
        return [w[index] for w in weights] if stacked else list(weights)

    optimizer = torch.optim.Adam(trainable, lr=lr)
    runs = [_SignalRun() for _ in range(count_signals)]
    count = len(coords)
    options = resolve_batching(options, count, coords.shape[1])
    batch = samples_per_step(options.batch_size, count)
    batches = MinibatchOrder(count, batch, generator, device)
    last_good = [p.detach().clone() for p in trainable]  # weights whose loss was evaluated and finite
    first_step, elapsed, active = 1, 0.0, list(range(count_signals))
    if resume is not None:  # the saved weights already satisfy the constraints
        from .train_state import restore

        done, active, elapsed = restore(*resume, field, optimizer, batches, runs, last_good)
        first_step = done + 1
    else:
        for constraint in constraints:
            constraint.apply()
        last_good = [p.detach().clone() for p in trainable]

    def save_if_due(step: int) -> None:
        if checkpoint is None or not checkpoint.due(step, options.steps):
            return
        from .train_state import FitInterrupted, snapshot

        checkpoint.save(step, *snapshot(step, field, optimizer, batches, runs, active, last_good, elapsed))
        if checkpoint.interrupted:
            raise FitInterrupted(step, options.steps, checkpoint.path)
    forward: Callable[[torch.Tensor], torch.Tensor] = field
    inputs = coords
    if options.cache_encoding and batch >= count and isinstance(field, SinusoidalField):
        with torch.no_grad():
            inputs = field.prepare(coords)
        forward = field.forward_prepared
    if first_step == 1:
        save_if_due(0)
    reporter = as_progress(progress).steps(options.steps, "fit", start=first_step - 1)
    for step in range(first_step, options.steps + 1):
        started = time.perf_counter()
        if batch >= count:
            batch_inputs, batch_values = inputs, values
        else:
            index = batches.next()
            batch_inputs, batch_values = inputs[index], values[..., index, :]
        optimizer.zero_grad(set_to_none=True)
        mse = torch.mean((forward(batch_inputs) - batch_values) ** 2, dim=(-2, -1))  # () or (B,)
        loss = mse
        for penalty in penalties:
            loss = loss + penalty()
        losses = torch.atleast_1d(loss.detach()).tolist()
        for b in [b for b in active if not math.isfinite(losses[b])]:
            runs[b].finish(part(last_good, b), part(last_good, b), "diverged")  # the last finite loss's weights
            active.remove(b)
        if not active:
            break
        with torch.no_grad():
            for saved, parameter in zip(last_good, trainable):
                saved.copy_(parameter)
        # Σ_b mean-MSE_b: signal b's parameters get exactly the gradient of its own loss
        objective = loss.sum() if len(active) == count_signals else torch.atleast_1d(loss)[active].sum()
        objective.backward()
        if options.lr_schedule != "constant" or options.warmup_steps:
            for group in optimizer.param_groups:
                group["lr"] = lr * lr_factor(step, options.steps, options.lr_schedule, options.warmup_steps,
                                             options.lr_floor)
        optimizer.step()
        for constraint in constraints:
            constraint.apply()
        if options.solve_head and (step % options.log_every == 0 or step == options.steps):
            solve_head(field, inputs, values, prepared=forward is not field)
        step_time = time.perf_counter() - started
        elapsed += step_time
        for b in active:
            runs[b].result.step_seconds.append(step_time)
        if on_step is not None:
            on_step(step, field)
        logged: dict[str, float] = {}
        if step % options.log_every == 0 or step == options.steps:
            heldout_mse = [math.nan] * count_signals
            if heldout is not None and len(heldout[0]):
                prediction = predict(field, heldout[0], max(1, options.eval_chunk // count_signals))
                heldout_mse = torch.atleast_1d(torch.mean((prediction - heldout[1]) ** 2, dim=(-2, -1))).tolist()
            train_mse = torch.atleast_1d(mse.detach()).tolist()
            logging = list(active)
            for b in logging:
                row = {"step": step, "loss": losses[b], "train_psnr": psnr_from_mse(train_mse[b], data_range),
                       "heldout_psnr": psnr_from_mse(heldout_mse[b], data_range), "elapsed_s": elapsed}
                stopped = runs[b].log(row, options, part(last_good, b), part(trainable, b))
                if stopped is None and options.stop_mse is not None and train_mse[b] <= options.stop_mse:
                    stopped = "mse"  # the training MSE reached the noise level (sinetune.tasks)
                if stopped is not None:
                    runs[b].finish(part(trainable, b), part(last_good, b), stopped)
                    active.remove(b)
            logged = {"train_psnr": _mean([psnr_from_mse(train_mse[b], data_range) for b in logging]),
                      "heldout_psnr": _mean([psnr_from_mse(heldout_mse[b], data_range) for b in logging])}
        reporter.update(step, _mean([losses[b] for b in (logging if logged else active)]), **logged,
                        active=len(active) if stacked else None)
        if not active:
            break
        save_if_due(step)
    reporter.close()
    for b in active:
        runs[b].finish(part(trainable, b), part(last_good, b))
    with torch.no_grad():
        for b, run in enumerate(runs):
            for target, weights in zip(part(trainable, b), run.weights()):
                target.copy_(weights)
    results = [run.result for run in runs]
    return results if stacked else results[0]


__all__ = ["BoundPenalty", "ColumnClamp", "EVAL_CHUNK", "MinibatchOrder", "PositiveBounds", "TrainOptions",
           "TrainResult", "predict", "train"]
