"""A benchmark's ``report.html``: its ``results.json`` as one self-contained page (no network).

The protocol header, the rows as a sortable table (click a column title; a second click reverses),
the per-method means, and a bar chart (inline SVG) of each method's mean for every numeric column.
Written next to ``results.json`` whenever the results are (:func:`sinetune.bench.report.write_report`),
and by ``sinetune report BENCH_DIR``.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import Any

from ..errors import SinetuneError

REPORT = "report.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1300px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 0.2em 0.7em; border-bottom: 1px solid #ddd; }
th { text-align: left; } table.sortable th { cursor: pointer; user-select: none; background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.wide { overflow-x: auto; max-width: 100%; }
.charts { display: flex; flex-wrap: wrap; gap: 1.2em; } figcaption { font-size: 0.9em; color: #555; }
"""

# Sort a table by the clicked column: numbers numerically (missing values last), text alphabetically.
_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, column) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var ascending = th.dataset.order !== 'asc';
      table.querySelectorAll('th').forEach(function (other) { delete other.dataset.order; });
      th.dataset.order = ascending ? 'asc' : 'desc';
      function key(row) { var cell = row.cells[column]; return cell.dataset.value !== undefined ?
        parseFloat(cell.dataset.value) : cell.textContent; }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x === 'number' && typeof y === 'number') {
          if (isNaN(x)) return 1; if (isNaN(y)) return -1; return ascending ? x - y : y - x;
        }
        return ascending ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x));
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if _is_number(value):
        shown = "–" if not math.isfinite(value) else (f"{value:.4g}" if isinstance(value, float) else str(value))
        return f'<td class="num" data-value="{value if math.isfinite(value) else "NaN"}">{shown}</td>'
    if value is None:
        return '<td class="num" data-value="NaN">–</td>'
    if isinstance(value, list) and all(_is_number(item) for item in value):
        return f"<td>{html.escape(', '.join(f'{item:.4g}' for item in value))}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def _table(rows: list[dict[str, Any]], columns: list[str], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(column)}</th>" for column in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(column)) for column in columns) + "</tr>" for row in rows)
    return (f'<div class="wide"><table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def bar_chart(title: str, values: dict[str, float], width: int = 300, bar: int = 22) -> str:
    """Horizontal bars of ``values`` (method → number) as an inline SVG figure ("" if none is finite)."""
    finite = {name: value for name, value in values.items() if _is_number(value) and math.isfinite(value)}
    if not finite:
        return ""
    low, high = min(0.0, *finite.values()), max(0.0, *finite.values())
    span = (high - low) or 1.0
    label = min(220, 10 + 7 * max(len(name) for name in finite))
    width += label - 70
    height = bar * len(finite) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}">']
    for index, (name, value) in enumerate(finite.items()):
        x0 = label + (min(value, 0.0) - low) / span * (width - label - 80)
        length = abs(value) / span * (width - label - 80)
        y = 5 + index * bar
        parts.append(f'<text x="{label - 6}" y="{y + bar * 0.65:.1f}" font-size="12" text-anchor="end">'
                     f"{html.escape(name)}</text>")
        parts.append(f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(length, 1):.1f}" height="{bar - 6}" fill="#4c78a8"/>')
        parts.append(f'<text x="{x0 + length + 4:.1f}" y="{y + bar * 0.65:.1f}" font-size="11">{value:.4g}</text>')
    parts.append("</svg>")
    return f"<figure>{''.join(parts)}<figcaption>{html.escape(title)}</figcaption></figure>"


def build_bench_page(results: dict[str, Any]) -> str:
    """The HTML of a benchmark page from the contents of ``results.json``."""
    rows = results.get("rows", [])
    means = results.get("means", {})
    header = {key: value for key, value in results.items() if key not in ("rows", "means", "configs")}
    columns = list(dict.fromkeys(key for row in rows for key in row))
    numeric = [column for column in columns if any(_is_number(row.get(column)) for row in rows)]
    title = f"sinetune bench {results.get('benchmark', '')}"
    protocol = "".join(f"<tr><th>{html.escape(key)}</th><td>{html.escape(json.dumps(value))}</td></tr>"
                       for key, value in header.items())
    mean_rows = [{"method": method, **values} for method, values in means.items()]
    mean_columns = ["method"] + [column for column in numeric if any(column in values for values in means.values())]
    if means:
        charts = "".join(bar_chart(f"{column} (mean)", {method: values.get(column) for method, values in means.items()})
                         for column in mean_columns[1:])
    else:  # no means (e.g. speed): a bar per row, named by its text fields
        labels = [" ".join(str(v) for v in row.values() if isinstance(v, str)) for row in rows]
        charts = "".join(bar_chart(column, dict(zip(labels, (row.get(column) for row in rows))))
                         for column in numeric)
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p>{len(rows)} rows; click a column title to sort.</p>",
            "<h2>Means per method</h2>", (_table(mean_rows, mean_columns, "means") if mean_rows
                                          else "<p>no per-method means in these results</p>"),
            f'<div class="charts">{charts}</div>',
            "<h2>Rows</h2>", _table(rows, columns, "rows"),
            f"<h2>Protocol</h2><table>{protocol}</table>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(body) + f"<script>{_SCRIPT}</script></body></html>\n")


def write_bench_page(out_dir: str | Path) -> Path:
    """Write ``out_dir/report.html`` from ``out_dir/results.json`` (atomically); returns its path."""
    out_dir = Path(out_dir)
    try:
        results = json.loads((out_dir / "results.json").read_text())
    except (OSError, ValueError) as error:
        raise SinetuneError(f"cannot read {out_dir / 'results.json'}: {error}") from None
    path, partial = out_dir / REPORT, out_dir / f".{REPORT}.partial"
    partial.write_text(build_bench_page(results), encoding="utf-8")
    os.replace(partial, path)
    return path


__all__ = ["REPORT", "bar_chart", "build_bench_page", "write_bench_page"]
