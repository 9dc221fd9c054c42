"""``sinetune bench compress`` (issue #13): rate–distortion of the codec against JPEG, WebP, JPEG 2000, AVIF.

Protocol: Kodak crops (default kodim03, 05, 19, 23) and DIV2K crops (default 00, from the
``div2k`` folder beside the Kodak one, as in the data cache), each 512² crop downscaled to ``size``
(default 256², antialiased: the fits of a full 512² sweep do not fit the CPU budget). For TUNER and
SIREN, one :func:`sinetune.codec.rate_distortion` sweep each (the codec's own pipeline: fit ``steps``
steps, quantise at every bit depth of :data:`BITS`, fine-tune ``qat_steps``, entropy-code, decode,
measure) over the widths of :data:`WIDTHS` scaled by ``size / 256`` (the weights per pixel, hence
the rates, stay put across sizes) — the same pipeline for both, widths chosen so their rates span
the low rates of the acceptance (TUNER about 0.13–0.65 bpp at 5–6 bits). The fits, fine-tunes
and TUNER's shape are :class:`~sinetune.codec.CodecOptions`' defaults (``steps``/``qat_steps``
override them). The classic codecs run quality sweeps (:data:`QUALITIES`):
JPEG and WebP by Pillow, JPEG 2000 and AVIF by imagecodecs. Every point: bpp (file bytes · 8 / pixels),
PSNR, SSIM and MS-SSIM (:mod:`sinetune.metrics`; MS-SSIM is NaN under 161 pixels a side) of the decoded
8-bit image, encode and decode seconds.

Curves average each setting over the images (mean bpp, mean PSNR: the COIN convention). The
summary compares the mean curves by linear interpolation in bpp: PSNR above or below JPEG at ≤ 0.3
bpp, the bpp where a sinetune curve crosses JPEG's, and the mean PSNR distance to WebP and AVIF.
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from ..codec import CodecOptions, decode_image, rate_distortion
from ..codec_search import CODEC_LR
from ..errors import SinetuneError
from ..metrics import ms_ssim, psnr, ssim
from ..progress import Progress, as_progress
from ..render import new_figure
from ..runs import resolve_device
from ..signals import Signal, load_image
from .data import benchmark_data
from .kodak import _find_images
from .report import BenchReport, as_json_row, fresh_dir, write_report

#: Network widths of each method's sweep at 256² (TUNER: one hidden layer; SIREN: three); scaled by size / 256.
WIDTHS = {"tuner": (32, 48, 64, 80), "siren": (20, 28, 40)}
#: Bit depths of every width: the codec's own (:class:`~sinetune.codec.CodecOptions`).
BITS = CodecOptions().bits
#: Quality settings of the classic codecs (JPEG 2000: the target PSNR in dB of OpenJPEG's rate control).
QUALITIES = {"jpeg": (1, 3, 5, 10, 20, 35, 50, 75, 90), "webp": (1, 5, 15, 30, 50, 75, 90),
             "jpeg2000": (20, 23, 26, 29, 32, 35, 38, 42), "avif": (0, 5, 15, 30, 45, 60, 80)}
#: The rate at or below which the acceptance compares with JPEG (COIN's headline).
LOW_RATE = 0.3
COLUMNS = (("bpp", "bpp", 4), ("psnr", "PSNR", 2), ("ssim", "SSIM", 4), ("ms_ssim", "MS-SSIM", 4),
           ("encode_seconds", "encode s", 2), ("decode_seconds", "decode s", 3))
#: A curve's points: ``(bpp, PSNR dB, SSIM, MS-SSIM)``.
Point = tuple[float, float, float, float]


def _ms_ssim(decoded: np.ndarray, target: np.ndarray) -> float | None:
    """:func:`sinetune.metrics.ms_ssim`, ``None`` (``null``, a missing value in the means) where it is NaN."""
    value = ms_ssim(decoded, target)
    return None if math.isnan(value) else value


def _codec(name: str) -> tuple[Callable[[np.ndarray, int], bytes], Callable[[bytes], np.ndarray]]:
    """``(encode(uint8 image, quality) -> bytes, decode(bytes) -> uint8 image)`` of a classic codec."""
    if name in ("jpeg", "webp"):
        kind = {"jpeg": "JPEG", "webp": "WEBP"}[name]

        def encode(image: np.ndarray, quality: int) -> bytes:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, kind, quality=quality)
            return buffer.getvalue()

        return encode, lambda data: np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    import imagecodecs

    if name == "jpeg2000":
        return (lambda image, quality: bytes(imagecodecs.jpeg2k_encode(image, level=quality, codecformat="J2K")),
                lambda data: imagecodecs.jpeg2k_decode(data))
    return (lambda image, quality: bytes(imagecodecs.avif_encode(image, level=quality, speed=6)),
            lambda data: imagecodecs.avif_decode(data))


def classic_points(signal: Signal, name: str, qualities: tuple[int, ...]) -> list[dict[str, Any]]:
    """One row per quality of codec ``name`` on ``signal`` (RGB): bpp, PSNR, SSIM, MS-SSIM, encode/decode seconds."""
    encode, decode = _codec(name)
    image = (np.clip(signal.values, 0, 1) * 255 + 0.5).astype(np.uint8)
    pixels = image.shape[0] * image.shape[1]
    rows = []
    for quality in qualities:
        started = time.perf_counter()
        data = encode(image, quality)
        encoded = time.perf_counter()
        decoded = decode(data).astype(np.float32)[..., :3] / 255
        finished = time.perf_counter()
        rows.append({"codec": name, "setting": f"q{quality}", "bytes": len(data), "bpp": 8 * len(data) / pixels,
                     "psnr": psnr(decoded, signal.values), "ssim": ssim(decoded, signal.values),
                     "ms_ssim": _ms_ssim(decoded, signal.values), "encode_seconds": encoded - started,
                     "decode_seconds": finished - encoded})
    return rows


def _images(data_dir: Path, images: list[str] | None, div2k: list[str]) -> list[Path]:
    kodak = _find_images(data_dir, images or ["03", "05", "19", "23"])
    folder = data_dir.parent / "div2k"
    if div2k and not folder.is_dir():
        raise SinetuneError(f"bench compress looks for the DIV2K crops in {folder} (beside the Kodak folder); "
                            "run `sinetune data fetch div2k`")
    extra = [folder / f"{name}.png" for name in div2k]
    missing = [str(path) for path in extra if not path.is_file()]
    if missing:
        raise SinetuneError(f"DIV2K crop not found: {missing[0]}")
    return kodak + extra


def run_compress(
    data_dir: Path | None = None,
    images: list[str] | None = None,
    methods: list[str] = ("tuner", "siren"),
    steps: int | None = None,
    size: int = 256,
    device: str = "auto",
    out: Path | None = None,
    progress: bool | Progress = False,
    seed: int = 0,
    div2k: list[str] = ("00",),
    qat_steps: int | None = None,
    widths: dict[str, tuple[int, ...]] | None = None,
) -> BenchReport:
    """Run ``compress`` and write ``results.json``, ``results.md``, ``report.html`` and ``rd.png`` to ``out``.

    Args:
        data_dir: the Kodak folder (default the data cache's ``kodak/``); DIV2K crops come from its
            sibling ``div2k/``.
        images: Kodak subset (default 03, 05, 19, 23); div2k: DIV2K crops by name (default 00).
        methods: sinetune methods (``tuner``, ``siren``); steps, qat_steps: of every fit and fine-tune
            (``None``: :class:`~sinetune.codec.CodecOptions`' defaults, like its batches, lr and shape).
        size: side the crops are downscaled to.
        widths: per method, the sweep's widths at 256² instead of :data:`WIDTHS`' (scaled by ``size / 256``
            the same way), e.g. ``{"tuner": (32, 48)}``: only the lowest rates of a costly size.
    """
    unknown = [m for m in methods if m not in WIDTHS]
    if unknown:
        raise SinetuneError(f"bench compress sweeps {', '.join(WIDTHS)}, not {unknown[0]!r}")
    sweep = {**WIDTHS, **(widths or {})}
    if set(sweep) != set(WIDTHS) or not all(sweep[m] and all(isinstance(w, int) and w >= 1 for w in sweep[m])
                                            for m in sweep):
        raise SinetuneError(f"widths must give {' or '.join(WIDTHS)} positive integer widths, got {widths}")
    paths = _images(benchmark_data(data_dir, "kodak", "compress", "the Kodak images kodimNN.png"), images,
                    list(div2k))
    torch_device = resolve_device(device)
    out_dir = Path(out) if out is not None else fresh_dir(Path("bench-runs") / "compress")
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / "results.json").exists():
        raise SinetuneError(f"{out_dir / 'results.json'} already exists; choose another --out")
    import torch

    defaults = CodecOptions()
    steps = defaults.steps if steps is None else steps
    qat_steps = defaults.qat_steps if qat_steps is None else qat_steps
    options = replace(defaults, bits=BITS, steps=steps, qat_steps=qat_steps, seed=seed)
    widths = {m: tuple(max(4, round(w * size / 256)) for w in sweep[m]) for m in methods}
    header = {"benchmark": "compress", "size": size, "steps": steps, "qat_steps": qat_steps, "seed": seed,
              "bits": list(BITS), "granularity": options.granularity, "batch_size": options.batch_size,
              "lr": {m: options.lr if options.lr is not None else CODEC_LR.get(m) for m in methods},
              "lr_schedule": options.lr_schedule, "input_ratio": options.input_ratio,
              "widths": {m: list(widths[m]) for m in methods}, "qualities": QUALITIES,
              "device": str(torch_device), "torch": torch.__version__, "threads": torch.get_num_threads()}
    report, say = BenchReport(out_dir=out_dir), as_progress(progress)
    labels: list[str] = []
    for index, path in enumerate(paths):
        signal = load_image(path, size)
        name = path.stem if path.parent.name != "div2k" else f"div2k-{path.stem}"
        rows = [row for codec, qualities in QUALITIES.items() for row in classic_points(signal, codec, qualities)]
        for method in methods:
            say.note(f"bench compress [{index + 1}/{len(paths)}]: {name} × {method}")
            for point in rate_distortion(signal, widths[method], method=method, options=options, device=device,
                                         progress=say):
                tag = f"w{point.width} b{point.bits}" + (" qat" if point.finetuned else "")
                decoded = decode_image(point.encoded.data).astype(np.float32) / 255
                rows.append({"codec": method, "setting": tag, **point.row(),
                             "ms_ssim": _ms_ssim(decoded, signal.values)})
        for row in rows:
            row = as_json_row({"image": name, "method": f"{row['codec']} {row['setting']}", **row})
            report.rows.append(row)
            if row["method"] not in labels:
                labels.append(row["method"])
        _write(report, header, labels, out_dir)
    return report


def mean_curves(means: dict[str, dict[str, float]]) -> dict[str, list[Point]]:
    """Per codec, the ``(bpp, PSNR, SSIM, MS-SSIM)`` means of its settings on its upper envelope (no setting with
    fewer bpp has as high a PSNR), sorted by bpp; sinetune's fine-tuned points only."""
    curves: dict[str, list[Point]] = {}
    for label, values in means.items():
        codec, _, setting = label.partition(" ")
        if codec in WIDTHS and "qat" not in setting:
            continue
        multi = values.get("ms_ssim")
        curves.setdefault(codec, []).append((values["bpp"], values["psnr"], values["ssim"],
                                             float("nan") if multi is None else multi))
    envelopes = {}
    for codec, points in curves.items():
        kept: list[Point] = []
        for point in sorted(points):
            if not kept or point[1] > kept[-1][1]:
                kept.append(point)
        envelopes[codec] = kept
    return envelopes


def _gap(curve: list[Point], other: list[Point], rate: float, index: int = 1) -> float | None:
    """PSNR (``index`` 1; 3: MS-SSIM) of ``curve`` minus ``other`` at ``rate`` bpp (linear in bpp; ``None``
    outside either's range)."""
    def at(points):
        bpps = [p[0] for p in points]
        return None if not bpps[0] <= rate <= bpps[-1] else float(np.interp(rate, bpps, [p[index] for p in points]))

    mine, theirs = at(curve), at(other)
    return None if mine is None or theirs is None else mine - theirs


def summary(curves: dict[str, list[Point]]) -> list[str]:
    """The acceptance lines: against JPEG at ≤ 0.3 bpp, the crossing with JPEG, the distance to WebP and AVIF."""
    lines = []
    for method in [m for m in curves if m in WIDTHS]:
        curve = curves[method]
        parts = []
        for rate, psnr_value, _, multi in curve:
            gaps = {codec: _gap(curve, curves[codec], rate) for codec in ("jpeg", "webp", "avif", "jpeg2000")
                    if codec in curves}
            text = ", ".join(f"{codec} {gap:+.2f}" if gap is not None else f"{codec} n/a"
                             for codec, gap in gaps.items())
            multi_text = "" if math.isnan(multi) else f", MS-SSIM {multi:.4f}"
            parts.append(f"at {rate:.3f} bpp {psnr_value:.2f} dB{multi_text} (Δ {text})")
        jpeg = curves.get("jpeg")
        low = [_gap(curve, jpeg, rate) for rate, *_ in curve if rate <= LOW_RATE] if jpeg else []
        low_text = ", ".join("n/a (JPEG cannot go this low)" if gap is None else f"{gap:+.2f} dB" for gap in low)
        grid = np.linspace(curve[0][0], curve[-1][0], 200)
        signs = [_gap(curve, curves.get("jpeg", []), rate) if "jpeg" in curves else None for rate in grid]
        crossing = next((f"{grid[i]:.3f}" for i in range(1, len(grid)) if signs[i - 1] is not None
                         and signs[i] is not None and (signs[i - 1] > 0) != (signs[i] > 0)), "none in range")
        lines.append(f"- **{method}**: vs JPEG at ≤ {LOW_RATE} bpp: {low_text or 'no point'}"
                     f"{_low_overlap(curve, jpeg)}; crosses JPEG at {crossing} bpp; " + "; ".join(parts))
    return lines


def _low_overlap(curve: list[Point], jpeg: list[Point] | None) -> str:
    """``"; over A–B bpp (both curves, ≤ 0.3): X to Y dB"``: the PSNR gap to JPEG on the rates both curves
    cover up to :data:`LOW_RATE` (empty when they share none) — the acceptance's question when neither
    curve has a point where the other does."""
    if not jpeg:
        return ""
    low, high = max(curve[0][0], jpeg[0][0]), min(LOW_RATE, curve[-1][0], jpeg[-1][0])
    if low > high:
        return ""
    gaps = [_gap(curve, jpeg, rate) for rate in np.linspace(low, high, 50)]
    return f"; over {low:.3f}–{high:.3f} bpp (both curves, ≤ {LOW_RATE}): {min(gaps):+.2f} to {max(gaps):+.2f} dB"


def _plot(curves: dict[str, list[Point]], path: Path, title: str) -> None:
    figure = new_figure(14, 4.2)
    left, middle, right = figure.subplots(1, 3)
    for codec, points in curves.items():
        bpp = [p[0] for p in points]
        style = "o-" if codec in WIDTHS else ".--"
        left.plot(bpp, [p[1] for p in points], style, label=codec)
        middle.plot(bpp, [p[2] for p in points], style, label=codec)
        right.plot(bpp, [p[3] for p in points], style, label=codec)
    for axis, name in ((left, "PSNR (dB)"), (middle, "SSIM"), (right, "MS-SSIM")):
        axis.set_xlabel("bits per pixel")
        axis.set_ylabel(name)
        axis.set_xlim(0, 1.6)
        axis.grid(alpha=0.3)
    left.legend()
    figure.suptitle(title, fontsize=9)
    partial = path.with_name(f".{path.name}.partial")
    figure.savefig(partial, format="png")
    partial.replace(path)


def _write(report: BenchReport, header: dict[str, Any], labels: list[str], out_dir: Path) -> None:
    title = (f"compress: {header['size']}² crops, fits of {header['steps']} steps (batches of "
             f"{header.get('batch_size')}, lr {header.get('lr')}) + {header['qat_steps']} quantisation-aware, bits "
             f"{header['bits']} per {header.get('granularity')}, device {header['device']}, torch {header['torch']}, "
             f"{header['threads']} threads")
    write_report(report, header, labels, out_dir, "image", COLUMNS, title)
    curves = mean_curves(report.means)
    lines = summary(curves)
    report.markdown += "\n\nMean curves (settings averaged over the images):\n\n" + "\n".join(lines)
    (out_dir / "results.md").write_text(report.markdown + "\n")
    data = json.loads((out_dir / "results.json").read_text())
    data["curves"] = {codec: [[None if math.isnan(v) else v for v in point] for point in points]
                      for codec, points in curves.items()}
    data["summary"] = lines
    (out_dir / "results.json").write_text(json.dumps(data, indent=1))
    _plot(curves, out_dir / "rd.png", title)


__all__ = ["BITS", "QUALITIES", "WIDTHS", "classic_points", "mean_curves", "run_compress", "summary"]
