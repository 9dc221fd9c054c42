"""``sinetune bench ttq`` (issue #16): time to quality — seconds of training to a held-out PSNR target.

Protocol: Kodak images (default 02, 03, 04) at 256², 5% held out (seed 0), width 256, one hidden
layer, each method at its default learning rate, ``stop_psnr`` = ``target`` (30 dB held-out) and at
most ``steps`` steps, logged every 10 steps. For each image and method every *lever*
(:data:`LEVERS`: training options on top of the defaults) is fitted in turn, ``full batch`` first (the
default before issue #16, the reference of every ratio), so each ratio ``× full batch`` (lever's
seconds / the full batch's, same image, same method) is measured under one machine load. ``default``
is today's (derived) default: mini-batches of 16384 at 256² (:mod:`sinetune.batching`); the other
levers apply on top of it. ``s to target`` is training time (``elapsed_s``, evaluation excluded; a
lever's own work — e.g. solving the head — included) at the first log step at or above the target;
missing when the target was not reached within ``steps``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..errors import SinetuneError
from ..methods import get_method
from ..runs import resolve_device, run
from ..signals import load_image
from .kodak import _config, _find_images, seconds_to_psnr
from .report import BenchReport, as_json_row, fresh_dir, write_report

#: lever name → training options over the defaults; ``lr`` is a multiple of the method's default lr.
LEVERS: dict[str, dict[str, Any]] = {
    "full batch": {"batch_size": "full"},
    "default": {},
    "lr ×2": {"lr": 2.0},
    "lr ×4": {"lr": 4.0},
    "lr ×4, warm-up 20, cosine": {"lr": 4.0, "warmup_steps": 20, "lr_schedule": "cosine", "lr_floor": 0.1},
    "solved head": {"solve_head": True},
    "mini-batch 16384": {"batch_size": 16384},
    "lr ×2 + solved head": {"lr": 2.0, "solve_head": True},
    "mini-batch 16384 + lr ×2": {"batch_size": 16384, "lr": 2.0},
}
COLUMNS = (("seconds_to_target", "s to target", 1), ("ratio", "× full batch", 2), ("steps_run", "steps", 0),
           ("heldout_psnr", "held-out PSNR", 2), ("seconds_per_step_median", "s/step", 3))


def run_ttq(
    data_dir: Path | None = None,
    images: list[str] | None = None,
    methods: list[str] = ("tuner",),
    levers: list[str] | None = None,
    steps: int = 600,
    stop_psnr: float = 30.0,
    device: str = "auto",
    out: Path | None = None,
    progress: bool = False,
    size: int = 256,
    width: int = 256,
    seed: int = 0,
) -> BenchReport:
    """Run ``ttq`` and write ``results.json`` / ``results.md`` to ``out`` (default ``bench-runs/ttq[-N]``).

    Args:
        data_dir: folder with ``kodimNN.png`` (Kodak), else any ``.png`` (DIV2K crops ``NN.png``).
        images: subset (default ``02, 03, 04``); methods: e.g. ``tuner, siren, finer``.
        levers: names from :data:`LEVERS` (default: all); ``full batch`` is always run first.
        steps: the most steps a fit may take; stop_psnr: the held-out target in dB.
    """
    if data_dir is None:
        raise SinetuneError("bench ttq needs the Kodak images: pass --data DIR")
    chosen = ["full batch"] + [name for name in (levers or LEVERS) if name != "full batch"]
    unknown = [name for name in chosen if name not in LEVERS]
    if unknown:
        raise SinetuneError(f"unknown lever {unknown[0]!r}; choose from: {', '.join(LEVERS)}")
    paths = _find_images(Path(data_dir), images or ["02", "03", "04"])
    torch_device = resolve_device(device)
    out_dir = Path(out) if out is not None else fresh_dir(Path("bench-runs") / "ttq")
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "results.json").exists():
        raise SinetuneError(f"{out_dir / 'results.json'} already exists; choose another --out")
    header = {"benchmark": "ttq", "steps": steps, "stop_psnr": stop_psnr, "size": size, "width": width, "seed": seed,
              "device": str(torch_device), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "levers": {name: LEVERS[name] for name in chosen}}
    report = BenchReport(out_dir=out_dir)
    title = (f"ttq: seconds of training to {stop_psnr:g} dB held-out, {size}², width {width}, at most {steps} "
             f"steps, device {torch_device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for path in paths:
        signal = load_image(path, size)
        for method_name in methods:
            base = _config(path, method_name, size, width, steps, seed, 0.05, device, {}, stop_psnr)
            default_seconds = None
            for lever in chosen:
                settings = dict(LEVERS[lever])
                lr = get_method(method_name).default_lr * settings.pop("lr", 1.0)
                config = replace(base, train=replace(base.train, lr=lr, **settings))
                result = run(config, signal=signal, progress=progress)
                seconds = seconds_to_psnr(result.history, stop_psnr)
                if lever == "full batch":
                    default_seconds = seconds
                report.rows.append(as_json_row({
                    "image": path.stem, "method": method_name, "lever": lever, "seconds_to_target": seconds,
                    "ratio": seconds / default_seconds if seconds and default_seconds else None,
                    "steps_run": result.metrics["steps"], "heldout_psnr": result.metrics["heldout_psnr"],
                    "seconds_per_step_median": result.metrics["seconds_per_step_median"],
                    "diverged": result.metrics["diverged"]}))
                _write(report, header, out_dir, title)
    return report


def _write(report: BenchReport, header: dict[str, Any], out_dir: Path, title: str) -> None:
    """The table groups rows by method × lever (means over images)."""
    keyed = [dict(row, method=f"{row['method']}: {row['lever']}") for row in report.rows]
    shown = BenchReport(rows=keyed, out_dir=out_dir)
    order = list(dict.fromkeys(row["method"] for row in keyed))
    write_report(shown, header, order, out_dir, "image", COLUMNS, title)
    report.markdown, report.means = shown.markdown, shown.means


__all__ = ["LEVERS", "run_ttq"]
