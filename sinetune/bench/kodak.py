"""``sinetune bench kodak-256`` (issue #2): image fitting quality and step time under a fixed protocol.

The protocol: the 24 Kodak images (512² crops) downscaled to 256² (antialiased), 5% of
the pixels held out (seeded), width 256 for the input and the hidden layer, one hidden layer,
the training defaults (:mod:`sinetune.batching`: at 256², batches of 16384 samples for 1200 steps = 300
epochs; before issue #16: full batch, 300 steps), each method at its documented default learning rate.
Per image and mean:
train / held-out / gradient PSNR, SSIM, seconds per step, and the ratio of that step time to a
straightforward PyTorch implementation of the same network (``nn.Linear`` + ``torch.sin`` + Adam),
the two timed alternately in the same process right after each fit
(:func:`sinetune.bench.reference.interleaved_step_seconds`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..config import RunConfig, config_from_dict, config_to_dict
from ..errors import SinetuneError
from ..progress import Progress, as_progress
from ..runs import resolve_device, run
from ..signals import load_image
from .data import benchmark_data
from .reference import SINE_MLPS, interleaved_step_seconds
from .report import BenchReport, as_json_row, fresh_dir, load_previous, write_report

QUALITY_TARGET_DB = 30.0
"""Held-out PSNR whose time-to-reach each row records (``seconds_to_30db``, issue #5)."""


def _find_images(data_dir: Path, images: list[str] | None) -> list[Path]:
    available = sorted(data_dir.glob("kodim*.png")) or sorted(data_dir.glob("*.png"))  # Kodak, else e.g. DIV2K
    if not available:
        raise SinetuneError(f"no .png images in {data_dir}")
    if images is None:
        return available
    if not images:
        raise SinetuneError("no images given")
    chosen = []
    for item in images:
        names = {Path(item).stem} | ({f"kodim{int(item):02d}", f"{int(item):02d}"} if item.isdigit() else set())
        matches = [p for p in available if p.stem in names]
        if not matches:
            raise SinetuneError(f"image {item!r} not found in {data_dir}")
        chosen.append(matches[0])
    return chosen


def run_kodak(
    data_dir: Path | None = None,
    images: list[str] | None = None,
    methods: list[str] = ("tuner", "siren"),
    steps: int | None = None,
    device: str = "auto",
    out: Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    progress: bool | Progress = False,
    size: int = 256,
    width: int = 256,
    holdout: float = 0.05,
    seed: int = 0,
    resume: bool = False,
    stop_psnr: float | None = None,
) -> BenchReport:
    """Run ``kodak-256`` and write ``results.json`` and ``results.md`` to ``out`` (default: a fresh directory).

    Args:
        data_dir: folder with ``kodimNN.png`` (default the data cache's ``kodak/``, which
            ``sinetune data fetch kodak`` fills: :mod:`sinetune.bench.data`).
        images: subset (``["03", "19"]`` or stems); ``None`` = all.
        methods: method names, each at its default lr with the protocol's shape.
        overrides: per-method option overrides, e.g. ``{"tuner": {"period": 4}}``.
        resume: continue an interrupted run in ``out`` (same protocol), skipping finished rows.
        stop_psnr: end each fit once its held-out PSNR reaches this many dB (``TrainOptions.stop_psnr``);
            with a generous ``steps`` this measures time to quality, e.g. ``stop_psnr=30``.
    """
    if steps is not None and steps < 1:
        raise SinetuneError(f"steps must be positive, got {steps}")
    paths = _find_images(benchmark_data(data_dir, "kodak", "kodak-256", "the Kodak images kodimNN.png"), images)
    for method_name in methods:  # a misspelt or mistyped override fails now, not after an hour of fits
        _config(paths[0], method_name, size, width, steps, seed, holdout, device, overrides or {},
                stop_psnr)
    torch_device = resolve_device(device)
    out_dir = Path(out) if out is not None else fresh_dir(Path("bench-runs") / "kodak-256")
    out_dir.mkdir(parents=True, exist_ok=True)
    overrides = overrides or {}
    report = BenchReport(out_dir=out_dir)
    header = {"benchmark": "kodak-256", "steps": steps, "size": size, "width": width, "holdout": holdout,
              "seed": seed, "stop_psnr": stop_psnr, "device": str(torch_device), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "overrides": overrides, "configs": {}}
    done: set[tuple[str, str]] = set()
    previous = load_previous(out_dir, header, ("benchmark", "steps", "size", "width", "holdout", "seed", "overrides",
                                                    "stop_psnr"),
                             resume)
    if previous is not None:
        report.rows = previous.get("rows", [])
        header["configs"] = previous.get("configs", {})
        done = {(row["image"], row["method"]) for row in report.rows}
    say = as_progress(progress)
    todo = [(p.stem, m) for p in paths for m in methods if (p.stem, m) not in done]
    for path in paths:
        if all((path.stem, m) in done for m in methods):
            continue
        signal = load_image(path, size)
        for method_name in methods:
            if (path.stem, method_name) in done:
                continue
            say.note(f"bench kodak-256 [{todo.index((path.stem, method_name)) + 1}/{len(todo)}]: "
                     f"{path.stem} × {method_name}")
            config = _config(path, method_name, size, width, steps, seed, holdout, device, overrides, stop_psnr)
            result = run(config, signal=signal, progress=say)
            header["configs"][method_name] = config_to_dict(result.config)["options"]
            coords, values = signal.coords(), signal.flat_values()
            timed = plain = None
            if method_name in SINE_MLPS:  # the plain reference is a sine MLP: the same network only for these
                say.stage("timing against the plain PyTorch reference")
                timed, plain = interleaved_step_seconds(method_name, result.config.options, signal.grid_shape,
                                                        coords[~result.heldout], values[~result.heldout],
                                                        result.config.train.lr, torch_device)
            row = {"image": path.stem, "method": method_name,
                   **{k: result.metrics.get(k) for k in ("train_psnr", "heldout_psnr", "full_psnr",
                                                        "gradient_psnr", "gradient_psnr_paper", "ssim",
                                                        "seconds_per_step_median", "diverged")},
                   "timed_seconds_per_step": timed,
                   "plain_seconds_per_step": plain,
                   "plain_ratio": timed / plain if plain else None,
                   "seconds_to_30db": seconds_to_psnr(result.history, QUALITY_TARGET_DB),
                   "steps_run": result.metrics["steps"],
                   "lr": result.config.train.lr}
            report.rows.append(as_json_row(row))
            _write(report, header, methods, out_dir)  # a partial run always has its table
    _write(report, header, methods, out_dir)
    return report


COLUMNS = (("train_psnr", "train PSNR", 2), ("heldout_psnr", "held-out PSNR", 2), ("gradient_psnr", "grad PSNR", 2),
           ("gradient_psnr_paper", "grad PSNR (paper)", 2), ("ssim", "SSIM", 4),
           ("seconds_per_step_median", "s/step", 3), ("plain_ratio", "× plain", 2),
           ("seconds_to_30db", "s to 30 dB", 1), ("steps_run", "steps", 0))


def seconds_to_psnr(history: list[dict[str, float]], target: float) -> float | None:
    """Training seconds (``elapsed_s``, evaluation excluded) at the first log step whose held-out
    PSNR reaches ``target`` dB; ``None`` if no logged step does (resolution: ``log_every`` steps)."""
    for row in history:
        if row["heldout_psnr"] >= target:
            return row["elapsed_s"]
    return None


def _config(path: Path, method_name: str, size: int, width: int, steps: int | None, seed: int, holdout: float,
            device: str, overrides: dict[str, dict[str, Any]], stop_psnr: float | None = None) -> RunConfig:
    """The protocol's run config for one image and method; overrides are checked like a YAML config."""
    options = {"input_width": width, "hidden_width": width, "hidden_layers": 1, **overrides.get(method_name, {})}
    return config_from_dict({"signal": {"path": str(path), "size": size}, "method": method_name, "options": options,
                             "train": {"steps": steps, "stop_psnr": stop_psnr}, "seed": seed, "holdout": holdout,
                             "device": device})


def _write(report: BenchReport, header: dict[str, Any], methods: list[str], out_dir: Path) -> None:
    title = (f"{header['benchmark']}: {header['steps'] or 'derived'} steps, {header['size']}², "
             f"width {header['width']}, "
             f"holdout {header['holdout']}, device {header['device']}, torch {header['torch']}, "
             f"{header['threads']} threads")
    if header.get("stop_psnr") is not None:
        title += f", stopping at {header['stop_psnr']:g} dB held-out"
    write_report(report, header, methods, out_dir, "image", COLUMNS, title)


__all__ = ["run_kodak"]
