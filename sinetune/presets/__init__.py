"""Packaged run configs (YAML), for ``sinetune fit --config PATH``.

* ``tuner-paper.yaml``: TUNER with the authors' 512² settings
  (:data:`sinetune.methods.tuner.PAPER` and :data:`~sinetune.methods.tuner.PAPER_TRAIN`).

From a checkout the files are ``sinetune/presets/NAME.yaml``; :func:`preset_path` finds them in an
installed package too (``sinetune fit --config "$(python -c 'import sinetune.presets as p;
print(p.preset_path("tuner-paper"))')"``).
"""

from __future__ import annotations

from pathlib import Path

from ..config import RunConfig, load_config
from ..errors import SinetuneError

DIRECTORY = Path(__file__).resolve().parent


def preset_names() -> list[str]:
    """The packaged presets, e.g. ``["tuner-paper"]``."""
    return sorted(path.stem for path in DIRECTORY.glob("*.yaml"))


def preset_path(name: str) -> Path:
    """Path of the packaged preset ``name`` (one-line :class:`SinetuneError` for an unknown one)."""
    if name not in preset_names():
        raise SinetuneError(f"unknown preset {name!r}; choose one of: {', '.join(preset_names())}")
    return DIRECTORY / f"{name}.yaml"


def load_preset(name: str) -> RunConfig:
    """The packaged preset ``name`` as a typed :class:`~sinetune.config.RunConfig`."""
    return load_config(preset_path(name))


__all__ = ["DIRECTORY", "load_preset", "preset_names", "preset_path"]
