"""What every benchmark writes: rows, per-method means, ``results.json``, ``results.md`` and
``report.html`` (:mod:`sinetune.bench.page`)."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class BenchReport:
    """Rows (one per item × method), per-method means, a markdown table, and where it was written."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    means: dict[str, dict[str, float]] = field(default_factory=dict)
    markdown: str = ""
    out_dir: Path | None = None


def fresh_dir(root: Path) -> Path:
    """``root``, or ``root-2``, ``root-3``, … — the first that does not exist yet (created)."""
    candidate, index = root, 1
    while candidate.exists():
        index += 1
        candidate = root.with_name(f"{root.name}-{index}")
    candidate.mkdir(parents=True)
    return candidate


def mean(values: list[Any]) -> float | None:
    """Mean of the non-missing values (``None`` if there are none)."""
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def number(value: Any, digits: int) -> str:
    """``value`` to ``digits`` decimals, ``–`` when missing."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def provenance() -> dict[str, Any]:
    """Which code wrote a result: ``sinetune`` version, ``git_commit`` of the checkout the package runs
    from (``None`` outside a git checkout) and ``git_dirty`` (uncommitted changes). Results are written
    only by ``sinetune bench``; an erratum is a new run, never an edit."""
    from .. import __version__

    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"sinetune": __version__, "git_commit": commit, "git_dirty": bool(status) if commit else None}


def as_json_row(row: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars → Python floats, so the row serialises."""
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in row.items()}


def write_report(report: BenchReport, header: dict[str, Any], methods: list[str], out_dir: Path,
                 item_key: str, columns: tuple[tuple[str, str, int], ...], title: str) -> None:
    """Per-method means over the items finished by *every* method, then results.json, results.md and
    report.html.

    Args:
        item_key: the row key naming the item (``"image"``, ``"clip"``).
        columns: ``(row key, column title, decimals)`` for the table; means are taken of these keys.
        title: first line of the markdown (protocol summary).
    """
    items = list(dict.fromkeys(r[item_key] for r in report.rows))
    complete = [item for item in items
                if all(any(r[item_key] == item and r["method"] == m for r in report.rows) for m in methods)]
    report.means = {}
    for method_name in methods:
        rows = [r for r in report.rows if r["method"] == method_name and r[item_key] in complete]
        if rows:
            report.means[method_name] = {key: mean([r.get(key) for r in rows]) for key, _, _ in columns}
    header = {**header, f"{item_key}s_complete": len(complete), "written_by": provenance()}
    summary = f"; means over the {len(complete)} {item_key}s finished by every method" if methods else ""
    lines = [f"{title}{summary}", "",
             f"| {item_key} | method | " + " | ".join(name for _, name, _ in columns) + " |",
             "|---|---|" + "---|" * len(columns)]

    def cells(row: dict[str, Any]) -> str:
        return " | ".join(number(row.get(key), digits) for key, _, digits in columns)

    lines += [f"| {row[item_key]} | {row['method']} | {cells(row)} |" for row in report.rows]
    lines += [f"| **mean** | **{m}** | {cells(values)} |" for m, values in report.means.items()]
    report.markdown = "\n".join(lines)
    (out_dir / "results.json").write_text(json.dumps({**header, "rows": report.rows, "means": report.means},
                                                     indent=1))
    (out_dir / "results.md").write_text(report.markdown + "\n")
    from .page import write_bench_page

    write_bench_page(out_dir)  # report.html: the same results as a sortable page


def load_previous(out_dir: Path, header: dict[str, Any], protocol: tuple[str, ...], resume: bool) -> dict | None:
    """The previous ``results.json`` in ``out_dir`` when resuming (same protocol), else ``None``.

    Raises :class:`SinetuneError` if results exist and ``resume`` is off, or the protocol differs.
    """
    from ..errors import SinetuneError

    path = out_dir / "results.json"
    if not path.exists():
        return None
    if not resume:
        raise SinetuneError(f"{path} already exists; choose another --out or pass --resume")
    previous = json.loads(path.read_text())
    if any(previous.get(key) != header[key] for key in protocol):
        raise SinetuneError(f"cannot resume {out_dir}: it was run with a different protocol")
    return previous
