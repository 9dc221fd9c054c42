"""Peak resident memory of a whole fit (train → metrics → PNGs) with mini-batches against full batch.

Each case runs in a fresh Python process, so ``ru_maxrss`` (the process's peak resident set) is that
case's alone. A case fits TUNER (default options, width 256, one hidden layer, 5% held out, seed 0)
to the built-in ``astronaut`` image resized to ``--size``² (upsampled from 512²: memory does not
depend on the content) for ``--steps`` steps, then runs the full pipeline of ``sinetune fit`` —
held-out scoring, render, analytic gradient, PSNR/SSIM/gradient PSNR, the run directory's PNGs —
into a temporary directory. The CLI's allocator setting (:func:`sinetune.runtime.tune_cpu_allocator`)
is applied, as ``sinetune fit`` does.

Run from the repository root::

    .venv/bin/python benchmarks/studies/memory_1024.py                            # 1024², batch 65536 vs full
    .venv/bin/python benchmarks/studies/memory_1024.py --size 512                  # both cases at 512²
    .venv/bin/python benchmarks/studies/memory_1024.py --full-size 512   # mini-batch 1024², full batch 512²

Columns: ``baseline`` = peak RSS after imports and loading the image (before the fit); ``peak`` =
peak RSS of the whole case; ``s/step`` = median optimizer-step time; ``total s`` = the fit's wall time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GIB = 1024 ** 3


def peak_rss_bytes() -> int:
    """This process's peak resident set in bytes (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(size: int, batch_size: int | None, steps: int, image: str) -> dict:
    """One case, in this (fresh) process; returns the row."""
    from sinetune.runtime import tune_cpu_allocator

    tune_cpu_allocator()
    from sinetune.config import RunConfig, SignalConfig
    from sinetune.runs import run
    from sinetune.signals import load_signal
    from sinetune.training import TrainOptions

    signal = load_signal(image, size)
    baseline = peak_rss_bytes()
    config = RunConfig(signal=SignalConfig(path=image, size=size), method="tuner",
                       train=TrainOptions(steps=steps, batch_size=batch_size, log_every=steps),
                       seed=0, holdout=0.05, device="cpu")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result = run(config, out=Path(out) / "run", signal=signal)
    total = time.perf_counter() - started
    metrics = result.metrics
    return {"size": size, "samples": size * size, "batch_size": batch_size, "steps": metrics["steps"],
            "baseline_gib": baseline / GIB, "peak_gib": peak_rss_bytes() / GIB,
            "seconds_per_step": metrics["seconds_per_step_median"], "total_seconds": total,
            "train_psnr": metrics["train_psnr"], "gradient_psnr": metrics["gradient_psnr"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="image side of the mini-batch case")
    parser.add_argument("--full-size", type=int, help="image side of the full-batch case (default --size)")
    parser.add_argument("--batch-size", type=int, default=65536)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--image", default="astronaut")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # JSON case description (internal)
    args = parser.parse_args()
    if args.child:
        case = json.loads(args.child)
        print(json.dumps(child(case["size"], case["batch_size"], args.steps, args.image)))
        return
    cases = [{"size": args.size, "batch_size": args.batch_size},
             {"size": args.full_size or args.size, "batch_size": None}]
    rows = []
    for case in cases:
        completed = subprocess.run([sys.executable, __file__, "--child", json.dumps(case), "--steps", str(args.steps),
                                    "--image", args.image], capture_output=True, text=True)
        if completed.returncode != 0:
            print(completed.stderr, file=sys.stderr)
            raise SystemExit(f"case {case} failed with status {completed.returncode}")
        rows.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    print(f"TUNER (default options), {args.image}, {args.steps} steps, full pipeline; peak RSS per fresh process\n")
    print("| image | batch | baseline RSS | peak RSS | s/step | total s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        batch = "full" if row["batch_size"] is None else str(row["batch_size"])
        print(f"| {row['size']}² | {batch} | {row['baseline_gib']:.2f} GiB | {row['peak_gib']:.2f} GiB | "
              f"{row['seconds_per_step']:.2f} | {row['total_seconds']:.1f} |")


if __name__ == "__main__":
    main()
