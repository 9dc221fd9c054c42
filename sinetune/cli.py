"""``sinetune`` command line: each command is a thin layer over a public function.

* ``sinetune fit IMAGE|SOUND`` → :func:`sinetune.runs.run`
* ``sinetune fit-many DIR_OR_GLOB …`` → :func:`sinetune.many.fit_many`
* ``sinetune render RUN`` → :func:`sinetune.renders.render_run`
* ``sinetune bench NAME`` → :func:`sinetune.bench.run_benchmark`
* ``sinetune analyze RUN`` → :func:`sinetune.analysis.analyze_run`
* ``sinetune report RUN`` → :func:`sinetune.report.write_report` (a benchmark's folder:
  :func:`sinetune.bench.page.write_bench_page`)
* ``sinetune methods``    → :data:`sinetune.methods.METHODS`
* ``sinetune compress IMAGE`` / ``decompress FILE.stn`` → :func:`sinetune.codec.compress` /
  :func:`sinetune.codec.decompress` (:mod:`sinetune.cli_codec`)
* ``sinetune prune RUN --fraction F -o NEW_RUN`` → :func:`sinetune.run_pruning.prune_run`
  (:mod:`sinetune.cli_prune`)
* ``sinetune data fetch NAME …`` → :func:`sinetune.datasets.fetch`; ``sinetune data list`` →
  :func:`sinetune.datasets.status`

The flags of ``fit`` and ``fit-many`` are declared once (:func:`_add_run_flags`); a flag that sets a
run-config key (:data:`RUN_FLAGS`, :data:`FIT_FLAGS`) takes its type, default and help from the option
dataclass field and its docstring entry (:mod:`sinetune.docs`), and ``--set KEY=VALUE`` reaches every
key (:func:`sinetune.config.apply_overrides`). Bad input prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from .cli_codec import CODEC_COMMANDS, add_codec_commands
from .cli_fit import (  # noqa: F401  (fit_config, run_config: importable from here too)
    ENSEMBLE_FLAGS,
    FIT_FLAGS,
    RUN_FLAGS,
    TASK_FLAGS,
    TUNER_FLAGS,
    _dest,
    _printer,
    command_fit,
    command_fit_many,
    fit_config,
    parse_overrides,
    run_config,
)
from .cli_prune import BENCH_PRUNE_FLAGS, PRUNE_COMMANDS, add_bench_prune_flags, add_prune_command
from .errors import SinetuneError
from .progress import Progress

if TYPE_CHECKING:
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # noqa: D102
        raise SinetuneError(message)


def _domain(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None


SET_HELP = ("set any run-config key: a method option (hidden_width=128 or options.hidden_width=128), a training "
            "option (train.log_every=1, train.stop_psnr=30), signal.NAME, seed, holdout or device; values are YAML "
            "(block_bounds=[1.0,0.4]); repeatable, applied after the other flags")


def _int_or(words: list[str]) -> Callable[[str], int | str]:
    """An argparse type: an integer, or one of ``words``."""
    def parse(text: str) -> int | str:
        if text in words:
            return text
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer or {' or '.join(words)}, got {text!r}") from None
    return parse


def _add_config_flag(parser: argparse.ArgumentParser, flag: str, key: str) -> None:
    """``flag`` setting run-config ``key``, typed and documented from its dataclass field."""
    from .config import RunConfig, SignalConfig
    from .docs import base_type, field_help, field_types
    from .methods import TunerOptions
    from .tasks import TaskOptions
    from .training import TrainOptions

    section, _, name = key.rpartition(".")
    cls = {"": RunConfig, "signal": SignalConfig, "train": TrainOptions, "task": TaskOptions,
           "options": TunerOptions}[section]  # an options flag is TUNER's (--select)
    kind = base_type(field_types(cls)[name])
    options: dict[str, object] = {"dest": _dest(flag), "help": field_help(cls, name)}
    if kind is bool:
        options.update(action="store_true", default=None)
    elif typing.get_origin(kind) is typing.Literal:
        options["choices"] = typing.get_args(kind)
    elif int in typing.get_args(kind):  # int or a word (``--batch-size 16384|full``)
        words = [word for arg in typing.get_args(kind) if typing.get_origin(arg) is typing.Literal
                 for word in typing.get_args(arg)]
        options.update(type=_int_or(words), metavar="N|" + "|".join(words))
    else:
        options.update(type=kind, metavar="N" if kind is int else "X")
    parser.add_argument(flag, **options)


def _add_run_flags(parser: argparse.ArgumentParser, methods: Sequence[str], flags: dict[str, str],
                   out: tuple[str, str]) -> None:
    """The flags of ``fit`` and ``fit-many`` (declared once): ``--method`` among ``methods``, ``flags``
    (:func:`_add_config_flag`), ``--full-size``, ``--set``, ``--out`` (``out``: metavar and help), ``--overwrite``."""
    parser.add_argument("--method", metavar="METHOD",
                        help=f"one of {', '.join(methods)} (default tuner; sinetune methods describes them)")
    for flag, key in flags.items():
        _add_config_flag(parser, flag, key)
    parser.add_argument("--full-size", action="store_true", help="images: keep the image's own size, however "
                                                                 "large (signal.size and signal.max_size null; "
                                                                 "overrides --size)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    parser.add_argument("--out", type=Path, metavar=out[0], help=out[1])
    parser.add_argument("--overwrite", action="store_true", help="replace existing run directories")
    parser.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors (no progress, "
                                                             "no summary)")


def build_parser() -> argparse.ArgumentParser:
    from .methods import METHODS

    parser = _Parser(prog="sinetune", description="Fit sinusoidal neural networks to signals.")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)

    fit = commands.add_parser("fit", help="fit a field to an image or a sound and write a run directory")
    fit.add_argument("image", nargs="?", metavar="SIGNAL",
                     help="image file, built-in name (astronaut, camera, ...) or sound file (.wav, .flac, .ogg)")
    fit.add_argument("--config", type=Path, metavar="FILE",
                     help="run config YAML (e.g. a saved config.yaml); flags override it")
    fit.add_argument("--resume", type=Path, metavar="RUN",
                     help="continue the interrupted fit that was writing the run directory RUN from its last "
                          "checkpoint (alone, or with --device and --quiet)")
    _add_run_flags(fit, tuple(METHODS), {**RUN_FLAGS, **FIT_FLAGS, **TASK_FLAGS, **TUNER_FLAGS, **ENSEMBLE_FLAGS},
                   out=("DIR", "run directory (default runs/NAME-METHOD[-N])"))

    many = commands.add_parser("fit-many", help="fit many equal-shape signals at once as one batched model, "
                                                "one run directory each")
    many.add_argument("sources", nargs="+", metavar="DIR_OR_GLOB",
                      help="a directory (its images and sounds), a quoted glob pattern ('kodak/*.png') or files")
    _add_run_flags(many, tuple(METHODS), {**RUN_FLAGS, **FIT_FLAGS},
                   out=("ROOT", "root directory: one run directory ROOT/STEM per signal "
                                "(default runs/many-METHOD[-N])"))
    many.add_argument("--group", type=int, metavar="N", help="batch at most N signals at a time (memory; "
                                                             "default all)")
    many.add_argument("--cluster", metavar="ray[://ADDRESS]",
                      help="fit the groups (--group, default 8 signals) as tasks on a Ray cluster: ray (a local "
                           "instance), ray:auto or ray://HOST:PORT; finished runs are kept, lost groups resumed")
    many.add_argument("--resume", action="store_true", help="continue an interrupted fit-many given the same "
                                                            "arguments: keep its finished runs, resume the rest")

    render = commands.add_parser("render", help="render a saved run at any resolution or domain")
    render.add_argument("run_dir", type=Path)
    render.add_argument("--size", type=int, help="images: longer side in pixels (default: the training size); "
                                                 "audio: number of samples M over the domain, same duration, so "
                                                 "the rate becomes rate·(M−1)/(N−1) for N trained samples "
                                                 "(default: the original rate); video, volume, SDF: longer "
                                                 "side of the grid (a video keeps its frames)")
    render.add_argument("--domain", type=_domain, nargs=2, metavar=("LOW", "HIGH"), default=(-1.0, 1.0),
                        help="coordinate range per axis; -1 1 is the training domain, -2 2 extrapolates")
    render.add_argument("--out", type=Path, help="output PNG, or WAV for audio, .npy/.gif (video)/.ply (SDF) for "
                                                 "N-D fields (default inside the run directory)")
    render.add_argument("--overwrite", action="store_true")
    render.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")

    bench = commands.add_parser("bench", help="run a benchmark and print its table")
    from .bench import BENCHMARKS

    bench.add_argument("name", help=f"benchmark name: {', '.join(BENCHMARKS)}")
    bench.add_argument("--data", type=Path,
                       help="data directory: kodak-256 its kodimNN.png, audio its clips (default: the data "
                            "cache's kodak/ or audio/, see sinetune data fetch; sinetune ships no data)")
    bench.add_argument("--images", help="kodak-256: comma-separated subset, e.g. 03,19,23 (default: all)")
    bench.add_argument("--clips", help="audio: comma-separated subset of bach,counting,trumpet,speech "
                                       "(default: all four)")
    bench.add_argument("--seconds", type=float, help="audio: fit the first S seconds of each clip (default 1)")
    bench.add_argument("--methods", help="comma-separated methods (default: kodak-256 tuner,siren; "
                                         "audio siren,siren2,tuner,finer,ssn)")
    bench.add_argument("--steps", type=int, help="optimizer steps per fit (default: kodak-256 the fit's derived "
                                                 "steps, audio 500; "
                                                 "speed: timed steps per run, 5)")
    bench.add_argument("--size", type=int, help="kodak-256, speed: image side (default 256); video, volume, sdf: "
                                               "grid side (default 64); generalization: only the cells of "
                                               "this longer side")
    bench.add_argument("--width", type=int, help="network width (default: kodak-256, speed 256; audio 222; "
                                                "video, volume, sdf 128)")
    bench.add_argument("--stop-psnr", type=float, help="kodak-256: end each fit once its held-out PSNR reaches "
                                                       "this many dB (time to quality)")
    bench.add_argument("--levers", help="ttq: comma-separated training levers (default: all; "
                                        "sinetune.bench.ttq.LEVERS)")
    bench.add_argument("--runs", type=int, help="speed: rounds, each timing every variant and the plain "
                                                "reference (default 5)")
    bench.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    bench.add_argument("--out", type=Path, help="directory for results.json and results.md "
                                                "(default bench-runs/NAME[-N])")
    bench.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    bench.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors")
    bench.add_argument("--set", dest="overrides", action="append", default=[], metavar="METHOD.KEY=VALUE",
                       help="override a method option, e.g. --set tuner.period=4 (denoise, inpaint, superres: "
                            "also task.KEY and train.KEY, e.g. --set task.band_gain=0.25)")
    add_bench_prune_flags(bench)

    analyze = commands.add_parser("analyze", help="Bessel frequency analysis of a saved TUNER run (1 hidden layer)")
    analyze.add_argument("run_dir", type=Path)
    analyze.add_argument("--order", type=int, default=2,
                         help="truncation: all multi-indices with Σ|k_i| ≤ ORDER (default 2; cost grows like n0^ORDER)")
    analyze.add_argument("--out", type=Path, help="output directory (default: the run directory)")

    report = commands.add_parser("report", help="write report.html again: a run's (metrics, curves, figures, "
                                                "sounds; renders and analyses added since) or a benchmark's "
                                                "(sortable tables, charts)")
    report.add_argument("run_dir", type=Path, metavar="RUN_OR_BENCH_DIR")

    commands.add_parser("methods", help="list the available methods")
    add_codec_commands(commands)
    add_prune_command(commands)

    data = commands.add_parser("data", help="download the benchmark data sets into the data cache, or list them")
    actions = data.add_subparsers(dest="action", parser_class=_Parser, required=True)
    cache_help = "the data cache (default $SINETUNE_DATA, else $XDG_CACHE_HOME/sinetune or ~/.cache/sinetune)"
    fetch = actions.add_parser("fetch", help="download data sets (resumable, checksums verified); every bench "
                                             "then finds them")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="data set: " + ", ".join(_dataset_names()))
    fetch.add_argument("--cache", type=Path, metavar="DIR", help=cache_help)
    fetch.add_argument("--mirror", metavar="URL", help="fetch every file from URL/FOLDER/NAME instead of its "
                                                       "source (default $SINETUNE_DATA_MIRROR)")
    fetch.add_argument("--quiet", action="store_true", help="print nothing but warnings and errors")
    listing = actions.add_parser("list", help="the known data sets, their licences and what the cache holds")
    listing.add_argument("--cache", type=Path, metavar="DIR", help=cache_help)
    return parser


def _dataset_names() -> tuple[str, ...]:
    from .datasets import DATASETS

    return tuple(DATASETS)


def command_render(args: argparse.Namespace) -> int:
    from .runs import render_run

    path = render_run(args.run_dir, args.size, tuple(args.domain), args.out, args.overwrite, args.device)
    print(f"wrote {path}")
    return 0


#: ``bench`` flags → the runner keyword each sets (:func:`sinetune.bench.benchmark_options`); ``--device`` and
#: ``--out`` apply to every benchmark.
BENCH_FLAGS = {"--data": "data_dir", "--images": "images", "--clips": "clips", "--seconds": "seconds",
               "--methods": "methods", "--steps": "steps", "--size": "size", "--width": "width", "--runs": "runs",
               "--stop-psnr": "stop_psnr", "--set": "overrides", "--resume": "resume", "--levers": "levers",
               **BENCH_PRUNE_FLAGS}


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
    options: dict[str, object] = {"device": args.device, "out": args.out, "progress": Progress(quiet=args.quiet)}
    converted = {"images": _names(args.images), "clips": _names(args.clips), "methods": _names(args.methods),
                 "levers": _names(args.levers),
                 "overrides": overrides or None, "resume": args.resume or None}
    # flags left out take the benchmark's own defaults; one that does not apply to it is an error
    for flag, key in BENCH_FLAGS.items():
        value = converted[key] if key in converted else getattr(args, _dest(flag))
        if value is None:
            continue
        if key not in accepted:
            raise SinetuneError(f"{flag} does not apply to bench {args.name}")
        options[key] = value
    report = run_benchmark(args.name, **options)
    say = _printer(args.quiet)
    say(report.markdown)
    say(f"results: {report.out_dir}")
    return 0


def command_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze_run

    report = analyze_run(args.run_dir, order=args.order, out=args.out)
    for path in report.paths.values():
        print(f"wrote {path}")
    print(f"order {report.order}: max |expansion − network| = {report.max_errors[-1]:.3g} on the training grid; "
          f"energy beyond the band-limit {100 * report.energy_beyond_band['render']:.3g}% (render FFT)")
    return 0


def command_report(args: argparse.Namespace) -> int:
    from .bench.page import write_bench_page
    from .report import write_report

    bench = (args.run_dir / "results.json").is_file()  # a benchmark's output, else a run directory
    print(f"wrote {write_bench_page(args.run_dir) if bench else write_report(args.run_dir)}")
    return 0


def command_methods(args: argparse.Namespace) -> int:
    from .methods import METHODS

    for name, method in METHODS.items():
        fields = ", ".join(f.name for f in dataclasses.fields(method.options_type))
        print(f"{name:8s} {method.description} (lr {method.default_lr:g}; options: {fields})")
    return 0


def command_data(args: argparse.Namespace) -> int:
    from .datasets import DATASETS, fetch, status

    if args.action == "list":
        for name in DATASETS:
            state = status(name, args.cache)
            dataset = state.dataset
            reader = f"bench {dataset.benchmark}" if dataset.benchmark else "no benchmark yet"
            print(f"{name:6s} {state.summary} in {state.folder} ({reader})")
            print(f"       {dataset.description}; {dataset.licence}; source {dataset.source}")
            if dataset.note:
                print(f"       note: {dataset.note}")
        return 0
    say = _printer(args.quiet)
    for name in args.names:  # every name is checked before anything is downloaded
        if name not in DATASETS:
            raise SinetuneError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    for name in args.names:
        result = fetch(name, args.cache, mirror=args.mirror, progress=Progress(quiet=args.quiet))
        done = [f"{len(result.downloaded)} downloaded", f"{len(result.verified)} already cached and verified"]
        if result.recorded:
            done.append(f"{len(result.recorded)} checksums recorded (none known: trust on first download)")
        if result.kept:
            done.append(f"{len(result.kept)} found there and kept unverified")
        if result.derived:
            done.append(f"{len(result.derived)} derived")
        say(f"{name}: {result.folder} ({', '.join(done)})")
        if DATASETS[name].note:
            print(f"sinetune: note: {DATASETS[name].note}", file=sys.stderr)
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"sinetune: warning: {message}", file=sys.stderr)


COMMANDS = {"fit": command_fit, "fit-many": command_fit_many, "render": command_render, "bench": command_bench,
            "analyze": command_analyze, "report": command_report, "methods": command_methods, "data": command_data,
            **CODEC_COMMANDS, **PRUNE_COMMANDS}


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
    except (MemoryError, RuntimeError, OSError) as error:  # out of memory, disk full, ...: one line too
        from .resources import failure_message

        message = failure_message(error)
        if message is None:
            raise
        print(f"sinetune: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:  # a FitInterrupted (sinetune.train_state) says how to resume
        hint = getattr(interrupt, "hint", None)
        saved = f" ({interrupt}; its state is saved: resume with {hint})" if hint else ""
        print(f"sinetune: interrupted{saved}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
