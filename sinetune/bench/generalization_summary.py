"""The acceptance tables of ``sinetune bench generalization`` (issue #17), from its rows.

* per grid × protocol × class: TUNER's default against SIREN's (held-out / full-grid PSNR and gradient
  PSNR, in dB, positive = TUNER ahead) and, on ``sr``, against bicubic;
* per grid × protocol × variant: the means over the classes of each half of the choose/confirm split.
"""

from __future__ import annotations

from typing import Any

from .report import mean, number


def _value(rows: list[dict[str, Any]], cell: str, method: str, key: str) -> float | None:
    for row in rows:
        if row["cell"] == cell and row["method"] == method:
            return row.get(key)
    return None


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _verdict(value: float | None) -> str:
    return "–" if value is None else ("yes" if value >= 0 else "**no**")


def summary_markdown(rows: list[dict[str, Any]], header: dict[str, Any]) -> str:
    """Two markdown tables: per-cell acceptance, then per-split means (see the module docstring)."""
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    lines = ["## Acceptance: TUNER default − SIREN default (dB; sr: full-grid PSNR), and − bicubic on sr", "",
             "| cell | split | PSNR Δ vs SIREN | ≥? | grad Δ vs SIREN | ≥? | PSNR Δ vs bicubic | ≥? |",
             "|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        protocol = cell.split("/")[1]
        score = "heldout_psnr" if protocol == "holdout" else "full_psnr"
        split = next(r["split"] for r in rows if r["cell"] == cell)
        psnr_delta = _difference(_value(rows, cell, "tuner", score), _value(rows, cell, "siren", score))
        grad_delta = _difference(_value(rows, cell, "tuner", "gradient_psnr"),
                                 _value(rows, cell, "siren", "gradient_psnr"))
        bicubic = (_difference(_value(rows, cell, "tuner", score), _value(rows, cell, "bicubic", score))
                   if protocol == "sr" else None)
        if psnr_delta is None and grad_delta is None and bicubic is None:
            continue
        lines.append(f"| {cell} | {split} | {number(psnr_delta, 2)} | {_verdict(psnr_delta)} | "
                     f"{number(grad_delta, 2)} | {_verdict(grad_delta)} | {number(bicubic, 2)} | "
                     f"{_verdict(bicubic) if protocol == 'sr' else '–'} |")
    lines += ["", "## Means over the classes of each split (white-noise excluded)", "",
              "| grid/protocol | split | method | classes | train PSNR | held-out / full PSNR | grad PSNR | SSIM "
              "| gap |",
              "|---|---|---|---|---|---|---|---|---|"]
    groups = list(dict.fromkeys("/".join(r["cell"].split("/")[:2]) for r in rows))
    for group in groups:
        for split in ("choose", "confirm"):
            members = [r for r in rows if r["cell"].startswith(group + "/") and r["split"] == split
                       and r["class"] != "white-noise" and "refused" not in r]
            for method in dict.fromkeys(r["method"] for r in members):
                picked = [r for r in members if r["method"] == method]
                score = "heldout_psnr" if group.endswith("holdout") else "full_psnr"
                values = [mean([r.get(key) for r in picked])
                          for key in ("train_psnr", score, "gradient_psnr", "ssim", "gap")]
                lines.append(f"| {group} | {split} | {method} | {len(picked)} | "
                             + " | ".join(number(v, 4 if i == 3 else 2) for i, v in enumerate(values)) + " |")
    refused = [r for r in rows if "refused" in r]
    if refused:
        lines += ["", "Refused: " + "; ".join(f"{r['cell']} × {r['method']}: {r['refused']}" for r in refused)]
    return "\n".join(lines)


__all__ = ["summary_markdown"]
