"""``report.html``: one self-contained page per run (no network: images and sounds inlined as base64).

The page shows what a person asks of a fit first: the headline metrics, the target next to the
reconstruction, the error, spectrum and gradient figures, the training curves (an inline SVG drawn
from ``log.csv``, and ``curves.png``), the ``derived:`` choices, the full ``metrics.json`` and
``config.yaml``. A sound run gets audio players for the target and the reconstruction. Figures
added later (``render-*.png``, ``analysis_*.png``) appear when the report is written again
(``sinetune report RUN_DIR``). The target is the fitted signal when the report is written with the
run, else the signal loaded again from ``config.yaml`` (left out, with a note, if it is gone).

Clicking an image toggles a zoomed view in a scrollable frame: the target and the reconstruction
at 4× with nearest-neighbour pixels (a crop can be inspected pixel by pixel), a figure at its own
size. The only script on the page is that toggle.

``report.html`` is written with the run (inside its temporary directory, so it appears with the run
or not at all) but is a derived file (:data:`sinetune.rundir.DERIVED_FILES`): the manifest does not
list it, so ``sinetune report`` may rewrite it (atomically) without making the run incomplete.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .signals import Signal

#: The report's file name inside a run directory.
REPORT = "report.html"
#: A sound longer than this many samples is linked, not inlined (keeps the page small).
MAX_INLINE_AUDIO_SAMPLES = 1 << 21
#: The target and the reconstruction are shown at most this many pixels on the longer side
#: (a larger image is downsampled for the page; the run's PNG keeps every pixel).
MAX_SHOWN_SIDE = 1024

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0; } figcaption { color: #555; font-size: 0.9em; }
.frame { overflow: auto; max-width: 100%; max-height: 80vh; border: 1px solid #ccc; }
.frame img { display: block; cursor: zoom-in; }
.frame img.pair { width: 360px; image-rendering: pixelated; } .frame img.wide { width: 560px; }
.frame img.zoomed { width: auto; cursor: zoom-out; } .frame img.pair.zoomed { zoom: 4; }
pre { background: #f6f6f6; padding: 0.8em; overflow: auto; font-size: 0.85em; }
.warn { color: #a40; font-weight: bold; }
"""

_SCRIPT = """
document.querySelectorAll('.frame img').forEach(function (img) {
  img.addEventListener('click', function () { img.classList.toggle('zoomed'); });
});
"""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _png_bytes(values: np.ndarray) -> bytes:
    from PIL import Image

    from .signals import image_from_array

    buffer = io.BytesIO()
    Image.fromarray(image_from_array(values)).save(buffer, format="PNG")
    return buffer.getvalue()


def _wav_bytes(values: np.ndarray, rate: int, scale: float) -> bytes:
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(values, np.float32).reshape(-1) * scale, rate, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def _figure(uri: str, caption: str, kind: str = "pair") -> str:
    return (f'<figure><div class="frame"><img class="{kind}" src="{uri}" alt="{html.escape(caption)}"></div>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _png_figure(path: Path, caption: str, kind: str = "wide") -> str:
    return _figure(_data_uri(path.read_bytes(), "image/png"), caption, kind)


def _image_pair(run_dir: Path, target: np.ndarray | None) -> list[str]:
    """The target and the reconstruction as figures, each at most :data:`MAX_SHOWN_SIDE` pixels."""
    from PIL import Image

    from .signals import resize_image

    def shown(values: np.ndarray, caption: str) -> str:
        if max(values.shape[:2]) > MAX_SHOWN_SIDE:
            values = resize_image(values, MAX_SHOWN_SIDE)
            caption += f" (shown at {values.shape[1]}×{values.shape[0]})"
        return _figure(_data_uri(_png_bytes(values), "image/png"), caption, "pair")

    figures = [shown(target, "target")] if target is not None else []
    path = run_dir / "reconstruction.png"
    if path.is_file():
        with Image.open(path) as image:
            large = max(image.size) > MAX_SHOWN_SIDE
            values = np.asarray(image.convert("RGB"), np.float32) / 255.0 if large else None
        caption = "reconstruction (the field on the training grid)"
        figures.append(shown(values, caption) if large else _png_figure(path, caption, "pair"))
    return figures


def _number(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or value is None:
        return "n/a" if value is None else str(value).lower()
    if isinstance(value, (int, float)) and math.isfinite(value):
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return html.escape(str(value))


def _history(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "log.csv"
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append({key: float(value) if value not in ("", "nan") else math.nan for key, value in row.items()})
    return rows


def curves_svg(history: list[dict[str, float]], width: int = 560, height: int = 260) -> str:
    """PSNR (train, held-out) against the step as an inline SVG polyline chart ("" without a history)."""
    series = {key: [(row["step"], row[key]) for row in history if math.isfinite(row.get(key, math.nan))]
              for key in ("train_psnr", "heldout_psnr")}
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    left, bottom, pad = 48, 30, 10
    steps = [p[0] for p in points]
    values = [p[1] for p in points]
    x0, x1 = min(steps), max(max(steps), min(steps) + 1)
    y0, y1 = math.floor(min(values)), math.ceil(max(values))
    y1 = y1 if y1 > y0 else y0 + 1

    def xy(step: float, value: float) -> str:
        x = left + (step - x0) / (x1 - x0) * (width - left - pad)
        y = pad + (y1 - value) / (y1 - y0) * (height - bottom - pad)
        return f"{x:.1f},{y:.1f}"

    colours = {"train_psnr": "#1f77b4", "heldout_psnr": "#ff7f0e"}
    names = {"train_psnr": "train", "heldout_psnr": "held-out"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="psnr-curve" width="{width}" height="{height}" '
             f'role="img" aria-label="PSNR against step">',
             f'<rect x="{left}" y="{pad}" width="{width - left - pad}" height="{height - bottom - pad}" '
             'fill="none" stroke="#aaa"/>']
    for value in np.linspace(y0, y1, 5):
        x, y = xy(x0, value).split(",")
        parts.append(f'<text x="{left - 4}" y="{float(y) + 4:.1f}" font-size="11" text-anchor="end">{value:.1f}</text>')
    for step in (x0, x1):
        x, _ = xy(step, y0).split(",")
        parts.append(f'<text x="{x}" y="{height - 12}" font-size="11" text-anchor="middle">{step:g}</text>')
    parts.append(f'<text x="{(left + width) / 2:.0f}" y="{height - 1}" font-size="11" text-anchor="middle">step'
                 '</text><text x="12" y="{0}" font-size="11" transform="rotate(-90 12 {0})" '
                 'text-anchor="middle">PSNR (dB)</text>'.format(height / 2))
    for index, (key, values_) in enumerate(series.items()):
        if not values_:
            continue
        parts.append(f'<polyline fill="none" stroke="{colours[key]}" stroke-width="2" '
                     f'points="{" ".join(xy(s, v) for s, v in values_)}"/>')
        if len(values_) <= 60:  # few logged steps: mark them (a single one is no line)
            parts.extend(f'<circle cx="{xy(s, v).split(",")[0]}" cy="{xy(s, v).split(",")[1]}" r="2.5" '
                         f'fill="{colours[key]}"/>' for s, v in values_)
        parts.append(f'<text x="{left + 10}" y="{pad + 16 + 14 * index}" font-size="12" '
                     f'fill="{colours[key]}">{names[key]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _target(config: Any) -> tuple[Signal | None, str]:
    """The fitted signal, loaded again from the run's config; ``(None, why)`` when it cannot be."""
    from .errors import SinetuneError
    from .signals import load_signal

    signal = config.signal
    try:
        return load_signal(signal.path, signal.size, signal.start, signal.duration, signal.samples), ""
    except SinetuneError as error:
        return None, f"target not shown: {error}"


def build_report(run_dir: str | Path, signal: Signal | None = None, name: str | None = None) -> str:
    """The HTML text of ``run_dir``'s report (see the module docstring).

    ``signal``: the fitted signal (its values are the target); ``None`` loads it again from
    ``config.yaml`` (a target that is gone is left out, with a note). ``name``: the run directory
    as the page names it (default ``run_dir``).
    """
    from .config import load_config

    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = load_config(run_dir / "config.yaml")
    note = ""
    if signal is None:
        signal, note = _target(config)
    target = signal.values if signal is not None else None
    audio = metrics.get("sample_rate") is not None
    shape = (f"{metrics['grid_shape'][0]} samples at {metrics['sample_rate']} Hz" if audio
             else "×".join(map(str, metrics["grid_shape"])) + f", {metrics.get('channels')} channels")
    title = f"{metrics.get('method')} on {metrics.get('signal')}"
    keys = (("full_psnr", "PSNR (all samples), dB"), ("train_psnr", "train PSNR, dB"),
            ("heldout_psnr", "held-out PSNR, dB"))
    keys += ((("snr", "SNR, dB"), ("lsd", "LSD, dB"), ("psnr_siren2", "PSNR (SIREN² formula), dB")) if audio else
             (("ssim", "SSIM"), ("gradient_psnr", "gradient PSNR, dB")))
    keys += (("steps", "steps"), ("seconds_per_step_median", "s/step (median)"), ("parameters", "parameters"),
             ("stopped_early", "stopped early"))
    shown = {**metrics, "stopped_early": metrics.get("stopped_early") or "no"}
    rows = "".join(f'<tr><th>{html.escape(name)}</th><td class="num">'
                   f"{_number(shown.get(key), 4 if key in ('ssim', 'seconds_per_step_median') else 2)}</td></tr>"
                   for key, name in keys if key in metrics)
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="sub">{html.escape(shape)} · run directory <code>{html.escape(name or str(run_dir))}</code></p>']
    if metrics.get("diverged"):
        body.append(f'<p class="warn">diverged: {html.escape(str(metrics.get("divergence")))}</p>')
    body.append(f'<h2>Metrics</h2><table id="metrics">{rows}</table>')
    if metrics.get("derived"):
        body.append(f'<p id="derived"><b>derived:</b> {html.escape(metrics["derived"])}</p>')
    body.append("<h2>Signal</h2>")
    if audio:
        rate, scale = metrics["sample_rate"], signal.scale if signal is not None else 1.0
        players = []
        if target is not None and target.size <= MAX_INLINE_AUDIO_SAMPLES:
            players.append(("target", _data_uri(_wav_bytes(target, rate, scale), "audio/wav")))
        wav = run_dir / "reconstruction.wav"
        if wav.is_file():
            uri = (_data_uri(wav.read_bytes(), "audio/wav") if wav.stat().st_size <= 4 * MAX_INLINE_AUDIO_SAMPLES
                   else wav.name)
            players.append(("reconstruction", uri))
        body.append('<div class="row">' + "".join(
            f'<figure><audio controls preload="auto" src="{uri}"></audio><figcaption>{name}</figcaption></figure>'
            for name, uri in players) + "</div>")
        figures = [("waveform.png", "waveforms and spectrograms"), ("error.png", "prediction − target")]
    elif metrics.get("kind") in ("video", "volume", "sdf"):  # N-D runs (sinetune.render_nd)
        figures = [("slices.png", "middle slices: target, reconstruction, |error|")]
    else:
        body.append('<div class="row">' + "".join(_image_pair(run_dir, target)) + "</div>")
        figures = [("error.png", "|prediction − target|"), ("spectrum.png", "log |FFT|: reconstruction, target"),
                   ("gradient.png", "|∇gray|: field (analytic), target (Sobel)")]
    if note:
        body.append(f"<p class=\"sub\">{html.escape(note)}</p>")
    body.append('<div class="row">' + "".join(_png_figure(run_dir / name, caption) for name, caption in figures
                                              if (run_dir / name).is_file()) + "</div>")
    body.append("<h2>Training</h2>")
    svg = curves_svg(_history(run_dir))
    curves = run_dir / "curves.png"
    body.append('<div class="row">' + (f"<figure>{svg}<figcaption>PSNR against step (log.csv)</figcaption></figure>"
                                       if svg else "")
                + (_png_figure(curves, "loss and PSNR (curves.png)") if curves.is_file() else "") + "</div>")
    extra = (sorted(run_dir.glob("input.png")) + sorted(run_dir.glob("reconstruction_x*.png"))  # tasks
             + sorted(run_dir.glob("analysis_*.png")) + sorted(run_dir.glob("render-*.png")))
    if extra:
        body.append("<h2>Renders and analyses</h2>")
        body.append('<div class="row">' + "".join(_png_figure(path, path.name) for path in extra) + "</div>")
    if (run_dir / "analysis.txt").is_file():
        body.append(f"<pre>{html.escape((run_dir / 'analysis.txt').read_text())}</pre>")
    body.append("<h2>metrics.json</h2>")
    body.append(f"<pre>{html.escape(json.dumps(metrics, indent=2))}</pre>")
    body.append("<h2>config.yaml</h2>")
    body.append(f"<pre>{html.escape((run_dir / 'config.yaml').read_text())}</pre>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>sinetune: {html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            + "\n".join(body) + f"<script>{_SCRIPT}</script></body></html>\n")


def write_report(run_dir: str | Path, signal: Signal | None = None) -> Path:
    """Write ``run_dir/report.html`` atomically (a temporary sibling, then a rename); returns its path.

    ``run_dir`` must be a complete run (:func:`sinetune.rundir.check_run_dir`); ``target`` as in
    :func:`build_report`. Refuses (one line) anything but a complete run.
    """
    from .atomic import apply_umask
    from .rundir import check_run_dir

    run_dir = check_run_dir(run_dir)
    path = run_dir / REPORT
    partial = run_dir / f".{REPORT}.partial"
    partial.write_text(build_report(run_dir, signal), encoding="utf-8")
    apply_umask(partial)
    os.replace(partial, path)
    return path


__all__ = ["MAX_INLINE_AUDIO_SAMPLES", "MAX_SHOWN_SIDE", "REPORT", "build_report", "curves_svg", "write_report"]
