"""Benchmarks (``sinetune bench NAME``): fixed protocols, one ``results.json`` + ``results.md`` out.

* ``kodak-256`` — image fitting on the 24 Kodak images at 256² (:mod:`sinetune.bench.kodak`).
* ``audio`` — audio fitting on the first second of four clips, SIREN²'s protocol with a 4 × 222 sine
  MLP (:mod:`sinetune.bench.audio`).
* ``speed`` — training step time against plain PyTorch and the matmul floor (:mod:`sinetune.bench.speed`).
* ``ttq`` — time to a held-out PSNR target under training levers (:mod:`sinetune.bench.ttq`).
* ``generalization`` — held-out and super-resolution quality over grids × content classes at the
  defaults (:mod:`sinetune.bench.generalization`, issue #17).
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import SinetuneError
from .audio import run_audio
from .generalization import run_generalization
from .kodak import run_kodak
from .reference import SINE_MLPS, PlainSineNetwork, interleaved_step_seconds, plain_stepper
from .report import BenchReport
from .speed import run_speed
from .ttq import run_ttq

RUNNERS = {"kodak-256": run_kodak, "audio": run_audio, "speed": run_speed, "ttq": run_ttq,
           "generalization": run_generalization}
BENCHMARKS = tuple(RUNNERS)


def benchmark_options(name: str) -> tuple[str, ...]:
    """The keyword options benchmark ``name`` takes (its runner's parameters)."""
    if name not in RUNNERS:
        raise SinetuneError(f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}")
    return tuple(inspect.signature(RUNNERS[name]).parameters)


def run_benchmark(name: str, **options: Any) -> BenchReport:
    """Run benchmark ``name`` with its keyword ``options`` (see each runner's docstring).

    An option the benchmark does not take (``images`` for ``audio``) is a :class:`SinetuneError`.
    """
    accepted = benchmark_options(name)
    unknown = [key for key in options if key not in accepted]
    if unknown:
        raise SinetuneError(f"benchmark {name!r} takes no option {', '.join(map(repr, unknown))}; "
                            f"its options: {', '.join(accepted)}")
    return RUNNERS[name](**options)


__all__ = ["BENCHMARKS", "SINE_MLPS", "BenchReport", "PlainSineNetwork", "benchmark_options",
           "interleaved_step_seconds", "plain_stepper", "run_benchmark"]
