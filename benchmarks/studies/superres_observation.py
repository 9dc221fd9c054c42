"""Super-resolution (issue #14): point against area observation, and the depth of the field.

Each row fits one image's ``k×`` block average (``sinetune fit --task superres``, the pipeline of every
fit) with one named setting and one observation (``task.observation``: ``point`` fits the field at the
low-resolution centres; ``area`` fits the mean over the ``k^d`` positions each sample averages,
:mod:`sinetune.observation`), and scores the ``k×`` render against the original next to bicubic and
Lanczos upsampling of the same input. Rows already in ``--out`` are skipped (a rerun resumes).

Usage (choose on DIV2K crops, confirm on Kodak)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/studies/superres_observation.py \\
        --images ../shared/data/div2k/0{0,1,2,3}.png --size 128 --factors 2,4 \\
        --settings tuner,tuner-l3,siren,siren-l3 --out benchmarks/results/superres14/choose.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sinetune.baselines import upsample
from sinetune.bench.inverse import tuner_input_width
from sinetune.config import config_from_dict
from sinetune.runs import run
from sinetune.signals import load_image
from sinetune.tasks import TaskOptions, prepare_task, score_task

#: Named settings: ``(method, options)``; ``width`` is filled in (the bench's protocol: one hidden layer).
SETTINGS = {
    "tuner": ("tuner", {"hidden_layers": 1}),
    "tuner-l2": ("tuner", {"hidden_layers": 2, "deep_bound": 0.15}),
    "tuner-l3": ("tuner", {"hidden_layers": 3, "deep_bound": 0.15}),
    "tuner-l3-db0.3": ("tuner", {"hidden_layers": 3, "deep_bound": 0.3}),
    "tuner-l4": ("tuner", {"hidden_layers": 4, "deep_bound": 0.15}),
    "siren": ("siren", {"hidden_layers": 1}),
    "siren-l3": ("siren", {"hidden_layers": 3}),
}
UPSAMPLERS = ("bicubic", "lanczos")


def fit_row(path: Path, size: int, factor: int, setting: str, observation: str, width: int, steps: int) -> dict:
    """One fit's clean PSNR and the baselines' on the same input."""
    signal = load_image(path, size)
    method, extra = SETTINGS[setting]
    options = {"hidden_width": width, **extra}
    if method == "tuner":
        options["input_width"] = tuner_input_width((size // factor, size // factor), width)
    else:
        options["input_width"] = width
    config = config_from_dict({"method": method, "options": options, "seed": 0, "holdout": 0.0, "device": "cpu",
                               "train": {"steps": steps, "batch_size": "full", "checkpoint_seconds": None},
                               "task": {"task": "superres", "factor": factor, "observation": observation}})
    started = time.perf_counter()
    result = run(config, signal=signal)
    seconds = time.perf_counter() - started
    prepared = prepare_task(TaskOptions(task="superres", factor=factor), signal)
    baselines = {name: score_task(prepared, upsample(prepared.signal.values, factor, name))["clean_psnr"]
                 for name in UPSAMPLERS}
    return {"image": path.stem, "size": size, "factor": factor, "setting": setting, "observation": observation,
            "width": width, "steps": steps, "clean_psnr": result.metrics["clean_psnr"],
            "clean_ssim": result.metrics.get("clean_ssim"), "seconds": seconds, **baselines}


def summary(rows: list[dict]) -> str:
    """Markdown: the mean clean PSNR per factor × setting × observation, and its margin over bicubic."""
    lines = ["| factor | setting | observation | images | clean PSNR | − bicubic | − Lanczos | wins over bicubic |",
             "|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["factor"], r["setting"], r["observation"]) for r in rows})
    for factor, setting, observation in keys:
        group = [r for r in rows if (r["factor"], r["setting"], r["observation"]) == (factor, setting, observation)]
        field = np.mean([r["clean_psnr"] for r in group])
        margins = [r["clean_psnr"] - r["bicubic"] for r in group]
        lanczos = np.mean([r["clean_psnr"] - r["lanczos"] for r in group])
        wins = sum(m > 0 for m in margins)
        lines.append(f"| ×{factor} | {setting} | {observation} | {len(group)} | {field:.2f} | {np.mean(margins):+.2f} "
                     f"| {lanczos:+.2f} | {wins}/{len(group)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", type=Path, required=True)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--factors", default="2,4")
    parser.add_argument("--settings", default="tuner,tuner-l3,siren,siren-l3")
    parser.add_argument("--observations", default="point,area")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.exists() else []
    done = {(r["image"], r["size"], r["factor"], r["setting"], r["observation"], r["width"], r["steps"]) for r in rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        for factor in map(int, args.factors.split(",")):
            for setting in args.settings.split(","):
                for observation in args.observations.split(","):
                    key = (path.stem, args.size, factor, setting, observation, args.width, args.steps)
                    if key in done:
                        continue
                    row = fit_row(path, args.size, factor, setting, observation, args.width, args.steps)
                    rows.append(row)
                    with args.out.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    print(f"{path.stem} ×{factor} {setting} {observation}: {row['clean_psnr']:.2f} dB "
                          f"(bicubic {row['bicubic']:.2f}, {row['seconds']:.0f} s)", flush=True)
    table = summary([r for r in rows if r["size"] == args.size and r["width"] == args.width
                     and r["steps"] == args.steps])
    print(table)
    args.out.with_suffix(".md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
