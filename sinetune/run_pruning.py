"""Prune a saved run into a new run directory: ``sinetune prune RUN --fraction F -o NEW_RUN``.

:func:`prune_run` loads a complete run (:func:`sinetune.runs.load_run`), loads the signal its
``config.yaml`` names (the fine-tunes of pruning train on it), prunes the hidden matrix ``A`` with
:func:`sinetune.pruning.prune_field` until ``fraction`` of its weights are gone, and writes a **new**
run directory like any fit's (:func:`sinetune.runs.finish_fit`): its ``model.safetensors`` holds the
smaller tensors, and its ``config.yaml`` the options that rebuild exactly those shapes
(``input_width`` = the kept ``n_0``, ``hidden_width`` = the kept ``n_1`` and, for TUNER, the kept
integer frequencies as ``input_frequencies``), so ``sinetune render`` and ``load_run`` treat it as any
run. ``metrics.json`` adds ``"prune"``: the source run, the sizes and PSNRs before and after, the steps.

The source run is only read, never written; the new directory is locked, checked before any training
and written atomically (:mod:`sinetune.rundir`), and may not be the source or lie inside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .config import options_to_dict
from .errors import SinetuneError
from .methods import build_field
from .models import SpectralEncoding
from .progress import Progress, as_progress
from .pruning import PruneOptions, PruneResult, prune_field
from .runs import FitResult, finish_fit, load_run, prepare_fit, prepare_run_dir
from .signals import load_signal
from .training import TrainResult


@dataclass
class PruneRunResult:
    """What :func:`prune_run` returns.

    Attributes:
        run: the new run (its ``run_dir``, ``metrics``, ``field``, …; see :class:`~sinetune.runs.FitResult`).
        pruning: what :func:`~sinetune.pruning.prune_field` returned (rounds, kept rows and columns, …).
        before, after: ``{"input_atoms", "hidden_units", "hidden_weights", "parameters", "heldout_psnr",
            "train_psnr"}`` of the source run's field and of the pruned one (PSNR in dB, as ``metrics.json``).
    """

    run: FitResult
    pruning: PruneResult
    before: dict[str, Any]
    after: dict[str, Any]


def _refuse_source(source: Path, out: Path) -> None:
    """One line if ``out`` is the source run, lies inside it, or holds it."""
    real_source, real_out = Path(os.path.realpath(source)), Path(os.path.realpath(out))
    if real_out == real_source or real_out.is_relative_to(real_source) or real_source.is_relative_to(real_out):
        raise SinetuneError(f"refusing to write the pruned run to {out}: it is (or holds, or lies inside) the source "
                            f"run {source}; give a new directory with -o")


def pruned_options(options: Any, field: Any) -> Any:
    """The method options that rebuild ``field``'s (pruned) shapes: ``input_width`` and ``hidden_width``
    set to its ``n_0`` and ``n_1``; for TUNER ``input_frequencies`` = its kept integer rows ``K``."""
    names = {f.name for f in fields(options)}
    if not {"input_width", "hidden_width"} <= names:
        raise SinetuneError(f"{type(options).__name__} has no input_width/hidden_width; its runs cannot be pruned")
    layer = field.hidden[0]
    changes: dict[str, Any] = {"input_width": layer.in_features, "hidden_width": layer.out_features}
    if isinstance(field.encoding, SpectralEncoding):
        changes["input_frequencies"] = tuple(tuple(int(v) for v in row)
                                             for row in field.encoding.input_frequencies.cpu().tolist())
    return replace(options, **changes)


def _check_rebuilds(method: str, grid_shape: tuple[int, ...], channels: int, options: Any, field: Any) -> None:
    """The new ``config.yaml`` must rebuild the pruned field's exact shapes (checked before writing)."""
    import torch

    built = build_field(method, grid_shape, channels, options, generator=torch.Generator().manual_seed(0))
    try:
        built.field.load_state_dict({k: v.cpu() for k, v in field.state_dict().items()}, strict=True)
    except RuntimeError as error:
        raise SinetuneError(f"the pruned field cannot be described by a run config: "
                            f"{str(error).splitlines()[0]}") from None


def prune_run(
    run_dir: str | Path,
    fraction: float,
    out_dir: str | Path,
    options: PruneOptions | None = None,
    *,
    overwrite: bool = False,
    device: str = "auto",
    progress: bool | Progress = False,
) -> PruneRunResult:
    """Prune the saved run ``run_dir`` until ``fraction`` of its hidden weights are removed; write ``out_dir``.

    Args:
        run_dir: a complete run directory (``sinetune fit``'s), only read.
        fraction: share in (0, 1) of ``A``'s ``n_1 · n_0`` weights to remove (``0.25``: a quarter).
        out_dir: the new run directory; must not exist (or be empty) unless ``overwrite`` (a sinetune
            run only, as ``sinetune fit``), and never the source run, inside it, or a folder holding it.
        options: how to prune (:class:`~sinetune.pruning.PruneOptions`; ``None`` = its defaults); its
            ``target_fraction`` is replaced by ``fraction``. A run with more than one hidden layer can
            only lose columns (``axes="columns"``): fewer rows would make the widths unequal, which a
            run config cannot describe.
        overwrite: replace an existing run at ``out_dir``.
        device: ``auto``, ``cpu`` or ``cuda`` for the fine-tunes (recorded in the new config).
        progress: report the stages and the training steps.

    Raises:
        SinetuneError: one line for a bad ``fraction``, a missing or incomplete run, a signal that cannot
            be loaded, or an output directory that may not be written.
    """
    if not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise SinetuneError(f"fraction must be in (0, 1) (the share of hidden weights to remove), got {fraction}")
    options = replace(options or PruneOptions(), target_fraction=float(fraction))
    options.validate()
    report = as_progress(progress)
    source_field, config, info = load_run(run_dir, single="prune")  # one line for a missing or incomplete run
    if len(getattr(source_field, "hidden", ())) > 1 and options.axes != "columns":
        raise SinetuneError(f"{run_dir} has {len(source_field.hidden)} hidden layers: only input atoms can be pruned "
                            f"(--axes columns); fewer hidden units would make the layer widths unequal")
    _refuse_source(Path(run_dir), Path(out_dir))
    with prepare_run_dir(out_dir, overwrite) as pending:  # locked and checked before the signal is loaded
        signal_config = config.signal
        try:
            signal = load_signal(signal_config.path, signal_config.size, signal_config.start,
                                 signal_config.duration, signal_config.samples, signal_config.max_size)
        except (SinetuneError, OSError, ValueError) as error:
            raise SinetuneError(f"cannot load the signal {signal_config.path!r} that {run_dir} was fitted to "
                                f"(pruning fine-tunes on it): {str(error).splitlines()[0]}") from None
        prepared = prepare_fit(replace(config, device=device), signal)
        if tuple(prepared.signal.grid_shape) != tuple(info["grid_shape"]):
            raise SinetuneError(f"the signal {signal_config.path!r} is now {prepared.signal.grid_shape}, but "
                                f"{run_dir} was fitted on {info['grid_shape']}")
        prepared.built.field.load_state_dict(source_field.state_dict(), strict=True)  # the saved weights, bound
        coords, values, heldout = prepared.training_data()
        report.note(f"prune {run_dir} ({config.method}): remove {100 * fraction:g}% of the hidden weights → {out_dir}")
        built = prepared.built
        pruned = prune_field(built.field, coords, values, options, prepared.config.train.lr,
                             constraints=built.constraints, penalties=built.penalties, heldout=heldout,
                             generator=prepared.generator, data_range=prepared.data_range, progress=report)
        new_options = pruned_options(prepared.config.options, pruned.field)
        _check_rebuilds(config.method, info["grid_shape"], info["channels"], new_options, pruned.field)
        new_prepared = replace(prepared, config=replace(prepared.config, options=new_options),
                               built=replace(built, field=pruned.field, constraints=pruned.constraints,
                                             penalties=pruned.penalties, options=new_options))
        trained = TrainResult(history=pruned.history, step_seconds=pruned.step_seconds, diverged=pruned.diverged)
        before = {**pruned.before, **_scores(built.field, coords, values, heldout, prepared)}
        after = {**pruned.after, **_scores(pruned.field, coords, values, heldout, prepared)}
        drop = (before["heldout_psnr"] - after["heldout_psnr"]) if heldout is not None else None
        extra = {"prune": {"source": str(Path(os.path.abspath(run_dir))), "fraction": fraction,
                           "removed_fraction": pruned.removed_fraction, "rounds": len(pruned.rounds),
                           "steps": pruned.steps, "before": before, "after": after, "heldout_drop_db": drop,
                           "options": options_to_dict(options), "kept_columns": pruned.kept_columns,
                           "kept_rows": pruned.kept_rows}}
        result = finish_fit(new_prepared, trained, pending, extra_metrics=extra, progress=report)
    return PruneRunResult(result, pruned, before, after)


def _scores(field: Any, coords, values, heldout, prepared) -> dict[str, float | None]:
    """``train_psnr`` and ``heldout_psnr`` (dB, :func:`sinetune.metrics.psnr` over samples × channels,
    as ``metrics.json``) of ``field`` on the run's training and held-out samples."""
    import torch

    from .metrics import psnr
    from .training import predict

    chunk = prepared.config.train.eval_chunk
    with torch.no_grad():
        train_psnr = psnr(predict(field, coords, chunk).cpu(), values, prepared.data_range)
        held = psnr(predict(field, heldout[0], chunk).cpu(), heldout[1], prepared.data_range) if heldout else None
    return {"train_psnr": train_psnr, "heldout_psnr": held}


__all__ = ["PruneRunResult", "prune_run", "pruned_options"]
