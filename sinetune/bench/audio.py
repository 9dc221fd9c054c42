"""``sinetune bench audio`` (issue #3): audio fitting quality and step time under SIREN²'s protocol, scaled down.

The protocol (peers-spec §2, "Training setup", with the network cut to one parameter per ~0.3 sample):

* Clips ``bach``, ``counting``, ``trumpet``, ``speech`` (``NAME.wav`` in ``--data DIR`` or the
  data cache's ``audio/``, :mod:`sinetune.bench.data`), the
  first ``seconds`` (1 s: 44,100 samples at 44.1 kHz, 16,000 for ``speech``) of each, mono,
  divided by the crop's peak (:func:`sinetune.signals.load_audio`), coordinates ``linspace(-1, 1, N)``.
* Full batch, **no held-out samples** (SIREN² measures the fit), 500 steps, seed 0, constant lr.
* Every method gets SIREN²'s audio shape: width 222 everywhere and 4 sine layers — the first layer
  and ``hidden_layers = 3`` hidden ones, then a linear head (``Linear(1, 222) → sin → 3 × [Linear(222,
  222) → sin] → Linear(222, 1)``, 149,185 parameters for a SIREN; TUNER: 222 frozen input
  frequencies and 3 hidden sine layers of 222).
* Methods (in this order): ``siren`` with ``first_omega = 3000`` (the audio SIREN baseline, the
  protocol's one option override, :data:`PROTOCOL_OPTIONS`), ``siren2`` (its defaults: first ω 30,
  noise from the clip's spectral centroid), ``tuner`` (TUNER-1D, band-limit from the sample count),
  ``finer``, ``ssn`` (ω from the sample count); each at its documented default learning rate.

Per clip × method: PSNR (range 2, sinetune's convention), SIREN²'s PSNR (6.02 dB lower), SNR and
LSD on the whole crop (:mod:`sinetune.metrics`; the *final* weights, where SIREN² reports the best
step), the median seconds per step, and for the sine MLPs the ratio of the step time to the plain
PyTorch network of the same shape timed alternately (:func:`sinetune.bench.reference.interleaved_step_seconds`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from ..config import config_from_dict, config_to_dict
from ..errors import SinetuneError
from ..methods import get_method
from ..progress import Progress, as_progress
from ..runs import resolve_device, run
from ..signals import AUDIO_SUFFIXES, load_audio
from .data import benchmark_data
from .reference import SINE_MLPS, interleaved_step_seconds
from .report import BenchReport, as_json_row, fresh_dir, load_previous, write_report

CLIPS = ("bach", "counting", "trumpet", "speech")
METHODS = ("siren", "siren2", "tuner", "finer", "ssn")
#: Options the protocol sets beyond the shape: the audio SIREN baseline's first-layer ω (peers-spec §1).
PROTOCOL_OPTIONS: dict[str, dict[str, Any]] = {"siren": {"first_omega": 3000.0}}
#: Header keys a resumed run must share with the results it continues.
PROTOCOL = ("benchmark", "steps", "seconds", "width", "hidden_layers", "holdout", "seed", "protocol_options",
            "overrides")


def _find_clips(data_dir: Path, clips: list[str] | None) -> list[Path]:
    """The files of ``clips`` (stems, or stems with a suffix) in ``data_dir``; ``None`` = :data:`CLIPS`."""
    names = list(dict.fromkeys(CLIPS if clips is None else clips))
    if not names:
        raise SinetuneError("no clips given")
    chosen = []
    for item in names:
        stem = Path(item).stem
        matches = [path for path in (data_dir / f"{stem}{suffix}" for suffix in AUDIO_SUFFIXES) if path.is_file()]
        if not matches:
            available = sorted(p.stem for p in data_dir.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
            raise SinetuneError(f"clip {item!r} not found in {data_dir} "
                                f"(clips there: {', '.join(available) if available else 'none'})")
        chosen.append(matches[0])
    return chosen


def run_audio(
    data_dir: Path | None = None,
    clips: list[str] | None = None,
    methods: list[str] = METHODS,
    steps: int = 500,
    seconds: float = 1.0,
    device: str = "auto",
    out: Path | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    progress: bool | Progress = False,
    width: int = 222,
    hidden_layers: int = 3,
    seed: int = 0,
    resume: bool = False,
) -> BenchReport:
    """Run ``audio`` and write ``results.json`` and ``results.md`` to ``out`` (default: a fresh directory).

    Args:
        data_dir: folder with ``NAME.wav`` (or ``.flac``/``.ogg``) clips (default
            the data cache's ``audio/``, see :mod:`sinetune.bench.data`; ``sinetune data fetch audio``
            fetches bach and counting).
        clips: subset by name (``["bach", "speech"]``); ``None`` = :data:`CLIPS`, all required.
        methods: method names, each at its default lr with the protocol's shape (:data:`METHODS`).
        steps: full-batch Adam steps per fit.
        seconds: the crop, the first ``seconds`` of each clip (``round(seconds · rate)`` samples, fewer
            if the clip is shorter; each row records its ``samples`` and ``sample_rate``).
        overrides: per-method option overrides, e.g. ``{"siren": {"first_omega": 1000}}``; they win
            over the shape and :data:`PROTOCOL_OPTIONS`.
        width, hidden_layers: the network shape (every width; hidden sine layers after the first).
        resume: continue an interrupted run in ``out`` (same protocol), skipping finished rows.

    ``results.json`` holds the protocol header, ``configs[clip][method]`` (the resolved options of
    each fit: TUNER's band-limit and SIREN²'s noise scales depend on the clip), the rows and the
    per-method means over the clips finished by every method.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise SinetuneError(f"steps must be positive, got {steps}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (math.isfinite(seconds)
                                                                                  and seconds > 0):
        raise SinetuneError(f"seconds must be a positive number, got {seconds}")
    paths = _find_clips(benchmark_data(data_dir, "audio", "audio", "the clips bach, counting, trumpet, speech .wav"),
                        clips)
    methods = list(dict.fromkeys(methods))
    if not methods:
        raise SinetuneError("no methods given")
    for method in methods:
        get_method(method)
    overrides = json.loads(json.dumps(overrides or {}))  # as results.json will hold them (resume compares)
    stray = sorted(set(overrides) - set(methods))
    if stray:
        raise SinetuneError(f"overrides for {', '.join(map(repr, stray))}, which is not among the methods "
                            f"({', '.join(methods)})")

    def config_for(path: Path, method_name: str):
        options = {"input_width": width, "hidden_width": width, "hidden_layers": hidden_layers,
                   **PROTOCOL_OPTIONS.get(method_name, {}), **overrides.get(method_name, {})}
        return config_from_dict({"signal": {"path": str(path), "size": None, "duration": float(seconds)},
                                 "method": method_name, "options": options, "train": {"steps": steps},
                                 "seed": seed, "holdout": 0.0, "device": device})

    for method in methods:  # a misspelt or mistyped override fails now, not after an hour of fits
        config_for(paths[0], method)
    torch_device = resolve_device(device)
    out_dir = Path(out) if out is not None else fresh_dir(Path("bench-runs") / "audio")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = BenchReport(out_dir=out_dir)
    header = {"benchmark": "audio", "steps": steps, "seconds": float(seconds), "width": width,
              "hidden_layers": hidden_layers, "holdout": 0.0, "seed": seed, "device": str(torch_device),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "protocol_options": PROTOCOL_OPTIONS,
              "overrides": overrides, "configs": {}}
    done: set[tuple[str, str]] = set()
    previous = load_previous(out_dir, header, PROTOCOL, resume)
    if previous is not None:
        report.rows = previous.get("rows", [])
        header["configs"] = previous.get("configs", {})
        done = {(row["clip"], row["method"]) for row in report.rows}
    say = as_progress(progress)
    todo = [(p.stem, m) for p in paths for m in methods if (p.stem, m) not in done]
    for path in paths:
        if all((path.stem, m) in done for m in methods):
            continue
        signal = load_audio(path, duration=float(seconds))
        coords, values = signal.coords(), signal.flat_values()
        for method_name in methods:
            if (path.stem, method_name) in done:
                continue
            say.note(f"bench audio [{todo.index((path.stem, method_name)) + 1}/{len(todo)}]: "
                     f"{path.stem} × {method_name}")
            result = run(config_for(path, method_name), signal=signal, progress=say)
            header["configs"].setdefault(path.stem, {})[method_name] = config_to_dict(result.config)["options"]
            timed = plain = None
            if method_name in SINE_MLPS:  # no held-out samples: time on the whole clip, as trained
                say.stage("timing against the plain PyTorch reference")
                timed, plain = interleaved_step_seconds(method_name, result.config.options, signal.grid_shape,
                                                        coords, values, result.config.train.lr, torch_device)
            metrics = result.metrics
            row = {"clip": path.stem, "method": method_name, "samples": signal.grid_shape[0],
                   "sample_rate": signal.sample_rate, "parameters": metrics["parameters"],
                   "psnr": metrics["full_psnr"],
                   # the best logged step (SIREN² scores that): a late Adam spike moves psnr, not this;
                   # the training loop logs on psnr's range 2 already
                   "best_logged_psnr": max(entry["train_psnr"] for entry in result.history),
                   **{k: metrics.get(k) for k in ("psnr_siren2", "snr", "lsd", "seconds_per_step_median",
                                                  "diverged")},
                   "timed_seconds_per_step": timed,
                   "plain_seconds_per_step": plain,
                   "plain_ratio": timed / plain if plain else None,
                   "lr": result.config.train.lr}
            report.rows.append(as_json_row(row))
            _write(report, header, methods, out_dir)  # a partial run always has its table
    _write(report, header, methods, out_dir)
    return report


COLUMNS = (("psnr", "PSNR", 2), ("best_logged_psnr", "best logged", 2), ("psnr_siren2", "PSNR (SIREN²)", 2),
           ("snr", "SNR", 2), ("lsd", "LSD", 2),
           ("seconds_per_step_median", "s/step", 3), ("plain_ratio", "× plain", 2))


def _write(report: BenchReport, header: dict[str, Any], methods: list[str], out_dir: Path) -> None:
    siren_omega = {**header["protocol_options"]["siren"], **header["overrides"].get("siren", {})}["first_omega"]
    title = (f"{header['benchmark']}: {header['steps']} steps, first {header['seconds']:g} s of each clip, "
             f"width {header['width']}, {header['hidden_layers'] + 1} sine layers, full batch, no held-out "
             f"samples, siren first_omega {siren_omega:g}, device {header['device']}, torch {header['torch']}, "
             f"{header['threads']} threads")
    write_report(report, header, methods, out_dir, "clip", COLUMNS, title)


__all__ = ["CLIPS", "METHODS", "PROTOCOL_OPTIONS", "run_audio"]
