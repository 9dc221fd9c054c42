"""Choosing TUNER's noise-aware denoising rule (issue #14): band gain × stop factor × hold-out selection.

One fit per (image, band gain, hold-out) records, every ``log_every`` steps, the training MSE, the
held-out MSE (against the *noisy* held-out samples: all a user has) and — for this study only —
the PSNR against the clean image. Because stopping never changes the steps before it, each
trajectory gives the result of every discrepancy stop factor ``f`` at once: the field of the first
log step whose training MSE is ≤ ``f · σ̂²`` (exactly what ``task.stop_factor = f`` returns), and of
hold-out selection (the logged step with the best noisy held-out MSE, i.e. ``train.keep_best`` with
``--holdout``). The clean image is used to *score*, never to choose inside a fit.

Usage (the choose set is DIV2K; the confirmation is Kodak, via ``sinetune bench denoise``)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/studies/denoise_noise_band.py \\
        --images ../shared/data/div2k/0{0,1,2,3,4,5}.png --size 128 --width 128 \\
        --gains none,0.5,0.35,0.25,0.15 --holdouts 0,0.1 --out benchmarks/results/denoise14/choose.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import numpy as np
import torch

from sinetune.config import config_from_dict
from sinetune.metrics import psnr
from sinetune.runs import prepare_fit
from sinetune.signals import load_image
from sinetune.training import predict, train

FACTORS = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1)


def trajectory(path: Path, size: int, width: int, gain: float | None, holdout: float, steps: int,
               sigma: float, log_every: int, batch_size: int | None, extra: dict | None = None) -> dict:
    """One fit's logged trajectory (see the module docstring)."""
    signal = load_image(path, size)
    task = {"task": "denoise", "noise": sigma, "stop_factor": None, "band_gain": gain}
    options = {"input_width": width, "hidden_width": width, "hidden_layers": 1, **(extra or {})}
    config = config_from_dict({"method": "tuner", "options": options, "seed": 0, "holdout": holdout,
                               "task": task, "train": {"steps": steps, "log_every": log_every,
                                                       "batch_size": batch_size, "checkpoint_seconds": None}})
    prepared = prepare_fit(config, signal)
    clean = prepared.task.clean.values.reshape(-1, signal.channels)
    everything = prepared.signal.coords()
    clean_psnr: dict[int, float] = {}

    def on_step(step: int, field: torch.nn.Module) -> None:
        if step % log_every == 0 or step == steps:
            clean_psnr[step] = psnr(predict(field, everything).numpy(), clean, 1.0)

    coords, values, heldout = prepared.training_data()
    result = train(prepared.built.field, coords, values, config.train, prepared.config.train.lr,
                   prepared.built.constraints, prepared.built.penalties, heldout=heldout,
                   generator=prepared.generator, on_step=on_step, data_range=1.0)
    rows = [{"step": row["step"], "train_mse": 10 ** (-row["train_psnr"] / 10),
             "heldout_mse": 10 ** (-row["heldout_psnr"] / 10) if np.isfinite(row["heldout_psnr"]) else None,
             "clean_psnr": clean_psnr[row["step"]]} for row in result.history]
    resolved = prepared.config.options
    return {"image": path.stem, "size": size, "gain": gain, "holdout": holdout,
            "sigma_estimate": prepared.task.sigma_estimate, "noise_radius": prepared.task.noise_radius,
            "band_fraction": resolved.band_fraction, "band_limit": resolved.band_limit,
            "input_width": resolved.input_width, "rows": rows}


def outcomes(record: dict) -> dict[str, float | None]:
    """Clean PSNR under each stop factor, hold-out selection, the last step and the (oracle) best step."""
    rows, threshold = record["rows"], record["sigma_estimate"] ** 2
    found: dict[str, float | None] = {}
    for factor in FACTORS:
        hit = next((row for row in rows if row["train_mse"] <= factor * threshold), rows[-1])
        found[f"stop{factor:g}"] = hit["clean_psnr"]
        found[f"stop{factor:g}_step"] = hit["step"]
    if rows[0]["heldout_mse"] is not None:
        best = min(rows, key=lambda row: row["heldout_mse"])
        found["holdout_best"], found["holdout_best_step"] = best["clean_psnr"], best["step"]
    found["last"] = rows[-1]["clean_psnr"]
    found["oracle"] = max(row["clean_psnr"] for row in rows)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", type=Path, required=True)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--gains", default="none,0.5,0.35,0.25,0.15")
    parser.add_argument("--holdouts", default="0")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--sigma", type=float, default=0.1)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--options", type=json.loads, default={}, help="TUNER options as JSON, e.g. "
                        "'{\"block_bounds\": [0.5, 0.2]}'")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out} exists; choose another --out")
    gains = [None if item == "none" else float(item) for item in args.gains.split(",")]
    holdouts = [float(item) for item in args.holdouts.split(",")]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    records = []
    for holdout in holdouts:
        for gain in gains:
            for path in args.images:
                record = trajectory(path, args.size, args.width, gain, holdout, args.steps, args.sigma,
                                    args.log_every, args.batch_size, args.options)
                record["outcomes"] = outcomes(record)
                records.append(record)
                shown = {key: round(value, 2) for key, value in record["outcomes"].items()
                         if value is not None and not key.endswith("_step")}
                print(f"{path.stem} gain={gain} holdout={holdout} band={record['band_fraction']:.3f} "
                      f"b={record['band_limit']} n0={record['input_width']} {shown}", flush=True)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps({"commit": commit, "args": {k: str(v) for k, v in vars(args).items()},
                                                "records": records}, indent=1))
    keys = [key for key in records[0]["outcomes"] if not key.endswith("_step")]
    print("means over images:")
    for holdout in holdouts:
        for gain in gains:
            chosen = [r["outcomes"] for r in records if r["gain"] == gain and r["holdout"] == holdout]
            means = {key: round(float(np.mean([o[key] for o in chosen if o.get(key) is not None])), 2)
                     for key in keys if any(o.get(key) is not None for o in chosen)}
            print(f"gain={gain} holdout={holdout}: {means}")


if __name__ == "__main__":
    main()
