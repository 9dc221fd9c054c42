"""Benchmarks (``sinetune bench NAME``): fixed protocols, one ``results.json`` + ``results.md`` out.

* ``kodak-256`` — image fitting on the 24 Kodak images at 256² (:mod:`sinetune.bench.kodak`).
* ``audio`` — audio fitting on the first second of four clips, SIREN²'s protocol with a 4 × 222 sine
  MLP (:mod:`sinetune.bench.audio`).
* ``speed`` — training step time against plain PyTorch and the matmul floor (:mod:`sinetune.bench.speed`).
* ``ttq`` — time to a held-out PSNR target under training levers (:mod:`sinetune.bench.ttq`).
* ``compress`` — rate–distortion of the ``.stn`` codec against JPEG, WebP, JPEG 2000 and AVIF
  (:mod:`sinetune.bench.compress`).
* ``prune`` — quality kept after pruning 25/50/75% of the hidden matrix (TUNER vs SIREN), and a grown
  dictionary against a fixed one (:mod:`sinetune.bench.prune`).
* ``denoise``, ``inpaint``, ``superres`` — inverse tasks against classic baselines (:mod:`sinetune.bench.inverse`).
* ``video``, ``volume``, ``sdf`` — N-D fits (a camera pan, a 3-D phantom, shapes' SDFs) on CPU-sized
  protocols (:mod:`sinetune.bench.nd`).
* ``generalization`` — held-out and super-resolution quality over grids × content classes at the
  defaults (:mod:`sinetune.bench.generalization`, issue #17).
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import SinetuneError
from .audio import run_audio
from .compress import run_compress
from .generalization import run_generalization
from .inverse import run_denoise, run_inpaint, run_superres
from .kodak import run_kodak
from .nd import run_sdf, run_video, run_volume
from .prune import run_prune
from .reference import SINE_MLPS, PlainSineNetwork, interleaved_step_seconds, plain_stepper
from .report import BenchReport
from .speed import run_speed
from .ttq import run_ttq

RUNNERS = {
    "kodak-256": run_kodak,
    "audio": run_audio,
    "speed": run_speed,
    "ttq": run_ttq,
    "compress": run_compress,
    "prune": run_prune,
    "denoise": run_denoise,
    "inpaint": run_inpaint,
    "superres": run_superres,
    "video": run_video,
    "volume": run_volume,
    "sdf": run_sdf,
    "generalization": run_generalization,
}
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
