"""Run configuration: frozen dataclasses that round-trip through ``yaml.safe_dump`` / ``safe_load``.

A saved ``config.yaml`` holds everything needed to re-run a fit (signal, method options with the
signal-derived values resolved, training options, seed, hold-out fraction, device)::

    signal: {path: astronaut, size: 256, max_size: 256, start: null, duration: null, samples: null}
    method: tuner
    options: {input_width: 256, hidden_width: 256, period: 2.1, band_limit: 40, ...}
    train: {steps: 1200, lr: 0.0005, batch_size: 16384, log_every: 10}   # derived: sinetune.batching
    seed: 0
    holdout: 0.05
    device: auto
    task: {task: fit, noise: null, ...}   # inverse tasks (sinetune.tasks): denoise, inpaint, superres

Unknown keys and wrongly typed values are errors (a misspelt option never silently falls back).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import dacite
import yaml

from .errors import SinetuneError
from .methods import TunerOptions, get_method
from .signals import DEFAULT_MAX_SIZE
from .tasks import TaskOptions
from .training import TrainOptions

Device = Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class SignalConfig:
    """Which signal to fit.

    Attributes:
        path: image file, a built-in name (``astronaut``, ``camera``, ...) or a sound file
            (``.wav``, ``.flac``, ``.ogg``; chosen by suffix).
        size: images only: resize so the longer side has this many pixels (up or down); ``null``
            keeps the file's own size up to ``max_size``. Ignored for audio (a run records ``null`` there).
        max_size: images only, when ``size`` is ``null``: an image whose longer side exceeds this
            many pixels is downsampled to it, a smaller one is never upsampled; ``null`` (``fit
            --full-size``) keeps any size. The ``derived:`` line says what was done.
        start: audio only: crop start in seconds (``null`` = 0).
        duration: audio only: crop length in seconds (``null`` = to the end).
        samples: audio only: keep the first ``samples`` samples from ``start`` (exclusive with
            ``duration``).

    The crop fields are validated for every signal and ignored for images.
    """

    path: str = "astronaut"
    size: int | None = None
    max_size: int | None = DEFAULT_MAX_SIZE
    start: float | None = None
    duration: float | None = None
    samples: int | None = None

    def validate(self) -> None:
        """One-line :class:`SinetuneError` for an invalid crop (see :func:`sinetune.signals.check_crop`)."""
        from .signals import check_crop

        check_crop(self.start, self.duration, self.samples)


@dataclass(frozen=True)
class RunConfig:
    """A complete, reproducible fit.

    Attributes:
        signal: see :class:`SignalConfig`.
        method: a name in :data:`sinetune.methods.METHODS` (``sinetune methods`` lists them).
        options: the method's options dataclass (e.g. :class:`~sinetune.methods.TunerOptions`).
        train: see :class:`~sinetune.training.TrainOptions`.
        seed: seeds every random choice (weights, frequencies, hold-out pixels, mini-batches).
        holdout: fraction of samples held out for evaluation, in [0, 1).
        device: ``auto`` (CUDA if available), ``cpu`` or ``cuda``.
        task: see :class:`~sinetune.tasks.TaskOptions` (denoise, inpaint, super-resolve; default: fit).
        ensemble: how many independently seeded fields to train and average (:mod:`sinetune.ensemble`;
            1: one field, the plain fit).
    """

    signal: SignalConfig = field(default_factory=SignalConfig)
    method: str = "tuner"
    options: Any = field(default_factory=TunerOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    seed: int = 0
    holdout: float = 0.05
    device: Device = "auto"
    task: TaskOptions = field(default_factory=TaskOptions)
    ensemble: int = 1


#: The most members an ensemble may have (``RunConfig.ensemble``).
MAX_ENSEMBLE = 64

#: Seeds every generator accepts: torch's ``manual_seed`` takes [0, 2^64), numpy's ``default_rng`` ≥ 0.
SEED_RANGE = (0, 2**64 - 1)


def check_seed(seed: Any) -> int:
    """``seed`` if it is an integer in :data:`SEED_RANGE`; a one-line :class:`SinetuneError` otherwise."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise SinetuneError(f"seed must be an integer, got {seed!r}")
    if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise SinetuneError(f"seed must be between {SEED_RANGE[0]} and 2^64 - 1, got {seed}")
    return seed


def check_ensemble(count: Any) -> int:
    """``count`` if it is an integer in [1, :data:`MAX_ENSEMBLE`]; a one-line :class:`SinetuneError` otherwise."""
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_ENSEMBLE:
        raise SinetuneError(f"ensemble must be a whole number of fields from 1 to {MAX_ENSEMBLE}, got {count!r}")
    return count


def _plain(value: Any) -> Any:
    """Dataclasses → dicts, tuples → lists, recursively (what safe_dump accepts)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """A plain dict (only YAML-safe types) of ``config``."""
    return _plain(config)


def _int_to_float(value: Any) -> Any:
    """YAML reads ``lr: 1`` as an int; accept ints where a float is meant (bools stay errors)."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


_DACITE = dacite.Config(strict=True, cast=[tuple], type_hooks={float: _int_to_float})


def _typed(data_class: type, data: Any, where: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SinetuneError(f"config section '{where}' must be a mapping")
    hints = {f.name: str(f.type) for f in dataclasses.fields(data_class)}
    for key, value in data.items():
        if isinstance(value, bool) and key in hints and "bool" not in hints[key]:
            raise SinetuneError(f"wrong type for '{where}.{key}': expected {hints[key]}, got {value!r}")
    try:
        return dacite.from_dict(data_class, data, config=_DACITE)
    except dacite.UnexpectedDataError as error:
        raise SinetuneError(f"unknown key(s) in '{where}': {', '.join(sorted(error.keys))}; valid keys: "
                            f"{', '.join(hints)}") from None
    except dacite.WrongTypeError as error:
        from .docs import format_type

        raise SinetuneError(f"wrong type for '{where}.{error.field_path}': expected {format_type(error.field_type)}, "
                            f"got {error.value!r}") from None
    except dacite.DaciteError as error:
        raise SinetuneError(f"invalid '{where}' section: {error}") from None
    except (TypeError, ValueError) as error:  # a collection given as null or as a mapping (dacite's cast)
        raise SinetuneError(f"invalid value in '{where}': {str(error).splitlines()[0] if str(error) else ''}") from None


def options_to_dict(options: Any) -> dict[str, Any]:
    """Any options dataclass (e.g. :class:`~sinetune.pruning.PruneOptions`) as a YAML-safe dict."""
    return _plain(options)


def options_from_dict(data_class: type, data: Any, where: str = "options") -> Any:
    """Inverse of :func:`options_to_dict`, with the run config's checks (unknown keys and wrong types
    are one-line :class:`SinetuneError` s naming ``where``)."""
    return _typed(data_class, data, where)


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Inverse of :func:`config_to_dict`; validates keys and types, one-line errors."""
    if not isinstance(data, dict):
        raise SinetuneError("a run config must be a YAML mapping")
    known = [f.name for f in dataclasses.fields(RunConfig)]
    unknown = sorted(set(data).difference(known))
    if unknown:
        raise SinetuneError(f"unknown key(s) in run config: {', '.join(unknown)}; valid keys: {', '.join(known)}")
    method = get_method(str(data.get("method", "tuner")))
    device = data.get("device", "auto")
    if device not in ("auto", "cpu", "cuda"):
        raise SinetuneError(f"device must be auto, cpu or cuda, got {device!r}")
    holdout = data.get("holdout", 0.05)
    seed = data.get("seed", 0)
    if not isinstance(holdout, (int, float)) or isinstance(holdout, bool):
        raise SinetuneError(f"holdout must be a number, got {holdout!r}")
    check_seed(seed)
    ensemble = check_ensemble(data.get("ensemble", 1))
    return RunConfig(
        signal=_typed(SignalConfig, data.get("signal"), "signal"),
        method=method.name,
        options=_typed(method.options_type, data.get("options"), "options"),
        train=_typed(TrainOptions, data.get("train"), "train"),
        seed=seed,
        holdout=float(holdout),
        device=device,
        task=_typed(TaskOptions, data.get("task"), "task"),
        ensemble=ensemble,
    )


#: Top-level run-config keys :func:`apply_overrides` sets (the method is chosen first: its options follow it).
TOP_LEVEL_KEYS = ("seed", "holdout", "device", "ensemble")


def _sections(method: str) -> dict[str, type]:
    """The run-config sections of ``method`` and their dataclasses."""
    return {"options": get_method(method).options_type, "train": TrainOptions, "signal": SignalConfig,
            "task": TaskOptions}


def override_path(key: str, method: str = "tuner") -> tuple[str, ...]:
    """Where override ``key`` goes in a run-config dict of ``method``.

    ``SECTION.NAME`` (``train.log_every``, ``options.hidden_width``, ``signal.size``) →
    ``(SECTION, NAME)``; a top-level key (:data:`TOP_LEVEL_KEYS`) → ``(key,)``; a bare field name →
    the one section that has it (``hidden_width`` → ``("options", "hidden_width")`` for TUNER,
    ``log_every`` → ``("train", "log_every")``). Names inside a given section are checked by
    :func:`config_from_dict`; an unknown section or bare name, or one that several sections have, is
    a one-line :class:`SinetuneError` naming the valid keys.
    """
    sections = _sections(method)
    section, dot, name = key.partition(".")
    if dot:
        if section not in sections or not name:
            raise SinetuneError(f"cannot set {key!r}: write SECTION.NAME with SECTION one of "
                                f"{', '.join(sections)}, or a top-level key ({', '.join(TOP_LEVEL_KEYS)})")
        return section, name
    if key in TOP_LEVEL_KEYS:
        return (key,)
    if key == "method":
        raise SinetuneError("the method cannot be overridden: choose it first (fit --method); its options follow it")
    owners = [section for section, cls in sections.items() if key in {f.name for f in dataclasses.fields(cls)}]
    if len(owners) > 1:
        raise SinetuneError(f"{key!r} is ambiguous: write {' or '.join(f'{owner}.{key}' for owner in owners)}")
    if not owners:
        valid = "; ".join(f"{section}.NAME ({', '.join(f.name for f in dataclasses.fields(cls))})"
                          for section, cls in sections.items())
        raise SinetuneError(f"unknown key {key!r} for method {method}; valid keys: {valid}; "
                            f"{', '.join(TOP_LEVEL_KEYS)} (a section's NAME also alone)")
    return owners[0], key


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the run-config dict ``data`` with ``overrides`` ``{key: value}`` set.

    Keys as in :func:`override_path` for ``data["method"]`` (default ``tuner``), e.g.
    ``{"train.log_every": 1, "hidden_width": 128, "seed": 3}``; values are stored as given and
    typed/validated by :func:`config_from_dict`.
    """
    result = {key: dict(value) if isinstance(value, dict) else value for key, value in data.items()}
    method = str(result.get("method", "tuner"))
    for key, value in overrides.items():
        path = override_path(key, method)
        if len(path) == 1:
            result[key] = value
        else:
            section = result.get(path[0]) or {}
            if not isinstance(section, dict):
                raise SinetuneError(f"config section '{path[0]}' must be a mapping")
            result[path[0]] = {**section, path[1]: value}
    return result


def save_config(config: RunConfig, path: Path) -> None:
    """Write ``config`` as YAML."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))


def load_config(path: str | Path, require_signal: bool = False) -> RunConfig:
    """Read a YAML run config (one-line :class:`SinetuneError` on any problem, an empty file included).

    ``require_signal``: the file must name the signal (``signal.path``) rather than take the default.
    """
    path = Path(path)
    if not path.is_file():
        raise SinetuneError(f"no such config file: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SinetuneError(f"cannot parse {path}: {first_line}") from None
    if data is None:
        raise SinetuneError(f"config file {path} is empty; write at least 'signal: {{path: photo.png}}'")
    if require_signal and not (isinstance(data, dict) and isinstance(data.get("signal"), dict)
                               and data["signal"].get("path")):
        raise SinetuneError(f"config {path} has no signal.path; give the SIGNAL to fit")
    return config_from_dict(data)
