"""Throughput of ``fit-many`` (one batched model) against sequential fits (docs/guide.md, "Many signals").

The Kodak images at ``--size`` (default 128²), TUNER at its defaults (width 256, one hidden layer),
5% held out, seed 0, full batch, ``--steps`` steps, the held-out PSNR logged at the last step
only. *Sequential* is the normal :func:`sinetune.training.train` on each image's field in turn;
*batched* is :func:`sinetune.many.train_prepared` (the same :func:`~sinetune.training.train` on the
fields stacked by :func:`sinetune.stacking.stack_fields`). Both time training only
(set-up, evaluation and run directories excluded); the sequential fits run half before and half
after the batched one, so a drift in the machine's load hits both alike.
Throughput = steps × images / second. Also printed: the largest difference between the two in
held-out PSNR (dB) and in any parameter.

Run from the repository root (torch's default thread count, ``OMP_NUM_THREADS`` unset)::

    .venv/bin/python benchmarks/studies/fit_many.py --steps 50
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from sinetune import TrainOptions, TunerOptions
from sinetune.config import RunConfig, SignalConfig
from sinetune.many import train_prepared
from sinetune.runs import prepare_fit
from sinetune.runtime import tune_cpu_allocator
from sinetune.signals import load_image
from sinetune.training import train


def prepare_all(signals, paths, size, steps, width):
    train_options = TrainOptions(steps=steps, log_every=steps)
    options = TunerOptions(input_width=width, hidden_width=width)
    return [prepare_fit(RunConfig(SignalConfig(str(path), size), "tuner", options, train_options, 0, 0.05, "cpu"),
                        signal) for path, signal in zip(paths, signals)]


def sequential(prepared):
    seconds, results = 0.0, []
    for entry in prepared:
        coords, values, heldout = entry.training_data()
        started = time.perf_counter()
        results.append(train(entry.built.field, coords, values, entry.config.train, entry.config.train.lr,
                             entry.built.constraints, entry.built.penalties, heldout, entry.generator))
        seconds += time.perf_counter() - started
    return seconds, results


def batched(prepared):
    started = time.perf_counter()
    results = train_prepared(prepared)  # stack, train, unstack: what fit_many does per group
    return time.perf_counter() - started, results, [entry.built.field for entry in prepared]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("..") / "shared" / "data" / "kodak")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--images", type=int, default=24, help="use the first N images")
    parser.add_argument("--width", type=int, default=256)
    args = parser.parse_args()
    tune_cpu_allocator()  # as the CLI does
    paths = sorted(args.data.glob("kodim*.png"))[:args.images]
    signals = [load_image(path, args.size) for path in paths]
    count = len(signals)
    print(f"{count} images at {'×'.join(map(str, signals[0].grid_shape))}, TUNER width {args.width}, "
          f"{args.steps} full-batch steps, torch {torch.__version__}, {torch.get_num_threads()} threads")

    sequential(prepare_all(signals[:1], paths, args.size, 2, args.width))  # warm-up: one-time process costs
    first = prepare_all(signals[:count // 2], paths, args.size, args.steps, args.width)
    second = prepare_all(signals[count // 2:], paths[count // 2:], args.size, args.steps, args.width)
    seconds_a, results_a = sequential(first)
    everything = prepare_all(signals, paths, args.size, args.steps, args.width)
    batched_seconds, batched_results, batched_fields = batched(everything)
    seconds_b, results_b = sequential(second)
    sequential_seconds, sequential_results = seconds_a + seconds_b, results_a + results_b
    psnr_difference = max(abs(a.history[-1]["heldout_psnr"] - b.history[-1]["heldout_psnr"])
                          for a, b in zip(sequential_results, batched_results))
    parameter_difference = max((p - q).abs().max().item()
                               for a, b in zip(first + second, batched_fields)
                               for p, q in zip(a.built.field.parameters(), b.parameters()))
    work = args.steps * count
    print(f"sequential: {sequential_seconds:8.1f} s  {work / sequential_seconds:7.2f} image-steps/s "
          f"({sequential_seconds / work:.3f} s per image-step)")
    print(f"batched:    {batched_seconds:8.1f} s  {work / batched_seconds:7.2f} image-steps/s "
          f"({batched_seconds / args.steps:.3f} s per batched step of {count})")
    print(f"throughput ratio batched / sequential: {sequential_seconds / batched_seconds:.2f}×")
    # where the difference comes from: the steps themselves, or what each train() call does around them
    sequential_steps = sum(sum(result.step_seconds) for result in sequential_results)
    batched_steps = sum(batched_results[0].step_seconds)
    print(f"  inside the optimizer steps: sequential {sequential_steps:.1f} s, batched {batched_steps:.1f} s "
          f"(ratio {sequential_steps / batched_steps:.2f}×; median step: sequential "
          f"{statistics.median(s for r in sequential_results for s in r.step_seconds):.3f} s per image, batched "
          f"{statistics.median(batched_results[0].step_seconds) / count:.3f} s per image)")
    print(f"  around them (set-up, cached encoding, logging): sequential "
          f"{sequential_seconds - sequential_steps:.1f} s, "
          f"batched {batched_seconds - batched_steps:.1f} s")
    print(f"max |held-out PSNR difference|: {psnr_difference:.2e} dB; max |parameter difference|: "
          f"{parameter_difference:.2e}")


if __name__ == "__main__":
    main()
