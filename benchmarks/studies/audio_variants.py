"""One-change variants of the audio protocol on one clip (BENCHMARKS.md, "Why FINER and SSN trail on audio",
and the seed rows of "Band from the spectrum").

Each variant is the ``bench audio`` protocol (first 1 s, width 222, 4 sine layers, 500 full-batch
steps, nothing held out) with a few method options, an lr, or a seed changed; it prints one JSON line
with the final PSNR (range 2) and the best PSNR logged every 10 steps.

Run from the repository root::

    .venv/bin/python benchmarks/studies/audio_variants.py                      # every variant on speech
    .venv/bin/python benchmarks/studies/audio_variants.py --clip trumpet --only finer
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sinetune.config import config_from_dict
from sinetune.runs import run
from sinetune.signals import load_audio

#: (method, option changes, lr or None for the method's default, seed)
VARIANTS = [
    ("finer", {}, None, 0),
    ("finer", {"first_bias_scale": 5.0}, None, 0),
    ("finer", {}, 1e-4, 0),
    ("finer", {"first_bias_scale": 5.0}, 1e-4, 0),
    ("ssn", {}, None, 0),
    ("ssn", {}, 1e-4, 0),
    ("ssn", {"bandwidth_fraction": 0.0649}, None, 0),
    ("tuner", {}, 1e-4, 0),
    ("tuner", {"band_fraction": 0.1}, None, 0),
    ("tuner", {}, None, 1),
    ("tuner", {"band_rule": "spectrum"}, None, 1),
    ("tuner", {}, None, 2),
    ("tuner", {"band_rule": "spectrum"}, None, 2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("..") / "shared" / "data" / "audio")
    parser.add_argument("--clip", default="speech")
    parser.add_argument("--only", help="run only this method's variants")
    args = parser.parse_args()
    path = args.data / f"{args.clip}.wav"
    signal = load_audio(path, duration=1.0)
    for method, changes, lr, seed in VARIANTS:
        if args.only and method != args.only:
            continue
        train = {"steps": 500, "log_every": 10, **({"lr": lr} if lr is not None else {})}
        config = config_from_dict({"signal": {"path": str(path), "size": None, "duration": 1.0}, "method": method,
                                   "options": {"input_width": 222, "hidden_width": 222, "hidden_layers": 3, **changes},
                                   "train": train, "seed": seed, "holdout": 0.0, "device": "cpu"})
        result = run(config, signal=signal, progress=False)
        print(json.dumps({"clip": args.clip, "method": method, "changes": changes, "lr": result.config.train.lr,
                          "seed": seed, "psnr": round(result.metrics["full_psnr"], 2),
                          "best_logged_psnr": round(max(row["train_psnr"] for row in result.history), 2)}),
              flush=True)


if __name__ == "__main__":
    main()
