"""Method recipes and their registry: ``METHODS[name]`` describes how to build a field."""

from __future__ import annotations

from ..errors import SinetuneError
from . import siren, tuner
from .base import Built, Method
from .siren import SirenOptions
from .tuner import TunerOptions

METHODS: dict[str, Method] = {
    "tuner": Method("tuner",
                    "TUNER: frozen integer frequencies (dense low + sparse high), per-column bounded hidden layer",
                    TunerOptions, tuner.DEFAULT_LR, tuner.resolve, tuner.build),
    "siren": Method("siren", "SIREN: sine MLP, ω0 = 30 on weights and bias, the official code's init",
                    SirenOptions, siren.DEFAULT_LR, siren.resolve, siren.build),
}


def get_method(name: str) -> Method:
    """The registry entry for ``name``; a :class:`SinetuneError` lists the valid names otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise SinetuneError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}") from None


__all__ = ["METHODS", "Built", "Method", "SirenOptions", "TunerOptions", "get_method"]
