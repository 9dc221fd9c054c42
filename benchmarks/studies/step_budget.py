"""Step budget at 64²/128² (issue #17): TUNER's rule and SIREN's default at several step counts.

The rule search (``rule_search.py``) found TUNER's rule underfits at 64² with 200 full-batch steps, and
that every capacity change trades gradient PSNR away. This study varies only the step count (constant
lr, full batch, seed 0, the ``holdout`` protocol of :func:`sinetune.bench.generalization.fit_cell`)
for ``--methods`` (names of ``rule_search.CANDIDATES``; default ``siren,rule``) at each of ``--steps``.
Each fit is its own run (``fit_cell`` keeps no history). Rows go to ``OUT/rows.jsonl`` as they finish
(a rerun skips them); ``OUT/summary.md`` tabulates held-out / gradient PSNR and train seconds.
``--compare ROWS...`` only tabulates rows already written (a rule_search ``rows.jsonl`` has no ``steps``
field: its rows are its default 200 steps) into ``OUT/compare.md``: per class, rule − SIREN at equal
steps and with 3× the steps (about equal train seconds).

Run from the repository root::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/studies/step_budget.py --stage choose \\
        --methods rule --steps 600,1500 --out benchmarks/results/steps17/64-choose-rule
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rule_search import CANDIDATES  # noqa: E402

from sinetune.bench.content import to_grid  # noqa: E402
from sinetune.bench.generalization import CLASSES, Cell, fit_cell, master  # noqa: E402
from sinetune.progress import as_progress  # noqa: E402


def summarize(rows: list[dict[str, Any]]) -> str:
    """A markdown table: one line per (class, method, steps) with held-out, gradient PSNR and seconds."""
    lines = ["| class | method | steps | train | held-out | gradient | seconds |", "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["class"], r["method"], r["steps"])):
        lines.append(f"| {r['class']} | {r['method']} | {r['steps']} | {r['train_psnr']:.2f} | "
                     f"{r['heldout_psnr']:.2f} | {r['gradient_psnr']:.2f} | {r['train_seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def compare(rows: list[dict[str, Any]]) -> str:
    """Per class, TUNER's rule − SIREN (held-out, gradient dB) at each equal step count, and at equal wall
    time: the rule at 3× SIREN's steps (a rule step at 64² costs ~⅓ or less of a SIREN step; the seconds are
    in the table above)."""
    by = {(r["class"], r["method"], r["steps"]): r for r in rows}
    classes = sorted({r["class"] for r in rows})
    both = sorted({s for c, m, s in by if m == "rule"} & {s for c, m, s in by if m == "siren"})
    lines = ["| pairing | " + " | ".join(classes) + " | wins held | wins grad |", "|---" * (len(classes) + 3) + "|"]
    pairs = [(f"equal steps {s}", s, s) for s in both]
    for t in sorted({s for c, m, s in by if m == "siren"}):
        if any((c, "rule", 3 * t) in by for c in classes):
            pairs.append((f"rule {3 * t} vs SIREN {t} (3× the steps)", 3 * t, t))
    for label, ours, theirs in pairs:
        cells, wh, wg, n = [], 0, 0, 0
        for c in classes:
            if (c, "rule", ours) not in by or (c, "siren", theirs) not in by:
                cells.append("–")
                continue
            a, b = by[(c, "rule", ours)], by[(c, "siren", theirs)]
            dh, dg = a["heldout_psnr"] - b["heldout_psnr"], a["gradient_psnr"] - b["gradient_psnr"]
            cells.append(f"{dh:+.2f} / {dg:+.2f}")
            wh, wg, n = wh + (dh >= 0), wg + (dg >= 0), n + 1
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {wh}/{n} | {wg}/{n} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("choose", "confirm"), default="choose")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--classes", default="", help="comma-separated classes (default: all of --stage)")
    parser.add_argument("--methods", default="siren,rule", help="comma-separated names of rule_search.CANDIDATES")
    parser.add_argument("--steps", default="200,600,1500", help="comma-separated step counts")
    parser.add_argument("--data", type=Path, default=Path("..") / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--compare", type=Path, nargs="*", help="only tabulate: rows.jsonl files → OUT/compare.md")
    args = parser.parse_args()
    if args.compare:
        rows = [json.loads(line) for p in args.compare for line in p.read_text().splitlines()]
        rows = [{**r, "steps": r.get("steps", 200)} for r in rows if r["method"] in ("rule", "siren")]
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compare.md").write_text(summarize(rows) + "\n" + compare(rows))
        return
    names = args.methods.split(",")
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; choose from {', '.join(CANDIDATES)}")
    steps = [int(s) for s in args.steps.split(",")]
    classes = tuple(args.classes.split(",")) if args.classes else tuple(
        c for c, (_, split) in CLASSES.items() if split == args.stage)
    cell = Cell((args.size, args.size), "holdout", classes, tuple(names))
    variants = {n: CANDIDATES[n][:2] for n in names}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "rows.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    done = {(r["class"], r["method"], r["steps"]) for r in rows}
    say = as_progress(False)
    for name in classes:
        target = to_grid(master(name, args.data), cell.grid)
        for count in steps:
            for method in names:
                if (name, method, count) in done:
                    continue
                row = fit_cell(cell, name, method, target, count, 0, "cpu", say, variants, CANDIDATES[method][2])
                row.update({"steps": count, "threads": torch.get_num_threads()})
                rows.append(row)
                with path.open("a") as handle:
                    handle.write(json.dumps(row, default=float) + "\n")
                print(f"{row['cell']} {method} {count}: held {row['heldout_psnr']:.2f} grad "
                      f"{row['gradient_psnr']:.2f} {row['train_seconds']:.1f}s", flush=True)
                (args.out / "summary.md").write_text(summarize(rows))


if __name__ == "__main__":
    main()
