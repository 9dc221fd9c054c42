"""Search for a better small-grid TUNER capacity rule (issue #17): candidates against SIREN's default.

The capacity rule (:mod:`sinetune.capacity`) underfits at 64² (train 28–33 dB against SIREN's 34–44;
BENCHMARKS.md, "Generalization"). This study fits candidate rule changes on the ``holdout`` protocol of
``sinetune bench generalization`` (:func:`sinetune.bench.generalization.fit_cell`: 5% of the pixels held
out, 200 full-batch steps, seed 0) next to SIREN's default and the current rule, in the same run:

* ``--stage choose``: every candidate of :data:`CANDIDATES` on the *choose* classes (generated smooth
  noise, shapes, line art, texture, white noise, DIV2K 00);
* ``--stage confirm``: the candidates named by ``--candidates`` (picked on the choose rows only) on the
  *confirm* classes (kodim19, astronaut, camera);
* ``--size 128``: the same at 128².

Each row goes to ``OUT/rows.jsonl`` as it finishes (a cut-short run keeps its rows; a rerun skips them);
``OUT/summary.md`` ranks the candidates: mean held-out / gradient PSNR difference to SIREN and to the
current rule, and the number of classes won against SIREN on each.

Run from the repository root::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/studies/rule_search.py --stage choose \\
        --out benchmarks/results/rule17/64-choose
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/studies/rule_search.py --stage confirm \\
        --candidates lr2,c2 --out benchmarks/results/rule17/64-confirm
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sinetune.bench.content import to_grid
from sinetune.bench.generalization import CLASSES, Cell, fit_cell, master
from sinetune.methods.tuner import DEFAULT_LR
from sinetune.progress import as_progress

#: Candidate → (method, options, train overrides). ``rule`` is today's default, ``siren`` SIREN's default.
CANDIDATES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "siren": ("siren", {}, {}),
    "rule": ("tuner", {}, {}),
    "layers2": ("tuner", {"hidden_layers": 2}, {}),
    "hidden512": ("tuner", {"hidden_width": 512}, {}),
    "c1.5": ("tuner", {"block_bounds": [1.5, 0.6]}, {}),
    "c2": ("tuner", {"block_bounds": [2.0, 0.8]}, {}),
    "c3": ("tuner", {"block_bounds": [3.0, 1.2]}, {}),
    "lr2": ("tuner", {}, {"lr": 2 * DEFAULT_LR}),
    "lr4": ("tuner", {}, {"lr": 4 * DEFAULT_LR}),
    "n48": ("tuner", {"input_width": 48, "hidden_width": 256}, {}),
    "n96": ("tuner", {"input_width": 96, "hidden_width": 256, "band_fraction": 0.25}, {}),
    "band0.3": ("tuner", {"input_width": 64, "hidden_width": 256, "band_fraction": 0.3}, {}),
    "learned": ("tuner", {"bound_mode": "learned"}, {}),
    # round 2: the first round's held-out gains (two layers, lr) with something that keeps the gradient
    "l2-db0.3": ("tuner", {"hidden_layers": 2, "deep_bound": 0.3}, {}),
    "l2-db0.15": ("tuner", {"hidden_layers": 2, "deep_bound": 0.15}, {}),
    "l2-h128": ("tuner", {"hidden_layers": 2, "hidden_width": 128}, {}),
    "l2-n48": ("tuner", {"hidden_layers": 2, "input_width": 48, "hidden_width": 256}, {}),
    "l2-c0.7": ("tuner", {"hidden_layers": 2, "block_bounds": [0.7, 0.28]}, {}),
    "h512-lr2": ("tuner", {"hidden_width": 512}, {"lr": 2 * DEFAULT_LR}),
    "h1024": ("tuner", {"hidden_width": 1024}, {}),
    "omega60": ("tuner", {"hidden_omega": 60.0}, {}),
    "h512-omega60": ("tuner", {"hidden_width": 512, "hidden_omega": 60.0}, {}),
    # round 3: the one-layer frontier (wider hidden layer, faster hidden layer) and a regularised two-layer
    "h768": ("tuner", {"hidden_width": 768}, {}),
    "h2048": ("tuner", {"hidden_width": 2048}, {}),
    "h1024-omega60": ("tuner", {"hidden_width": 1024, "hidden_omega": 60.0}, {}),
    "h1024-lr2": ("tuner", {"hidden_width": 1024}, {"lr": 2 * DEFAULT_LR}),
    "l2-h128-db0.15": ("tuner", {"hidden_layers": 2, "hidden_width": 128, "deep_bound": 0.15}, {}),
    # round 4: two layers (the only held-out wins on shapes / line art) with less gradient noise
    "l2-h192-db0.15": ("tuner", {"hidden_layers": 2, "hidden_width": 192, "deep_bound": 0.15}, {}),
    "l2-n48-db0.15": ("tuner", {"hidden_layers": 2, "input_width": 48, "hidden_width": 256, "deep_bound": 0.15},
                      {}),
    "l2-c0.7-db0.15": ("tuner", {"hidden_layers": 2, "block_bounds": [0.7, 0.28], "deep_bound": 0.15}, {}),
    "l2-n48-c0.7-db0.15": ("tuner", {"hidden_layers": 2, "input_width": 48, "hidden_width": 256,
                                     "block_bounds": [0.7, 0.28], "deep_bound": 0.15}, {}),
    "l2-n48-c0.85-db0.15": ("tuner", {"hidden_layers": 2, "input_width": 48, "hidden_width": 256,
                                      "block_bounds": [0.85, 0.34], "deep_bound": 0.15}, {}),
    "l2-n56-c0.7-db0.15": ("tuner", {"hidden_layers": 2, "input_width": 56, "hidden_width": 256,
                                     "block_bounds": [0.7, 0.28], "deep_bound": 0.15}, {}),
}


def summarize(rows: list[dict[str, Any]]) -> str:
    """A markdown table: per candidate, mean Δ to SIREN and to the rule (held-out, gradient) and wins."""
    by = {(r["class"], r["method"]): r for r in rows if "heldout_psnr" in r}
    classes = sorted({c for c, _ in by})
    lines = ["| candidate | classes | train | held-out | Δheld vs SIREN | wins held | Δgrad vs SIREN | wins grad "
             "| Δheld vs rule | Δgrad vs rule |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name in CANDIDATES:
        common = [c for c in classes if (c, name) in by and (c, "siren") in by and (c, "rule") in by]
        if not common:
            continue
        get = lambda c, m, k: by[(c, m)][k]  # noqa: E731
        dh = [get(c, name, "heldout_psnr") - get(c, "siren", "heldout_psnr") for c in common]
        dg = [get(c, name, "gradient_psnr") - get(c, "siren", "gradient_psnr") for c in common]
        rh = [get(c, name, "heldout_psnr") - get(c, "rule", "heldout_psnr") for c in common]
        rg = [get(c, name, "gradient_psnr") - get(c, "rule", "gradient_psnr") for c in common]
        train = np.mean([get(c, name, "train_psnr") for c in common])
        held = np.mean([get(c, name, "heldout_psnr") for c in common])
        lines.append(f"| {name} | {len(common)} | {train:.2f} | {held:.2f} | {np.mean(dh):+.2f} | "
                     f"{sum(d >= 0 for d in dh)}/{len(common)} | {np.mean(dg):+.2f} | {sum(d >= 0 for d in dg)}/"
                     f"{len(common)} | {np.mean(rh):+.2f} | {np.mean(rg):+.2f} |")
    per_class = ["", "| class | " + " | ".join(CANDIDATES) + " |", "|---" * (len(CANDIDATES) + 1) + "|"]
    for c in classes:
        cells = [f"{by[(c, m)]['heldout_psnr']:.2f} / {by[(c, m)]['gradient_psnr']:.2f}" if (c, m) in by else "–"
                 for m in CANDIDATES]
        per_class.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines + per_class) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("choose", "confirm"), default="choose")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated names of CANDIDATES")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--data", type=Path, default=Path("..") / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    names = list(dict.fromkeys(["siren", "rule", *args.candidates.split(",")]))
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidate {unknown[0]!r}; choose from {', '.join(CANDIDATES)}")
    classes = tuple(c for c, (_, split) in CLASSES.items() if split == args.stage)
    cell = Cell((args.size, args.size), "holdout", classes, tuple(names))
    variants = {n: CANDIDATES[n][:2] for n in names}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "rows.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    done = {(r["class"], r["method"]) for r in rows}
    say = as_progress(False)
    for name in classes:
        target = to_grid(master(name, args.data), cell.grid)
        for candidate in names:
            if (name, candidate) in done:
                continue
            train = CANDIDATES[candidate][2]
            row = fit_cell(cell, name, candidate, target, args.steps, 0, "cpu", say, variants, train)
            row.update({"train": train, "threads": torch.get_num_threads()})
            rows.append(row)
            with path.open("a") as handle:
                handle.write(json.dumps(row, default=float) + "\n")
            print(f"{row['cell']} {candidate}: train {row.get('train_psnr', float('nan')):.2f} held "
                  f"{row.get('heldout_psnr', float('nan')):.2f} grad {row.get('gradient_psnr', float('nan')):.2f} "
                  f"{row.get('refused', '')}", flush=True)
            (args.out / "summary.md").write_text(summarize(rows))


if __name__ == "__main__":
    main()
