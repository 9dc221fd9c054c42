"""``sinetune bench speed`` (issue #5): step time against plain PyTorch and against the matmul floor.

Protocol: the built-in ``astronaut`` image (no data needed; speed does not depend on content) at
``size``² with 5% held out, full batch, width ``width``, one hidden layer, each method at its default
lr. For ``runs`` rounds, every variant runs ``steps`` training steps of sinetune
(:func:`sinetune.training.train`) and then ``steps`` steps of the plain reference
(:class:`~sinetune.bench.reference.PlainSineNetwork`: ``nn.Linear`` + ``torch.sin`` + Adam), so each
round's ratio is measured under one machine load; rows report medians over rounds.

Alongside, in the same process, the three big products of the widest hidden layer — forward
``(N, n_in) @ (n_in, n_out)``, input gradient ``(N, n_out) @ (n_out, n_in)``, weight gradient
``(n_out, N) @ (N, n_in)`` — are timed on their own. Their sum is the *matmul floor*: what a step
costs if everything but those products were free. ``× floor`` = step time / floor, and
``floor / plain`` is the best ratio any implementation that does these products in float32 could reach.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import SinetuneError
from ..methods import build_field, get_method
from ..progress import Progress, as_progress
from ..runs import resolve_device
from ..signals import holdout_mask, load_image
from ..training import TrainOptions, train
from .reference import SINE_MLPS, plain_stepper
from .report import BenchReport, as_json_row, fresh_dir, write_report

#: variant name → training options for sinetune's side (the plain side is always the same).
VARIANTS = {"sinetune": TrainOptions(batch_size="full"),
            "no encoding cache": TrainOptions(batch_size="full", cache_encoding=False)}
COLUMNS = (("seconds_per_step", "s/step", 4), ("plain_seconds_per_step", "plain s/step", 4),
           ("plain_ratio", "× plain", 3), ("floor_seconds_per_step", "matmul floor s", 4),
           ("floor_ratio", "× floor", 2), ("best_ratio", "floor / plain", 2), ("gflops", "GFLOP/s", 1),
           ("matmul_gflops", "matmul GFLOP/s", 1))


def time_products(samples: int, n_in: int, n_out: int, device: torch.device, repeats: int = 5,
                  generator: torch.Generator | None = None) -> tuple[float, float]:
    """Median seconds of one layer's three training products and their GFLOP/s, ``(seconds, gflops)``.

    Forward ``X W^T``, input gradient ``G W`` and weight gradient ``G^T X`` for ``X (samples, n_in)``,
    ``G (samples, n_out)``, ``W (n_out, n_in)`` in float32 — ``3 · 2 · samples · n_in · n_out`` flops.
    """
    generator = generator or torch.Generator().manual_seed(0)
    x = torch.rand(samples, n_in, generator=generator).to(device)
    g = torch.rand(samples, n_out, generator=generator).to(device)
    w = torch.rand(n_out, n_in, generator=generator).to(device)
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        x @ w.T
        g @ w
        g.T @ x
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times[1:])
    return seconds, 6 * samples * n_in * n_out / seconds / 1e9


def run_speed(
    methods: list[str] = ("tuner", "siren"),
    size: int = 256,
    width: int = 256,
    runs: int = 5,
    steps: int = 5,
    device: str = "auto",
    out: Path | None = None,
    progress: bool | Progress = False,
    seed: int = 0,
) -> BenchReport:
    """Run ``speed`` and write ``results.json`` and ``results.md`` (default ``bench-runs/speed[-N]``).

    Args:
        methods: sine-MLP methods (the plain reference must be the same network): tuner, siren, siren2, ssn.
        size: image side; ``N = 0.95 size²`` training samples.
        width: input and hidden width.
        runs: rounds (≥ 5 for the issue's medians); steps: timed steps per variant per round.
    """
    if runs < 1 or steps < 1 or size < 8 or width < 1:
        raise SinetuneError("runs, steps and width must be positive and size at least 8")
    methods = list(dict.fromkeys(methods))
    unsupported = [m for m in methods if m not in SINE_MLPS]
    if unsupported:
        raise SinetuneError(f"bench speed compares sine MLPs with the plain reference; "
                            f"{', '.join(unsupported)} is not one ({', '.join(SINE_MLPS)} are)")
    torch_device = resolve_device(device)
    signal = load_image("astronaut", size)
    coords, values = signal.coords(), signal.flat_values()
    train_mask = torch.from_numpy(~holdout_mask(len(coords), 0.05, np.random.default_rng([seed, 1])))  # as runs.run
    coords, values = coords[train_mask], values[train_mask]
    samples = len(coords)
    out_dir = Path(out) if out is not None else fresh_dir(Path("bench-runs") / "speed")
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "results.json").exists():
        raise SinetuneError(f"{out_dir / 'results.json'} already exists; choose another --out")
    header = {"benchmark": "speed", "size": size, "width": width, "samples": samples, "runs": runs, "steps": steps,
              "device": str(torch_device), "torch": torch.__version__, "threads": torch.get_num_threads()}
    report = BenchReport(out_dir=out_dir)
    variants = [(m, v) for m in methods for v in VARIANTS if m == "tuner" or v == "sinetune"]
    setups = {}
    for method_name, variant in variants:
        method = get_method(method_name)
        built = build_field(method_name, signal.grid_shape, values.shape[1],
                            method.options_type(input_width=width, hidden_width=width, hidden_layers=1),
                            generator=torch.Generator().manual_seed(seed), values=signal.values)
        options = built.options
        field = built.field.to(torch_device)
        plain = plain_stepper(method_name, options, coords, values, method.default_lr, torch_device)
        setups[method_name, variant] = (field, built, plain, method.default_lr)
    timings: dict[tuple[str, str], dict[str, list[float]]] = {key: {"ours": [], "plain": [], "ratio": []}
                                                              for key in setups}
    floors = []
    say = as_progress(progress)
    for number in range(1, runs + 1):
        say.note(f"bench speed: round {number}/{runs}, {len(setups)} variants × {steps} steps and the plain reference")
        floors.append(time_products(samples, width, width, torch_device))
        for key, (field, built, plain, lr) in setups.items():
            options = TrainOptions(steps=steps + 1, batch_size="full", log_every=10**9,
                                   cache_encoding=VARIANTS[key[1]].cache_encoding)
            ours = statistics.median(train(field, coords, values, options, lr, built.constraints,
                                           built.penalties).step_seconds[1:])
            reference = statistics.median([plain() for _ in range(steps + 1)][1:])
            timings[key]["ours"].append(ours)
            timings[key]["plain"].append(reference)
            timings[key]["ratio"].append(ours / reference)
    floor = statistics.median(seconds for seconds, _ in floors)
    matmul_gflops = statistics.median(rate for _, rate in floors)
    flop = 6 * samples * width * width
    for (method_name, variant), measured in timings.items():
        ours, reference = statistics.median(measured["ours"]), statistics.median(measured["plain"])
        report.rows.append(as_json_row({
            "method": method_name, "variant": variant, "seconds_per_step": ours, "plain_seconds_per_step": reference,
            "plain_ratio": statistics.median(measured["ratio"]), "ratios": measured["ratio"],
            "floor_seconds_per_step": floor, "floor_ratio": ours / floor, "best_ratio": floor / reference,
            "gflops": flop / ours / 1e9, "matmul_gflops": matmul_gflops}))
    title = (f"speed: {size}² ({samples} samples), width {width}, 1 hidden layer, full batch, {runs} runs × {steps} "
             f"steps, device {torch_device}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
             f"GFLOP/s counts the hidden layer's three products ({flop / 1e9:.2f} GFLOP per step)")
    write_report(report, header, [], out_dir, "variant", COLUMNS, title)
    return report


__all__ = ["VARIANTS", "run_speed", "time_products"]
