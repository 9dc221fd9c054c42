"""The ``fit`` and ``fit-many`` commands (``--resume``, ``--cluster``) and the run-config flags they share
with the parser (:mod:`sinetune.cli`): each command is a thin layer over a public function —
:func:`sinetune.runs.run`, :func:`sinetune.resume.resume_fit`, :func:`sinetune.many.fit_many`,
:func:`sinetune.cluster.fit_many_ray`.
"""

from __future__ import annotations

import argparse
import math
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .errors import SinetuneError
from .progress import Progress

if TYPE_CHECKING:
    from .config import RunConfig

#: Dedicated flags of ``fit`` and ``fit-many`` → the run-config key each sets (:func:`sinetune.config.apply_overrides`);
#: type, default and help come from the dataclass field and its docstring entry (:func:`sinetune.docs.field_help`).
RUN_FLAGS = {"--size": "signal.size", "--steps": "train.steps", "--batch-size": "train.batch_size",
             "--lr": "train.lr", "--keep-best": "train.keep_best", "--holdout": "holdout", "--seed": "seed",
             "--device": "device"}
#: Dedicated flags of ``fit`` alone (audio crops), as :data:`RUN_FLAGS`.
FIT_FLAGS = {"--start": "signal.start", "--duration": "signal.duration", "--samples": "signal.samples"}
#: Dedicated flags of ``fit`` alone that set a TUNER option (:class:`sinetune.methods.TunerOptions`), as
#: :data:`RUN_FLAGS`.
TUNER_FLAGS = {"--select": "options.select"}
#: Dedicated flags of ``fit`` alone for an inverse task (:class:`sinetune.tasks.TaskOptions`), as :data:`RUN_FLAGS`.
TASK_FLAGS = {"--task": "task.task", "--noise": "task.noise", "--snr": "task.snr", "--mask": "task.mask",
              "--mask-fraction": "task.mask_fraction", "--factor": "task.factor"}
#: Dedicated flags of ``fit`` alone that train several fields (:mod:`sinetune.ensemble`), as :data:`RUN_FLAGS`.
ENSEMBLE_FLAGS = {"--ensemble": "ensemble"}

def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


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


def run_config(args: argparse.Namespace, data: dict[str, object], flags: dict[str, str]) -> RunConfig:
    """The run config of ``data`` with the dedicated ``flags``, ``--full-size`` and ``--set`` of ``args``
    applied (in that order), typed and validated by :func:`sinetune.config.config_from_dict`."""
    from .config import apply_overrides, config_from_dict

    if isinstance(args.batch_size, int) and args.batch_size < 1:
        raise SinetuneError(f"--batch-size must be a positive integer, got {args.batch_size}")
    values = {key: getattr(args, _dest(flag)) for flag, key in flags.items() if getattr(args, _dest(flag)) is not None}
    if args.full_size:
        values["signal.size"] = values["signal.max_size"] = None
    return config_from_dict(apply_overrides(apply_overrides(data, values), parse_overrides(args.overrides)))


def fit_config(args: argparse.Namespace) -> RunConfig:
    """``sinetune fit``'s run config: ``--config`` (if given), then SIGNAL, ``--method`` and the other flags."""
    from .config import config_to_dict, load_config
    from .signals import is_audio_path

    data = config_to_dict(load_config(args.config, require_signal=not args.image)) if args.config else {}
    if args.method:
        if data.get("method") not in (None, args.method):
            data["options"] = {}  # the config's options belong to another method
        data["method"] = args.method
    if args.select is not None and data.get("method", "tuner") != "tuner":
        raise SinetuneError(f"--select chooses TUNER's capacity; it does not apply to --method {data['method']}")
    signal = dict(data.get("signal") or {})
    if args.image:
        signal["path"] = args.image
    if not signal.get("path") and not args.config:
        signal["path"] = "astronaut"
    if signal.get("path") and is_audio_path(signal["path"]):
        if args.size is not None:
            raise SinetuneError("--size applies to images only; crop audio with --start, --duration or --samples")
        signal["size"] = None
    data["signal"] = signal
    return run_config(args, data, {**RUN_FLAGS, **FIT_FLAGS, **TASK_FLAGS, **TUNER_FLAGS, **ENSEMBLE_FLAGS})


def _resume_alone(args: argparse.Namespace) -> None:
    """``fit --resume`` continues a fit as it was configured: refuse any flag that would change it."""
    allowed = {"resume", "device", "quiet", "command", "overrides"}
    given = sorted(name for name, value in vars(args).items()
                   if name not in allowed and value not in (None, False, [], ()))
    if given or args.overrides:
        flag = "--" + (given[0].replace("_", "-") if given else "set")
        if flag == "--image":
            flag = "SIGNAL"
        raise SinetuneError(f"--resume continues the interrupted fit as it was configured; {flag} cannot be given "
                            f"with it (only --device and --quiet)")


def command_fit(args: argparse.Namespace) -> int:
    from .runs import default_run_dir, run

    if args.resume is not None:
        from .resume import resume_fit

        _resume_alone(args)
        result = resume_fit(args.resume, progress=Progress(quiet=args.quiet), device=args.device)
    else:
        config = fit_config(args)
        if args.out is not None:
            out = args.out
        else:
            out = default_run_dir(Path("runs"), Path(config.signal.path).stem or "signal", config.method)
        result = run(config, out=out, overwrite=args.overwrite, progress=Progress(quiet=args.quiet))
    config = result.config
    metrics = result.metrics
    heldout = metrics["heldout_psnr"]
    say = _printer(args.quiet)
    say(f"run directory: {result.run_dir}")  # (the derived: line came before training, with the progress)
    shape = _shape(metrics)
    if result.signal.kind == "audio":
        quality = f"SNR {_num(metrics['snr'])} dB, LSD {_num(metrics['lsd'])} dB"
    elif result.signal.kind == "sdf":
        quality = f"IoU {_num(metrics.get('iou'), '.4f')}, Chamfer {_num(metrics.get('chamfer'), '.4f')}"
    elif result.signal.dim >= 3:
        worst = "frame_psnr_min" if result.signal.kind == "video" else "slice_psnr_min"
        quality = f"worst {worst.split('_')[0]} PSNR {_num(metrics.get(worst))} dB"
    else:
        quality = f"SSIM {_num(metrics.get('ssim'), '.4f')}, gradient PSNR {_num(metrics.get('gradient_psnr'))} dB"
    members = f"ensemble of {config.ensemble}, " if config.ensemble > 1 else ""
    say(f"{config.method} on {metrics['signal']} ({shape}, {members}"
        f"{metrics['steps']} steps, {_num(metrics['seconds_per_step_median'], '.3f')} s/step): "
        f"train PSNR {_num(metrics['train_psnr'])} dB, "
        + (f"held-out PSNR {_num(heldout)} dB, " if heldout is not None else "")
        + quality
        + (f"; {metrics['task']}: clean PSNR {_num(metrics['clean_psnr'])} dB"
           if metrics.get("clean_psnr") is not None else ""))
    if metrics["diverged"]:
        print(f"sinetune: warning: {metrics.get('divergence') or 'the fit diverged'}", file=sys.stderr)
    return 0


def _printer(quiet: bool) -> typing.Callable[..., None]:
    """``print``, or with ``--quiet`` nothing: quiet commands print only warnings and errors."""
    import builtins

    return (lambda *args, **kwargs: None) if quiet else builtins.print


def _shape(metrics: dict) -> str:
    """``"256×256"`` for an image, ``"44100 samples at 44100 Hz"`` for a sound."""
    if metrics.get("sample_rate") is not None:
        return f"{metrics['grid_shape'][0]} samples at {metrics['sample_rate']} Hz"
    return "×".join(map(str, metrics["grid_shape"]))


def _num(value: object, spec: str = ".2f") -> str:
    """A metric as printed: ``n/a`` where metrics.json holds null (non-finite or missing)."""
    return format(value, spec) if isinstance(value, (int, float)) and math.isfinite(value) else "n/a"


def command_fit_many(args: argparse.Namespace) -> int:
    import statistics
    import time

    from .config import SignalConfig
    from .many import fit_many
    from .methods import get_method
    from .runs import default_run_dir
    from .signals import find_signals

    method = args.method or "tuner"
    get_method(method)
    config = run_config(args, {"method": method}, {**RUN_FLAGS, **FIT_FLAGS})
    crop = {"start": config.signal.start, "duration": config.signal.duration, "samples": config.signal.samples}
    if config.signal.path != SignalConfig().path:
        raise SinetuneError("fit-many takes its signals as arguments, not signal.path")
    if config.task.task != "fit":
        raise SinetuneError("fit-many fits signals as they are; run an inverse task with sinetune fit --task")
    if config.ensemble != 1:
        raise SinetuneError("fit-many trains one field per signal; train an ensemble with sinetune fit --ensemble K")
    paths = find_signals(args.sources)
    out = args.out if args.out is not None else default_run_dir(Path("runs"), "many", config.method)
    if args.cluster is not None:
        return _fit_many_on_cluster(args, config, paths, out)
    started = time.perf_counter()
    results = fit_many(paths, config.method, size=config.signal.size, max_size=config.signal.max_size,
                       options=config.options,
                       train_options=config.train, seed=config.seed, holdout=config.holdout, device=config.device,
                       out=out, overwrite=args.overwrite, progress=Progress(quiet=args.quiet), group_size=args.group,
                       resume=args.resume, **crop)
    total = time.perf_counter() - started
    say = _printer(args.quiet)
    first = results[0].metrics
    size = args.group or len(results)
    # a group's training time is that of its longest-running signal (it saw every batched step)
    train_seconds = sum(max(result.metrics["train_seconds"] for result in results[start:start + size])
                        for start in range(0, len(results), size))
    steps = max(result.metrics["steps"] for result in results)
    batching = "as one batched model" if size >= len(results) else f"in batched groups of {size}"
    audio = results[0].signal.kind == "audio"
    channels = "" if audio else f", {first['channels']} channel{'s' if first['channels'] != 1 else ''}"
    say(f"{config.method} on {len(results)} signals ({_shape(first)}{channels}) {batching}: {steps} steps, "
        f"{train_seconds:.2f} s of training "
        f"({statistics.median(r.metrics['seconds_per_step_median'] or 0.0 for r in results):.3f} s "
        f"per batched step)")
    name_width = max(6, *(len(result.signal.name) for result in results))
    # images: SSIM; sounds: SNR in dB (they have no SSIM). A metric metrics.json holds as null is n/a.
    quality, key, spec = ("   SNR", "snr", ".2f") if audio else ("  SSIM", "ssim", ".4f")
    say(f"{'signal':<{name_width}}  steps  train PSNR  held-out PSNR  {quality}  run directory")
    for result in results:
        metrics = result.metrics
        heldout = metrics["heldout_psnr"]
        flag = "  (diverged)" if metrics["diverged"] else ""
        say(f"{result.signal.name:<{name_width}}  {metrics['steps']:5d}  {_num(metrics['train_psnr']):>10}  "
            + (f"{_num(heldout):>13}" if heldout is not None else f"{'-':>13}")
            + f"  {_num(metrics.get(key), spec):>6}  {result.run_dir}{flag}")
    say(f"total: {total:.1f} s for {len(results)} signals (training {train_seconds:.1f} s; the rest is "
        f"loading, evaluation and writing run directories)")
    if any(result.metrics["diverged"] for result in results):
        print("sinetune: warning: some fits diverged (see divergence in their metrics.json)", file=sys.stderr)
    return 0


def _fit_many_on_cluster(args: argparse.Namespace, config: RunConfig, paths: list[Path], out: Path) -> int:
    """``fit-many --cluster``: :func:`sinetune.cluster.fit_many_ray`, then one line per signal."""
    from .cluster import fit_many_ray, parse_cluster

    results = fit_many_ray(paths, config.method, out=out, group_size=args.group or 8,
                           address=parse_cluster(args.cluster), progress=not args.quiet, size=config.signal.size,
                           options=config.options, train_options=config.train, seed=config.seed,
                           holdout=config.holdout, device=config.device, overwrite=args.overwrite)
    for result in results:
        metrics = result.metrics
        print(f"{result.name}: {metrics['steps']} steps, train PSNR {_num(metrics.get('train_psnr'))} dB, "
              f"held-out PSNR {_num(metrics.get('heldout_psnr'))} dB  {result.run_dir}")
    print(f"{config.method} on {len(results)} signals in groups of {args.group or 8} on Ray: run directories in {out}")
    return 0


__all__ = ["ENSEMBLE_FLAGS", "FIT_FLAGS", "RUN_FLAGS", "TASK_FLAGS", "TUNER_FLAGS", "command_fit", "command_fit_many",
           "fit_config", "parse_overrides", "run_config"]
