"""Benchmarks (``sinetune bench NAME``): quality and speed under a fixed protocol, one table out.

``kodak-256`` (issue #2): the 24 Kodak images (512² crops) downscaled to 256² (antialiased), 5% of
the pixels held out (seeded), width 256 for the input and the hidden layer, one hidden layer,
full batch, 300 steps, each method at its documented default learning rate. Per image and mean:
train / held-out / gradient PSNR, SSIM, seconds per step, and the ratio of that step time to a
straightforward PyTorch implementation of the same network (``nn.Linear`` + ``torch.sin`` + Adam),
the two timed alternately in the same process right after each fit (:func:`interleaved_step_seconds`).
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from .config import RunConfig, SignalConfig, config_to_dict
from .errors import SinetuneError
from .methods import get_method
from .runs import resolve_device, run
from .signals import load_image
from .training import TrainOptions, train

DEFAULT_DATA = Path("..") / "shared" / "data" / "kodak"
BENCHMARKS = ("kodak-256",)


@dataclass
class BenchReport:
    """Rows (one per image × method), per-method means, a markdown table, and where it was written."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    means: dict[str, dict[str, float]] = field(default_factory=dict)
    markdown: str = ""
    out_dir: Path | None = None


class PlainSineNetwork(nn.Module):
    """The straightforward reference: ``nn.Linear`` layers and ``torch.sin``, nothing else.

    ``first_omega`` multiplies the first pre-activation (SIREN; 1 for TUNER, whose frozen first
    weights already hold ``2πK/p``), ``hidden_omega`` the hidden one.
    """

    def __init__(self, dim: int, input_width: int, hidden_width: int, channels: int, first_omega: float,
                 hidden_omega: float, hidden_layers: int, frozen_first: torch.Tensor | None):
        super().__init__()
        self.first = nn.Linear(dim, input_width)
        widths = [input_width] + [hidden_width] * hidden_layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.out = nn.Linear(widths[-1], channels)
        self.first_omega, self.hidden_omega = first_omega, hidden_omega
        if frozen_first is not None:
            self.first.weight = nn.Parameter(frozen_first.clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.sin(self.first_omega * self.first(x))
        for layer in self.hidden:
            h = torch.sin(self.hidden_omega * layer(h))
        return self.out(h)


def plain_stepper(method: str, options: Any, coords: torch.Tensor, values: torch.Tensor, lr: float,
                  device: torch.device) -> Callable[[], float]:
    """A closure that runs one full-batch Adam step of :class:`PlainSineNetwork` and returns its seconds."""
    dim = coords.shape[1]
    with torch.random.fork_rng(devices=[]):  # weights do not matter for timing; leave the global RNG alone
        torch.manual_seed(0)
        frozen = None
        if method == "tuner":
            frozen = torch.randint(-20, 21, (options.input_width, dim)).float() * (2 * math.pi / options.period)
        hidden_omega = getattr(options, "hidden_omega", 1.0)
        network = PlainSineNetwork(dim, options.input_width, options.hidden_width, values.shape[1],
                                   getattr(options, "first_omega", 1.0), hidden_omega,
                                   options.hidden_layers, frozen).to(device)
    bound = torch.full((options.input_width,), 0.4 / hidden_omega, device=device)
    optimizer = torch.optim.Adam([p for p in network.parameters() if p.requires_grad], lr=lr)
    coords, values = coords.to(device), values.to(device)

    def step() -> float:
        started = time.perf_counter()
        optimizer.zero_grad()
        loss = torch.mean((network(coords) - values) ** 2)
        loss.backward()
        optimizer.step()
        if method == "tuner" and network.hidden:
            with torch.no_grad():
                first_hidden = network.hidden[0].weight
                first_hidden.copy_(torch.maximum(torch.minimum(first_hidden, bound), -bound))
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    return step


def interleaved_step_seconds(method_name: str, options: Any, grid_shape: tuple[int, ...], coords: torch.Tensor,
                             values: torch.Tensor, lr: float, device: torch.device, rounds: int = 7,
                             warmup: int = 2) -> tuple[float, float]:
    """Median seconds per step of sinetune's training step and of the plain reference, *alternating*.

    Each round runs one sinetune step (:func:`sinetune.training.train`, its own measured step time:
    forward, backward, Adam, constraints) then one plain step, so both medians see the same machine
    load — a shared, noisy machine then changes both, not the ratio.
    """
    method = get_method(method_name)
    built = method.build(options, grid_shape, values.shape[1], torch.Generator().manual_seed(0))
    field = built.field.to(device)
    plain = plain_stepper(method_name, options, coords, values, lr, device)
    ours, reference = [], []
    for _ in range(warmup + rounds):
        ours.append(train(field, coords, values, TrainOptions(steps=1), lr, built.constraints,
                          built.penalties).step_seconds[0])
        reference.append(plain())
    return statistics.median(ours[warmup:]), statistics.median(reference[warmup:])


def _find_images(data_dir: Path, images: list[str] | None) -> list[Path]:
    if not data_dir.is_dir():
        raise SinetuneError(f"benchmark data not found at {data_dir}; pass --data DIR")
    available = sorted(data_dir.glob("kodim*.png"))
    if not available:
        raise SinetuneError(f"no kodim*.png images in {data_dir}")
    if images is None:
        return available
    chosen = []
    for item in images:
        name = f"kodim{int(item):02d}" if item.isdigit() else Path(item).stem
        matches = [p for p in available if p.stem == name]
        if not matches:
            raise SinetuneError(f"image {item!r} not found in {data_dir}")
        chosen.append(matches[0])
    return chosen


def _fresh_dir(root: Path) -> Path:
    candidate, index = root, 1
    while candidate.exists():
        index += 1
        candidate = root.with_name(f"{root.name}-{index}")
    candidate.mkdir(parents=True)
    return candidate


def run_benchmark(
    name: str,
    data_dir: Path | None = None,
    images: list[str] | None = None,
    methods: list[str] = ("tuner", "siren"),
    steps: int = 300,
    device: str = "auto",
    out: Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    progress: bool = False,
    size: int = 256,
    width: int = 256,
    holdout: float = 0.05,
    seed: int = 0,
    resume: bool = False,
) -> BenchReport:
    """Run benchmark ``name`` and write ``results.json`` and ``results.md`` to a fresh directory.

    Args:
        name: ``kodak-256``.
        data_dir: folder with ``kodimNN.png`` (default ``../shared/data/kodak``).
        images: subset (``["03", "19"]`` or stems); ``None`` = all.
        methods: method names, each at its default lr with the protocol's shape.
        overrides: per-method option overrides, e.g. ``{"tuner": {"period": 4}}``.
        resume: continue an interrupted run in ``out`` (same protocol), skipping finished rows.
    """
    if name not in BENCHMARKS:
        raise SinetuneError(f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}")
    if steps < 1:
        raise SinetuneError(f"steps must be positive, got {steps}")
    paths = _find_images(Path(data_dir) if data_dir else DEFAULT_DATA, images)
    for method in methods:
        get_method(method)
    torch_device = resolve_device(device)
    out_dir = Path(out) if out is not None else _fresh_dir(Path("bench-runs") / name)
    out_dir.mkdir(parents=True, exist_ok=True)
    overrides = overrides or {}
    report = BenchReport(out_dir=out_dir)
    header = {"benchmark": name, "steps": steps, "size": size, "width": width, "holdout": holdout,
              "seed": seed, "device": str(torch_device), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "overrides": overrides, "configs": {}}
    done: set[tuple[str, str]] = set()
    if (out_dir / "results.json").exists():
        if not resume:
            raise SinetuneError(f"{out_dir / 'results.json'} already exists; choose another --out or pass --resume")
        previous = json.loads((out_dir / "results.json").read_text())
        protocol = ("benchmark", "steps", "size", "width", "holdout", "seed", "overrides")
        if any(previous.get(key) != header[key] for key in protocol):
            raise SinetuneError(f"cannot resume {out_dir}: it was run with a different protocol")
        report.rows = previous.get("rows", [])
        header["configs"] = previous.get("configs", {})
        done = {(row["image"], row["method"]) for row in report.rows}
    for path in paths:
        if all((path.stem, m) in done for m in methods):
            continue
        signal = load_image(path, size)
        for method_name in methods:
            if (path.stem, method_name) in done:
                continue
            method = get_method(method_name)
            options = method.options_type(**{"input_width": width, "hidden_width": width, "hidden_layers": 1,
                                             **overrides.get(method_name, {})})
            config = RunConfig(signal=SignalConfig(str(path), size), method=method_name, options=options,
                               train=TrainOptions(steps=steps), seed=seed, holdout=holdout, device=device)
            result = run(config, signal=signal, progress=progress)
            header["configs"][method_name] = config_to_dict(result.config)["options"]
            coords, values = signal.coords(), signal.flat_values()
            timed, plain = interleaved_step_seconds(method_name, result.config.options, signal.grid_shape,
                                                    coords[~result.heldout], values[~result.heldout],
                                                    result.config.train.lr, torch_device)
            row = {"image": path.stem, "method": method_name,
                   **{k: result.metrics.get(k) for k in ("train_psnr", "heldout_psnr", "full_psnr",
                                                        "gradient_psnr", "gradient_psnr_paper", "ssim",
                                                        "seconds_per_step_median", "diverged")},
                   "timed_seconds_per_step": timed,
                   "plain_seconds_per_step": plain,
                   "plain_ratio": timed / plain,
                   "lr": result.config.train.lr}
            report.rows.append({k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in row.items()})
            _write(report, header, methods, out_dir)  # a partial run always has its table
    _write(report, header, methods, out_dir)
    return report


MEAN_KEYS = ("train_psnr", "heldout_psnr", "gradient_psnr", "gradient_psnr_paper", "ssim", "seconds_per_step_median",
             "timed_seconds_per_step", "plain_seconds_per_step", "plain_ratio")


def _write(report: BenchReport, header: dict[str, Any], methods: list[str], out_dir: Path) -> None:
    """Per-method means over the images finished by *every* method, then results.json and results.md."""
    complete = [image for image in dict.fromkeys(r["image"] for r in report.rows)
                if all(any(r["image"] == image and r["method"] == m for r in report.rows) for m in methods)]
    report.means = {}
    for method_name in methods:
        rows = [r for r in report.rows if r["method"] == method_name and r["image"] in complete]
        if rows:
            report.means[method_name] = {k: _mean([r.get(k) for r in rows]) for k in MEAN_KEYS}
    header = {**header, "images_complete": len(complete)}
    report.markdown = to_markdown(report, header)
    (out_dir / "results.json").write_text(json.dumps({**header, "rows": report.rows, "means": report.means},
                                                     indent=1))
    (out_dir / "results.md").write_text(report.markdown + "\n")


def _mean(values: list[Any]) -> float | None:
    """Mean of the non-missing values (``None`` if there are none)."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def to_markdown(report: BenchReport, header: dict[str, Any]) -> str:
    """Per-image rows and per-method means as a markdown table."""
    lines = [f"{header['benchmark']}: {header['steps']} steps, {header['size']}², width {header['width']}, "
             f"holdout {header['holdout']}, device {header['device']}, torch {header['torch']}, "
             f"{header['threads']} threads; means over the {header.get('images_complete', '?')} images "
             "finished by every method",
             "",
             "| image | method | train PSNR | held-out PSNR | grad PSNR | grad PSNR (paper) | SSIM | s/step "
             "| × plain |",
             "|---|---|---|---|---|---|---|---|---|"]

    def number(value: Any, digits: int) -> str:
        return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"

    def fmt(row: dict[str, Any]) -> str:
        return " | ".join(number(row[key], digits) for key, digits in
                          (("train_psnr", 2), ("heldout_psnr", 2), ("gradient_psnr", 2), ("gradient_psnr_paper", 2),
                           ("ssim", 4), ("seconds_per_step_median", 3), ("plain_ratio", 2)))

    for row in report.rows:
        lines.append(f"| {row['image']} | {row['method']} | {fmt(row)} |")
    for method, mean in report.means.items():
        lines.append(f"| **mean** | **{method}** | {fmt(mean)} |")
    return "\n".join(lines)


__all__ = ["BenchReport", "PlainSineNetwork", "interleaved_step_seconds", "plain_stepper", "run_benchmark"]
