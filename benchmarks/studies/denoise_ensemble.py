"""Denoising by ensembling (issue #14): the mean of ``K`` independently seeded fits to one noisy input.

Each row is one (input, setting, stop factor): ``max(--ks)`` fields fitted to the SAME noisy input (the
corruption has its own seed, 0), member ``k`` with the seed :func:`sinetune.ensemble.member_seed` ``(0, k)``
gives it (the members ``sinetune fit --ensemble K`` trains), each stopped by the discrepancy rule at
``task.stop_factor``. The row scores every member and the mean of the first ``k`` renders for each ``k``
in ``--ks`` against the clean signal (``ens_psnr``: the raw mean, what an ensemble run renders;
``ens_clip_psnr``: the mean of renders clipped to the signal's range), next to TV, wavelet and (images,
if installed) BM3D on the same input. Images: ``--noise`` σ; audio (``.wav``): ``--snr`` dB, the denoise
bench's audio protocol (``sinetune.bench.inverse``: 0.25 s from 1 s, 3 hidden layers, SIREN at first
ω 3000). Member renders are cached in ``--cache`` (a rerun resumes; rows already in ``--out`` are skipped).

Usage (choose on DIV2K crops, confirm on Kodak)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/studies/denoise_ensemble.py \\
        --images ../shared/data/div2k/0{0,1,2,3,4,5}.png --size 128 --settings tuner-l3 --stop-factors 1,0.9 \\
        --ks 1,4,8 --out benchmarks/results/ens14/choose-div2k-128.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from inverse_settings import DENOISERS, SETTINGS  # a sibling study (its directory is on sys.path): the settings

from sinetune.baselines import bm3d_available, run_baseline
from sinetune.bench.audio import PROTOCOL_OPTIONS
from sinetune.bench.inverse import AUDIO_START, tuner_input_width
from sinetune.config import config_from_dict
from sinetune.ensemble import member_seed
from sinetune.metrics import AUDIO_DATA_RANGE
from sinetune.render import render_field
from sinetune.runs import run
from sinetune.signals import Signal, load_audio, load_image
from sinetune.tasks import prepare_task, score_task

AUDIO_SECONDS = 0.25


def load(path: Path, size: int) -> Signal:
    """An image at ``size`` or the bench's audio crop."""
    if path.suffix == ".wav":
        return load_audio(path, start=AUDIO_START, duration=AUDIO_SECONDS)
    return load_image(path, size)


def task_section(signal: Signal, noise: float, snr: float, stop_factor: float, band_gain: float | None) -> dict:
    """The ``task:`` section: σ for images, SNR for audio (``band_gain``: TUNER's noise-keyed band, or none)."""
    corruption = {"snr": snr} if signal.kind == "audio" else {"noise": noise}
    return {"task": "denoise", **corruption, "stop_factor": stop_factor, "band_gain": band_gain}


def member_config(signal: Signal, setting: str, width: int, steps: int, batch: str | int, task: dict, seed: int):
    """The config of one member (the inverse_settings protocol; audio: the bench's)."""
    method, extra, *train = SETTINGS[setting]
    if signal.kind == "audio":
        options = {"input_width": width, "hidden_width": width, "hidden_layers": 3,
                   **PROTOCOL_OPTIONS.get(method, {}), **{k: v for k, v in extra.items() if k != "hidden_layers"}}
    else:
        options = {"hidden_width": width, "input_width": width, **extra}
    if method == "tuner":
        options["input_width"] = tuner_input_width(signal.grid_shape, width)
    return config_from_dict({"method": method, "options": options, "seed": seed, "holdout": 0.0, "device": "cpu",
                             "train": {"steps": steps, "batch_size": batch, "checkpoint_seconds": None,
                                       **(train[0] if train else {})}, "task": task})


def fit_member(signal: Signal, config, cache: Path) -> tuple[np.ndarray, dict]:
    """One member's render ``grid_shape + (C,)`` and its facts, from ``cache`` if fitted before."""
    if cache.exists():
        saved = np.load(cache, allow_pickle=False)
        return saved["render"], json.loads(str(saved["facts"]))
    started = time.perf_counter()
    result = run(config, signal=signal)
    render = render_field(result.field, signal.grid_shape)
    facts = {"clean_psnr": result.metrics["clean_psnr"], "steps_run": result.metrics["steps"],
             "seconds": time.perf_counter() - started}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, render=render, facts=json.dumps(facts))
    return render, facts


def baseline_scores(signal: Signal, task: dict) -> dict[str, float]:
    """The denoising baselines' clean PSNR on the same noisy input."""
    prepared = prepare_task(config_from_dict({"task": {**task, "stop_factor": None}}).task, signal)
    names = [n for n in DENOISERS if n != "bm3d" or (bm3d_available() and signal.kind != "audio")]
    return {name: score_task(prepared, run_baseline(name, prepared))["clean_psnr"] for name in names}


def ensemble_row(path: Path, args: argparse.Namespace, setting: str, stop_factor: float, ks: list[int]) -> dict:
    """Fit the members of one row and score the ensembles of the first ``k`` of them."""
    signal = load(path, args.size)
    task = task_section(signal, args.noise, args.snr, stop_factor, args.band_gain)
    batch = args.batch_size if args.batch_size == "full" else int(args.batch_size)
    renders, members = [], []
    for k in range(max(ks)):
        config = member_config(signal, setting, args.width, args.steps, batch, task, member_seed(0, k))
        size = "audio" if signal.kind == "audio" else args.size
        gain = f"-g{args.band_gain:g}" if args.band_gain is not None else ""
        key = f"{path.stem}-{size}-{setting}{gain}-w{args.width}-s{args.steps}-b{batch}-f{stop_factor:g}-m{k}.npz"
        render, facts = fit_member(signal, config, args.cache / key)
        renders.append(render)
        members.append(facts)
        print(f"  {path.stem} {setting} stop {stop_factor:g} member {k}: {facts['clean_psnr']:.2f} dB, "
              f"{facts['steps_run']} steps, {facts['seconds']:.0f} s", flush=True)
    prepared = prepare_task(replace(config.task), signal)
    low, high = (-1.0, 1.0) if signal.kind == "audio" else (0.0, 1.0)
    row = {"image": path.stem, "kind": signal.kind, "size": None if signal.kind == "audio" else args.size,
           "setting": setting + (f" gain {args.band_gain:g}" if args.band_gain is not None else ""),
           "width": args.width, "steps": args.steps, "batch_size": batch,
           "stop_factor": stop_factor, "members": members,
           "ens_psnr": {str(k): score_task(prepared, np.mean(renders[:k], axis=0))["clean_psnr"] for k in ks},
           "ens_clip_psnr": {str(k): score_task(prepared, np.mean(np.clip(renders[:k], low, high), axis=0))
                             ["clean_psnr"] for k in ks},
           "data_range": AUDIO_DATA_RANGE if signal.kind == "audio" else 1.0}
    row.update(baseline_scores(signal, {**task, "band_gain": None}))
    return row


def latest(rows: list[dict]) -> list[dict]:
    """One row per (input, size, width, setting, stop, batch): the one with the most members."""
    best: dict[tuple, dict] = {}
    for row in rows:
        key = (row["image"], row["size"], row["width"], row["setting"], row["stop_factor"], str(row["batch_size"]))
        if key not in best or len(row["members"]) > len(best[key]["members"]):
            best[key] = row
    return list(best.values())


def summary(rows: list[dict]) -> str:
    """Markdown: per (size, width, setting, stop factor) the mean single-member and ensemble PSNRs ("–" where
    not every input has that many members), and the largest ensemble's margin over TV with the inputs it wins."""
    rows = latest(rows)
    ks = sorted({int(k) for r in rows for k in r["ens_psnr"]})
    names = [n for n in DENOISERS if rows and all(n in r for r in rows)]
    lines = ["| size | width | setting | stop | inputs | member mean | " + " | ".join(f"K={k}" for k in ks)
             + " | " + " | ".join(names) + " | largest K − tv (wins) |",
             "|---|---|---|---|---|---|" + "---|" * (len(ks) + len(names) + 1)]
    keys = sorted({(str(r["size"]), r["width"], r["setting"], r["stop_factor"], str(r["batch_size"])) for r in rows})
    for size, width, setting, stop, batch in keys:
        group = [r for r in rows if (str(r["size"]), r["width"], r["setting"], r["stop_factor"],
                                     str(r["batch_size"])) == (size, width, setting, stop, batch)]
        single = np.mean([m["clean_psnr"] for r in group for m in r["members"]])
        ens = [f"{np.mean([r['ens_psnr'][str(k)] for r in group]):.2f}"
               if all(str(k) in r["ens_psnr"] for r in group) else "–" for k in ks]
        top = max(k for k in ks if all(str(k) in r["ens_psnr"] for r in group))
        base = [np.mean([r[n] for r in group]) for n in names]
        margins = [r["ens_psnr"][str(top)] - r["tv"] for r in group]
        label = size if batch == "full" else f"{size} (b {batch})"
        lines.append(f"| {label} | {width} | {setting} | {stop:g} | {len(group)} | {single:.2f} | " + " | ".join(ens)
                     + " | " + " | ".join(f"{b:.2f}" for b in base)
                     + f" | K={top}: {np.mean(margins):+.2f} ({sum(m > 0 for m in margins)}/{len(group)}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", nargs="+", type=Path, required=True, help="images, or .wav clips")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--noise", type=float, default=0.1, help="images: σ")
    parser.add_argument("--snr", type=float, default=20.0, help="audio: SNR in dB")
    parser.add_argument("--stop-factors", default="1,0.9")
    parser.add_argument("--settings", default="tuner-l3")
    parser.add_argument("--band-gain", type=float, default=None, help="task.band_gain (TUNER's noise-keyed band)")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", default="full")
    parser.add_argument("--ks", default="1,4,8")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/denoise-ensemble-cache"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    ks = sorted(map(int, args.ks.split(",")))
    rows = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.exists() else []
    batch = args.batch_size if args.batch_size == "full" else int(args.batch_size)

    done = {(r["image"], r["size"], r["setting"], r["width"], r["steps"], str(r["batch_size"]), r["stop_factor"],
             tuple(sorted(r["ens_psnr"]))) for r in rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        size = None if path.suffix == ".wav" else args.size
        for setting in args.settings.split(","):
            for stop in map(float, args.stop_factors.split(",")):
                label = setting + (f" gain {args.band_gain:g}" if args.band_gain is not None else "")
                if (path.stem, size, label, args.width, args.steps, str(batch), stop,
                        tuple(sorted(map(str, ks)))) in done:
                    continue
                row = ensemble_row(path, args, setting, stop, ks)
                rows.append(row)
                with args.out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(f"{path.stem} {setting} stop {stop:g}: " + ", ".join(
                    f"K={k} {row['ens_psnr'][str(k)]:.2f}" for k in ks) + f"; tv {row['tv']:.2f}", flush=True)
    table = summary([r for r in rows if r["steps"] == args.steps])
    print(table)
    args.out.with_suffix(".md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    main()
