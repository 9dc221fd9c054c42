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
``benchmarks/studies/fit_many.py``, README "fit-many").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import RunConfig, SignalConfig
from .errors import SinetuneError
from .methods import get_method
from .progress import Progress, as_progress
from .resources import check_fit_memory
from .runs import FitResult, PreparedFit, derived_text, describe_fit, finish_fit, prepare_fit, prepare_run_dir
from .signals import DEFAULT_MAX_SIZE, Signal, load_signal
from .stacking import rebind, stack_fields, unstack_into
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


def train_prepared(prepared: list[PreparedFit], progress: bool | Progress = False) -> list[TrainResult]:
    """Stack the prepared fields, train them with :func:`~sinetune.training.train`, copy the weights back."""
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
                    progress=progress, data_range=reference.data_range)
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
                                         size=max(signal.grid_shape) if signal.kind != "audio" else None)
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
    results = []
    report = as_progress(progress)
    with ExitStack() as held:  # every run directory locked and checked before anything is fitted
        directories = [held.enter_context(prepare_run_dir(path, overwrite)) for path in run_dirs]
        groups = math.ceil(len(prepared) / size_of_group)
        report.note(f"fit-many: {len(prepared)} signals in {groups} group{'s' * (groups != 1)} of at most "
                    f"{size_of_group}" + (f" → {out}/NAME" if out is not None else ""))
        derived = derived_text(reference)
        if derived:
            report.note(f"derived ({reference.signal.name}): {derived}")
        for number, begin in enumerate(range(0, len(prepared), size_of_group), 1):
            group = prepared[begin:begin + size_of_group]
            names = group[0].signal.name + (f" … {group[-1].signal.name}" if len(group) > 1 else "")
            report.note(f"group {number}/{groups}: " + describe_fit(group[0], name=f"{len(group)} × {names}"))
            trained = train_prepared(group, report)
            for entry, result, run_dir in zip(group, trained, directories[begin:begin + size_of_group]):
                results.append(finish_fit(entry, result, run_dir, {"batched_signals": len(group)}, report))
    return results


__all__ = ["fit_many", "train_prepared"]
