"""Inverse tasks (issue #14): the field's depth, and for superres point against area observation.

``--task superres``: each row fits one image's ``k×`` block average (``sinetune fit --task superres``, the
pipeline of every fit) with one named setting and one observation (``task.observation``: ``point`` fits
the field at the low-resolution centres; ``area`` fits the mean over the ``k^d`` positions each sample
averages, :mod:`sinetune.observation`), and scores the ``k×`` render against the original next to
bicubic and Lanczos upsampling of the same input (the ``baselines`` columns).

``--task denoise``: each row fits the image with Gaussian noise ``--noise`` (corruption seed 0), stopped
by the discrepancy rule at ``task.stop_factor`` (``--stop-factors``), scored against the clean image
next to TV, wavelet and (if installed) BM3D on the same input.

Rows already in ``--out`` are skipped (a rerun resumes).

Usage (choose on DIV2K crops, confirm on Kodak)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/studies/inverse_settings.py \\
        --images ../shared/data/div2k/0{0,1,2,3}.png --size 128 --factors 2,4 \\
        --settings tuner,tuner-l3,siren,siren-l3 --out benchmarks/results/superres14/choose.jsonl
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np

from sinetune.baselines import bm3d_available, run_baseline, upsample
from sinetune.bench.inverse import tuner_input_width
from sinetune.config import config_from_dict
from sinetune.runs import run
from sinetune.signals import load_image
from sinetune.tasks import TaskOptions, prepare_task, score_task

#: Named settings: ``(method, options[, training options])``; ``width`` is filled in (the bench's protocol:
#: one hidden layer) unless the setting gives the widths.
SETTINGS = {
    "tuner": ("tuner", {"hidden_layers": 1}),
    "tuner-l2": ("tuner", {"hidden_layers": 2, "deep_bound": 0.15}),
    "tuner-l3": ("tuner", {"hidden_layers": 3, "deep_bound": 0.15}),
    "tuner-l3-db0.3": ("tuner", {"hidden_layers": 3, "deep_bound": 0.3}),
    "tuner-l4": ("tuner", {"hidden_layers": 4, "deep_bound": 0.15}),
    "tuner-l3-lr1e-4": ("tuner", {"hidden_layers": 3, "deep_bound": 0.15}, {"lr": 1e-4}),
    # the capacity rule's widths (``--width`` ignored): today's default, and the depth recipe on top of it
    "tuner-rule": ("tuner", {"hidden_width": None, "input_width": None, "hidden_layers": 1}),
    "tuner-l3-rule": ("tuner", {"hidden_width": None, "input_width": None, "hidden_layers": 3, "deep_bound": 0.15}),
    "siren": ("siren", {"hidden_layers": 1}),
    "siren-l3": ("siren", {"hidden_layers": 3}),
}
UPSAMPLERS = ("bicubic", "lanczos")
#: The baseline each task's margin is taken against (first) and the others reported.
DENOISERS = ("tv", "wavelet", "bm3d")


def fit_row(path: Path, size: int, task: dict, setting: str, width: int, steps: int) -> dict:
    """One fit's clean PSNR and the baselines' on the same input (``task``: the ``task:`` section)."""
    signal = load_image(path, size)
    method, extra, *train = SETTINGS[setting]
    options = {"hidden_width": width, **extra}
    factor = task.get("factor", 1)
    if "input_width" not in extra:
        options["input_width"] = (tuner_input_width((size // factor, size // factor), width) if method == "tuner"
                                  else width)
    config = config_from_dict({"method": method, "options": options, "seed": 0, "holdout": 0.0, "device": "cpu",
                               "train": {"steps": steps, "batch_size": "full", "checkpoint_seconds": None,
                                         **(train[0] if train else {})},
                               "task": task})
    started = time.perf_counter()
    result = run(config, signal=signal)
    seconds = time.perf_counter() - started
    row = {"image": path.stem, "size": size, "task": task["task"], "setting": setting, "width": width, "steps": steps,
           "clean_psnr": result.metrics["clean_psnr"], "clean_ssim": result.metrics.get("clean_ssim"),
           "steps_run": result.metrics["steps"], "seconds": seconds}
    if task["task"] == "superres":
        row.update(factor=factor, observation=task["observation"])
        prepared = prepare_task(config.task, signal)
        row.update({name: score_task(prepared, upsample(prepared.signal.values, factor, name))["clean_psnr"]
                    for name in UPSAMPLERS})
    else:
        row.update(noise=task["noise"], stop_factor=task["stop_factor"])
        row.update(denoiser_scores(path, size, task["noise"]))
    return row


@functools.lru_cache(maxsize=None)
def denoiser_scores(path: Path, size: int, noise: float) -> dict[str, float]:
    """The denoising baselines' clean PSNR on one noisy input (the same for every setting and stop factor)."""
    prepared = prepare_task(TaskOptions(task="denoise", noise=noise), load_image(path, size))
    return {name: score_task(prepared, run_baseline(name, prepared))["clean_psnr"]
            for name in DENOISERS if name != "bm3d" or bm3d_available()}


def variant(row: dict) -> str:
    """The corruption and the task option a row varies: ``×2 point`` or ``σ=0.1 stop 0.9``."""
    if row.get("task", "superres") == "superres":
        return f"×{row['factor']} {row['observation']}"
    return f"σ={row['noise']:g} stop {row['stop_factor']:g}"


def summary(rows: list[dict]) -> str:
    """Markdown: the mean clean PSNR per variant × setting, and its margins over the baselines (the first
    of them: images won)."""
    superres = rows and rows[0].get("task", "superres") == "superres"
    names = UPSAMPLERS if superres else tuple(name for name in DENOISERS if all(name in r for r in rows))
    lines = [f"| variant | setting | images | clean PSNR | {' | '.join('− ' + name for name in names)} "
             f"| wins over {names[0]} |", "|---|---|---|---|" + "---|" * (len(names) + 1)]
    for key, setting in sorted({(variant(r), r["setting"]) for r in rows}):
        group = [r for r in rows if (variant(r), r["setting"]) == (key, setting)]
        margins = [np.mean([r["clean_psnr"] - r[name] for r in group]) for name in names]
        wins = sum(r["clean_psnr"] > r[names[0]] for r in group)
        lines.append(f"| {key} | {setting} | {len(group)} | {np.mean([r['clean_psnr'] for r in group]):.2f} | "
                     + " | ".join(f"{m:+.2f}" for m in margins) + f" | {wins}/{len(group)} |")
    return "\n".join(lines)


def tasks(args: argparse.Namespace) -> list[dict]:
    """The ``task:`` sections the command line asks for."""
    if args.task == "superres":
        return [{"task": "superres", "factor": factor, "observation": observation}
                for factor in map(int, args.factors.split(",")) for observation in args.observations.split(",")]
    return [{"task": "denoise", "noise": args.noise, "stop_factor": factor}
            for factor in map(float, args.stop_factors.split(","))]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", type=Path, required=True)
    parser.add_argument("--task", choices=("superres", "denoise"), default="superres")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--factors", default="2,4", help="superres")
    parser.add_argument("--observations", default="point,area", help="superres")
    parser.add_argument("--noise", type=float, default=0.1, help="denoise: σ")
    parser.add_argument("--stop-factors", default="1", help="denoise: task.stop_factor values")
    parser.add_argument("--settings", default="tuner,tuner-l3,siren,siren-l3")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.exists() else []
    done = {(r["image"], r["size"], variant(r), r["setting"], r["width"], r["steps"]) for r in rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        for task in tasks(args):
            for setting in args.settings.split(","):
                probe = {"task": task["task"], **task}
                if (path.stem, args.size, variant(probe), setting, args.width, args.steps) in done:
                    continue
                row = fit_row(path, args.size, task, setting, args.width, args.steps)
                rows.append(row)
                with args.out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(f"{path.stem} {variant(row)} {setting}: {row['clean_psnr']:.2f} dB ({row['seconds']:.0f} s)",
                      flush=True)
    table = summary([r for r in rows if r["size"] == args.size and r["width"] == args.width
                     and r["steps"] == args.steps])
    print(table)
    args.out.with_suffix(".md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
