"""How many mini-batch epochs match the full-batch default's quality (issue #16); choose, then confirm.

For every image, TUNER at its defaults (256², 5% held out, seed 0) is fitted twice: the old default
(full batch, 300 steps) and mini-batches of ``--batch-size`` samples for ``--epochs`` full-batch
epochs' worth of steps (``epochs · ⌈N / batch⌉``). The learning rate is constant, so the held-out PSNR
logged at step ``k`` of the long run *is* the held-out PSNR of a ``k``-step run: one run gives every
shorter epoch count (the full batch runs ``--epochs`` steps). Writes one JSON line per fit to ``--out``
(kept across runs: finished fits are not redone) and prints the table: held-out PSNR at ¼, ½, ¾ and
all of ``--epochs`` (75/150/225/300) against the full batch.

Run from the repository root (choose on DIV2K, confirm on Kodak)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/studies/minibatch_default.py --images div2k/00,div2k/01 \\
        --out benchmarks/results/minibatch-default/div2k.jsonl
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/studies/minibatch_default.py \\
        --images kodak/kodim03,kodak/kodim19,kodak/kodim23 --out benchmarks/results/minibatch-default/kodak.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
from pathlib import Path

from sinetune import TrainOptions, fit


def history_at(history: list[dict[str, float]], step: int) -> dict[str, float]:
    """The last logged row at or before ``step`` (log steps: multiples of ``log_every``, and the last)."""
    return [row for row in history if row["step"] <= step][-1]


def run_fit(path: Path, batch_size: int | str, steps: int, size: int) -> dict:
    result = fit(path, "tuner", size=size, train_options=TrainOptions(steps=steps, batch_size=batch_size),
                 device="cpu", holdout=0.05, seed=0)
    history = result.history
    return {"history": [{k: row[k] for k in ("step", "heldout_psnr", "train_psnr", "elapsed_s")} for row in history],
            "heldout_psnr": result.metrics["heldout_psnr"], "train_samples": result.metrics.get("train_samples")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("..") / "shared" / "data")
    parser.add_argument("--images", required=True, help="comma-separated paths under --data, without .png")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16384)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done[(row["image"], row["batch_size"] or "full")] = row  # rows before "full" existed say null
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    count = round(args.size * args.size * 0.95)  # training samples (5% held out)
    per_epoch = math.ceil(count / args.batch_size)
    for image in args.images.split(","):
        for batch_size, steps in (("full", args.epochs), (args.batch_size, args.epochs * per_epoch)):
            if (image, batch_size) in done:
                continue
            row = {"image": image, "batch_size": batch_size, "steps": steps, "size": args.size, "commit": commit,
                   **run_fit(args.data / f"{image}.png", batch_size, steps, args.size)}
            with args.out.open("a") as stream:
                stream.write(json.dumps(row) + "\n")
            done[(image, batch_size)] = row
            print(f"{image} batch {batch_size}: {row['heldout_psnr']:.2f} dB after {steps} steps", flush=True)
    epochs = [args.epochs * quarter // 4 for quarter in (1, 2, 3, 4)]
    print(f"\n| image | full batch, {args.epochs} steps | " + " | ".join(f"{e} epochs" for e in epochs) + " |")
    print("|---|---|---|---|---|---|")
    for image in args.images.split(","):
        full, mini = done[(image, "full")], done[(image, args.batch_size)]
        cells = []
        for count_epochs in epochs:
            row = history_at(mini["history"], count_epochs * per_epoch)
            ratio = row["elapsed_s"] / full["history"][-1]["elapsed_s"]
            cells.append(f"{row['heldout_psnr']:.2f} ({ratio:.2f}× time)")
        print(f"| {image} | {full['heldout_psnr']:.2f} | " + " | ".join(cells) + " |")
    images = args.images.split(",")
    means = [sum(history_at(done[(image, args.batch_size)]["history"], e * per_epoch)["heldout_psnr"]
                 for image in images) / len(images) for e in epochs]
    full_mean = sum(done[(image, "full")]["heldout_psnr"] for image in images) / len(images)
    print(f"| mean | {full_mean:.2f} | " + " | ".join(f"{mean:.2f}" for mean in means) + " |")


if __name__ == "__main__":
    main()
