"""Benchmarks (``sinetune bench NAME``): fixed protocols, one ``results.json`` + ``results.md`` out.

* ``kodak-256`` — image fitting on the 24 Kodak images at 256² (:mod:`sinetune.bench.kodak`).
"""

from __future__ import annotations

from typing import Any

from ..errors import SinetuneError
from .kodak import run_kodak
from .reference import PlainSineNetwork, interleaved_step_seconds, plain_stepper
from .report import BenchReport

RUNNERS = {"kodak-256": run_kodak}
BENCHMARKS = tuple(RUNNERS)


def run_benchmark(name: str, **options: Any) -> BenchReport:
    """Run benchmark ``name`` with its keyword ``options`` (see each runner's docstring)."""
    if name not in RUNNERS:
        raise SinetuneError(f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}")
    return RUNNERS[name](**options)


__all__ = ["BENCHMARKS", "BenchReport", "PlainSineNetwork", "interleaved_step_seconds", "plain_stepper",
           "run_benchmark"]
