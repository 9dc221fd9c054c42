"""``sinetune bench video|volume|sdf`` (issue #14): N-D fits on CPU-sized protocols, TUNER against the peers.

One protocol shape for all three (:data:`PROTOCOLS`), each fit through :func:`sinetune.runs.run`
(the pipeline every fit uses: the same signals, methods, metrics and run directories):

* ``video``: the built-in ``pan`` (16 frames, a camera pan over astronaut, :func:`sinetune.volumes.pan_clip`)
  at ``size`` × ``size`` pixels (default 64); scored by PSNR over all samples, per frame, and held out.
* ``volume``: the built-in ``phantom3d`` (3-D Shepp–Logan, :func:`sinetune.volumes.phantom3d`) at
  ``size³`` (default 64; ``--size 128`` is the 2.1 M-sample end-to-end check); PSNR, per slice.
* ``sdf``: the signed distance fields of the built-in ``sphere``, ``torus`` and ``capsule``
  (:mod:`sinetune.sdf`) at ``size³`` (default 64) plus their near-surface points; scored by the IoU
  of the occupancies and the Chamfer distance of the marching-cubes surfaces.

Every method gets the same shape — width ``width`` (default 128) in every layer, TUNER with one
hidden layer (its design) and the sine MLPs with ``hidden_layers`` = 3 after the first — the same
``steps`` (default 500) of mini-batches of ``batch_size`` (default 8192) samples, 5% held out
(video, volume; none for an SDF, whose score is the whole shape), seed 0, each method at its
default learning rate. ``peak_rss_gib`` is the process's peak resident memory (``getrusage``)
after the fit — cumulative over the runner, so the largest fit of a run bounds it.
"""

from __future__ import annotations

import json
import resource
import sys
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ..config import config_from_dict, config_to_dict
from ..errors import SinetuneError
from ..methods import get_method
from ..progress import Progress, as_progress
from ..runs import resolve_device, run
from ..signals import load_signal
from .report import BenchReport, as_json_row, fresh_dir, load_previous, write_report

#: benchmark → (signals, held-out fraction, table columns).
PROTOCOLS: dict[str, dict[str, Any]] = {
    "video": {"signals": ("pan",), "holdout": 0.05,
              "columns": (("full_psnr", "PSNR", 2), ("heldout_psnr", "held-out PSNR", 2),
                          ("frame_psnr_min", "worst frame PSNR", 2))},
    "volume": {"signals": ("phantom3d",), "holdout": 0.05,
               "columns": (("full_psnr", "PSNR", 2), ("heldout_psnr", "held-out PSNR", 2),
                           ("slice_psnr_min", "worst slice PSNR", 2))},
    "sdf": {"signals": ("sphere", "torus", "capsule"), "holdout": 0.0,
            "columns": (("iou", "IoU", 4), ("chamfer", "Chamfer", 4))},
}
COMMON_COLUMNS = (("parameters", "parameters", 0), ("train_seconds", "train s", 1),
                  ("seconds_per_step_median", "s/step", 3), ("peak_rss_gib", "peak RSS GiB", 2))
METHODS = ("tuner", "siren", "finer")
PROTOCOL_KEYS = ("benchmark", "signals", "size", "steps", "batch_size", "width", "hidden_layers", "holdout", "seed",
                 "overrides")


def peak_rss_gib() -> float:
    """The process's peak resident set size so far, GiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 30) if sys.platform == "darwin" else peak / (1 << 20)


def run_nd_bench(
    benchmark: str,
    signals: list[str] | None = None,
    methods: list[str] = METHODS,
    steps: int = 500,
    size: int = 64,
    width: int = 128,
    hidden_layers: int = 3,
    batch_size: int = 8192,
    device: str = "auto",
    out: Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    progress: bool | Progress = False,
    seed: int = 0,
    resume: bool = False,
) -> BenchReport:
    """Run N-D benchmark ``benchmark`` (a :data:`PROTOCOLS` key); ``results.json`` / ``results.md`` to ``out``.

    Args:
        signals: sources to fit (default the protocol's); any N-D source :func:`~sinetune.signals.load_signal` reads.
        methods: method names (default :data:`METHODS`), each at its default lr.
        steps, batch_size: Adam steps per fit, samples per mini-batch.
        size: grid side (a video's frame side; its 16 frames are kept).
        width, hidden_layers: every layer's width; hidden sine layers after the first (not TUNER's: 1).
        overrides: per-method option overrides, ``{"tuner": {"band_limit": 8}}``.
        resume: continue an interrupted run in ``out`` (same protocol), skipping finished rows.
    """
    if benchmark not in PROTOCOLS:
        raise SinetuneError(f"unknown N-D benchmark {benchmark!r}; choose one of: {', '.join(PROTOCOLS)}")
    for name, value in (("steps", steps), ("batch_size", batch_size), ("width", width), ("size", size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SinetuneError(f"{name} must be a positive integer, got {value!r}")
    protocol = PROTOCOLS[benchmark]
    sources = list(dict.fromkeys(signals or protocol["signals"]))
    methods = list(dict.fromkeys(methods))
    if not methods or not sources:
        raise SinetuneError("no methods or no signals given")
    for method in methods:
        get_method(method)
    overrides = json.loads(json.dumps(overrides or {}))
    stray = sorted(set(overrides) - set(methods))
    if stray:
        raise SinetuneError(f"overrides for {', '.join(map(repr, stray))}, which is not among the methods")

    def config_for(source: str, method: str):
        shape = {"input_width": width, "hidden_width": width,
                 "hidden_layers": 1 if method == "tuner" else hidden_layers}
        return config_from_dict({"signal": {"path": source, "size": size}, "method": method,
                                 "options": {**shape, **overrides.get(method, {})},
                                 "train": {"steps": steps, "batch_size": batch_size, "log_every": max(1, steps // 10)},
                                 "seed": seed, "holdout": protocol["holdout"], "device": device})

    for method in methods:  # a misspelt override fails now, not after the first fits
        config_for(sources[0], method)
    out_dir = Path(out) if out is not None else fresh_dir(Path("bench-runs") / benchmark)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = BenchReport(out_dir=out_dir)
    header = {"benchmark": benchmark, "signals": sources, "size": size, "steps": steps, "batch_size": batch_size,
              "width": width, "hidden_layers": hidden_layers, "holdout": protocol["holdout"], "seed": seed,
              "overrides": overrides, "device": str(resolve_device(device)), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "configs": {}}
    previous = load_previous(out_dir, header, PROTOCOL_KEYS, resume)
    done: set[tuple[str, str]] = set()
    if previous is not None:
        report.rows, header["configs"] = previous.get("rows", []), previous.get("configs", {})
        done = {(row["signal"], row["method"]) for row in report.rows}
    say = as_progress(progress)
    columns = protocol["columns"] + COMMON_COLUMNS
    for source in sources:
        if all((source, m) in done for m in methods):
            continue
        signal = load_signal(source, size=size)
        for method in methods:
            if (source, method) in done:
                continue
            say.note(f"bench {benchmark}: {source} × {method}")
            result = run(config_for(source, method), signal=signal, progress=say)
            header["configs"].setdefault(source, {})[method] = config_to_dict(result.config)["options"]
            metrics = result.metrics
            row = {"signal": source, "method": method, "grid_shape": "×".join(map(str, signal.grid_shape)),
                   **{key: metrics.get(key) for key, _, _ in columns if key in metrics},
                   "peak_rss_gib": peak_rss_gib(), "lr": result.config.train.lr, "diverged": metrics.get("diverged"),
                   "derived": metrics.get("derived")}
            report.rows.append(as_json_row(row))
            _write(report, header, methods, out_dir, columns)
    _write(report, header, methods, out_dir, columns)
    return report


def _write(report: BenchReport, header: dict[str, Any], methods: list[str], out_dir: Path,
           columns: tuple[tuple[str, str, int], ...]) -> None:
    title = (f"{header['benchmark']}: {', '.join(header['signals'])} at size {header['size']}, {header['steps']} steps "
             f"of {header['batch_size']} samples, width {header['width']} (sine MLPs {header['hidden_layers'] + 1} "
             f"sine layers, TUNER 1 hidden), held out {header['holdout']:g}, device {header['device']}, "
             f"torch {header['torch']}, {header['threads']} threads")
    changed = [f"{method}.{key}={value}" for method, options in header["overrides"].items()
               for key, value in options.items()]
    title += f"; overrides {', '.join(changed)}" if changed else ""
    write_report(report, header, methods, out_dir, "signal", columns, title)


#: ``bench video|volume|sdf``: :func:`run_nd_bench` with the protocol bound (its other keywords stay options).
run_video = partial(run_nd_bench, "video")
run_volume = partial(run_nd_bench, "volume")
run_sdf = partial(run_nd_bench, "sdf")


__all__ = ["METHODS", "PROTOCOLS", "peak_rss_gib", "run_nd_bench", "run_sdf", "run_video", "run_volume"]
