"""Datasets on a cluster: ``fit-many`` groups as Ray tasks (``sinetune fit-many … --cluster ray[://ADDRESS]``).

The signals are split into groups of ``group_size`` (in order); each group is one Ray task that runs
:func:`sinetune.many.fit_many` on a worker — one batched model, its normal run directories written
under ``out`` — with ``resume=True``, so:

* finished runs are never redone: a group whose run directories are complete is read back, not fitted;
* a worker that dies (killed, out of memory, node lost) has its task retried by Ray (``retries``
  times); the retry continues the group from its training checkpoint (:mod:`sinetune.train_state`),
  which makes the result equal to an uninterrupted fit on the same device.

``out`` must be a folder every worker sees at the same path (one machine, or a shared file system).
The driver prints ``signals done / total`` with an ETA as groups finish and returns one
:class:`ClusterFit` per signal, in order. Ray is an optional dependency (``pip install
'sinetune[ray]'``); ``address=None`` starts a local Ray instance with ``num_cpus`` CPUs, ``"auto"``
or ``"ray://host:port"`` joins a running cluster.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SinetuneError


@dataclass
class ClusterFit:
    """One signal's outcome: its name, run directory and ``metrics.json`` contents."""

    name: str
    run_dir: Path
    metrics: dict[str, Any]


def _fit_group(paths: list[str], out: str, arguments: dict[str, Any]) -> list[tuple[str, str, dict]]:
    """The body of one Ray task: ``fit_many(paths, out=out, resume=True, **arguments)`` → ``(name, dir, metrics)``."""
    from .many import fit_many
    from .rundir import finite

    results = fit_many(paths, out=out, resume=True, **arguments)
    return [(result.signal.name, str(result.run_dir), finite(result.metrics)) for result in results]


def _ray():
    try:
        import ray
    except ImportError:
        raise SinetuneError("--cluster ray needs Ray: pip install 'sinetune[ray]'") from None
    return ray


def parse_cluster(text: str) -> str | None:
    """``ray`` → ``None`` (a local instance); ``ray://HOST:PORT`` or ``ray:auto`` → that address."""
    if text == "ray":
        return None
    if text.startswith("ray://"):
        return text
    if text == "ray:auto":
        return "auto"
    raise SinetuneError(f"--cluster must be ray, ray:auto or ray://HOST:PORT, got {text!r}")


def fit_many_ray(
    signals: Sequence[str | Path],
    method: str = "tuner",
    *,
    out: str | Path,
    group_size: int = 8,
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_group: float = 1.0,
    gpus_per_group: float = 0.0,
    retries: int = 3,
    progress: bool = True,
    **arguments: Any,
) -> list[ClusterFit]:
    """Fit ``signals`` (files) in groups of ``group_size`` as Ray tasks; one :class:`ClusterFit` each.

    Args:
        signals: image or sound files, all of one shape after ``size`` (as :func:`sinetune.many.fit_many`).
        out: root of the run directories, ``out/<stem>`` (seen by every worker).
        address: ``None`` starts a local Ray instance (``num_cpus`` CPUs, default all); ``"auto"``
            or ``"ray://host:port"`` connects to a running cluster.
        cpus_per_group, gpus_per_group: what one group's task reserves (a GPU group needs ``device``
            ``"cuda"`` or ``"auto"`` in ``arguments``).
        retries: how often a group whose worker died is tried again (it resumes, see the module docstring).
        progress: print ``signals done / total``, the elapsed time and an ETA on stderr as groups finish.
        arguments: the other keyword arguments of :func:`sinetune.many.fit_many` (``size``, ``options``,
            ``train_options``, ``seed``, ``holdout``, ``device``, ``overwrite``).
    """
    if group_size < 1:
        raise SinetuneError(f"group size must be a positive number of signals, got {group_size}")
    paths = [str(Path(path).resolve()) for path in signals]
    if not paths:
        raise SinetuneError("fit-many needs at least one signal")
    stems = [Path(path).stem for path in paths]
    repeated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if repeated:
        raise SinetuneError(f"two signals share the name {repeated[0]!r}; their run directories would collide")
    ray = _ray()
    out = str(Path(out).resolve())
    Path(out).mkdir(parents=True, exist_ok=True)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=num_cpus if address is None else None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=cpus_per_group, num_gpus=gpus_per_group, max_retries=retries)(_fit_group)
        groups = [paths[start:start + group_size] for start in range(0, len(paths), group_size)]
        pending = {task.remote(group, out, arguments): index for index, group in enumerate(groups)}
        finished: dict[int, list[tuple[str, str, dict]]] = {}
        began = time.monotonic()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ready[0])
            try:
                finished[index] = ray.get(ready[0])
            except ray.exceptions.RayTaskError as error:
                cause = error.cause if isinstance(getattr(error, "cause", None), SinetuneError) else None
                raise (cause or SinetuneError(f"group {index + 1} failed on its worker: "
                                              f"{str(error).strip().splitlines()[-1]}")) from None
            except ray.exceptions.RayError as error:  # the worker died more often than retries
                raise SinetuneError(f"group {index + 1} was lost {retries + 1} times ({type(error).__name__}); "
                                    f"run the same command again to resume it") from None
            if progress:
                done = sum(len(groups[i]) for i in finished)
                elapsed = time.monotonic() - began
                eta = elapsed / done * (len(paths) - done)
                print(f"sinetune: {done}/{len(paths)} signals done, {elapsed:.0f} s, ETA {eta:.0f} s",
                      file=sys.stderr, flush=True)
    finally:
        if started_here:
            ray.shutdown()
    return [ClusterFit(name, Path(run_dir), metrics)
            for index in range(len(groups)) for name, run_dir, metrics in finished[index]]


__all__ = ["ClusterFit", "fit_many_ray", "parse_cluster"]
