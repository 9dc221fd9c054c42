"""Is a bf16 hidden matmul with float32 everywhere else worth it on this CPU? (issue #16, mixed precision)

The design the issue proposes keeps the encoding, the sine and its argument in float32 and runs only
the hidden layer's product in bfloat16 (float32 master weights): ``z = (x.bf16 @ Ŵ.bf16ᵀ).float() + ω b``.
This times, on a ``(N, width)`` activation like a 256² full batch (N = 62259), the float32 product
``addmm``, the bf16 product alone (inputs already bf16) and the bf16 product with the casts the
design needs, medians of ``--repeats``; and the argument error the bf16 product makes. Reports whether
the CPU has native bf16 (``avx512_bf16`` / ``amx_bf16`` in /proc/cpuinfo).

    .venv/bin/python benchmarks/studies/bf16_matmul.py --samples 62259 --width 256
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch


def median_seconds(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return sorted(times)[repeats // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=62259)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(args.samples, args.width, generator=generator) * 2 - 1
    weight = torch.randn(args.width, args.width, generator=generator) * 0.05
    bias = torch.randn(args.width, generator=generator) * 0.1
    x16, w16 = x.bfloat16(), weight.bfloat16()
    fp32 = median_seconds(lambda: torch.addmm(bias, x, weight.T), args.repeats)
    bare = median_seconds(lambda: x16 @ w16.T, args.repeats)
    cast = median_seconds(lambda: (x.bfloat16() @ weight.bfloat16().T).float() + bias, args.repeats)
    error = (torch.addmm(bias, x, weight.T) - ((x16 @ w16.T).float() + bias)).abs()
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    native = [flag for flag in ("avx512_bf16", "amx_bf16") if flag in flags]
    print(f"| product ({args.samples} × {args.width}) · ({args.width} × {args.width}) | ms | × float32 |")
    print("|---|---|---|")
    for name, seconds in (("float32 addmm", fp32), ("bf16, inputs already bf16", bare),
                          ("bf16 with the design's casts", cast)):
        print(f"| {name} | {seconds * 1e3:.1f} | {seconds / fp32:.2f} |")
    rms = error.pow(2).mean().sqrt().item()
    print(f"argument error of the bf16 product: max {error.max().item():.2e}, rms {rms:.2e} "
          f"(sine-argument units); native bf16: {', '.join(native) or 'none'}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
