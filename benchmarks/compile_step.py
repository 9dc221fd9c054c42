"""One-off: eager vs torch.compile of a TUNER full-batch step at 128², 1 thread (BENCHMARKS.md, "speed").

Run from the repository root: .venv/bin/python benchmarks/compile_step.py
"""
import torch, time, statistics, ctypes, sys
libc = ctypes.CDLL("libc.so.6"); libc.mallopt(-4, 0); libc.mallopt(-1, 2**34)
torch.set_num_threads(1)
from sinetune.methods import get_method
from sinetune.signals import load_image
from sinetune import TunerOptions  # noqa: E402
sig = load_image("astronaut", 128)
coords, values = sig.coords(), sig.flat_values()
m = get_method("tuner"); o = m.resolve(TunerOptions(), sig.grid_shape)
b = m.build(o, sig.grid_shape, 3, torch.Generator().manual_seed(0))
field = b.field
inputs = field.prepare(coords)
opt = torch.optim.Adam(field.parameters(), lr=5e-4)
def loss_fn(inp, val):
    return torch.mean((field.forward_prepared(inp) - val) ** 2)
compiled = torch.compile(loss_fn)
def step(f):
    t = time.perf_counter()
    opt.zero_grad(); l = f(inputs, values); l.backward(); opt.step()
    for c in b.constraints: c.apply()
    return time.perf_counter() - t
t0 = time.perf_counter(); step(compiled); print("compile s", time.perf_counter() - t0, flush=True)
e, c = [], []
for _ in range(12):
    e.append(step(loss_fn)); c.append(step(compiled))
print("eager", statistics.median(e[2:]), "compiled", statistics.median(c[2:]))
