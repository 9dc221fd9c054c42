"""Throughput of ``fit-many`` (one batched model) against sequential fits (README, "fit-many").

The Kodak images at ``--size`` (default 128²), TUNER at its defaults (width 256, one hidden layer),
5% held out, seed 0, full batch, ``--steps`` steps, the held-out PSNR logged at the last step
only. *Sequential* is the normal :func:`sinetune.training.train` on each image's field in turn;
*batched* is :func:`sinetune.many.train_many` on the stacked fields. Both time training only
(set-up, evaluation and run directories excluded); the sequential fits run half before and half
after the batched one, so a drift in the machine's load hits both alike.
Throughput = steps × images / second. Also printed: the largest difference between the two in
held-out PSNR (dB) and in any parameter.

``--vmap-steps K`` (K > 0) also times K full-batch steps of the stacked model against the same
steps written with ``torch.func`` (``stack_module_state`` + ``vmap(functional_call)``) on
``--vmap-images`` images.

Run from the repository root (torch's default thread count, ``OMP_NUM_THREADS`` unset)::

    .venv/bin/python benchmarks/fit_many.py --steps 50
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from sinetune import TrainOptions, TunerOptions
from sinetune.config import RunConfig, SignalConfig
from sinetune.many import StackedField, stack_constraints, train_many
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
    data = [entry.training_data() for entry in prepared]  # not timed, as in `sequential`
    coords, _, heldout = data[0]
    values = torch.stack([entry[1] for entry in data])
    held_values = torch.stack([entry[2][1] for entry in data])
    started = time.perf_counter()
    fields = [entry.built.field for entry in prepared]
    model = StackedField.from_fields(fields)
    constraints, penalties = stack_constraints(model, fields, [entry.built for entry in prepared])
    train_options = prepared[0].config.train
    results = train_many(model, coords, values, train_options, train_options.lr, constraints, penalties,
                         (heldout[0], held_values), prepared[0].generator)
    model.load_into(fields)
    return time.perf_counter() - started, results, fields


class _Prepared(nn.Module):
    """``field.forward_prepared`` as a module's forward (what ``functional_call`` calls)."""

    def __init__(self, field):
        super().__init__()
        self.field = field

    def forward(self, inputs):
        return self.field.forward_prepared(inputs)


def compare_vmap(prepared, steps):
    """Seconds per full-batch step: the stacked model (baddbmm) vs torch.func vmap(functional_call)."""
    coords, _, _ = prepared[0].training_data()
    values = torch.stack([entry.training_data()[1] for entry in prepared])
    lr = prepared[0].config.train.lr
    fields = [entry.built.field for entry in prepared]
    timings = {}

    model = StackedField.from_fields(fields)
    constraints, _ = stack_constraints(model, fields, [entry.built for entry in prepared])
    inputs = model.prepare(coords)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def stacked_step():
        optimizer.zero_grad(set_to_none=True)
        torch.mean((model.forward_prepared(inputs) - values) ** 2, dim=(1, 2)).sum().backward()
        optimizer.step()
        for constraint in constraints:
            constraint.apply()

    wrappers = [_Prepared(field) for field in fields]
    params, buffers = stack_module_state(wrappers)
    base = _Prepared(fields[0])
    v_optimizer = torch.optim.Adam(params.values(), lr=lr)
    layer = fields[0].hidden[0]
    limit = (buffers["field.hidden.0.column_bounds"] / layer.omega).unsqueeze(1)

    def one(p, b, target):
        return torch.mean((functional_call(base, (p, b), (inputs,)) - target) ** 2)

    def vmap_step():
        v_optimizer.zero_grad(set_to_none=True)
        vmap(one, in_dims=(0, 0, 0))(params, buffers, values).sum().backward()
        v_optimizer.step()
        with torch.no_grad():
            weight = params["field.hidden.0.weight"]
            weight.copy_(torch.maximum(torch.minimum(weight, limit), -limit))

    for name, step in (("stacked (baddbmm)", stacked_step), ("torch.func vmap", vmap_step)):
        step()  # warm-up
        started = time.perf_counter()
        for _ in range(steps):
            step()
        timings[name] = (time.perf_counter() - started) / steps
    with torch.no_grad():  # same arithmetic: the two paths stay together
        difference = (params["field.hidden.0.weight"] - model.hidden[0].weight).abs().max().item()
    return timings, difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("..") / "shared" / "data" / "kodak")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--images", type=int, default=24, help="use the first N images")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--vmap-steps", type=int, default=0, help="also compare with torch.func (K timed steps)")
    parser.add_argument("--vmap-images", type=int, default=8)
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
    if args.vmap_steps > 0:
        subset = prepare_all(signals[:args.vmap_images], paths, args.size, args.steps, args.width)
        timings, difference = compare_vmap(subset, args.vmap_steps)
        for name, seconds in timings.items():
            print(f"{name:18s} {seconds:.3f} s per step of {len(subset)} images")
        print(f"max |hidden weight difference| after {args.vmap_steps + 1} steps: {difference:.2e}")

if __name__ == "__main__":
    main()
