"""Many signals at once: ``B`` fits of equal-shape signals trained as one stacked model, any method.

Each signal's field is set up exactly as a separate :func:`sinetune.runs.run` would do it
(:func:`sinetune.runs.prepare_fit`: same seed → same initial weights, hold-out mask and resolved
options). The ``B`` fields are stacked (:func:`sinetune.stacking.stack_fields`: a leading signal
axis on every parameter) and trained by the one training loop, :func:`sinetune.training.train`,
with the loss ``Σ_b mean-MSE_b``: each signal's parameters get exactly its own gradient, so the
batched run is ``B`` separate runs up to float rounding, with per-signal stopping and ``keep_best``.
The trained slices are copied back into the ``B`` fields, which are evaluated and written as ``B``
normal run directories (:func:`sinetune.runs.finish_fit`).

A finished signal is still computed until every signal has finished, so early stopping saves no
time here. On a CPU batching saves per-fit overheads, not arithmetic (measured throughput:
``benchmarks/studies/fit_many.py``, docs/guide.md "Many signals").
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import selection
from .config import RunConfig, SignalConfig
from .errors import SinetuneError
from .methods import get_method
from .progress import Progress, as_progress
from .resources import check_fit_memory
from .resume import check_same_fit, load_finished
from .rundir import PendingRun, check_run_dir, resume_path
from .runs import (
    FitResult,
    PreparedFit,
    checkpoint_header,
    derived_text,
    describe_fit,
    finish_fit,
    prepare_fit,
    prepare_run_dir,
)
from .signals import DEFAULT_MAX_SIZE, Signal, load_signal
from .stacking import rebind, stack_fields, unstack_into
from .train_state import Checkpointer, checkpointing, read_checkpoint
from .training import TrainOptions, TrainResult, train


def _rebind_all(prepared: list[PreparedFit], stacked: torch.nn.Module, kind: str) -> list:
    """The first signal's constraints (``kind="constraints"``) or penalties, acting on the stack;
    every signal must have the same ones (types and settings)."""
    def described(entry: PreparedFit) -> list:
        return [(type(item).__name__, {k: v for k, v in vars(item).items() if k != "layer"})
                for item in getattr(entry.built, kind)]

    if any(described(entry) != described(prepared[0]) for entry in prepared[1:]):
        raise SinetuneError(f"the signals' fields differ in their {kind}; fit them separately")
    return [rebind(item, prepared[0].built.field, stacked) for item in getattr(prepared[0].built, kind)]


def train_prepared(prepared: list[PreparedFit], progress: bool | Progress = False,
                   checkpoint: Checkpointer | None = None,
                   resume: tuple[dict, dict] | None = None) -> list[TrainResult]:
    """Stack the prepared fields, train them with :func:`~sinetune.training.train` (``checkpoint``,
    ``resume``: as there), copy the weights back."""
    reference = prepared[0]
    fields = [entry.built.field for entry in prepared]
    stacked = stack_fields(fields)
    data = [entry.training_data() for entry in prepared]
    coords, heldout = data[0][0], data[0][2]
    values = torch.stack([entry[1] for entry in data])
    heldout_pair = (heldout[0], torch.stack([entry[2][1] for entry in data])) if heldout is not None else None
    options = reference.config.train
    trained = train(stacked, coords, values, options, options.lr, _rebind_all(prepared, stacked, "constraints"),
                    _rebind_all(prepared, stacked, "penalties"), heldout_pair, generator=reference.generator,
                    progress=progress, data_range=reference.data_range, checkpoint=checkpoint, resume=resume)
    unstack_into(stacked, fields)
    return trained


def _shape_text(signal: Signal) -> str:
    if signal.kind == "audio":
        return f"{signal.grid_shape[0]} samples at {signal.sample_rate} Hz"
    return "×".join(map(str, signal.grid_shape)) + f"×{signal.channels}"


def _shape_hint(signal: Signal, size: int | None, duration: float | None, samples: int | None) -> str:
    """How to make the shapes agree: ``--size`` for images, a crop for sounds."""
    if signal.kind == "audio":
        return " (crop them to one length with --samples N)" if samples is None else ""
    return " (pass --size)" if size is None else ""


def fit_many(
    signals: Sequence[str | Path | Signal],
    method: str = "tuner",
    *,
    size: int | None = None,
    max_size: int | None = DEFAULT_MAX_SIZE,
    options: Any = None,
    train_options: TrainOptions | None = None,
    seed: int = 0,
    holdout: float = 0.05,
    device: str = "auto",
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool | Progress = False,
    group_size: int | None = None,
    start: float | None = None,
    duration: float | None = None,
    samples: int | None = None,
    resume: bool = False,
) -> list[FitResult]:
    """Fit N signals of equal shape as one batched model; one :class:`FitResult` per signal.

    Every argument means what it means for :func:`sinetune.fit`, for each signal; result ``b`` equals
    ``sinetune.fit(signals[b], …)`` with the same arguments up to float rounding (tested: outputs
    within 1e-5 after 10 steps, metrics within 1e-3 dB).

    Args:
        signals: image paths, built-in names, sound files or loaded :class:`Signal` s; all must have
            the same grid shape and channel count after loading (``size`` applies to images).
        method: any method of :data:`sinetune.methods.METHODS`.
        progress: report progress on stderr (:class:`~sinetune.progress.Progress`): the signals,
            the groups and their run directories before training, the ``derived:`` choices of the
            first signal, the batched training steps, each signal's evaluation and writing.
        out: a root directory: signal ``b`` is written to ``out/<name>`` (its file stem). Every run
            directory is checked before anything is fitted; existing ones need ``overwrite``.
        group_size: train at most this many signals as one batched model at a time (groups one
            after another, each written when done); ``None`` = all at once. Memory grows with it;
            results do not depend on it.
        start, duration, samples: the audio crop applied to every sound (as ``sinetune.fit``), so
            clips of different lengths can be fitted together; ignored for images.
        resume: continue an interrupted call with the same arguments: run directories already
            complete are read back (:func:`sinetune.resume.load_finished`), the group that was
            training goes on from its checkpoint (kept next to its first run directory while it
            trains, :mod:`sinetune.train_state`), the rest are fitted. Results equal the uninterrupted call's.

    Example::

        results = sinetune.many.fit_many(sorted(Path("kodak").glob("*.png")), "tuner", size=128,
                                         train_options=TrainOptions(steps=300), out="runs/kodak")
        [r.metrics["heldout_psnr"] for r in results]
    """
    registry_entry = get_method(method)
    if group_size is not None and group_size < 1:
        raise SinetuneError(f"group size must be a positive number of signals, got {group_size}")
    if not signals:
        raise SinetuneError("fit-many needs at least one signal")
    if selection.pending(options):
        raise SinetuneError("select validation chooses a shape per signal and fit-many stacks one shape; "
                            "fit the signals one by one (sinetune fit) or use select off")
    loaded = [item if isinstance(item, Signal) else load_signal(item, size, start, duration, samples, max_size)
              for item in signals]
    first = loaded[0]
    for signal in loaded[1:]:
        if (signal.grid_shape, signal.channels, signal.kind) != (first.grid_shape, first.channels, first.kind):
            raise SinetuneError(f"fit-many needs signals of equal shape: {signal.name} is {_shape_text(signal)}, "
                                f"{first.name} is {_shape_text(first)}" + _shape_hint(first, size, duration, samples))
    run_dirs: list[Path | None] = [None] * len(loaded)
    if out is not None:
        names = [signal.name for signal in loaded]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise SinetuneError(f"two signals share the name {repeated[0]!r}; their run directories would collide")
        run_dirs = [Path(out) / name for name in names]

    prepared: list[PreparedFit] = []
    for item, signal in zip(signals, loaded):
        if isinstance(item, Signal):
            signal_config = SignalConfig(path=signal.source.removeprefix("builtin:"),
                                         size=signal.extent if signal.kind != "audio" else None)
        else:
            signal_config = SignalConfig(path=str(item), size=size, max_size=max_size, start=start,
                                         duration=duration, samples=samples)
        config = RunConfig(signal=signal_config, method=method,
                           options=options if options is not None else registry_entry.options_type(),
                           train=train_options or TrainOptions(), seed=seed, holdout=holdout, device=device)
        prepared.append(prepare_fit(config, signal))
    reference = prepared[0]
    if any(not np.array_equal(p.mask, reference.mask) for p in prepared) \
            or any(not torch.equal(p.generator.get_state(), reference.generator.get_state()) for p in prepared):
        raise SinetuneError("the signals' fits do not share one hold-out split and generator state; "
                            "fit them separately")
    size_of_group = len(prepared) if group_size is None else group_size
    check_fit_memory(reference, min(size_of_group, len(prepared)), hint="batch fewer signals at once with --group N")
    groups = [range(begin, min(begin + size_of_group, len(prepared)))
              for begin in range(0, len(prepared), size_of_group)]
    done = [resume and path is not None and _complete(path) for path in run_dirs]
    if out is not None and not resume and not overwrite:
        for group in groups:
            if resume_path(run_dirs[group[0]]).exists():
                raise SinetuneError(f"an interrupted fit-many wrote to {out}; run the same command with --resume to "
                                    f"continue it, or pass --overwrite to start over")
    results = []
    report = as_progress(progress)
    with ExitStack() as held:  # every run directory to write locked and checked before anything is fitted
        directories = [None if finished else held.enter_context(prepare_run_dir(path, overwrite))
                       for path, finished in zip(run_dirs, done)]
        report.note(f"fit-many: {len(prepared)} signals in {len(groups)} group{'s' * (len(groups) != 1)} of at "
                    f"most {size_of_group}" + (f" → {out}/NAME" if out is not None else ""))
        derived = derived_text(reference)
        if derived:
            report.note(f"derived ({reference.signal.name}): {derived}")
        for number, group in enumerate(groups, 1):
            if all(done[b] for b in group):
                report.note(f"group {number}/{len(groups)}: already complete, read back")
                results.extend(load_finished(prepared[b], run_dirs[b]) for b in group)
                continue
            members = [prepared[b] for b in group]
            names = members[0].signal.name + (f" … {members[-1].signal.name}" if len(members) > 1 else "")
            report.note(f"group {number}/{len(groups)}: " + describe_fit(members[0], name=f"{len(members)} × {names}"))
            results.extend(_fit_group(members, [run_dirs[b] for b in group], [directories[b] for b in group],
                                      [done[b] for b in group], overwrite, report, resume))
    return results


def _complete(path: Path) -> bool:
    """Whether ``path`` holds a complete run (what ``resume`` reads back instead of fitting)."""
    try:
        check_run_dir(path)
    except SinetuneError:
        return False
    return True


def _fit_group(group: list[PreparedFit], paths: list[Path | None], directories: list[PendingRun | None],
               done: list[bool], overwrite: bool, progress: Progress, resume: bool) -> list[FitResult]:
    """Train one group (checkpointed next to its first run directory ``paths[0]``; continued from that
    checkpoint when resuming) and write its runs; members ``done`` are read back from disk, not rewritten."""
    first = group[0].config.train
    target = paths[0]
    state = None
    if resume and target is not None and resume_path(target).exists():
        header, saved, tensors = read_checkpoint(resume_path(target))
        if len(header["configs"]) != len(group):
            raise SinetuneError(f"the checkpoint of {target} holds {len(header['configs'])} signals, this group "
                                f"{len(group)}; run the same command as before (same --group)")
        for index, entry in enumerate(group):
            check_same_fit(header, index, entry, str(target))
        state = (saved, tensors)
    command = "the same fit-many command with --resume"
    with checkpointing(target, checkpoint_header(group, overwrite), first.checkpoint_every, first.checkpoint_seconds,
                       overwrite, resume, command) as checkpointer:
        with checkpointer.deferring_interrupts() if checkpointer is not None else nullcontext():
            trained = train_prepared(group, progress, checkpointer, state)
        return [load_finished(entry, path) if finished
                else finish_fit(entry, result, directory, {"batched_signals": len(group)}, progress)
                for entry, result, path, directory, finished in zip(group, trained, paths, directories, done)]


__all__ = ["fit_many", "train_prepared"]
