"""Method recipes and their registry: ``METHODS[name]`` describes how to build a field."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import SinetuneError
from . import bacon, ffn, finer, gauss, mfn, siren, siren2, ssn, tuner, wire
from .bacon import BaconOptions
from .base import Built, Method
from .ffn import FfnOptions
from .finer import FinerOptions
from .gauss import GaussOptions
from .mfn import MfnOptions
from .siren import SirenOptions
from .siren2 import Siren2Options
from .ssn import SsnOptions
from .tuner import TunerOptions
from .wire import WireOptions

METHODS: dict[str, Method] = {
    "tuner": Method("tuner",
                    "TUNER: frozen integer frequencies (dense low + sparse high), per-column bounded hidden layer",
                    TunerOptions, tuner.DEFAULT_LR, tuner.resolve, tuner.build, tuner.prepare, tuner.explain),
    "siren": Method("siren", "SIREN: sine MLP, ω0 = 30 on weights and bias, the official code's init",
                    SirenOptions, siren.DEFAULT_LR, siren.resolve, siren.build, siren.prepare, siren.explain),
    "siren2": Method("siren2", "SIREN² (WINNER): SIREN plus Gaussian noise on W1, W2 scaled by the spectral centroid",
                     Siren2Options, siren2.DEFAULT_LR, siren2.resolve, siren2.build, siren2.prepare,
                     siren2.explain),
    "ssn": Method("ssn", "SSN: sine MLP with ω on the first layer only, Kaiming-normal everywhere, ω from the grid",
                  SsnOptions, ssn.DEFAULT_LR, ssn.resolve, ssn.build, ssn.prepare, ssn.explain),
    "ffn": Method("ffn", "FFN: frozen Gaussian Fourier features [cos, sin](2πBv), ReLU MLP",
                  FfnOptions, ffn.DEFAULT_LR, ffn.resolve, ffn.build),
    "finer": Method("finer", "FINER: variable-periodic sine sin(ω(|z|+1)z), SIREN init",
                    FinerOptions, finer.DEFAULT_LR, finer.resolve, finer.build),
    "wire": Method("wire", "WIRE: complex Gabor wavelets exp(jω0 z − |s0 z|²), real part of a complex head",
                   WireOptions, wire.DEFAULT_LR, wire.resolve, wire.build),
    "gauss": Method("gauss", "Gauss: exp(−(s z)²) activations, default init",
                    GaussOptions, gauss.DEFAULT_LR, gauss.resolve, gauss.build),
    "mfn": Method("mfn", "MFN (FourierNet): products of sine filters sin(Ωx + φ) and linear layers",
                  MfnOptions, mfn.DEFAULT_LR, mfn.resolve, mfn.build),
    "bacon": Method("bacon", "BACON: MFN with frozen integer filter frequencies, layer i band-limited to m_0 + … + m_i",
                    BaconOptions, bacon.DEFAULT_LR, bacon.resolve, bacon.build, explain=bacon.explain),
}


def get_method(name: str) -> Method:
    """The registry entry for ``name``; a :class:`SinetuneError` lists the valid names otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise SinetuneError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}") from None


def build_field(method: str, grid_shape: tuple[int, ...], channels: int = 3, options: Any = None, *,
                generator: torch.Generator | None = None, values: np.ndarray | None = None) -> Built:
    """Build any method's field in one call: resolve its options for the grid, then build.

    Args:
        method: a name of :data:`METHODS` (``"tuner"``, ``"siren"``, …).
        grid_shape: samples per axis, slowest first (an image ``(H, W)``, a sound ``(N,)``).
        channels: output values per sample ``C`` (3 for RGB).
        options: the method's options dataclass; ``None`` = its documented defaults.
        generator: every random draw (weights, input frequencies); ``None`` = seed 0.
        values: the ``grid_shape + (C,)`` samples, for the defaults that measure the signal
            (SIREN²'s centroid, the spectrum rules); ``None`` when the options need none.

    Returns:
        :class:`Built`: ``.field`` (an ``nn.Module``, coordinates ``(N, d)`` in [-1, 1] → ``(N, C)``),
        the constraints and penalties training must apply, and the resolved ``.options``.

    Example::

        built = sinetune.build_field("tuner", (256, 256), 3)
        values = built.field(coords)            # (N, 2) in [-1, 1] -> (N, 3)
    """
    entry = get_method(method)
    options = entry.options_type() if options is None else options
    if not isinstance(options, entry.options_type):
        raise SinetuneError(f"options for method {entry.name!r} must be {entry.options_type.__name__}")
    grid_shape = tuple(int(n) for n in grid_shape)
    if values is not None and entry.prepare is not None:
        options = entry.prepare(options, values)
    options = entry.resolve(options, grid_shape)
    built = entry.build(options, grid_shape, channels,
                        generator if generator is not None else torch.Generator().manual_seed(0))
    built.options = options
    return built


__all__ = ["METHODS", "BaconOptions", "Built", "FfnOptions", "FinerOptions", "GaussOptions", "Method", "MfnOptions",
           "Siren2Options", "SirenOptions", "SsnOptions", "TunerOptions", "WireOptions", "build_field", "get_method"]
