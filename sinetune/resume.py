"""Resuming interrupted fits: ``sinetune fit --resume RUN`` and ``fit-many --resume``.

A fit that writes a run directory keeps its training state next to it while it trains
(:mod:`sinetune.train_state`, :func:`sinetune.rundir.resume_path`). :func:`resume_fit` rebuilds the
fit from the checkpoint alone — its header holds the resolved run config, so neither the command
line nor the config file is needed — checks that the signal on disk is still the one that was being
fitted, and continues the loop from the saved step: the run it writes equals the uninterrupted
run's (weights, log and metrics; timings aside) on the same device.

:func:`load_finished` reads a complete run back as a :class:`~sinetune.runs.FitResult` without
fitting: ``fit_many(..., resume=True)`` uses it for the signals whose run directories were already
written before the interruption.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path

from .checkpoint import load_field
from .config import RunConfig, config_from_dict, config_to_dict, load_config
from .errors import SinetuneError
from .progress import Progress, as_progress
from .rundir import PendingRun, check_run_dir, resume_path, stale_checkpoint
from .runs import FitResult, PreparedFit, prepare_fit, train_and_finish
from .train_state import fingerprint, read_checkpoint


def check_same_fit(header: dict, index: int, prepared: PreparedFit, where: str) -> None:
    """A one-line error unless signal ``index`` of a checkpoint ``header`` is the fit ``prepared``."""
    saved = config_from_dict(header["configs"][index])
    if config_to_dict(replace(saved, device=prepared.config.device)) != config_to_dict(prepared.config):
        raise SinetuneError(f"the checkpoint of {where} was written for another configuration; run the same "
                            f"command as before, or start over with --overwrite")
    if header["fingerprints"][index] != fingerprint(prepared.signal.values):
        raise SinetuneError(f"the signal {prepared.config.signal.path} changed since the interrupted fit of "
                            f"{where}; start over with --overwrite")


def resume_fit(run_dir: str | Path, progress: bool | Progress = False, device: str | None = None) -> FitResult:
    """Continue the interrupted fit of the run directory ``run_dir`` from its checkpoint.

    Args:
        run_dir: the run directory the interrupted fit was writing (its ``--out``).
        progress: report progress (:class:`~sinetune.progress.Progress`; ``True``: the default reporter).
        device: run on this device instead of the one recorded (``auto``, ``cpu``, ``cuda``); the
            continuation is then equal up to float rounding, not bit for bit.

    Raises a one-line :class:`SinetuneError` when there is nothing to resume, the checkpoint was
    written by ``fit-many``, is unreadable, or the signal file changed.
    """
    target = Path(run_dir)
    path = resume_path(target)
    if stale_checkpoint(target):
        path.unlink()
        raise SinetuneError(f"{target} is a complete run; there is nothing to resume")
    if not path.is_file():
        raise SinetuneError(f"nothing to resume for {target}: no interrupted fit wrote there (no {path.name})")
    header, _, _ = read_checkpoint(path)
    if len(header["configs"]) != 1:
        raise SinetuneError(f"{target} was being written by fit-many; resume it by running the same fit-many "
                            f"command with --resume")
    config: RunConfig = config_from_dict(header["configs"][0])
    if device is not None:
        config = replace(config, device=device)
    prepared = prepare_fit(config)
    check_same_fit(header, 0, prepared, str(target))
    with PendingRun(target, header["overwrite"]) as pending:  # locked: no other fit is writing it
        _, state, tensors = read_checkpoint(path)
        report = as_progress(progress)
        report.note(f"resuming the fit of {target} after step {state['step']} of {config.train.steps}")
        return train_and_finish(prepared, pending, header["overwrite"], report, resume=(state, tensors))


def load_finished(prepared: PreparedFit, run_dir: str | Path) -> FitResult:
    """A complete run directory of the fit ``prepared`` read back as a :class:`FitResult` (no fitting).

    A one-line error if the directory is incomplete or holds another configuration.
    """
    run_dir = check_run_dir(run_dir)
    config = load_config(run_dir / "config.yaml")
    if config_to_dict(config) != config_to_dict(prepared.config):
        raise SinetuneError(f"{run_dir} holds another fit than the one asked for; move it away or pass --overwrite")
    fitted, _ = load_field(run_dir / "model.safetensors", config.options, prepared.device)
    prepared.built.field.load_state_dict(fitted.state_dict())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    with (run_dir / "log.csv").open(newline="") as handle:
        history = [{key: (int(value) if key == "step" else float(value) if value else math.nan)
                    for key, value in row.items()} for row in csv.DictReader(handle)]
    paths = {path.stem: path for path in sorted(run_dir.iterdir()) if path.is_file()}
    return FitResult(prepared.built.field, config, metrics, history, prepared.signal, prepared.mask, run_dir, paths)


__all__ = ["check_same_fit", "load_finished", "resume_fit"]
