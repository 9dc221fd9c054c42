"""``sinetune bench generalization`` (issue #17): do the defaults reproduce the pixels they never saw, on any
image, at any size?

A matrix of grids × content classes × two protocols, each method at its defaults:

* ``holdout``: 5% of the pixels held out at random (seeded); per fit train / held-out / gradient PSNR
  (the field's analytic gradient), SSIM and the train − held-out gap, straight from the run's metrics;
* ``sr`` (super-resolution): fit the 2×-downsampled grid (area average) with nothing held out, as
  ``sinetune fit --task superres --factor 2`` does (so each method at its super-resolution defaults:
  TUNER's depth recipe, :data:`sinetune.tasks.TASK_DEPTH`), render
  the field on the full grid (pixel centres aligned: the full grid spans the low grid's pixels, so its
  domain is ``±(1 + 1/(2(M − 1)))`` for ``M`` low samples per side) and score it against the original —
  PSNR, SSIM and gradient PSNR of the Sobel gradient of the render (the same for every row) — next to
  bicubic and Lanczos upsampling of the same input.

Classes (:data:`CLASSES`) are tagged by the half of the issue's choose/confirm split they belong to:
the default rule (:mod:`sinetune.capacity`) was chosen on ``choose`` (generated classes, a DIV2K crop)
and is confirmed on ``confirm`` (a Kodak image, scikit-image's astronaut, the grayscale camera).
The matrix (:data:`CELLS`) is subsampled to fit a CPU budget: one image per class, most cells at 64²
and 128²; results.md states it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..config import config_from_dict, config_to_dict
from ..datasets import data_root
from ..errors import SinetuneError
from ..metrics import gradient_psnr_of_magnitude, gray, psnr, sobel_gradient, ssim
from ..progress import Progress, as_progress
from ..render import render_field
from ..runs import resolve_device, run
from ..signals import Signal, load_image
from ..tasks import TaskOptions
from .content import resample, synthetic, to_grid
from .report import BenchReport, as_json_row, fresh_dir, load_previous, write_report

#: Content class → (source, split). Sources: ``generated:NAME`` (:mod:`sinetune.bench.content`),
#: ``builtin:NAME`` (scikit-image), ``DATASET/FILE`` under the data folder.
CLASSES: dict[str, tuple[str, str]] = {
    "smooth-noise": ("generated:smooth-noise", "choose"),
    "shapes": ("generated:shapes", "choose"),
    "line-art": ("generated:line-art", "choose"),
    "texture": ("generated:texture", "choose"),
    "div2k": ("div2k/00.png", "choose"),
    "white-noise": ("generated:white-noise", "choose"),
    "kodak": ("kodak/kodim19.png", "confirm"),
    "photo": ("builtin:astronaut", "confirm"),
    "grayscale": ("builtin:camera", "confirm"),
}

#: Method variants: name → (method, options). ``tuner-256`` is the fixed default before issue #17.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "tuner": ("tuner", {}),
    "siren": ("siren", {}),
    "tuner-learned": ("tuner", {"bound_mode": "learned"}),
    "finer": ("finer", {}),
    "tuner-256": ("tuner", {"input_width": 256, "hidden_width": 256, "hidden_layers": 1, "band_fraction": 0.2}),
}

#: Upsamplers compared on the ``sr`` protocol.
UPSAMPLERS = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}


@dataclass(frozen=True)
class Cell:
    """One block of the matrix: a grid, a protocol, the classes and the variants fitted there."""

    grid: tuple[int, int]
    protocol: str
    classes: tuple[str, ...]
    variants: tuple[str, ...]


ALL = tuple(CLASSES)
FEW = ("div2k", "shapes", "kodak")
#: The subsampled matrix, in the order it runs (the most telling rows first, so a run cut short by the CPU
#: budget still answers the main question).
CELLS = (
    Cell((64, 64), "holdout", ALL, ("tuner", "siren")),
    Cell((64, 64), "sr", ALL, ("tuner", "siren")),
    Cell((128, 128), "holdout", FEW, ("tuner", "siren", "tuner-256")),
    Cell((64, 64), "holdout", ALL, ("tuner-learned",)),
    Cell((64, 64), "holdout", FEW, ("finer",)),
    Cell((128, 128), "sr", ("div2k", "kodak"), ("tuner", "siren")),
    Cell((96, 160), "holdout", ("div2k", "photo"), ("tuner", "siren")),
    Cell((128, 128), "holdout", ("div2k", "kodak"), ("tuner-learned",)),
    Cell((256, 256), "holdout", ("kodak",), ("tuner",)),
)


def master(name: str, data_dir: Path) -> np.ndarray:
    """The full-resolution ``(H, W, C)`` image of class ``name`` in [0, 1]."""
    source = CLASSES[name][0]
    if source.startswith("generated:"):
        return synthetic(source.removeprefix("generated:"))
    if source.startswith("builtin:"):
        return load_image(source.removeprefix("builtin:"), max_size=None).values
    path = data_dir / source
    if not path.is_file():
        raise SinetuneError(f"bench generalization needs {path}; pass --data DIR, a folder with kodak/ and div2k/ "
                            f"(e.g. sinetune data fetch kodak)")
    return load_image(path, max_size=None).values


def _config(variant: str, name: str, steps: int, seed: int, holdout: float, device: str,
            variants: dict[str, tuple[str, dict[str, Any]]] | None = None, train: dict[str, Any] | None = None) -> Any:
    method, options = (variants or VARIANTS)[variant]
    return config_from_dict({"signal": {"path": f"{CLASSES[name][0]}"}, "method": method, "options": options,
                             "train": {"steps": steps, "batch_size": "full", **(train or {})}, "seed": seed,
                             "holdout": holdout,
                             "device": device})


def _scores(prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Full-grid PSNR, SSIM and Sobel-gradient PSNR of an upsampled ``prediction``."""
    magnitude = np.hypot(*sobel_gradient(gray(prediction)))
    return {"full_psnr": psnr(prediction, target), "ssim": ssim(prediction, target),
            "gradient_psnr": gradient_psnr_of_magnitude(magnitude, target)}


def sr_domain(low_side: int) -> tuple[float, float]:
    """Coordinates of the full grid's outer pixel centres for a field fitted on ``low_side`` samples per side
    on [-1, 1]: ``±(1 + 1/(2(M − 1)))`` (each low pixel covers two full ones)."""
    half = 0.5 / (low_side - 1)
    return (-1.0 - half, 1.0 + half)


def fit_cell(cell: Cell, name: str, variant: str, target: np.ndarray, steps: int, seed: int, device: str,
             say: Progress, variants: dict[str, tuple[str, dict[str, Any]]] | None = None,
             train: dict[str, Any] | None = None) -> dict[str, Any]:
    """One row: ``variant`` fitted to class ``name`` on ``cell``'s grid under its protocol.

    ``variants`` (default :data:`VARIANTS`) names the method and options of ``variant``; ``train`` adds
    :class:`~sinetune.training.TrainOptions` fields (e.g. ``lr``) to the run's (a study's candidates)."""
    row: dict[str, Any] = {"cell": f"{cell.grid[0]}x{cell.grid[1]}/{cell.protocol}/{name}", "grid": list(cell.grid),
                           "protocol": cell.protocol, "class": name, "split": CLASSES[name][1], "method": variant}
    if variant in UPSAMPLERS:
        low = resample(target, (cell.grid[0] // 2, cell.grid[1] // 2), Image.Resampling.BOX)
        return {**row, **_scores(resample(low, cell.grid, UPSAMPLERS[variant]), target)}
    holdout = 0.05 if cell.protocol == "holdout" else 0.0
    config = _config(variant, name, steps, seed, holdout, device, variants, train)
    if cell.protocol == "sr":  # the task block-averages the target by 2 and fits that
        config = replace(config, task=TaskOptions(task="superres", factor=2))
    try:
        result = run(config, signal=Signal(target, name), progress=say)
    except SinetuneError as error:  # e.g. a fixed width the grid cannot hold: the row says so
        return {**row, "refused": str(error)}
    metrics = result.metrics
    row.update({"train_psnr": metrics["train_psnr"], "parameters": metrics["parameters"],
                "train_seconds": metrics["train_seconds"], "diverged": metrics["diverged"],
                "options": config_to_dict(result.config)["options"]})
    if "select_seconds" in metrics:  # TUNER's validation search (sinetune.selection) ran before the fit
        row["select_seconds"] = metrics["select_seconds"]
    if cell.protocol == "holdout":
        row.update({"heldout_psnr": metrics["heldout_psnr"], "gradient_psnr": metrics["gradient_psnr"],
                    "ssim": metrics["ssim"], "gap": metrics["train_psnr"] - metrics["heldout_psnr"]})
    else:
        low_side = result.signal.grid_shape[0]
        if result.signal.grid_shape[0] != result.signal.grid_shape[1]:
            raise SinetuneError("the sr protocol needs a square grid")
        prediction = render_field(result.field, cell.grid, sr_domain(low_side))
        row.update(_scores(prediction, target))
        row["gap"] = metrics["train_psnr"] - row["full_psnr"]
    return row


def run_generalization(
    data_dir: Path | None = None,
    methods: list[str] | None = None,
    steps: int = 200,
    device: str = "auto",
    out: Path | None = None,
    progress: bool | Progress = False,
    resume: bool = False,
    seed: int = 0,
    cells: tuple[Cell, ...] = CELLS,
    size: int | None = None,
) -> BenchReport:
    """Run the :data:`CELLS` matrix and write ``results.json``, ``results.md`` and ``report.html`` to ``out``.

    Args:
        data_dir: a folder holding ``kodak/`` and ``div2k/`` (default: the data cache, :mod:`sinetune.datasets`).
        methods: the variants to fit (names of :data:`VARIANTS`; default all); the upsamplers always run on ``sr``.
        steps: optimizer steps per fit (full batch, each method's default learning rate).
        resume: continue an interrupted run in ``out``, skipping finished rows.
        cells: the matrix (default :data:`CELLS`; a test passes a tiny one).
        size: only the cells whose longer grid side is ``size`` (``--size``; e.g. to run a grid in its own process).
    """
    if steps < 1:
        raise SinetuneError(f"steps must be positive, got {steps}")
    chosen = tuple(methods) if methods is not None else tuple(VARIANTS)
    unknown = [m for m in chosen if m not in VARIANTS]
    if unknown:
        raise SinetuneError(f"unknown variant {unknown[0]!r}; choose from: {', '.join(VARIANTS)}")
    if size is not None:
        cells = tuple(c for c in cells if max(c.grid) == size)
        if not cells:
            raise SinetuneError(f"no cell of bench generalization has a {size}-pixel longer side; "
                                f"sizes: {', '.join(sorted({str(max(c.grid)) for c in CELLS}, key=int))}")
    data_dir = Path(data_dir) if data_dir is not None else data_root()
    out_dir = Path(out) if out is not None else fresh_dir(Path("bench-runs") / "generalization")
    out_dir.mkdir(parents=True, exist_ok=True)
    torch_device = resolve_device(device)
    header = {"benchmark": "generalization", "steps": steps, "seed": seed, "methods": list(chosen),
              "device": str(torch_device), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cells": [{"grid": list(c.grid), "protocol": c.protocol, "classes": list(c.classes),
                         "variants": list(c.variants)} for c in cells],
              "classes": {name: {"source": source, "split": split} for name, (source, split) in CLASSES.items()}}
    report = BenchReport(out_dir=out_dir)
    previous = load_previous(out_dir, header, ("benchmark", "steps", "seed", "methods", "cells"), resume)
    report.rows = previous.get("rows", []) if previous is not None else []
    done = {(r["cell"], r["method"]) for r in report.rows}
    say = as_progress(progress)
    todo = [(cell, name, variant) for cell in cells for name in cell.classes
            for variant in [v for v in cell.variants if v in chosen]
            + (list(UPSAMPLERS) if cell.protocol == "sr" and "tuner" in cell.variants else [])]
    masters: dict[str, np.ndarray] = {}
    for index, (cell, name, variant) in enumerate(todo):
        key = f"{cell.grid[0]}x{cell.grid[1]}/{cell.protocol}/{name}"
        if (key, variant) in done:
            continue
        say.note(f"bench generalization [{index + 1}/{len(todo)}]: {key} × {variant}")
        if name not in masters:
            masters[name] = master(name, data_dir)
        target = to_grid(masters[name], cell.grid)
        report.rows.append(as_json_row(fit_cell(cell, name, variant, target, steps, seed, device, say)))
        _write(report, header, out_dir)  # a partial run always has its tables
    _write(report, header, out_dir)
    return report


COLUMNS = (("train_psnr", "train PSNR", 2), ("heldout_psnr", "held-out PSNR", 2), ("full_psnr", "full PSNR (sr)", 2),
           ("gradient_psnr", "grad PSNR", 2), ("ssim", "SSIM", 4), ("gap", "gap", 2), ("parameters", "params", 0),
           ("train_seconds", "train s", 1))


def _write(report: BenchReport, header: dict[str, Any], out_dir: Path) -> None:
    from .generalization_summary import summary_markdown

    title = (f"generalization: {header['steps']} full-batch steps, seed {header['seed']}, device {header['device']}, "
             f"torch {header['torch']}, {header['threads']} threads; rows per cell × method (sr rows score the "
             f"full grid)")
    write_report(report, header, [], out_dir, "cell", COLUMNS, title)
    summary = summary_markdown(report.rows, header)
    report.markdown = summary + "\n\n" + report.markdown
    (out_dir / "results.md").write_text(report.markdown + "\n")


__all__ = ["CELLS", "CLASSES", "UPSAMPLERS", "VARIANTS", "Cell", "fit_cell", "run_generalization", "sr_domain"]
