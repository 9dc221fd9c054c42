"""TUNER's capacity defaults, derived from the sampling grid (issue #17; the rule is explained in docs/defaults.md).

A field that can express more than the samples pin down memorises them: it fits the training pixels and
not the ones in between. The *input* spectrum is what TUNER's capacity grows with — every input frequency
``k_j`` adds the integer combinations ``Σ n_j k_j`` a sine hidden layer makes of it (tuner-spec §1) —
while extra hidden neurons mostly average (probes at 64², docs/defaults.md: widening the hidden layer
*raised* held-out PSNR, more input frequencies or a wider band lowered it by 2–13 dB).
So the rule sizes the input spectrum by the grid and keeps the hidden layer wide:

* ``n_0`` (input frequencies) ``= clip(round(INPUT_PER_SIDE · √N), d + 1, MAX_INPUT_WIDTH)`` with ``N``
  the number of grid points (pixels, not values: the channels share the frequencies) — the geometric
  mean of the sides for an image: 64 at 64², 128 at 128², 256 at 256² (the old fixed default, so
  kodak-256 is unchanged), 512 at 512² (the authors use 416 there); a sound or a volume keeps 256;
* ``n_1`` (hidden width) ``= max(HIDDEN_WIDTH, n_0)`` — 256 up to 256², the input width beyond;
* depth: :data:`HIDDEN_LAYERS` (1) hidden layer at every size — a second one memorises more (issue #17);
* band: ``band_fraction = BAND_FRACTION`` (0.2) of the grid's Nyquist index, raised only as far as
  the band must hold ``n_0`` distinct frequencies (``≤ 1``: the band never passes Nyquist);
* not derived: bounds ``c = (1.0, 0.4)`` (clamped; learned bounds measured no consistent gain), the
  learning rate 5e-4 and 300 steps (:data:`sinetune.methods.tuner.DEFAULT_LR`, ``TrainOptions.steps``)
  stay the same at every size — no size-dependent rule for them was measured in issue #17.

Everything here is a pure function of the grid shape, so a saved ``config.yaml`` (which records the
resolved values) rebuilds the same field without the signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .spectral import max_input_width, nyquist_index, resolution_defaults

#: ``n_0 = INPUT_PER_SIDE · √N``: input frequencies per grid side (geometric mean of the sides).
INPUT_PER_SIDE = 1.0
#: The hidden layer's width floor (``n_1 = max(HIDDEN_WIDTH, n_0)``).
HIDDEN_WIDTH = 256
#: Hidden sine layers at every size.
HIDDEN_LAYERS = 1
#: The band-limit as a share of the grid's Nyquist index, before the raise that makes room for ``n_0``.
BAND_FRACTION = 0.2
#: ``n_0`` of a signal that is not an image (the rule was measured on images; 256 is the old fixed default).
OTHER_INPUT_WIDTH = 256
#: Input frequencies at most (memory: the encoding costs ``2 n_0`` floats per sample).
MAX_INPUT_WIDTH = 1024


@dataclass(frozen=True)
class Capacity:
    """TUNER's grid-derived widths and band (see the module docstring for the formulas).

    Attributes:
        samples: ``N``, grid points (pixels for an image, samples for a sound).
        dim: grid dimension ``d``.
        input_width: ``n_0``.
        hidden_width: ``n_1``.
        hidden_layers: number of hidden sine layers.
        band_fraction: band-limit as a fraction of the Nyquist index (in (0, 1]).
    """

    samples: int
    dim: int
    input_width: int
    hidden_width: int
    hidden_layers: int
    band_fraction: float

    def reason(self) -> str:
        """Why, in one clause (for the ``derived:`` line)."""
        first = (f"n_0 = {INPUT_PER_SIDE:g}·√N → {self.input_width}" if self.dim == 2
                 else f"n_0 = {self.input_width} (the rule is for images)")
        return (f"capacity rule for {self.samples} grid points: {first}, "
                f"n_1 = max({HIDDEN_WIDTH}, n_0) = {self.hidden_width}, {self.hidden_layers} hidden layer"
                f"{'s' * (self.hidden_layers != 1)}")


def grid_samples(grid_shape: tuple[int, ...]) -> int:
    """``N``: the number of grid points of ``grid_shape``."""
    return int(math.prod(int(n) for n in grid_shape))


def input_width(grid_shape: tuple[int, ...], period: float = 2.1) -> int:
    """``n_0 = clip(round(INPUT_PER_SIDE · √N), d + 1, MAX_INPUT_WIDTH)`` for an image, capped by the number of
    distinct half-plane frequencies below Nyquist (a tiny grid cannot hold more). Other dimensions (sound,
    volumes) keep :data:`OTHER_INPUT_WIDTH`: the rule was measured on images only."""
    dim = len(grid_shape)
    if dim != 2:
        width = OTHER_INPUT_WIDTH
    else:
        width = min(max(round(INPUT_PER_SIDE * math.sqrt(grid_samples(grid_shape))), dim + 1), MAX_INPUT_WIDTH)
    nyquist_band = max(1, int(nyquist_index(min(grid_shape), period)))
    return int(min(width, max(max_input_width(nyquist_band, dim), dim + 1)))


def band_fraction(grid_shape: tuple[int, ...], period: float, width: int) -> float:
    """``BAND_FRACTION``, raised to the smallest band whose half-plane holds ``width`` distinct frequencies
    (``(b + 0.5) / k_nyq``), never above 1 (Nyquist)."""
    nyquist = nyquist_index(min(grid_shape), period)
    band = max(1, int(math.floor(BAND_FRACTION * nyquist)))
    while max_input_width(band, len(grid_shape)) < width and band < nyquist:
        band += 1
    fraction = BAND_FRACTION if band == max(1, int(math.floor(BAND_FRACTION * nyquist))) else (band + 0.5) / nyquist
    return round(min(fraction, 1.0), 6)


def held_input_width(grid_shape: tuple[int, ...], width: int, period: float = 2.1,
                     band_fraction: float | None = None) -> int:
    """A *given* ``width``, capped at the distinct input frequencies the unraised band (``band_fraction``,
    default :data:`BAND_FRACTION`) holds on ``grid_shape`` — what a caller that fixes the width (the codec's
    width search, a benchmark's shared width) may pass without being refused (a 32² grid holds 24)."""
    band = resolution_defaults(tuple(grid_shape), period, width, band_fraction or BAND_FRACTION).band_limit
    return int(min(width, max_input_width(band, len(grid_shape))))


def tuner_capacity(grid_shape: tuple[int, ...], period: float = 2.1, width: int | None = None) -> Capacity:
    """TUNER's derived widths and band for ``grid_shape`` (``width``: an input width given by the user,
    which the hidden width and the band then follow)."""
    grid_shape = tuple(int(n) for n in grid_shape)
    n_0 = input_width(grid_shape, period) if width is None else int(width)
    return Capacity(samples=grid_samples(grid_shape), dim=len(grid_shape), input_width=n_0,
                    hidden_width=max(HIDDEN_WIDTH, n_0),
                    hidden_layers=HIDDEN_LAYERS, band_fraction=band_fraction(grid_shape, period, n_0))


__all__ = ["BAND_FRACTION", "HIDDEN_LAYERS", "HIDDEN_WIDTH", "INPUT_PER_SIDE", "MAX_INPUT_WIDTH", "OTHER_INPUT_WIDTH",
           "Capacity", "band_fraction", "grid_samples", "held_input_width", "input_width", "tuner_capacity"]
