"""Throughput of ``fit-many --cluster ray`` against ``fit-many`` and sequential ``fit`` (issue #16).

``--images`` Kodak images (``--data``) at ``--size``², TUNER at its defaults, ``--steps`` full-batch
steps, 5% held out, seed 0, on the CPU. Timed end to end (loading, fitting, evaluation, run
directories), each in a fresh output folder:

* sequential: ``sinetune.fit`` on each image in turn;
* fit-many: ``sinetune.many.fit_many`` in groups of ``--group``;
* ray, W workers: ``sinetune.cluster.fit_many_ray`` on a local Ray instance started with W CPUs
  (groups of ``--group``, one CPU per group; the instance's start-up is timed separately and not
  included).

Printed: signals per minute for each and the per-signal overhead of Ray against fit-many,
``(t_ray(W=1) − t_fit_many) / images``.

    .venv/bin/python benchmarks/studies/cluster_throughput.py --data ../shared/data/kodak --images 8 --steps 60
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import ray

import sinetune
from sinetune import TrainOptions
from sinetune.cluster import fit_many_ray
from sinetune.many import fit_many


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--group", type=int, default=2)
    args = parser.parse_args()
    images = sorted(args.data.glob("kodim*.png"))[:args.images]
    common = dict(size=args.size, train_options=TrainOptions(steps=args.steps, log_every=args.steps), device="cpu")
    seconds = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        for image in images:
            sinetune.fit(str(image), out=root / "sequential" / image.stem, **common)
        seconds["sequential fit"] = time.perf_counter() - started
        started = time.perf_counter()
        fit_many(images, out=root / "fit-many", group_size=args.group, **common)
        seconds[f"fit-many (groups of {args.group})"] = time.perf_counter() - started
        for workers in (1, 2):
            began = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
            startup = time.perf_counter() - began
            started = time.perf_counter()
            fit_many_ray(images, out=root / f"ray-{workers}", group_size=args.group, progress=False, **common)
            seconds[f"ray, {workers} worker{'s' * (workers > 1)} (start-up {startup:.1f} s not included)"] = \
                time.perf_counter() - started
            ray.shutdown()
    print(f"| {len(images)} images at {args.size}², {args.steps} steps | s | signals/min |\n|---|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value:.1f} | {60 * len(images) / value:.1f} |")
    ray_one = next(value for name, value in seconds.items() if name.startswith("ray, 1"))
    many = next(value for name, value in seconds.items() if name.startswith("fit-many"))
    print(f"Ray overhead per signal against fit-many (1 worker): {(ray_one - many) / len(images):.2f} s")


if __name__ == "__main__":
    main()
