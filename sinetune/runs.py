"""The public workflow: signal → method → fit → evaluate → run directory (and back: :mod:`sinetune.renders`).

A run directory holds ``config.yaml`` (re-runs the same fit), ``metrics.json``,
``model.safetensors``, ``log.csv`` and, for an image, the PNGs ``reconstruction``, ``error``,
``spectrum``, ``gradient`` and ``curves``; for audio, ``reconstruction.wav`` (original rate and
amplitude) and the PNGs ``waveform``, ``error`` and ``curves``; ``manifest.json``, written last, marks
it complete (run directories are written atomically and locked: :mod:`sinetune.rundir`).
"""

from __future__ import annotations

import contextlib
import math
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import selection
from .batching import describe_batching, resolve_batching
from .checkpoint import load_field
from .config import RunConfig, SignalConfig, check_ensemble, check_seed, config_to_dict, load_config
from .divergence import divergence_reason
from .errors import SinetuneError
from .evaluation import evaluate
from .methods import Built, build_field, get_method
from .metrics import AUDIO_DATA_RANGE, field_gradient
from .models import SinusoidalField
from .progress import Progress, as_progress
from .render import render_field
from .renders import render_run  # noqa: F401  (renders of a saved run live in renders; importable here too)
from .resources import check_fit_memory
from .rundir import (  # noqa: F401  (run-directory I/O lives in rundir; these names stay importable here)
    AUDIO_RUN_FILES,
    RUN_FILES,
    PendingRun,
    check_output_file,
    check_run_dir,
    commit_run,
    default_run_dir,
    prepare_run_dir,
    write_run,
)
from .signals import DEFAULT_MAX_SIZE, Signal, holdout_mask, load_signal
from .tasks import (
    TaskInput,
    TaskOptions,
    describe_task,
    method_options,
    observed_field,
    prepare_task,
    render_task,
    score_task,
    write_task_files,
)
from .train_state import checkpointing, fingerprint
from .training import TrainOptions, TrainResult, train


@dataclass
class FitResult:
    """What :func:`fit` / :func:`run` return.

    Attributes:
        field: the trained ``nn.Module`` (coordinates ``(N, d)`` in [-1, 1] → values ``(N, C)``).
        config: the resolved config (signal-derived defaults and the learning rate filled in).
        metrics: the contents of ``metrics.json``.
        history: the logged training curve (see :class:`~sinetune.training.TrainResult`).
        signal: the signal that was fitted.
        heldout: boolean mask over the flattened samples, ``True`` = held out.
        run_dir: the run directory, or ``None`` when nothing was written.
        paths: name → path of every file written.
    """

    field: SinusoidalField
    config: RunConfig
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    signal: Signal
    heldout: np.ndarray
    run_dir: Path | None = None
    paths: dict[str, Path] = field(default_factory=dict)


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SinetuneError("--device cuda was asked for but no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise SinetuneError(f"device must be auto, cpu or cuda, got {device!r}")
    return torch.device(device)


@dataclass
class PreparedFit:
    """A fit set up exactly as :func:`run` does it, before training (what :mod:`sinetune.many` batches).

    Attributes:
        config: the resolved config (signal-derived options, the absolute signal path, the lr).
        signal: the loaded signal.
        built: the freshly built field (on ``device``) with its constraints and penalties.
        generator: the run's generator, in the state the build left it (it draws mini-batches next).
        mask: boolean mask over the flattened samples, ``True`` = not trained (held out, or missing).
        device: where the field lives.
        task: the inverse task's input (:mod:`sinetune.tasks`): ``signal`` is its corrupted signal.
        batching: what :mod:`sinetune.batching` derived (batch size, steps), for the ``derived:`` line.
        select_seconds: the seconds TUNER's validation search took (:mod:`sinetune.selection`; ``None``:
            no search ran), kept as ``metrics["select_seconds"]``.
    """

    config: RunConfig
    signal: Signal
    built: Built
    generator: torch.Generator
    mask: np.ndarray
    device: torch.device
    task: TaskInput | None = None
    batching: str = ""
    select_seconds: float | None = None

    @property
    def missing(self) -> np.ndarray | None:
        """Inpaint: boolean mask over the flattened samples, ``True`` = missing (inside :attr:`mask`,
        never trained nor scored as held out); ``None`` otherwise."""
        return self.task.missing if self.task is not None else None

    @property
    def heldout_mask(self) -> np.ndarray:
        """The held-out samples: :attr:`mask` less the :attr:`missing` ones."""
        return self.mask & ~self.missing if self.missing is not None else self.mask

    @property
    def data_range(self) -> float:
        """The value range PSNR is computed in: 2 for audio in [-1, 1], 1 for images in [0, 1]."""
        return AUDIO_DATA_RANGE if self.signal.kind == "audio" else 1.0

    def training_data(self) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """``(coords, values, heldout)``: the ``(N, d)`` / ``(N, C)`` training samples and the held-out
        ``(coords, values)`` pair (``None`` when nothing is held out), as :func:`train` takes them."""
        return training_samples(self.signal, self.mask, self.heldout_mask)


def training_samples(signal: Signal, mask: np.ndarray, heldout_mask: np.ndarray
                     ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """``(coords, values, heldout)`` of ``signal``: the ``(N, d)`` / ``(N, C)`` samples outside ``mask``
    (plus an SDF's off-grid points) and the ``(coords, values)`` of ``heldout_mask`` (``None``: none)."""
    coords, values = signal.coords(), signal.flat_values()
    keep, held = torch.from_numpy(~mask), torch.from_numpy(heldout_mask)
    heldout = (coords[held], values[held]) if heldout_mask.any() else None
    coords, values = coords[keep], values[keep]
    if signal.points is not None:  # off-grid samples (an SDF's near-surface points): trained on
        coords = torch.cat([coords, torch.as_tensor(signal.points[0], dtype=coords.dtype)])
        values = torch.cat([values, torch.as_tensor(signal.points[1], dtype=values.dtype)])
    return coords, values, heldout


def prepare_fit(config: RunConfig, signal: Signal | None = None) -> PreparedFit:
    """Validate ``config``, load the signal (unless given), resolve the options and build the field.

    Everything :func:`run` does before training; raises a one-line :class:`SinetuneError` on bad input.
    """
    config.train.validate()
    config.signal.validate()
    check_seed(config.seed)
    check_ensemble(config.ensemble)
    if not 0 <= config.holdout < 1:
        raise SinetuneError(f"holdout must be in [0, 1), got {config.holdout}")
    device = resolve_device(config.device)
    method = get_method(config.method)
    if not isinstance(config.options, method.options_type):
        raise SinetuneError(f"options for method {method.name!r} must be {method.options_type.__name__}")
    if signal is None:
        signal = load_signal(config.signal.path, config.signal.size, config.signal.start, config.signal.duration,
                             config.signal.samples, config.signal.max_size)
    config.task.validate()
    task = prepare_task(config.task, signal) if config.task.task != "fit" else None  # the corrupted input
    fitted_signal = task.signal if task is not None else signal
    options = config.options
    if task is not None:  # the task's recipes for the method (TUNER's depth, the noise-keyed band)
        task, options = method_options(task, config.method, options)
    lr = config.train.lr or method.default_lr
    mask = holdout_mask(math.prod(fitted_signal.grid_shape), config.holdout,
                        np.random.default_rng([config.seed, 1]))
    if task is not None and task.missing is not None:
        mask = mask | task.missing  # missing samples are never trained
        if mask.all():
            raise SinetuneError("the hold-out and the missing samples leave nothing to fit; lower --holdout")
    select_seconds = None
    if selection.pending(options):  # TUNER's capacity chosen on a validation split of the training samples
        coords, values, _ = training_samples(fitted_signal, mask, np.zeros_like(mask))  # no held-out pairs
        options, select_seconds = selection.select(
            options, fitted_signal.grid_shape, fitted_signal.values, coords, values, config.train, lr, config.seed,
            device, AUDIO_DATA_RANGE if fitted_signal.kind == "audio" else 1.0)
    generator = torch.Generator().manual_seed(config.seed)
    # signal-derived defaults (the values for SIREN²'s centroid and the spectrum rules), then the build
    built = build_field(config.method, fitted_signal.grid_shape, fitted_signal.channels, options,
                        generator=generator, values=fitted_signal.values)
    # Record what makes the run reproducible from any directory: an absolute path (or built-in
    # name) and the size the signal actually has (images) or the crop that was asked for (audio).
    signal_path = signal.source.removeprefix("builtin:") if signal.source else config.signal.path
    if signal.kind == "audio":
        signal_config = replace(config.signal, path=signal_path, size=None)
    else:
        signal_config = replace(config.signal, path=signal_path, size=signal.extent)
    # denoise: the discrepancy threshold is derived again from the input every run (a saved value never goes stale)
    stop_mse = task.stop_mse if task is not None and task.stop_mse is not None else config.train.stop_mse
    task_config = replace(config.task, mask=str(Path(config.task.mask).resolve())) if config.task.mask else config.task
    config = replace(config, options=built.options, signal=signal_config, task=task_config,
                     train=replace(config.train, lr=lr, stop_mse=stop_mse))
    if config.train.solve_head and config.task.observation != "point":
        raise SinetuneError("solve_head fits the head to point samples; it does not apply to observation "
                            f"{config.task.observation}")
    built.field.to(device)
    # the derived batch size and steps (sinetune.batching), from the samples that are trained
    count, dim = int((~mask).sum()), fitted_signal.dim
    batching = describe_batching(config.train, count, dim)
    config = replace(config, train=resolve_batching(config.train, count, dim))
    prepared = PreparedFit(config, fitted_signal, built, generator, mask, device, task, batching, select_seconds)
    check_fit_memory(prepared)  # refuse (suggesting --batch-size) before any sample is trained
    return prepared


def derived_text(prepared: PreparedFit) -> str:
    """The choices made from the signal, for the user to read (the ``derived:`` line, ``metrics["derived"]``):
    what loading did to the size (:attr:`~sinetune.signals.Signal.sizing`), then the method's
    signal-derived options and the rule behind them (its ``explain``)."""
    explain = get_method(prepared.config.method).explain
    parts = [prepared.signal.sizing, describe_task(prepared.task) if prepared.task is not None else "",
             explain(prepared.config.options, prepared.signal.grid_shape) if explain is not None else "",
             prepared.batching]
    return "; ".join(part for part in parts if part)


def describe_fit(prepared: PreparedFit, out: str | Path | None = None, name: str | None = None) -> str:
    """One line saying what is about to be fitted, and where it goes: ``fit tuner to astronaut
    (256×256, 3 channels), 300 steps, full batch on cpu → runs/astronaut-tuner`` (``name``
    replaces the signal's name)."""
    signal, config = prepared.signal, prepared.config
    if signal.kind == "audio":
        shape = f"{signal.grid_shape[0]} samples at {signal.sample_rate} Hz"
    else:
        shape = "×".join(map(str, signal.grid_shape)) + f", {signal.channels} channel{'s' * (signal.channels != 1)}"
    batch = "full batch" if config.train.batch_size == "full" else f"batches of {config.train.batch_size}"
    target = f" → {out}" if out is not None else ""
    return (f"fit {config.method} to {name or signal.name} ({shape}), {config.train.steps} steps, {batch} on "
            f"{prepared.device.type}{target}")


def finish_fit(prepared: PreparedFit, trained: TrainResult, run_dir: Path | PendingRun | None = None,
               extra_metrics: dict[str, Any] | None = None, progress: bool | Progress = False) -> FitResult:
    """Evaluate a trained field (``prepared.built.field``) and write its run directory (if given).

    ``run_dir``: a :class:`~sinetune.rundir.PendingRun` (locked since before training), or a path
    (locked and written here); either way the run appears there complete or not at all.
    ``metrics["diverged"]`` follows :mod:`sinetune.divergence`, ``metrics["divergence"]`` says why.

    ``extra_metrics`` are added to ``metrics.json`` (e.g. ``batched_signals`` from :mod:`sinetune.many`).
    """
    fitted, signal, config = prepared.built.field, prepared.signal, prepared.config
    report = as_progress(progress)
    report.stage(f"evaluating {signal.name} (render, metrics" + (", analytic gradient)" if signal.dim == 2 else ")"))
    fitted.eval()
    # everything below evaluates the field eval_chunk points at a time (bounded memory at any size)
    chunk = config.train.eval_chunk
    prediction = render_field(fitted, signal.grid_shape, chunk=chunk)
    # the field's analytic |∇gray| (one autograd pass), shared by both gradient PSNRs and gradient.png
    gradient = np.hypot(*field_gradient(fitted, signal.grid_shape, chunk=chunk)) if signal.dim == 2 else None
    metrics = evaluate(fitted, signal, prediction, prepared.mask, trained, config, gradient, prepared.missing)
    answer = None
    if prepared.task is not None:  # the task's answer (superres: the k× render) against the clean signal
        answer = render_task(fitted, prepared.task, prediction, chunk)
        metrics.update(score_task(prepared.task, answer))
    derived = derived_text(prepared)
    if derived:
        metrics["derived"] = derived
    if prepared.select_seconds is not None:
        metrics["select_seconds"] = prepared.select_seconds
    metrics.update(extra_metrics or {})
    zero_field_loss = float(np.mean(np.square(signal.values.reshape(-1, signal.channels)[~prepared.mask])))
    metrics["divergence"] = divergence_reason(trained.history, zero_field_loss, trained.diverged)
    metrics["diverged"] = metrics["divergence"] is not None
    result = FitResult(fitted, config, metrics, trained.history, signal, prepared.mask)
    if run_dir is not None:
        target = run_dir.target if isinstance(run_dir, PendingRun) else run_dir
        report.stage(f"writing {target} (weights, log, figures)")
        def write(directory: Path) -> dict[str, Path]:  # the task's files first: report.html shows them
            paths = write_task_files(directory, prepared.task, answer) if prepared.task is not None else {}
            return {**paths, **write_run(directory, result, prediction, gradient, str(target))}

        result.run_dir, result.paths = commit_run(run_dir, write)
    return result


def run(
    config: RunConfig,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool | Progress = False,
    signal: Signal | None = None,
) -> FitResult:
    """Fit as described by ``config``; write a run directory to ``out`` (if given).

    Args:
        config: the run description (:class:`~sinetune.config.RunConfig`).
        out: run directory; must not exist (or be empty) unless ``overwrite``. ``None``: write nothing.
            Locked for the whole fit and written atomically (:mod:`sinetune.rundir`).
        overwrite: replace an existing run directory (a sinetune run only, once the new one is complete).
        progress: report progress on stderr (:class:`~sinetune.progress.Progress`; ``True``: the
            default one): what is fitted and where, the ``derived:`` choices, the training steps,
            then the evaluation and writing stages.
        signal: an already loaded signal (skips loading ``config.signal``).

    Images (``config.signal.size`` applies) and audio files (``.wav``/``.flac``/``.ogg``; the
    ``start``/``duration``/``samples`` crop applies) are told apart by the file suffix.
    """
    report = as_progress(progress)
    prepared = prepare_fit(config, signal)
    with prepare_run_dir(out, overwrite) as run_dir:  # locked and checked before training
        report.note(describe_fit(prepared, out))
        derived = derived_text(prepared)
        if derived:
            report.note(f"derived: {derived}")
        return train_and_finish(prepared, run_dir, overwrite, report)


def checkpoint_header(prepared: list[PreparedFit], overwrite: bool) -> dict[str, Any]:
    """What a training checkpoint records to rebuild its fit (:mod:`sinetune.train_state`): the
    resolved configs, a fingerprint of each signal and the ``overwrite`` the fit was started with."""
    return {"configs": [config_to_dict(entry.config) for entry in prepared],
            "fingerprints": [fingerprint(entry.signal.values) for entry in prepared], "overwrite": overwrite}


def train_and_finish(prepared: PreparedFit, run_dir: PendingRun | None, overwrite: bool = False,
                     progress: bool | Progress = False, resume: tuple[dict, dict] | None = None) -> FitResult:
    """Train a prepared fit (checkpointed when it writes ``run_dir``; continued from the checkpoint
    ``resume``), evaluate it and write its run directory."""
    config, built, report = prepared.config, prepared.built, as_progress(progress)
    if config.ensemble > 1:  # K members through the same loop, one after another (not checkpointed)
        from .ensemble import train_ensemble

        ensemble, trained, extra = train_ensemble(prepared, report)
        return finish_fit(replace(prepared, built=replace(built, field=ensemble)), trained, run_dir, extra, report)
    target = run_dir.target if run_dir is not None else None
    command = f"sinetune fit --resume {shlex.quote(str(target))}"
    with checkpointing(target, checkpoint_header([prepared], overwrite), config.train.checkpoint_every,
                       config.train.checkpoint_seconds, overwrite, resume is not None, command) as checkpointer:
        coords, values, heldout = prepared.training_data()
        with checkpointer.deferring_interrupts() if checkpointer is not None else contextlib.nullcontext():
            trained = train(observed_field(prepared.task, built.field), coords, values, config.train,
                            config.train.lr, built.constraints, built.penalties, heldout=heldout,
                            generator=prepared.generator, progress=report, data_range=prepared.data_range,
                            checkpoint=checkpointer, resume=resume)
        return finish_fit(prepared, trained, run_dir, progress=report)


def fit(
    signal: str | Path | Signal = "astronaut",
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
    start: float | None = None,
    duration: float | None = None,
    samples: int | None = None,
    task: TaskOptions | None = None,
) -> FitResult:
    """Fit a sinusoidal field to an image or a sound — the one-call Python entry point.

    Args:
        signal: image path, built-in name (``"astronaut"``), sound file (``.wav``, ``.flac``,
            ``.ogg``) or a loaded :class:`~sinetune.signals.Signal`.
        method: a name in ``sinetune.methods.METHODS`` (``tuner``, ``siren``, ``siren2``, ``ssn``, ``ffn``, ``finer``,
            ``wire``, ``gauss``, ``mfn``, ``bacon``; ``sinetune methods`` describes them).
        size: longer side after resizing, up or down (ignored for a loaded ``Signal``); ``None``
            keeps the image's own size up to ``max_size``.
        max_size: with ``size=None``, an image whose longer side exceeds this is downsampled to it
            (:data:`~sinetune.signals.DEFAULT_MAX_SIZE`, 256); ``None``: any size is kept.
        options: the method's options dataclass; ``None`` uses its defaults.
        train_options: :class:`~sinetune.training.TrainOptions`; ``None`` = 300 full-batch steps.
        seed: seeds weights, frequencies, the hold-out split and mini-batches.
        holdout: fraction of pixels held out for evaluation.
        device: ``auto``, ``cpu`` or ``cuda``.
        out: run directory to write (``None``: nothing written).
        overwrite: replace an existing run directory.
        progress: report progress on stderr (see :func:`run`).
        start, duration, samples: audio crop (seconds, seconds, samples; see
            :func:`~sinetune.signals.load_audio`), ignored for images.
        task: an inverse task (:class:`~sinetune.tasks.TaskOptions`: denoise, inpaint, superres),
            e.g. ``TaskOptions(task="denoise", noise=0.1)`` → ``metrics["clean_psnr"]``; ``None``: fit.

    Example::

        result = sinetune.fit("astronaut", "tuner", size=128, train_options=TrainOptions(steps=200))
        result.metrics["heldout_psnr"]        # dB
        values = result.field(coords)          # (N, 2) in [-1, 1] -> (N, 3)
    """
    registry_entry = get_method(method)
    loaded = signal if isinstance(signal, Signal) else None
    if loaded is None:
        signal_config = SignalConfig(path=str(signal), size=size, max_size=max_size, start=start, duration=duration,
                                     samples=samples)
    else:
        signal_config = SignalConfig(path=loaded.source.removeprefix("builtin:"),
                                     size=loaded.extent if loaded.kind != "audio" else None)
    config = RunConfig(signal=signal_config, method=method,
                       options=options if options is not None else registry_entry.options_type(),
                       train=train_options or TrainOptions(), seed=seed, holdout=holdout, device=device,
                       task=task or TaskOptions())
    return run(config, out=out, overwrite=overwrite, progress=progress, signal=loaded)


def load_run(run_dir: str | Path, device: str = "cpu", single: str | None = None
             ) -> tuple[SinusoidalField, RunConfig, dict]:
    """Load a run directory: ``(field, config, info)`` with ``info`` = method, grid_shape, channels.

    An ensemble run (``config.ensemble`` > 1) loads as a :class:`~sinetune.ensemble.EnsembleField`;
    ``single``: the command that needs one field instead (an ensemble is then a one-line error)."""
    run_dir = check_run_dir(run_dir)  # a complete run (its manifest), else one line
    config = load_config(run_dir / "config.yaml")
    if single is not None and config.ensemble > 1:
        raise SinetuneError(f"{single} needs one field, but {run_dir} is an ensemble of {config.ensemble}; "
                            "fit it with --ensemble 1 for this")
    fitted, info = load_field(run_dir / "model.safetensors", config.options, resolve_device(device), config.ensemble)
    return fitted, config, info


__all__ = ["FitResult", "fit", "load_run", "render_run", "run", "resolve_device", "config_to_dict", "load_config"]
