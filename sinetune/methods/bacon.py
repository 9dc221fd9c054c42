"""BACON, band-limited coordinate networks (Lindell, Van Veen, Park, Wetzstein, CVPR 2022; peers-spec §4.6).

A multiplicative filter network (:class:`~sinetune.models.MultiplicativeFilterField`, built by
:func:`sinetune.methods.mfn.filter_network`) whose sine filters have *fixed integer* frequencies:

    z_0 = g_0(x),   z_i = g_i(x) ⊙ (W_i z_{i-1} + b_i)  (i = 1 … L),   y = W_out z_L + b_out,
    g_i(x) = sin(2π K_i x / p + φ_i),   K_i ∈ {−m_i, …, m_i}^{H×d} uniform, frozen;   φ_i ~ U(−π, π), trained.

A product of two sines holds the sums and differences of their frequencies and a linear layer
mixes features without making new ones, so ``z_i`` holds only integer frequencies (cycles per
period ``p``) with ``|k_a| ≤ M_i = m_0 + … + m_i`` on every axis ``a``: **layer i is band-limited
to M_i** by construction, whatever the training does. The filters are
:class:`~sinetune.models.SpectralEncoding` s (frozen ``K``, trained phases).

Units. The released code quantises filter frequencies to multiples of 2π on coordinates in
[−0.5, 0.5] sampled without the end point, so its grid of ``res`` samples is exactly one period of
the field. sinetune's grid of ``N`` samples on [−1, 1] has spacing ``2 / (N − 1)``; the same
arrangement (``N`` samples = one period) is ``p = 2N / (N − 1)``, the default ``period`` (``N`` the
smallest grid side; a longer axis then has a period slightly longer than its samples, never a
forced wrap). The code's per-layer scale ``B_i = round(π f s_i / 2π) · 2π`` rad per unit is
``m_i = round(f s_i / 2)`` cycles per period here, with ``f`` = ``max_freq`` (the "network-equivalent
sample rate", samples per period; BACON issue #3) and ``s_i`` = ``input_scales[i]``; ``Σ s_i = 1``
puts the last band limit at ``M_L ≈ f / 2``, the Nyquist frequency of ``f`` samples per period.

Defaults are the released code's: ``H = 256``, ``L = 4``, ``f`` = the grid's samples per period
(``res``), equal scales ``1/(L+1)`` (``modules.BACON``), hidden and output weights
``U(±√(6/H))``, biases PyTorch's default, Adam lr 5e-3 (image config). The image config's
*multiscale* schedule is ``input_scales: [0.125, 0.125, 0.25, 0.25, 0.25]`` (band limits f/16, f/8,
f/4, 3f/8, f/2). Not built: Multiscale BACON's extra output heads (after layers 1, 2 and 4, trained
on the mean of their MSEs) — sinetune's training loop fits one output, the last layer's; its
band-limited intermediate features are the ``z_i`` above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from ..errors import SinetuneError
from ..models import SpectralEncoding, uniform_
from ..spectral import nyquist_index
from .base import Built
from .mfn import check_filter_shape, filter_network

DEFAULT_LR = 5e-3
#: ``U(±√(WEIGHT_SCALE / H))`` for the hidden and output weights (the code's ``mfn_weights_init``).
WEIGHT_SCALE = 6.0


@dataclass(frozen=True)
class BaconOptions:
    """BACON hyper-parameters (the released code's; ``None`` = derived from the grid by :func:`resolve`).

    Attributes:
        input_width: width of the filters; must equal ``hidden_width`` (element-wise products).
        hidden_width: ``H``, width of the linear layers.
        hidden_layers: ``L``, number of linear layers (``L + 1`` filters).
        max_freq: ``f``, the network-equivalent sample rate in samples per period: the last layer's
            band limit is ``≈ f / 2`` cycles per period. ``None``: the grid's own samples per period,
            ``p (N − 1) / 2`` (= ``N`` at the default period, like the script's ``res``).
        input_scales: ``s_0 … s_L``, each filter's share of ``f``: ``m_i = round(f s_i / 2)``.
            ``None``: ``1 / (L + 1)`` each. The image config's multiscale schedule: ``[0.125, 0.125,
            0.25, 0.25, 0.25]``.
        period: ``p`` in coordinate units; ``None``: ``2N / (N − 1)``, so the ``N`` samples of the
            smallest axis are one period (the code's unit interval without its end point).
    """

    input_width: int = 256
    hidden_width: int = 256
    hidden_layers: int = 4
    max_freq: float | None = None
    input_scales: tuple[float, ...] | None = None
    period: float | None = None


def filter_limits(options: BaconOptions) -> list[int]:
    """``m_i = round(f s_i / 2)``: each filter's largest integer frequency per axis (cycles per period)."""
    return [int(round(options.max_freq * scale / 2)) for scale in options.input_scales]


def band_limits(options: BaconOptions) -> list[int]:
    """``M_i = m_0 + … + m_i``: the band limit of layer ``i``'s features ``z_i`` (cycles per period, per axis)."""
    limits, total = [], 0
    for limit in filter_limits(options):
        total += limit
        limits.append(total)
    return limits


def _positive(value: float | None, name: str) -> None:
    if value is not None and not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
        raise SinetuneError(f"{name} must be a positive number (or null), got {value!r}")


def resolve(options: BaconOptions, grid_shape: tuple[int, ...]) -> BaconOptions:
    """Validate; fill ``period``, ``max_freq`` and ``input_scales`` from the grid when ``None``."""
    check_filter_shape(options)
    _positive(options.period, "period")
    _positive(options.max_freq, "max_freq")
    samples = min(grid_shape)
    if samples < 2:
        raise SinetuneError(f"BACON needs at least 2 samples per axis, got a {'×'.join(map(str, grid_shape))} grid")
    period = options.period if options.period is not None else 2.0 * samples / (samples - 1)
    max_freq = options.max_freq if options.max_freq is not None else 2.0 * nyquist_index(samples, period)
    scales = options.input_scales
    if scales is None:
        scales = (1.0 / (options.hidden_layers + 1),) * (options.hidden_layers + 1)
    if len(scales) != options.hidden_layers + 1:
        raise SinetuneError(f"input_scales needs hidden_layers + 1 = {options.hidden_layers + 1} values (one per "
                            f"filter), got {len(scales)}; null gives equal scales")
    for scale in scales:
        _positive(scale, "every input_scales value")
    resolved = replace(options, period=float(period), max_freq=float(max_freq),
                       input_scales=tuple(float(s) for s in scales))
    empty = [i for i, m in enumerate(filter_limits(resolved)) if m < 1]
    if empty:
        raise SinetuneError(f"filter(s) {empty} of BACON get no frequency: max_freq · input_scales / 2 rounds to 0 "
                            f"(max_freq {max_freq:g}); use a larger max_freq or larger scales")
    return resolved


def explain(options: BaconOptions, grid_shape: tuple[int, ...]) -> str:
    """One line on the band: filter limits, per-layer band limits and the grid's Nyquist."""
    nyquist = nyquist_index(min(grid_shape), options.period)
    limits = band_limits(options)
    above = f"; the last is above it by {limits[-1] - nyquist:.1f}" if limits[-1] > nyquist else ""
    return (f"BACON period p = {options.period:.6g}, max_freq f = {options.max_freq:g} samples per period; filter "
            f"frequencies up to {', '.join(map(str, filter_limits(options)))}; layer band limits "
            f"{', '.join(map(str, limits))} cycles per period (grid Nyquist {nyquist:.1f}{above})")


def build(options: BaconOptions, grid_shape: tuple[int, ...], channels: int, generator: torch.Generator) -> Built:
    """Build a BACON field; ``options`` must be resolved, randomness from ``generator``."""
    dim, width = len(grid_shape), options.hidden_width
    filters = []
    for limit in filter_limits(options):
        frequencies = torch.randint(-limit, limit + 1, (width, dim), generator=generator)
        phases = uniform_(torch.empty(width), math.pi, generator)
        filters.append(SpectralEncoding(frequencies, options.period, phases))
    return Built(filter_network(filters, width, WEIGHT_SCALE, channels, generator, head_scale=WEIGHT_SCALE))
