"""Profile 5 full-batch steps of TUNER and SIREN at 256² (BENCHMARKS.md, "Where a step's time goes").

Run from the repository root: .venv/bin/python benchmarks/profile_step.py
"""
import torch, time
from torch.profiler import profile, ProfilerActivity
import sinetune
from sinetune.runtime import tune_cpu_allocator
tune_cpu_allocator()
from sinetune import TunerOptions, SirenOptions
from sinetune.methods import get_method
from sinetune.signals import load_image
from sinetune.training import train, TrainOptions
sig = load_image("../shared/data/kodak/kodim03.png", 256)
coords, values = sig.coords(), sig.flat_values()
for name, opts in [("tuner", TunerOptions()), ("siren", SirenOptions(hidden_layers=1))]:
    m = get_method(name); opts = m.resolve(opts, sig.grid_shape)
    b = m.build(opts, sig.grid_shape, 3, torch.Generator().manual_seed(0))
    train(b.field, coords, values, TrainOptions(steps=3, log_every=1000), 5e-4, b.constraints, b.penalties)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train(b.field, coords, values, TrainOptions(steps=5, log_every=1000), 5e-4, b.constraints, b.penalties)
    print(name)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))
