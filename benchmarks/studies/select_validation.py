"""TUNER's capacity chosen per signal by validation (issue #17, ``select: validation``) against the rule and SIREN.

The rule search (``rule_search.py``) found no single capacity rule that beats SIREN's held-out PSNR at 64² on
every class, while the best candidate differs per class. :mod:`sinetune.selection` lets each signal choose
among a few of them on a validation split of its *training* pixels. This study fits, on the ``holdout``
protocol of :func:`sinetune.bench.generalization.fit_cell` (5% of the pixels held out, 200 full-batch
steps, seed 0, one image per class), in the same run:

* ``siren``: SIREN's default; ``rule``: TUNER's capacity rule (today's default);
* ``select``: TUNER with ``select: validation`` (``--select-steps`` steps per candidate, ``--candidates``).

Rows go to ``OUT/rows.jsonl`` as they finish (a rerun skips them); ``OUT/summary.md`` has per class the
held-out / gradient PSNR of each, the candidate chosen with its validation PSNRs, the seconds (the
search's and the fit's) and the means: Δ to SIREN and to the rule, classes won, held-out PSNR per
second of fitting and the held-out dB gained over the rule per extra second.

Run from the repository root::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/studies/select_validation.py --stage choose \\
        --out benchmarks/results/val17/64-choose
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
from sinetune.progress import as_progress
from sinetune.selection import DEFAULT_CANDIDATES

METHODS = ("siren", "rule", "select")


def seconds(row: dict[str, Any]) -> float:
    """Seconds of fitting: the search's (if any) plus the real fit's."""
    return row["train_seconds"] + row.get("select_seconds", 0.0)


def summarize(rows: list[dict[str, Any]]) -> str:
    """Per class and mean: held-out / gradient PSNR, seconds, the choice; Δ and wins against SIREN and the rule."""
    by = {(r["class"], r["method"]): r for r in rows if "heldout_psnr" in r}
    classes = sorted({c for c, m in by if m == "select"})
    lines = ["| class | SIREN | rule | select | chosen (validation PSNR) | seconds SIREN / rule / select (search) |",
             "|---|---|---|---|---|---|"]
    for c in classes:
        cells = [f"{by[(c, m)]['heldout_psnr']:.2f} / {by[(c, m)]['gradient_psnr']:.2f}" if (c, m) in by else "–"
                 for m in METHODS]
        options = by[(c, "select")]["options"]
        choice = f"{options['selected']} ({', '.join(f'{v:.2f}' for v in options['select_psnr'])})"
        secs = " / ".join(f"{seconds(by[(c, m)]):.1f}" if (c, m) in by else "–" for m in METHODS)
        search = by[(c, "select")]["select_seconds"]
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {choice} | {secs} ({search:.1f}) |")
    lines += ["", "| method | classes | held-out | gradient | Δheld vs SIREN (wins) | Δgrad vs SIREN (wins) | "
              "Δheld vs rule (wins) | Δgrad vs rule (wins) | seconds | held-out dB / s | Δheld vs rule / extra s |",
              "|---" * 11 + "|"]
    for m in METHODS:
        common = [c for c in classes if (c, m) in by and (c, "siren") in by and (c, "rule") in by]
        if not common:
            continue
        get = lambda c, k, m=m: by[(c, m)][k]  # noqa: E731

        def delta(other: str, key: str, common: list[str] = common, get=get) -> str:
            d = [get(c, key) - by[(c, other)][key] for c in common]
            return f"{np.mean(d):+.2f} ({sum(x >= 0 for x in d)}/{len(d)})"
        total = np.mean([seconds(by[(c, m)]) for c in common])
        held = np.mean([get(c, "heldout_psnr") for c in common])
        extra = total - np.mean([seconds(by[(c, "rule")]) for c in common])
        rate = (held - np.mean([by[(c, "rule")]["heldout_psnr"] for c in common])) / extra if m != "rule" else 0.0
        lines.append(f"| {m} | {len(common)} | {held:.2f} | {np.mean([get(c, 'gradient_psnr') for c in common]):.2f} "
                     f"| {delta('siren', 'heldout_psnr')} | {delta('siren', 'gradient_psnr')} | "
                     f"{delta('rule', 'heldout_psnr')} | {delta('rule', 'gradient_psnr')} | {total:.1f} | "
                     f"{held / total:.2f} | {rate:+.3f} |")
    return "\n".join(lines) + "\n"


def ties(rows: list[dict[str, Any]], candidate_rows: list[dict[str, Any]], margins: list[float]) -> str:
    """What-if: the choice each tie margin makes from the *recorded* validation PSNRs of the ``select`` rows,
    scored with the rule search's rows of that candidate (``rule_search.py``, same protocol: a chosen
    candidate's final fit is that row's fit), against SIREN's row."""
    by = {(r["class"], r["method"]): r for r in candidate_rows if "heldout_psnr" in r}
    picks = [r for r in rows if r["method"] == "select" and "options" in r]
    lines = ["| tie (dB) | choices | Δheld vs SIREN (wins) | Δgrad vs SIREN (wins) | Δheld vs rule | Δgrad vs rule |",
             "|---|---|---|---|---|---|"]
    for margin in margins:
        chosen, dh, dg, rh, rg = [], [], [], [], []
        for r in picks:
            names, scores = r["options"]["select_candidates"], r["options"]["select_psnr"]
            best, best_score = names[0], scores[0]
            for name, score in zip(names[1:], scores[1:]):
                if score > best_score + margin:
                    best, best_score = name, score
            row, siren, rule = by[(r["class"], best)], by[(r["class"], "siren")], by[(r["class"], "rule")]
            chosen.append(f"{r['class']}: {best}")
            dh.append(row["heldout_psnr"] - siren["heldout_psnr"])
            dg.append(row["gradient_psnr"] - siren["gradient_psnr"])
            rh.append(row["heldout_psnr"] - rule["heldout_psnr"])
            rg.append(row["gradient_psnr"] - rule["gradient_psnr"])
        wins = lambda d: f"{np.mean(d):+.2f} ({sum(x >= 0 for x in d)}/{len(d)})"  # noqa: E731
        lines.append(f"| {margin:g} | {', '.join(chosen)} | {wins(dh)} | {wins(dg)} | {np.mean(rh):+.2f} | "
                     f"{np.mean(rg):+.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("choose", "confirm"), default="choose")
    parser.add_argument("--classes", help="comma-separated classes (default: the stage's)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, among {', '.join(METHODS)}")
    parser.add_argument("--select-steps", type=int, default=100)
    parser.add_argument("--candidates", default=",".join(DEFAULT_CANDIDATES), help="select_candidates")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--data", type=Path, default=Path("..") / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ties", help="comma-separated tie margins (dB): only write OUT/ties.md from OUT/rows.jsonl "
                                       "and the rule search's --candidate-rows")
    parser.add_argument("--candidate-rows", type=Path, nargs="*", default=[])
    args = parser.parse_args()
    if args.ties:
        read = lambda path: [json.loads(line) for line in path.read_text().splitlines()]  # noqa: E731
        text = ties(read(args.out / "rows.jsonl"), [r for p in args.candidate_rows for r in read(p)],
                    [float(v) for v in args.ties.split(",")])
        (args.out / "ties.md").write_text(text)
        print(text)
        return
    methods = args.methods.split(",")
    if any(m not in METHODS for m in methods):
        parser.error(f"--methods: choose among {', '.join(METHODS)}")
    classes = (tuple(args.classes.split(",")) if args.classes else
               tuple(c for c, (_, split) in CLASSES.items() if split == args.stage))
    variants = {"siren": ("siren", {}), "rule": ("tuner", {}),
                "select": ("tuner", {"select": "validation", "select_steps": args.select_steps,
                                     "select_candidates": args.candidates.split(",")})}
    cell = Cell((args.size, args.size), "holdout", classes, tuple(methods))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "rows.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    done = {(r["class"], r["method"]) for r in rows}
    say = as_progress(False)
    for name in classes:
        target = to_grid(master(name, args.data), cell.grid)
        for method in methods:
            if (name, method) in done:
                continue
            row = fit_cell(cell, name, method, target, args.steps, 0, "cpu", say, variants)
            row.update({"select_steps": args.select_steps, "threads": torch.get_num_threads()})
            rows.append(row)
            with path.open("a") as handle:
                handle.write(json.dumps(row, default=float) + "\n")
            print(f"{row['cell']} {method}: held {row.get('heldout_psnr', float('nan')):.2f} grad "
                  f"{row.get('gradient_psnr', float('nan')):.2f} {seconds(row):.1f} s "
                  f"{row.get('options', {}).get('selected') or ''} {row.get('refused', '')}", flush=True)
            (args.out / "summary.md").write_text(summarize(rows))
    (args.out / "summary.md").write_text(summarize(rows))  # also when every row was already there


if __name__ == "__main__":
    main()
