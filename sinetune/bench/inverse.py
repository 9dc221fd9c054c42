"""``sinetune bench denoise|inpaint|superres`` (issue #14): inverse tasks, fields against classic baselines.

The protocol (:mod:`sinetune.tasks` corrupts, every fit and baseline sees the same corrupted input,
corruption seed 0, scored as ``clean_psnr`` against the clean signal):

* Images: Kodak ``kodim03``, ``kodim19``, ``kodim23`` (``--images``) at 256² (antialiased), fields of
  width 256 with one hidden layer (the ``kodak-256`` shape), full batch, no held-out samples (every
  known sample is trained), each method at its documented default learning rate and defaults.

  * ``denoise``: Gaussian noise σ = 0.1 (unclipped); at most ``steps`` steps, stopped by the
    discrepancy rule (training MSE ≤ σ̂², σ̂ estimated from the noisy image). Baselines: TV
    (Chambolle, weight σ̂), wavelet (BayesShrink), BM3D (if the ``bm3d`` package is installed) and
    ``tv-oracle`` (TV at the weight best against the clean image: an upper bound, not a method).
  * ``inpaint``: 50% of the pixels missing at random; ``clean_psnr`` over the missing pixels.
    Baseline: bi-harmonic inpainting.
  * ``superres``: ×2 and ×4 (block average of the 256² image), rendered at 256²; baselines bicubic
    and Lanczos.

* Audio (denoise and inpaint; ``--clips``, default ``bach``; ``--clips ''`` for none): ``seconds``
  of the clip from :data:`AUDIO_START` (1 s: ``bach`` opens with 0.25 s of near-silence, whose
  dither the peak normalisation would blow up to full scale), peak-normalised; the ``audio``
  benchmark's shape (SIREN²'s: width ``audio_width``, 3 hidden sine layers; SIREN at first ω 3000).
  Denoise at 20 dB SNR (same stop rule); inpaint: gaps (boxes of at most 1% of the clip, ≥ a quarter
  of that) covering 10%.

TUNER's input width is capped at the distinct frequencies its default band holds on the fitted
grid (:func:`tuner_input_width`: a 32² low-resolution grid holds 24 below band-limit 3).

Rows: item (image or clip, with the setting), method (field or baseline), ``clean_psnr`` (dB, range 1
for images, 2 for audio), ``clean_ssim`` (images), the input's own ``clean_psnr`` (``input_psnr``:
the noisy signal, or the missing samples filled with the known mean), steps run, why training
stopped, and seconds. ``setting_means`` in ``results.json`` (and the last table of ``results.md``):
per setting × method means.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..baselines import baselines_for
from ..config import config_from_dict
from ..errors import SinetuneError
from ..methods import get_method
from ..progress import Progress, as_progress
from ..runs import resolve_device, run
from ..signals import load_audio, load_image
from ..tasks import TaskOptions, prepare_task, score_task
from .audio import PROTOCOL_OPTIONS, _find_clips
from .data import benchmark_data
from .kodak import _find_images
from .report import BenchReport, as_json_row, fresh_dir, mean, number, write_report

IMAGES = ("03", "19", "23")
#: Where the audio crop starts, in seconds.
AUDIO_START = 1.0
METHODS = ("tuner", "siren", "siren2", "finer")
#: Each benchmark's settings: ``(label, task options, audio?)``.
SETTINGS: dict[str, tuple[tuple[str, TaskOptions, bool], ...]] = {
    "denoise": (("σ=0.1", TaskOptions(task="denoise", noise=0.1), False),
                ("20 dB", TaskOptions(task="denoise", snr=20.0), True)),
    "inpaint": (("50% pixels", TaskOptions(task="inpaint", mask_fraction=0.5), False),
                ("10% gaps", TaskOptions(task="inpaint", mask_fraction=0.1, mask_pattern="boxes", box_size=0.01),
                 True)),
    "superres": (("×2", TaskOptions(task="superres", factor=2), False),
                 ("×4", TaskOptions(task="superres", factor=4), False)),
}
COLUMNS = (("clean_psnr", "clean PSNR", 2), ("clean_ssim", "clean SSIM", 4), ("input_psnr", "input PSNR", 2),
           ("steps_run", "steps", 0), ("seconds", "s", 1))


def _run_inverse(name: str, data_dir: Path | None, images: list[str] | None, clips: list[str] | None,
                 methods: list[str], steps: int, size: int, width: int, seconds: float, audio_width: int,
                 device: str, out: Path | None, overrides: dict[str, dict[str, Any]] | None,
                 progress: bool | Progress, seed: int) -> BenchReport:
    """The shared runner of the three benchmarks (see the module docstring)."""
    if steps < 1:
        raise SinetuneError(f"steps must be positive, got {steps}")
    methods = list(dict.fromkeys(methods))
    for method in methods:
        get_method(method)
    overrides = dict(overrides or {})
    task_overrides, train_overrides = overrides.pop("task", {}), overrides.pop("train", {})
    root = Path(data_dir) if data_dir is not None else None
    # --set task.KEY=VALUE / train.KEY=VALUE reach every setting's task options / every fit's training
    settings = tuple((label, config_from_dict({"method": methods[0], "task": {**vars(task), **task_overrides}}).task,
                      is_audio) for label, task, is_audio in SETTINGS[name])
    image_names = list(IMAGES) if images is None else images  # [] (--images ''): no images
    image_paths = _find_images(benchmark_data(root / "kodak" if root else None, "kodak", f"bench {name}",
                                              "the Kodak images kodimNN.png"), image_names) if image_names else []
    clip_names = ["bach"] if clips is None else clips
    audio = [s for s in settings if s[2]]
    clip_paths = _find_clips(benchmark_data(root / "audio" if root else None, "audio", f"bench {name}",
                                            "the clip .wav files"), clip_names) if clip_names and audio else []

    def config_for(method: str, task: TaskOptions, is_audio: bool, grid_shape: tuple[int, ...] = (size, size)):
        if is_audio:
            options = {"input_width": audio_width, "hidden_width": audio_width, "hidden_layers": 3,
                       **PROTOCOL_OPTIONS.get(method, {})}
        else:
            options = {"input_width": width, "hidden_width": width, "hidden_layers": 1}
        options.update(overrides.get(method, {}))
        if method == "tuner" and "input_width" not in overrides.get(method, {}):  # a small band: fewer frequencies
            options["input_width"] = tuner_input_width(grid_shape, options["input_width"],
                                                       options.get("band_fraction"))
        train = {"steps": steps, "batch_size": "full", **train_overrides}  # the protocol's full batch unless --set
        config = config_from_dict({"method": method, "options": options, "train": train,
                                   "seed": seed, "holdout": 0.0, "device": device})
        return replace(config, task=task)

    for method in methods:  # a misspelt override fails now, not after an hour of fits
        config_for(method, settings[0][1], settings[0][2])
    torch_device = resolve_device(device)
    out_dir = Path(out) if out is not None else fresh_dir(Path("bench-runs") / name)
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "results.json").exists():
        raise SinetuneError(f"{out_dir / 'results.json'} already exists; choose another --out")
    report = BenchReport(out_dir=out_dir)
    header = {"benchmark": name, "steps": steps, "size": size, "width": width, "audio_width": audio_width,
              "seconds": seconds, "audio_start": AUDIO_START, "seed": seed, "holdout": 0.0, "device": str(torch_device),
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "overrides": {**overrides, **({"task": task_overrides} if task_overrides else {}),
                            **({"train": train_overrides} if train_overrides else {})},
              "settings": {label: dict(vars(task)) for label, task, _ in settings}}
    say = as_progress(progress)
    items = [(label, task, False, path) for label, task, is_audio in settings if not is_audio for path in image_paths]
    items += [(label, task, True, path) for label, task, is_audio in settings if is_audio for path in clip_paths]
    columns: list[str] = list(methods)
    for index, (label, task, is_audio, path) in enumerate(items, 1):
        signal = load_audio(path, start=AUDIO_START, duration=seconds) if is_audio else load_image(path, size)
        task_input = prepare_task(task, signal)
        item = f"{path.stem} {label}"
        input_psnr = score_task(task_input, task_input.signal.values)["clean_psnr"] if task.task != "superres" else None
        for method in methods:
            say.note(f"bench {name} [{index}/{len(items)}]: {item} × {method}")
            started = time.perf_counter()
            result = run(config_for(method, task, is_audio, task_input.signal.grid_shape), signal=signal,
                         progress=say)
            metrics = result.metrics
            report.rows.append(as_json_row({
                "item": item, "setting": label, "method": method, "clean_psnr": metrics["clean_psnr"],
                "clean_ssim": metrics.get("clean_ssim"), "input_psnr": input_psnr, "steps_run": metrics["steps"],
                "stopped": metrics["stopped_early"], "seconds": time.perf_counter() - started,
                "train_psnr": metrics["train_psnr"], "lr": result.config.train.lr,
                "input_width": result.config.options.input_width,
                "noise_sigma_estimate": metrics.get("noise_sigma_estimate"),
                "noise_band_fraction": metrics.get("noise_band_fraction")}))
            _write(report, header, columns, out_dir)
        for baseline, answer in baselines_for(task_input).items():
            say.note(f"bench {name} [{index}/{len(items)}]: {item} × {baseline}")
            started = time.perf_counter()
            scored = score_task(task_input, answer())
            if baseline not in columns:
                columns.append(baseline)
            report.rows.append(as_json_row({
                "item": item, "setting": label, "method": baseline, "clean_psnr": scored["clean_psnr"],
                "clean_ssim": scored.get("clean_ssim"), "input_psnr": input_psnr, "steps_run": None,
                "stopped": None, "seconds": time.perf_counter() - started}))
            _write(report, header, columns, out_dir)
    _write(report, header, columns, out_dir)
    return report


def tuner_input_width(grid_shape: tuple[int, ...], width: int, band_fraction: float | None = None) -> int:
    """``width``, capped at the distinct input frequencies TUNER's unraised band holds on ``grid_shape``
    (:func:`sinetune.capacity.held_input_width`; a 32² grid's band-limit 3 holds 24)."""
    from ..capacity import held_input_width

    return held_input_width(grid_shape, width, band_fraction=band_fraction)


def _write(report: BenchReport, header: dict[str, Any], columns: list[str], out_dir: Path) -> None:
    """results.json / results.md / report.html, then the per-setting means appended."""
    setting_means: dict[str, dict[str, dict[str, float | None]]] = {}
    for label in dict.fromkeys(row["setting"] for row in report.rows):
        for method in columns:
            rows = [row for row in report.rows if row["setting"] == label and row["method"] == method]
            if rows:
                setting_means.setdefault(label, {})[method] = {
                    key: mean([row.get(key) for row in rows]) for key in ("clean_psnr", "clean_ssim", "steps_run")}
    batch_size = header["overrides"].get("train", {}).get("batch_size")
    batch = f"batches of {batch_size}" if batch_size not in (None, "full") else "full batch"
    title = (f"{header['benchmark']}: at most {header['steps']} steps, images {header['size']}² width "
             f"{header['width']} (1 hidden layer), audio {header['seconds']:g} s from {header['audio_start']:g} s, "
             f"width {header['audio_width']} "
             f"(3 hidden layers), {batch}, no held-out samples, device {header['device']}, torch "
             f"{header['torch']}, {header['threads']} threads")
    write_report(report, {**header, "setting_means": setting_means}, columns, out_dir, "item", COLUMNS, title)
    lines = ["", "Means per setting (clean PSNR dB / clean SSIM / steps):", "",
             "| setting | method | clean PSNR | clean SSIM | steps |", "|---|---|---|---|---|"]
    for label, per_method in setting_means.items():
        for method, values in per_method.items():
            lines.append(f"| {label} | {method} | {number(values['clean_psnr'], 2)} | "
                         f"{number(values['clean_ssim'], 4)} | {number(values['steps_run'], 0)} |")
    # the per-method means over every setting mix ×2 with ×4 or images with audio: per setting only
    kept = [line for line in report.markdown.splitlines() if not line.startswith("| **mean**")]
    report.markdown = "\n".join(kept) + "\n" + "\n".join(lines)
    (out_dir / "results.md").write_text(report.markdown + "\n")


def run_denoise(data_dir: Path | None = None, images: list[str] | None = None, clips: list[str] | None = None,
                methods: list[str] = METHODS, steps: int = 300, size: int = 256, width: int = 256,
                seconds: float = 0.25, device: str = "auto", out: Path | None = None,
                overrides: dict[str, dict[str, Any]] | None = None, progress: bool | Progress = False,
                seed: int = 0, audio_width: int = 128) -> BenchReport:
    """``denoise``: Kodak at σ = 0.1 and one clip at 20 dB SNR (module docstring). ``data_dir``: a folder
    holding ``kodak/`` and ``audio/`` (default: the data cache, :mod:`sinetune.bench.data`)."""
    return _run_inverse("denoise", data_dir, images, clips, methods, steps, size, width, seconds, audio_width,
                        device, out, overrides, progress, seed)


def run_inpaint(data_dir: Path | None = None, images: list[str] | None = None, clips: list[str] | None = None,
                methods: list[str] = METHODS, steps: int = 300, size: int = 256, width: int = 256,
                seconds: float = 0.25, device: str = "auto", out: Path | None = None,
                overrides: dict[str, dict[str, Any]] | None = None, progress: bool | Progress = False,
                seed: int = 0, audio_width: int = 128) -> BenchReport:
    """``inpaint``: Kodak with 50% of the pixels missing, one clip with 10% in gaps (module docstring)."""
    return _run_inverse("inpaint", data_dir, images, clips, methods, steps, size, width, seconds, audio_width,
                        device, out, overrides, progress, seed)


def run_superres(data_dir: Path | None = None, images: list[str] | None = None, methods: list[str] = METHODS,
                 steps: int = 300, size: int = 256, width: int = 256, device: str = "auto", out: Path | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None, progress: bool | Progress = False,
                 seed: int = 0) -> BenchReport:
    """``superres``: Kodak ×2 and ×4, rendered at ``size``² against the original (module docstring)."""
    return _run_inverse("superres", data_dir, images, [], methods, steps, size, width, 0.25, 128, device, out,
                        overrides, progress, seed)


__all__ = ["AUDIO_START", "IMAGES", "METHODS", "SETTINGS", "run_denoise", "run_inpaint", "run_superres"]
