"""Where the codec loses quality at a fixed byte budget (issue #13): a small staged sweep of CodecOptions.

Each *config* is a set of :class:`sinetune.codec.CodecOptions` fields (fit length and batching, the
fits' learning rate and schedule, TUNER's input/hidden shape, bits, the quantisation-aware fine-tune,
the grid granularity). For every config and image, :func:`sinetune.codec.rate_distortion` measures the
codec's own pipeline at the hidden widths ``--widths`` (every bit depth of the config, fine-tuned), so
the points are the bytes and PSNR ``sinetune decompress`` gives. A row per point goes to
``OUT/rows.jsonl`` as it is measured (a rerun skips the (config, image) pairs already there).

The summary (``OUT/summary.md``) puts every config on the same footing: per image, the upper envelope
of its fine-tuned points (bpp, PSNR), linearly interpolated at the rates of ``--rates`` (0.15, 0.3,
0.45 bpp); then the mean over the images (a rate outside an image's envelope is n/a and leaves the
mean out).

Run from the repository root (CHOOSE set: DIV2K crops at 256²)::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/studies/codec_sweep.py \\
        --images ../shared/data/div2k/00.png,../shared/data/div2k/05.png --configs base,mb300 \\
        --out benchmarks/results/codec13/choose
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sinetune.codec import CodecOptions, rate_distortion
from sinetune.signals import load_image

#: CodecOptions' defaults before this sweep: 300 full-batch steps at TUNER's lr (5e-4), 6 and 8 bits, a grid per column.
OLD: dict[str, Any] = {"bits": (6, 8), "granularity": "column", "batch_size": "full", "steps": 300, "lr": 5e-4,
                       "lr_schedule": "constant", "input_ratio": 1.0, "qat_steps": 100}
#: The configs, by name: CodecOptions fields over :data:`OLD` (``default``: CodecOptions' defaults as they are now).
CONFIGS: dict[str, dict[str, Any]] = {
    "base": {},
    "old": {},  # the same as base: the old defaults, for the CONFIRM set
    "mb300": {"batch_size": 16384, "steps": 1200},
    "mb300-lr1e-3": {"batch_size": 16384, "steps": 1200, "lr": 1e-3},
    "mb300-lr2e-3": {"batch_size": 16384, "steps": 1200, "lr": 2e-3},
    "mb300-lr2e-3-cos": {"batch_size": 16384, "steps": 1200, "lr": 2e-3, "lr_schedule": "cosine"},
    "mb300-lr1e-3-cos": {"batch_size": 16384, "steps": 1200, "lr": 1e-3, "lr_schedule": "cosine"},
    "mb750-lr1e-3-cos": {"batch_size": 16384, "steps": 3000, "lr": 1e-3, "lr_schedule": "cosine"},
    "mb750-lr2e-3-cos": {"batch_size": 16384, "steps": 3000, "lr": 2e-3, "lr_schedule": "cosine"},
    "default": {},
}


def options_of(name: str) -> CodecOptions:
    """A config name → its CodecOptions. ``NAME+key=value+...`` adds fields (numbers, ``tensor``/``column``,
    bits as ``bits=5/6/7``) to a named config, e.g. ``mb300-lr2e-3-cos+input_ratio=2``."""
    base, *extras = name.split("+")
    fields = {} if base == "default" else {**OLD, **CONFIGS[base]}
    for extra in extras:
        key, _, value = extra.partition("=")
        if key == "bits":
            fields[key] = tuple(int(v) for v in value.split("/"))
        elif key in ("granularity", "lr_schedule", "dictionary"):
            fields[key] = value
        else:
            number = float(value)
            integer = key in ("steps", "qat_steps", "batch_size", "hidden_layers", "seed")
            fields[key] = int(number) if integer else number
    options = replace(CodecOptions(), **fields)
    options.validate()
    return options


def envelope(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no cheaper point beats: sorted by bpp, PSNR strictly increasing."""
    kept: list[tuple[float, float]] = []
    for bpp, psnr in sorted(points):
        if not kept or psnr > kept[-1][1]:
            kept.append((bpp, psnr))
    return kept


def at_rate(curve: list[tuple[float, float]], rate: float) -> float | None:
    """PSNR of an envelope at ``rate`` bpp (linear; ``None`` outside it)."""
    if not curve or not curve[0][0] <= rate <= curve[-1][0]:
        return None
    return float(np.interp(rate, [p[0] for p in curve], [p[1] for p in curve]))


def summarize(rows: list[dict[str, Any]], rates: list[float]) -> str:
    """One line per config: the mean interpolated PSNR at each rate (and how many images it averages)."""
    lines = ["| config | images | " + " | ".join(f"PSNR @ {r} bpp" for r in rates) + " | fit s / width |",
             "|---|---|" + "---|" * len(rates) + "---|"]
    configs = list(dict.fromkeys(r["config"] for r in rows))
    for config in configs:
        mine = [r for r in rows if r["config"] == config]
        images = list(dict.fromkeys(r["image"] for r in mine))
        cells = []
        for rate in rates:
            values = [at_rate(envelope([(r["bpp"], r["psnr"]) for r in mine if r["image"] == image
                                        and r["finetuned"]]), rate) for image in images]
            found = [v for v in values if v is not None]
            cells.append(f"{np.mean(found):.2f} ({len(found)})" if found else "n/a")
        fit = np.mean([r["fit_seconds"] for r in mine if not r["finetuned"]])
        lines.append(f"| {config} | {len(images)} | " + " | ".join(cells) + f" | {fit:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", required=True, help="comma-separated image paths")
    parser.add_argument("--configs", required=True, help="comma-separated config names (see options_of)")
    parser.add_argument("--widths", default="32,48,64", help="hidden widths at 256² (scaled by size / 256)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rates", default="0.15,0.3,0.45")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summary-only", action="store_true", help="only rewrite summary.md from rows.jsonl")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows_path = args.out / "rows.jsonl"
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()] if rows_path.exists() else []
    rates = [float(r) for r in args.rates.split(",")]
    if not args.summary_only:
        done = {(r["config"], r["image"]) for r in rows}
        widths = tuple(max(4, round(int(w) * args.size / 256)) for w in args.widths.split(","))
        for config in args.configs.split(","):
            options = options_of(config)
            for path in args.images.split(","):
                image = Path(path).parent.name + "/" + Path(path).stem
                if (config, image) in done:
                    continue
                started = time.perf_counter()
                points = rate_distortion(load_image(path, args.size), widths, options=options, device="cpu")
                fits: dict[int, float] = {}
                for point in points:
                    if not point.finetuned:  # the first point of a width carries its fit in encode_seconds
                        fits.setdefault(point.width, point.encode_seconds)
                new = [{"config": config, "image": image, "size": args.size, **point.row(),
                        "fit_seconds": fits[point.width]} for point in points]
                with rows_path.open("a") as handle:
                    handle.writelines(json.dumps(row) + "\n" for row in new)
                rows += new
                best = max(new, key=lambda r: r["psnr"])
                print(f"{config} {image}: {time.perf_counter() - started:.0f} s, best {best['psnr']:.2f} dB at "
                      f"{best['bpp']:.3f} bpp", file=sys.stderr, flush=True)
    (args.out / "summary.md").write_text(summarize(rows, rates))
    print(summarize(rows, rates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
