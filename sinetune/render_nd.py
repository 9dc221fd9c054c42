"""Renders and run-directory files of N-D fields: videos, volumes and signed distance fields.

A run directory of an N-D fit holds, besides ``config.yaml``, ``metrics.json``,
``model.safetensors``, ``log.csv`` and ``curves.png`` (as every run):

* ``reconstruction.npy``: the field on the training grid, ``grid_shape + (C,)`` float32 (values in
  the signal's units: [0, 1] for a video or volume, coordinate units for an SDF);
* ``slices.png``: the middle slice along each of the first three axes (4-D: of the middle index
  of the first), target / reconstruction / |error|;
* video: ``reconstruction.gif``, the reconstructed frames at the clip's frame rate;
* SDF: ``mesh.ply``, the reconstruction's zero level set by marching cubes (:func:`sinetune.sdf.extract_mesh`),
  absent when the field has no zero crossing on the grid;
* ``report.html`` (metrics, ``slices.png``, curves), as for every run.

``sinetune render RUN`` writes the same at any grid size: a ``.gif`` (video), ``.npy`` (any) or
``.ply`` (SDF), chosen by ``--out``'s suffix (default: ``.gif`` for a video, ``.ply`` for an SDF,
``.npy`` for a volume).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .errors import SinetuneError
from .render import new_figure, render_field, save_curves
from .signals import image_from_array

if TYPE_CHECKING:
    from torch import nn

    from .runs import FitResult

#: The files of an N-D run directory by kind (the manifest is added last by :mod:`sinetune.rundir`).
ND_RUN_FILES = {
    "video": ("config.yaml", "metrics.json", "model.safetensors", "log.csv", "reconstruction.npy",
              "reconstruction.gif", "slices.png", "curves.png"),
    "volume": ("config.yaml", "metrics.json", "model.safetensors", "log.csv", "reconstruction.npy", "slices.png",
               "curves.png"),
    "sdf": ("config.yaml", "metrics.json", "model.safetensors", "log.csv", "reconstruction.npy", "slices.png",
            "curves.png", "mesh.ply"),
}
#: What ``render`` writes for an N-D field.
ND_RENDER_SUFFIXES = (".npy", ".gif", ".ply")


def save_gif(frames: np.ndarray, path: Path, frame_rate: float | None) -> None:
    """``(T, H, W, C)`` frames in [0, 1] (clipped) as a looping 8-bit GIF at ``frame_rate`` fps (default 8)."""
    images = [Image.fromarray(image_from_array(frame)) for frame in frames]
    duration = round(1000.0 / (frame_rate or 8.0))
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0)


def middle_slices(values: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``(name, 2-D slice)`` through the middle of each of the first three grid axes of a
    ``grid_shape + (C,)`` array (4-D: at the middle index of the first axis); channels averaged."""
    grid = values.mean(axis=-1)
    while grid.ndim > 3:
        grid = grid[grid.shape[0] // 2]
    names = ("axis 0", "axis 1", "axis 2")
    return [(f"{names[a]} = {grid.shape[a] // 2}", np.take(grid, grid.shape[a] // 2, axis=a)) for a in range(3)]


def save_slices(prediction: np.ndarray, target: np.ndarray, path: Path, signed: bool = False) -> None:
    """Middle slices (:func:`middle_slices`) of target, reconstruction and |error|, one column per axis.

    ``signed``: an SDF (diverging colours centred on 0, the zero level drawn); else gray in [0, 1].
    """
    figure = new_figure(10, 10, layout="compressed")
    axes = figure.subplots(3, 3)
    rows = (("target", middle_slices(target)), ("reconstruction", middle_slices(prediction)))
    limit = float(np.abs(target).max()) or 1.0
    for row, (title, slices) in enumerate(rows):
        for column, (name, image) in enumerate(slices):
            axis = axes[row, column]
            if signed:
                axis.imshow(image, cmap="RdBu", vmin=-limit, vmax=limit)
                if image.min() < 0 < image.max():
                    axis.contour(image, levels=[0.0], colors="k", linewidths=0.8)
            else:
                axis.imshow(np.clip(image, 0, 1), cmap="gray", vmin=0, vmax=1)
            axis.set_title(f"{title}, {name}", fontsize=9)
            axis.axis("off")
    for column, ((name, left), (_, right)) in enumerate(zip(*(slices for _, slices in rows))):
        error = np.abs(right - left)
        axis = axes[2, column]
        axis.imshow(error, cmap="inferno", vmin=0, vmax=max(float(np.percentile(error, 99.5)), 1e-6))
        axis.set_title(f"|error|, {name}", fontsize=9)
        axis.axis("off")
    figure.savefig(path)


def save_mesh(grid: np.ndarray, path: Path) -> bool:
    """The zero level set of an SDF grid as a PLY mesh; ``False`` (nothing written) without a zero crossing."""
    from .sdf import extract_mesh

    mesh = extract_mesh(grid)
    if mesh is None:
        return False
    mesh.export(str(path))
    return True


def write_nd_run(run_dir: Path, result: FitResult, prediction: np.ndarray, name: str | None = None
                 ) -> dict[str, Path]:
    """Write the files of :data:`ND_RUN_FILES` (for the signal's kind) into ``run_dir``, then ``report.html``
    (naming the run ``name``); returns name → path."""
    from .checkpoint import save_field
    from .config import save_config
    from .rundir import _with_report, finite

    signal = result.signal
    names = ND_RUN_FILES[signal.kind]
    paths = {name.split(".")[0] + ("_gif" if name.endswith(".gif") else ""): run_dir / name for name in names}
    save_config(result.config, paths["config"])
    paths["metrics"].write_text(json.dumps(finite(result.metrics), indent=2) + "\n")
    save_field(result.field, paths["model"], result.config.method, signal.grid_shape, signal.channels)
    with paths["log"].open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["step", "loss", "train_psnr", "heldout_psnr", "elapsed_s"])
        writer.writeheader()
        writer.writerows(result.history)
    np.save(paths["reconstruction"], prediction.astype(np.float32))
    save_slices(prediction, signal.values, paths["slices"], signed=signal.kind == "sdf")
    save_curves(result.history, paths["curves"])
    if signal.kind == "video":
        save_gif(prediction, paths["reconstruction_gif"], signal.frame_rate)
    if signal.kind == "sdf" and not save_mesh(prediction, paths["mesh"]):
        del paths["mesh"]
    return _with_report(paths, run_dir, result, name)


def render_nd(fitted: nn.Module, info: dict, run_dir: str | Path, size: int | None, domain: tuple[float, float],
              out: str | Path | None, overwrite: bool, chunk: int) -> Path:
    """The N-D branch of :func:`sinetune.renders.render_run` (see the module docstring).

    ``size``: the longer side of the render grid (a video's longer spatial side; its frames are
    kept), ``None`` = the training grid.
    """
    from .rundir import check_output_file

    metrics_path = Path(run_dir) / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    kind = metrics.get("kind", "volume")
    grid = list(info["grid_shape"])
    if size is not None:
        if not 2 <= size <= 1024:
            raise SinetuneError(f"N-D render size must be between 2 and 1024, got {size}")
        axes = range(1, len(grid)) if kind == "video" else range(len(grid))
        longer = max(grid[a] for a in axes)
        for a in axes:
            grid[a] = max(2, round(grid[a] * size / longer))
    default = {"video": ".gif", "sdf": ".ply"}.get(kind, ".npy")
    if out is None:
        suffix = "" if tuple(domain) == (-1.0, 1.0) else f"-domain{domain[0]:g}_{domain[1]:g}"
        out = Path(run_dir) / f"render-{'x'.join(map(str, grid))}{suffix}{default}"
    out = check_output_file(out, ND_RENDER_SUFFIXES, f"an N-D render ({', '.join(ND_RENDER_SUFFIXES)})")
    if out.suffix.lower() == ".gif" and kind != "video" or out.suffix.lower() == ".ply" and kind != "sdf":
        raise SinetuneError(f"a {kind} renders to {default} or .npy, not {out.suffix}")
    if out.exists() and not overwrite:
        raise SinetuneError(f"{out} already exists; pass --overwrite to replace it")
    if math.prod(grid) * info["channels"] * 4 > 8 << 30:
        raise SinetuneError(f"a {'×'.join(map(str, grid))} render would need over 8 GiB; pick a smaller --size")
    values = render_field(fitted, tuple(grid), domain, chunk)
    if out.suffix.lower() == ".gif":
        save_gif(values, out, metrics.get("frame_rate"))
    elif out.suffix.lower() == ".ply":
        if not save_mesh(values, out):
            raise SinetuneError("the field has no zero level set on this grid; nothing to mesh")
    else:
        np.save(out, values)
    return out


__all__ = ["ND_RUN_FILES", "middle_slices", "render_nd", "save_gif", "save_mesh", "save_slices", "write_nd_run"]
