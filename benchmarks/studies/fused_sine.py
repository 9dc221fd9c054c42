"""Evaluate a fused sine layer (issue #5 lever): a custom autograd Function against sinetune's layer.

``SineLayer.forward`` is ``sin(addmm(ω b, z, Ŵᵀ))`` and autograd saves the pre-activation, then
computes ``cos`` and a product in backward, each into a fresh (N, out) tensor. The fused Function
computes ``sin`` and, in place over the pre-activation, ``cos`` in forward, and multiplies the
incoming gradient into that saved ``cos`` in place in backward: the same arithmetic, one (N, out)
allocation fewer per layer and step. Steps of the two layers are interleaved (median of ``--runs``
rounds of ``--steps`` steps), parameters are checked to agree after the timed steps.

Run from the repository root (BENCHMARKS.md, "speed"):
    PYTHONPATH=. .venv/bin/python benchmarks/studies/fused_sine.py --size 256 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from sinetune.constraints import ColumnClamp
from sinetune.methods import get_method
from sinetune.models import SineLayer
from sinetune.runtime import tune_cpu_allocator
from sinetune.signals import load_image


class FusedSine(torch.autograd.Function):
    """``sin(bias + inputs @ weightᵀ)`` with ``cos`` kept from forward and reused in place in backward."""

    @staticmethod
    def forward(ctx, inputs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        pre = torch.addmm(bias, inputs, weight.T)
        out = torch.sin(pre)
        cosine = pre.cos_()  # the pre-activation is not needed any more
        ctx.save_for_backward(inputs, weight, cosine)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        inputs, weight, cosine = ctx.saved_tensors
        grad_pre = cosine.mul_(grad_out)  # backward runs once per forward: the saved cos can be overwritten
        return grad_pre @ weight, grad_pre.T @ inputs, grad_pre.sum(0)


class FusedSineLayer(SineLayer):
    """:class:`SineLayer` (clamp or no bounds) through :class:`FusedSine`."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return FusedSine.apply(features, self.effective_weight(), self.omega * self.bias)


def fused_copy(field: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``field`` whose hidden sine layers (and a sine first layer) use the fused Function."""
    fused = copy.deepcopy(field)
    for layer in list(fused.hidden) + ([fused.encoding] if isinstance(fused.encoding, SineLayer) else []):
        layer.__class__ = FusedSineLayer
    return fused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    signal = load_image("astronaut", args.size)
    coords, values = signal.coords(), signal.flat_values()
    print(f"{args.size}², width 256, 1 hidden layer, full batch, {args.threads} threads, "
          f"{args.runs} rounds × {args.steps} steps, torch {torch.__version__}")
    for name in ("tuner", "siren"):
        method = get_method(name)
        options = method.resolve(method.options_type(hidden_layers=1), signal.grid_shape)
        built = method.build(options, signal.grid_shape, 3, torch.Generator().manual_seed(0))
        variants = {"autograd": built.field, "fused": fused_copy(built.field)}
        inputs = built.field.prepare(coords)
        optimizers = {k: torch.optim.Adam(f.parameters(), lr=method.default_lr) for k, f in variants.items()}
        clamped = [layer for layer in variants["fused"].modules()
                   if isinstance(layer, SineLayer) and layer.bound_mode == "clamp"]
        clamps = {"autograd": built.constraints, "fused": [ColumnClamp(layer) for layer in clamped]}
        assert len(clamps["fused"]) == len(built.constraints)
        times: dict[str, list[float]] = {k: [] for k in variants}

        def step(key: str) -> None:
            field, optimizer = variants[key], optimizers[key]
            optimizer.zero_grad(set_to_none=True)
            loss = torch.mean((field.forward_prepared(inputs) - values) ** 2)
            loss.backward()
            optimizer.step()
            for constraint in clamps[key]:
                constraint.apply()

        for key in variants:  # warm-up
            step(key)
        for _ in range(args.runs):
            for key in variants:
                start = time.perf_counter()
                for _ in range(args.steps):
                    step(key)
                times[key].append((time.perf_counter() - start) / args.steps)
        difference = max((a - b).abs().max().item() for a, b in zip(variants["autograd"].parameters(),
                                                                    variants["fused"].parameters()))
        plain, fused = statistics.median(times["autograd"]), statistics.median(times["fused"])
        print(f"{name}: autograd {plain:.4f} s/step, fused {fused:.4f} s/step, fused/autograd {fused / plain:.3f}, "
              f"max parameter difference after {1 + args.runs * args.steps} steps {difference:.2e}")


if __name__ == "__main__":
    main()
