"""Training checkpoints: an interrupted fit resumes where it stopped, bit for bit on the CPU.

While a fit that writes the run directory ``TARGET`` trains, ``.TARGET.sinetune-resume``
(:func:`sinetune.rundir.sibling`; one safetensors file, replaced atomically) holds the loop's whole
state (:func:`snapshot`): every parameter and buffer, Adam's moments and step counts, the mini-batch
generator and its permutation cursor, each signal's history, step times, stopping state and saved
weights (last finite, best), the elapsed time — plus a header with what rebuilds the fit without the
user's command line (the resolved run configs, a fingerprint of each signal, ``--overwrite``).

It is written (:class:`Checkpointer`) before the first step, every ``train.checkpoint_every`` steps
and every ``train.checkpoint_seconds`` seconds, after the last step, and when the user presses
Ctrl-C (the first SIGINT is deferred to the end of the step in progress; a second one interrupts at
once). It is deleted once the run directory is complete. Loading a snapshot (:func:`restore`) and
continuing gives exactly the weights, history and metrics of the uninterrupted fit on the same
device (tested on the CPU by ``kill -9`` at random steps); timings naturally differ, and on a GPU
nondeterministic kernels may make the continuation differ by float rounding.

No pickle: tensors are safetensors, the rest is JSON in the safetensors metadata.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .atomic import fsync
from .errors import SinetuneError

if TYPE_CHECKING:
    from .training import MinibatchOrder, _SignalRun

STATE_FORMAT = "sinetune-train-state-1"


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C during a fit whose state was saved: ``step`` (of ``steps``) resumes from ``path``."""

    def __init__(self, step: int, steps: int, path: Path):
        super().__init__(f"interrupted after step {step}" + (f" of {steps}" if steps > 0 else ""))
        self.step, self.steps, self.path = step, steps, path
        self.hint = ""  # how to resume, set by the run layer (:func:`checkpointing`)


class Checkpointer:
    """Writes the training state to ``path`` when :meth:`due` (see the module docstring).

    Args:
        path: the checkpoint file (``.TARGET.sinetune-resume``).
        header: JSON-able description of the fit (configs, fingerprints, ``overwrite``), stored as is.
        every: also save every this many steps (``None``: not by steps).
        seconds: also save when this many seconds passed since the last save (``None``: not by time).
    """

    def __init__(self, path: Path, header: dict[str, Any], every: int | None = None, seconds: float | None = None):
        self.path, self.header, self.every, self.seconds = Path(path), header, every, seconds
        self.interrupted = False  # set by the deferred Ctrl-C handler
        self.saved_step: int | None = None
        self._last_save = time.monotonic()

    def due(self, step: int, last_step: int) -> bool:
        """Whether the state after ``step`` is saved: step 0, the last step, Ctrl-C, or the schedule."""
        return (step == 0 or step == last_step or self.interrupted
                or (self.every is not None and step % self.every == 0)
                or (self.seconds is not None and time.monotonic() - self._last_save >= self.seconds))

    def save(self, step: int, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        """Write the snapshot atomically (temporary sibling, flush, rename, flush the folder)."""
        metadata = {"format": STATE_FORMAT, "header": json.dumps(self.header), "state": json.dumps(state)}
        temporary = self.path.with_name(self.path.name + ".partial")
        save_file({name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}, str(temporary),
                  metadata=metadata)
        fsync(temporary)
        os.replace(temporary, self.path)
        fsync(self.path.parent, directory=True)
        self.saved_step, self._last_save = step, time.monotonic()

    def discard(self) -> None:
        """Delete the checkpoint (its run is complete)."""
        for path in (self.path, self.path.with_name(self.path.name + ".partial")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    @contextlib.contextmanager
    def deferring_interrupts(self) -> Iterator[None]:
        """Inside: the first Ctrl-C only sets :attr:`interrupted` (the loop saves, then raises
        :class:`FitInterrupted`); a second one raises ``KeyboardInterrupt`` at once. The previous
        handler is restored on exit. Outside the main thread nothing is deferred."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.interrupted:
                raise KeyboardInterrupt
            self.interrupted = True

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


def read_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, torch.Tensor]]:
    """``(header, state, tensors)`` of a checkpoint file; one-line :class:`SinetuneError` if unreadable."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        if metadata.get("format") != STATE_FORMAT:
            raise ValueError(f"format {metadata.get('format')!r}")
        return json.loads(metadata["header"]), json.loads(metadata["state"]), tensors
    except FileNotFoundError:
        raise SinetuneError(f"no checkpoint at {path}") from None
    except (SafetensorError, OSError, ValueError, KeyError) as error:
        raise SinetuneError(f"the checkpoint {path} is unreadable ({error}); fit again without --resume") from None


def fingerprint(values) -> str:
    """SHA-256 of a signal's sample values (an array), to check a resumed fit fits the same signal."""
    import numpy as np

    array = np.ascontiguousarray(values)
    return hashlib.sha256(str((array.dtype.str, array.shape)).encode() + array.tobytes()).hexdigest()


@contextlib.contextmanager
def checkpointing(target: Path | None, header: dict[str, Any], every: int | None, seconds: float | None,
                  overwrite: bool, resuming: bool, resume_command: str) -> Iterator[Checkpointer | None]:
    """The :class:`Checkpointer` of a fit that writes the run directory ``target`` (``None``: no run
    directory, no checkpoints), around training *and* the writing of the run.

    A new fit (not ``resuming``) into a target with a checkpoint is refused unless ``overwrite``
    (the interrupted fit could be resumed). On success the checkpoint is deleted; an interrupt
    (Ctrl-C, during training or after it) after a save becomes :class:`FitInterrupted` with
    ``resume_command`` as its hint.
    """
    if target is None:
        yield None
        return
    from .rundir import resume_path

    checkpointer = Checkpointer(resume_path(target), header, every, seconds)
    if checkpointer.path.exists() and not resuming and not overwrite:
        raise SinetuneError(f"an interrupted fit of {target} can be resumed ({resume_command}); pass --overwrite "
                            f"to start it over")
    try:
        yield checkpointer
    except FitInterrupted as interrupt:
        interrupt.hint = resume_command
        raise
    except KeyboardInterrupt:
        if checkpointer.saved_step is None:
            raise
        interrupt = FitInterrupted(checkpointer.saved_step, -1, checkpointer.path)
        interrupt.hint = resume_command
        raise interrupt from None
    checkpointer.discard()


def _weights(prefix: str, weights: list[torch.Tensor] | None, tensors: dict[str, torch.Tensor]) -> None:
    for index, weight in enumerate(weights or ()):
        tensors[f"{prefix}.{index}"] = weight


def _load_weights(prefix: str, tensors: dict[str, torch.Tensor], device: torch.device) -> list[torch.Tensor] | None:
    found = sorted((int(name.rpartition(".")[2]), tensor) for name, tensor in tensors.items()
                   if name.rpartition(".")[0] == prefix)
    return [tensor.to(device) for _, tensor in found] if found else None


def snapshot(step: int, field: torch.nn.Module, optimizer: torch.optim.Optimizer, batches: MinibatchOrder,
             runs: list[_SignalRun], active: list[int], last_good: list[torch.Tensor],
             elapsed: float) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Everything :func:`sinetune.training.train` needs to go on after ``step``: ``(tensors, state)``."""
    tensors = {f"field.{name}": value for name, value in field.state_dict().items()}
    optimizer_state = optimizer.state_dict()
    for index, entry in optimizer_state["state"].items():
        for key, value in entry.items():
            tensors[f"optimizer.{index}.{key}"] = value
    _weights("last_good", last_good, tensors)
    if batches.batch < batches.count:  # a full batch never draws an order (N int64s not worth writing)
        tensors["batches.order"] = batches.order
    if batches.generator is not None:
        tensors["generator"] = batches.generator.get_state()
    signals = []
    for b, run in enumerate(runs):
        for name in ("final", "good", "best"):
            _weights(f"run.{b}.{name}", getattr(run, name), tensors)
        result = run.result
        signals.append({"history": result.history, "step_seconds": result.step_seconds,
                        "diverged": result.diverged, "stopped": result.stopped, "best_step": result.best_step,
                        "best_score": run.best_score})
    state = {"step": step, "elapsed": elapsed, "active": active, "cursor": batches.cursor, "signals": signals,
             "param_groups": optimizer_state["param_groups"]}
    return tensors, state


def restore(state: dict[str, Any], tensors: dict[str, torch.Tensor], field: torch.nn.Module,
            optimizer: torch.optim.Optimizer, batches: MinibatchOrder, runs: list[_SignalRun],
            last_good: list[torch.Tensor]) -> tuple[int, list[int], float]:
    """Put a :func:`snapshot` back into a freshly set-up loop; returns ``(step, active, elapsed)``."""
    device = batches.device
    if len(state["signals"]) != len(runs):
        raise SinetuneError(f"the checkpoint holds {len(state['signals'])} signals, the fit {len(runs)}")
    try:
        field.load_state_dict({name[len("field."):]: value for name, value in tensors.items()
                               if name.startswith("field.")})
    except RuntimeError as error:
        raise SinetuneError(f"the checkpoint does not fit this model ({str(error).splitlines()[0]})") from None
    optimizer_state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            optimizer_state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": optimizer_state, "param_groups": state["param_groups"]})
    with torch.no_grad():
        for saved, value in zip(last_good, _load_weights("last_good", tensors, device)):
            saved.copy_(value)
    if "batches.order" in tensors:
        batches.order = tensors["batches.order"].to(device)
    batches.cursor = state["cursor"]
    if batches.generator is not None and "generator" in tensors:
        batches.generator.set_state(tensors["generator"])
    for b, (run, saved) in enumerate(zip(runs, state["signals"])):
        for name in ("final", "good", "best"):
            setattr(run, name, _load_weights(f"run.{b}.{name}", tensors, device))
        result = run.result
        result.history, result.step_seconds = saved["history"], saved["step_seconds"]
        result.diverged, result.stopped, result.best_step = saved["diverged"], saved["stopped"], saved["best_step"]
        run.best_score = saved["best_score"]
    return state["step"], list(state["active"]), state["elapsed"]


__all__ = ["Checkpointer", "FitInterrupted", "STATE_FORMAT", "checkpointing", "fingerprint", "read_checkpoint",
           "restore", "snapshot"]
