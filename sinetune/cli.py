"""``sinetune`` command line: each command is a thin layer over a public function.

* ``sinetune fit IMAGE|SOUND`` → :func:`sinetune.runs.run`
* ``sinetune fit-many DIR_OR_GLOB …`` → :func:`sinetune.many.fit_many`
* ``sinetune render RUN`` → :func:`sinetune.runs.render_run`
* ``sinetune bench NAME`` → :func:`sinetune.bench.run_benchmark`
* ``sinetune analyze RUN`` → :func:`sinetune.analysis.analyze_run`
* ``sinetune methods``    → :data:`sinetune.methods.METHODS`

Bad input prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path

import yaml

from .errors import SinetuneError


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # noqa: D102
        raise SinetuneError(message)


def _domain(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sinetune", description="Fit sinusoidal neural networks to signals.")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)

    fit = commands.add_parser("fit", help="fit a field to an image or a sound and write a run directory")
    fit.add_argument("image", nargs="?", metavar="SIGNAL",
                     help="image file, built-in name (astronaut, camera, ...) or sound file (.wav, .flac, .ogg)")
    fit.add_argument("--method", help="tuner (default) or siren")
    fit.add_argument("--config", type=Path, help="run config YAML (e.g. a saved config.yaml); flags override it")
    fit.add_argument("--size", type=int, help="images: resize so the longer side has N pixels (default 256)")
    fit.add_argument("--full-size", action="store_true", help="images: keep the image's own size")
    fit.add_argument("--start", type=float, help="audio: crop start in seconds")
    fit.add_argument("--duration", type=float, help="audio: crop length in seconds")
    fit.add_argument("--samples", type=int, help="audio: keep the first N samples (from --start)")
    fit.add_argument("--steps", type=int, help="optimizer steps (default 300)")
    fit.add_argument("--batch-size", type=int, metavar="N",
                     help="samples per step, drawn without replacement each epoch (default: all, full batch); "
                          "bounds training memory on large signals, e.g. 65536")
    fit.add_argument("--holdout", type=float, help="fraction of pixels held out for evaluation (default 0.05)")
    fit.add_argument("--lr", type=float, help="Adam learning rate (default: the method's)")
    fit.add_argument("--keep-best", action="store_true", default=None,
                     help="end with the weights of the best logged step (held-out PSNR, else training PSNR)")
    fit.add_argument("--seed", type=int, help="seed of every random choice (default 0)")
    fit.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto")
    fit.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="set a method option, e.g. --set period=4 --set block_bounds=[1.0,0.4]")
    fit.add_argument("--out", type=Path, help="run directory (default runs/NAME-METHOD[-N])")
    fit.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")

    many = commands.add_parser("fit-many", help="fit many equal-shape images at once as one batched model, "
                                                "one run directory each")
    many.add_argument("sources", nargs="+", metavar="DIR_OR_GLOB",
                      help="a directory (its images), a quoted glob pattern ('kodak/*.png') or files")
    many.add_argument("--method", default="tuner", help="any method of `sinetune methods` (default tuner)")
    many.add_argument("--size", type=int, default=256,
                      help="resize so the longer side has N pixels (default 256); all images must then agree")
    many.add_argument("--steps", type=int, help="optimizer steps (default 300)")
    many.add_argument("--holdout", type=float, help="fraction of pixels held out for evaluation (default 0.05)")
    many.add_argument("--lr", type=float, help="Adam learning rate (default: the method's)")
    many.add_argument("--keep-best", action="store_true", default=None,
                      help="end each image with the weights of its best logged step")
    many.add_argument("--seed", type=int, help="seed of every random choice (default 0; the same for every image)")
    many.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto")
    many.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="set a method option, e.g. --set hidden_width=128")
    many.add_argument("--out", type=Path, help="root directory: one run directory ROOT/STEM per image "
                                               "(default runs/many-METHOD[-N])")
    many.add_argument("--overwrite", action="store_true", help="replace existing run directories")
    many.add_argument("--group", type=int, metavar="N", help="batch at most N images at a time (memory; "
                                                             "default all)")
    many.add_argument("--quiet", action="store_true", help="no progress bar")

    render = commands.add_parser("render", help="render a saved run at any resolution or domain")
    render.add_argument("run_dir", type=Path)
    render.add_argument("--size", type=int, help="images: longer side in pixels (default: the training size); "
                                                 "audio: number of samples (default: the original rate)")
    render.add_argument("--domain", type=_domain, nargs=2, metavar=("LOW", "HIGH"), default=(-1.0, 1.0),
                        help="coordinate range per axis; -1 1 is the training domain, -2 2 extrapolates")
    render.add_argument("--out", type=Path, help="output PNG, or WAV for audio (default inside the run directory)")
    render.add_argument("--overwrite", action="store_true")
    render.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")

    bench = commands.add_parser("bench", help="run a benchmark and print its table")
    bench.add_argument("name", help="benchmark name: kodak-256, audio or speed")
    bench.add_argument("--data", type=Path,
                       help="data directory (default ../shared/data/kodak, ../shared/data/audio for audio)")
    bench.add_argument("--images", help="kodak-256: comma-separated subset, e.g. 03,19,23 (default: all)")
    bench.add_argument("--clips", help="audio: comma-separated subset of bach,counting,trumpet,speech "
                                       "(default: all four)")
    bench.add_argument("--seconds", type=float, help="audio: fit the first S seconds of each clip (default 1)")
    bench.add_argument("--methods", help="comma-separated methods (default: kodak-256 tuner,siren; "
                                         "audio siren,siren2,tuner,finer,ssn)")
    bench.add_argument("--steps", type=int, help="optimizer steps per fit (default: kodak-256 300, audio 500; "
                                                 "speed: timed steps per run, 5)")
    bench.add_argument("--size", type=int, help="kodak-256, speed: image side (default 256)")
    bench.add_argument("--width", type=int, help="network width (default: kodak-256, speed 256; audio 222)")
    bench.add_argument("--stop-psnr", type=float, help="kodak-256: end each fit once its held-out PSNR reaches "
                                                       "this many dB (time to quality)")
    bench.add_argument("--runs", type=int, help="speed: rounds, each timing every variant and the plain "
                                                "reference (default 5)")
    bench.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    bench.add_argument("--out", type=Path, help="directory for results.json and results.md "
                                                "(default bench-runs/NAME[-N])")
    bench.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    bench.add_argument("--set", dest="overrides", action="append", default=[], metavar="METHOD.KEY=VALUE",
                       help="override a method option, e.g. --set tuner.period=4")

    analyze = commands.add_parser("analyze", help="Bessel frequency analysis of a saved TUNER run (1 hidden layer)")
    analyze.add_argument("run_dir", type=Path)
    analyze.add_argument("--order", type=int, default=2,
                         help="truncation: all multi-indices with Σ|k_i| ≤ ORDER (default 2; cost grows like n0^ORDER)")
    analyze.add_argument("--out", type=Path, help="output directory (default: the run directory)")

    commands.add_parser("methods", help="list the available methods")
    return parser


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """``["a=1", "b=[1,2]"]`` → ``{"a": 1, "b": [1, 2]}`` (values parsed as YAML scalars/lists)."""
    parsed = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SinetuneError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            parsed[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise SinetuneError(f"cannot parse the value of --set {pair!r}") from None
    return parsed


def command_fit(args: argparse.Namespace) -> int:
    from .config import config_from_dict, config_to_dict, load_config
    from .runs import default_run_dir, run
    from .signals import is_audio_path

    data = config_to_dict(load_config(args.config)) if args.config else {}
    if args.method:
        if data.get("method") not in (None, args.method):
            data["options"] = {}  # the config's options belong to another method
        data["method"] = args.method
    signal = dict(data.get("signal") or {})
    if args.image:
        signal["path"] = args.image
    if args.size is not None:
        signal["size"] = args.size
    if args.full_size:
        signal["size"] = None
    if not signal.get("path") and not args.config:
        signal["path"] = "astronaut"
    if signal.get("path") and is_audio_path(signal["path"]):
        if args.size is not None:
            raise SinetuneError("--size applies to images only; crop audio with --start, --duration or --samples")
        signal["size"] = None
    for key in ("start", "duration", "samples"):
        if getattr(args, key) is not None:
            signal[key] = getattr(args, key)
    data["signal"] = signal
    train = dict(data.get("train") or {})
    if args.batch_size is not None and args.batch_size < 1:
        raise SinetuneError(f"--batch-size must be a positive integer, got {args.batch_size}")
    for key in ("steps", "lr", "batch_size", "keep_best"):
        if getattr(args, key) is not None:
            train[key] = getattr(args, key)
    data["train"] = train
    for key in ("holdout", "seed", "device"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    options = dict(data.get("options") or {})
    options.update(parse_overrides(args.overrides))
    data["options"] = options
    config = config_from_dict(data)
    if args.out is not None:
        out = args.out
    else:
        out = default_run_dir(Path("runs"), Path(config.signal.path).stem or "signal", config.method)
    result = run(config, out=out, overwrite=args.overwrite, progress=not args.quiet)
    metrics = result.metrics
    heldout = metrics["heldout_psnr"]
    print(f"run directory: {result.run_dir}")
    if metrics.get("derived"):
        print(f"derived: {metrics['derived']}")
    if result.signal.kind == "audio":
        shape = f"{metrics['grid_shape'][0]} samples at {metrics['sample_rate']} Hz"
        quality = f"SNR {metrics['snr']:.2f} dB, LSD {metrics['lsd']:.2f} dB"
    else:
        shape = "×".join(map(str, metrics["grid_shape"]))
        quality = (f"SSIM {metrics.get('ssim', float('nan')):.4f}, "
                   f"gradient PSNR {metrics.get('gradient_psnr', float('nan')):.2f} dB")
    print(f"{config.method} on {metrics['signal']} ({shape}, "
          f"{metrics['steps']} steps, {metrics['seconds_per_step_median']:.3f} s/step): "
          f"train PSNR {metrics['train_psnr']:.2f} dB, "
          + (f"held-out PSNR {heldout:.2f} dB, " if heldout is not None else "")
          + quality)
    if metrics["diverged"]:
        print("warning: the loss became non-finite; the last finite state was kept", file=sys.stderr)
    return 0


def command_fit_many(args: argparse.Namespace) -> int:
    import statistics
    import time

    from .config import config_from_dict
    from .many import fit_many
    from .methods import get_method
    from .runs import default_run_dir
    from .signals import find_signals

    get_method(args.method)
    data: dict[str, object] = {"method": args.method, "options": parse_overrides(args.overrides),
                               "train": {key: getattr(args, key) for key in ("steps", "lr", "keep_best")
                                         if getattr(args, key) is not None}}
    for key in ("holdout", "seed", "device"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    config = config_from_dict(data)  # typed, validated options (one-line errors)
    paths = find_signals(args.sources)
    out = args.out if args.out is not None else default_run_dir(Path("runs"), "many", config.method)
    started = time.perf_counter()
    results = fit_many(paths, config.method, size=args.size, options=config.options, train_options=config.train,
                       seed=config.seed, holdout=config.holdout, device=config.device, out=out,
                       overwrite=args.overwrite, progress=not args.quiet, group_size=args.group)
    total = time.perf_counter() - started
    first = results[0].metrics
    size = args.group or len(results)
    # a group's training time is that of its longest-running signal (it saw every batched step)
    train_seconds = sum(max(result.metrics["train_seconds"] for result in results[start:start + size])
                        for start in range(0, len(results), size))
    steps = max(result.metrics["steps"] for result in results)
    batching = "as one batched model" if size >= len(results) else f"in batched groups of {size}"
    print(f"{config.method} on {len(results)} signals ({'×'.join(map(str, first['grid_shape']))}, "
          f"{first['channels']} channels) {batching}: {steps} steps, {train_seconds:.2f} s of training "
          f"({statistics.median(r.metrics['seconds_per_step_median'] or 0.0 for r in results):.3f} s "
          f"per batched step)")
    name_width = max(6, *(len(result.signal.name) for result in results))
    print(f"{'signal':<{name_width}}  steps  train PSNR  held-out PSNR    SSIM  run directory")
    for result in results:
        metrics = result.metrics
        heldout = metrics["heldout_psnr"]
        flag = "  (diverged)" if metrics["diverged"] else ""
        print(f"{result.signal.name:<{name_width}}  {metrics['steps']:5d}  {metrics['train_psnr']:10.2f}  "
              + (f"{heldout:13.2f}" if heldout is not None else f"{'-':>13}")
              + f"  {metrics.get('ssim', float('nan')):6.4f}  {result.run_dir}{flag}")
    print(f"total: {total:.1f} s for {len(results)} signals (training {train_seconds:.1f} s; the rest is "
          f"loading, evaluation and writing run directories)")
    if any(result.metrics["diverged"] for result in results):
        print("warning: a loss became non-finite; those signals kept their last finite state", file=sys.stderr)
    return 0


def command_render(args: argparse.Namespace) -> int:
    from .runs import render_run

    path = render_run(args.run_dir, args.size, tuple(args.domain), args.out, args.overwrite, args.device)
    print(f"wrote {path}")
    return 0


def _names(text: str | None) -> list[str] | None:
    """``"a, b,"`` → ``["a", "b"]``; ``None`` (flag not given) stays ``None``."""
    return None if text is None else [item.strip() for item in text.split(",") if item.strip()]


def command_bench(args: argparse.Namespace) -> int:
    from .bench import benchmark_options, run_benchmark

    accepted = benchmark_options(args.name)
    overrides: dict[str, dict[str, object]] = {}
    for key, value in parse_overrides(args.overrides).items():
        method, dot, option = key.partition(".")
        if not dot:
            raise SinetuneError(f"bench --set expects METHOD.KEY=VALUE, got {key!r}")
        overrides.setdefault(method, {})[option] = value
    options: dict[str, object] = {"device": args.device, "out": args.out, "progress": True}
    # flags left out take the benchmark's own defaults; one that does not apply to it is an error
    for flag, key, value in (("--data", "data_dir", args.data), ("--images", "images", _names(args.images)),
                             ("--clips", "clips", _names(args.clips)), ("--seconds", "seconds", args.seconds),
                             ("--methods", "methods", _names(args.methods)), ("--steps", "steps", args.steps),
                             ("--size", "size", args.size), ("--width", "width", args.width),
                             ("--runs", "runs", args.runs), ("--stop-psnr", "stop_psnr", args.stop_psnr),
                             ("--set", "overrides", overrides or None), ("--resume", "resume", args.resume or None)):
        if value is None:
            continue
        if key not in accepted:
            raise SinetuneError(f"{flag} does not apply to bench {args.name}")
        options[key] = value
    report = run_benchmark(args.name, **options)
    print(report.markdown)
    print(f"results: {report.out_dir}")
    return 0


def command_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze_run

    report = analyze_run(args.run_dir, order=args.order, out=args.out)
    for path in report.paths.values():
        print(f"wrote {path}")
    print(f"order {report.order}: max |expansion − network| = {report.max_errors[-1]:.3g} on the training grid; "
          f"energy beyond the band-limit {100 * report.energy_beyond_band['render']:.3g}% (render FFT)")
    return 0


def command_methods(args: argparse.Namespace) -> int:
    from .methods import METHODS

    for name, method in METHODS.items():
        fields = ", ".join(f.name for f in dataclasses.fields(method.options_type))
        print(f"{name:8s} {method.description} (lr {method.default_lr:g}; options: {fields})")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"sinetune: warning: {message}", file=sys.stderr)


COMMANDS = {"fit": command_fit, "fit-many": command_fit_many, "render": command_render, "bench": command_bench,
            "analyze": command_analyze, "methods": command_methods}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sinetune`` script; returns the exit status."""
    from .runtime import tune_cpu_allocator

    tune_cpu_allocator()
    try:
        args = build_parser().parse_args(argv)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return COMMANDS[args.command](args)
    except SinetuneError as error:
        print(f"sinetune: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sinetune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
