"""TUNER (Novello, Aldana et al., CVPR 2025): frozen integer input frequencies + bounded hidden layer.

Faithful to ``tuner-spec.md`` §1–3 with the documented best readings:

* Input layer ``sin(2π K x / p + φ)``: ``K`` from :func:`sinetune.spectral.sample_input_frequencies`
  (``e_1 … e_d``, ~70% dense low half-plane square of radius ``l``, the rest a sparse half-plane
  lattice up to the band-limit ``b``), frozen; phases ``φ ~ U(-π/2, π/2)``, trained.
* ``b`` and ``l`` follow the signal's resolution (:func:`sinetune.spectral.resolution_defaults`), or with
  ``band_rule="spectrum"`` the target's spectrum (:func:`prepare`, issue #4).
* Widths, depth and the band fraction left ``None`` follow the grid (:mod:`sinetune.capacity`, issue #17:
  ``n_0 = √N`` input frequencies, ``n_1 = max(256, n_0)``, one hidden layer); given values always win.
* Hidden sine layer(s) in SIREN convention ``sin(ω_h (W z + b))``; effective weights of the first
  hidden layer ``Ŵ_ij ~ N(0, (0.3 c_j)²)`` with the column bound ``c_j`` of input frequency ``j``.
* Bounds per *column*: ``c_j = c_L`` for ``max|K_j| ≤ limit`` else ``c_H`` (general vectors allowed;
  ``block_edge="upper"`` moves ``max|K_j| = limit`` to ``c_H``, the tech report's convention),
  either clamped after every step or learned as ``Ŵ = c_j tanh(ω_h V)`` with ``λ Σ|c_j|``.
* Named settings: ``TunerOptions()`` is the robust default, :data:`PAPER` the authors' 512² one.
* Linear output layer, SIREN-uniform ``U(±√(6/n)/ω_h)`` weights, PyTorch-default bias.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch

from .. import capacity, selection
from ..constraints import BoundPenalty, ColumnClamp, PositiveBounds
from ..errors import SinetuneError
from ..lattice import check_input_frequencies
from ..models import SineLayer, SinusoidalField, SpectralEncoding, default_linear, uniform_
from ..spectral import (
    block_column_bounds,
    max_input_width,
    nyquist_index,
    resolution_defaults,
    sample_input_frequencies,
)
from ..training import TrainOptions
from .base import Built, check_band_measure, describe_band, measure_band

DEFAULT_LR = 5e-4


@dataclass(frozen=True)
class TunerOptions:
    """TUNER hyper-parameters. ``None`` means "derive from the signal" (resolved before building).

    Attributes:
        input_width: ``n_0``, number of input frequencies (including ``e_1 … e_d``); ``None``: the capacity
            rule (:func:`sinetune.capacity.input_width`, ``√N`` for an image of ``N`` pixels).
        hidden_width: width of every hidden sine layer; ``None``: ``max(256, n_0)`` (:mod:`sinetune.capacity`).
        hidden_layers: number of hidden sine layers (the paper uses 1); ``None``: the capacity rule's 1 at every
            size (:data:`sinetune.capacity.HIDDEN_LAYERS`), or an inverse task's depth recipe
            (:data:`sinetune.tasks.TASK_DEPTH`: three for superres).
        period: ``p``; the field is ``p``-periodic (coordinate units; the domain [-1, 1] has length 2).
        band_limit: ``b``, max ``max|k_i|`` of an input frequency (integer cycles per period).
        low_range: ``l``, radius of the dense low square.
        band_fraction: ``b`` as a fraction of the grid's Nyquist index when ``band_limit`` is None
            (under ``band_rule="spectrum"`` it is what the rule chose); ``None``: 0.2, raised just enough
            for the band to hold ``n_0`` frequencies (:func:`sinetune.capacity.band_fraction`).
        band_rule: how ``band_fraction`` is chosen when ``band_limit`` is None: ``"resolution"``
            keeps the value given (default: the capacity rule's, 0.2 of Nyquist); ``"spectrum"`` derives it from the
            target (:func:`prepare`): ``SPECTRUM_BAND_GAIN · ν`` clipped to
            :data:`SPECTRUM_BAND_RANGE`, with ``ν`` the band (fraction of Nyquist) holding
            ``band_energy`` of the target's energy.
        band_energy: the energy share that defines ``ν`` for the spectrum rule.
        band_psnr: if set, ``ν`` is instead the band whose outside energy costs at most this many dB
            of PSNR (:func:`sinetune.spectral.psnr_energy_share`): the band keyed to the fidelity
            asked for rather than to a fixed share.
        energy_radius: ``ν`` as measured by :func:`prepare` (``None`` until then; recorded in
            ``config.yaml``, so a saved run rebuilds without the signal).
        low_fraction: ``ρ``, share of non-canonical neurons in the low square.
        input_frequencies: explicit ``K`` as a list of integer rows (overrides sampling; must have
            ``input_width`` rows).
        hidden_omega: ``ω_h`` of the hidden layers.
        bound_mode: ``"clamp"`` (fixed bounds), ``"learned"`` (tanh reparametrisation) or ``"none"``.
        block_limits: increasing limits on ``max|K_j|``; ``None`` = ``(low_range,)``.
        block_bounds: bounds on effective weights per block (``len(block_limits) + 1`` values).
        block_edge: the block of a frequency whose ``max|K_j|`` equals a limit
            (:func:`sinetune.spectral.block_column_bounds`). ``"lower"`` (default): blocks
            ``(L_i, L_{i+1}]``, as the authors' code (``utils.create_clamps``) and every sinetune
            benchmark so far; ``"upper"``: blocks ``[L_i, L_{i+1})``, the tech report's definition
            (TR-24-02 §6). The default keeps the code's convention so published numbers stay valid;
            with the default limit ``l`` the two differ on the ring ``max|K_j| = l`` of the low square.
        deep_bound: bound on effective weights of the 2nd+ hidden layers (``None`` = unbounded).
        bound_penalty: ``λ`` of the learned-bound penalty ``λ Σ_j |c_j|``.
        hidden_init: ``"tuner"`` (Gaussian N(0, (0.3 c_j)²) effective) or ``"siren"`` (uniform).
        frequency_check: what to do with a frequency set (given or sampled) whose rows do not
            generate ``Z^d`` — the field would repeat at a sub-period (tuner-spec §7.4,
            :mod:`sinetune.lattice`): ``"repair"`` overwrites the last rows with the missing
            ``e_i`` and warns (the repaired set is what ``config.yaml`` records), ``"strict"``
            refuses it, ``"off"`` keeps it.
        select: ``"validation"``: choose the hidden width, depth and deep bound per signal — fit each of
            ``select_candidates`` for ``select_steps`` steps on 90% of the training samples, score the
            other 10% (never the held-out ones) and fit the best on all of them (:mod:`sinetune.selection`;
            TUNER only, one signal at a time); ``"off"`` (default): the capacity rule alone.
        select_steps: optimizer steps of each candidate's short fit under ``select: validation``.
        select_candidates: the candidates tried, smoothest first (names of
            :data:`sinetune.selection.CANDIDATES`: ``rule``, ``h1024``, ``h2048`` = one hidden layer of
            1024 / 2048, ``l2-db0.15`` = two hidden layers, deep bound 0.15); a later one must win by more
            than 0.1 dB.
        selected: the candidate the search chose (``None`` until then; recorded in ``config.yaml`` with the
            chosen shape, so a saved run rebuilds without searching again).
        select_psnr: the validation PSNR (dB) of each of ``select_candidates``, recorded with ``selected``.
    """

    input_width: int | None = None
    hidden_width: int | None = None
    hidden_layers: int | None = None
    period: float = 2.1
    band_limit: int | None = None
    low_range: int | None = None
    band_fraction: float | None = None
    band_rule: Literal["resolution", "spectrum"] = "resolution"
    band_energy: float = 0.99
    band_psnr: float | None = None
    energy_radius: float | None = None
    low_fraction: float = 0.7
    input_frequencies: tuple[tuple[int, ...], ...] | None = None
    hidden_omega: float = 30.0
    bound_mode: Literal["clamp", "learned", "none"] = "clamp"
    block_limits: tuple[int, ...] | None = None
    block_bounds: tuple[float, ...] = (1.0, 0.4)
    block_edge: Literal["lower", "upper"] = "lower"
    deep_bound: float | None = 1.0
    bound_penalty: float = 1e-6
    hidden_init: Literal["tuner", "siren"] = "tuner"
    frequency_check: Literal["repair", "strict", "off"] = "repair"
    select: Literal["off", "validation"] = "off"
    select_steps: int = 100
    select_candidates: tuple[str, ...] = selection.DEFAULT_CANDIDATES
    selected: str | None = None
    select_psnr: tuple[float, ...] | None = None

    @classmethod
    def preset(cls, name: str) -> TunerOptions:
        """Named settings: ``"robust"`` (= ``TunerOptions()``) or ``"paper"`` (:data:`PAPER`).

        The YAML run config ``sinetune/presets/tuner-paper.yaml`` holds the same options plus
        :data:`PAPER_TRAIN` (``sinetune fit --config sinetune/presets/tuner-paper.yaml``).
        """
        if name not in PRESETS:
            raise SinetuneError(f"unknown TUNER preset {name!r}; choose one of: {', '.join(PRESETS)}")
        return PRESETS[name]


#: The authors' 512² settings (tuner-spec Appendix A, the Kodak "416 input/hidden neurons" nets of
#: the poster's table), next to the robust default ``TunerOptions()``:
#:
#: * widths ``n_0 = n_1 = 416``, one hidden layer, ``ω_h = 30``, period ``p = 2.1`` (the 2024 configs);
#: * band ``b = ⌊0.3175 k_nyq⌋``: ``b = N/6`` at ``p = 2.1`` (``k_nyq = p (N − 1)/4``), i.e. 85 at 512²,
#:   0.317 of Nyquist (the robust default: 0.2); low square ``l = 10`` (the authors' fixed default, not
#:   resolution-derived), ``ρ = 0.7``;
#: * clamped column bounds ``c = (1.0, 0.6)`` with the block limit 10 (HEAD config ``bounds: [[1., .6], 1.]``,
#:   ``block_limits: [10]``; the robust default: ``(1.0, 0.4)`` at the limit ``l``), a limit in the lower
#:   block as in the code; TUNER hidden init ``N(0, (0.3 c_j)²)``.
#:
#: Training (:data:`PAPER_TRAIN`): Adam ``lr = 1e-4``, batches of 65 536 pixels, 1600 steps — the steps
#: of the 400 epochs of the June-2024 416/416 config at 512² with 5% held out (4 batches per epoch).
#: sinetune skips a permutation's partial last batch, so each pixel is seen ≈ 420 times, not 400.
#: Not reproduced: the authors' sampler draws the low square with replacement (duplicates); sinetune's
#: draws distinct frequencies, so at ``n_0 = 416`` the whole low square (218 rows) is used and the
#: remaining 196 rows are high.
PAPER = TunerOptions(input_width=416, hidden_width=416, hidden_layers=1, period=2.1, band_fraction=0.3175,
                     low_range=10, low_fraction=0.7, hidden_omega=30.0, bound_mode="clamp", block_limits=(10,),
                     block_bounds=(1.0, 0.6), block_edge="lower", deep_bound=1.0, hidden_init="tuner")
#: The training settings that go with :data:`PAPER` (see there).
PAPER_TRAIN = TrainOptions(steps=1600, lr=1e-4, batch_size=65536)
#: :meth:`TunerOptions.preset` names.
PRESETS = {"robust": TunerOptions(), "paper": PAPER}

#: ``b = gain · ν · k_nyq`` under the spectrum rule (``ν``: band of ``band_energy`` of the target's energy).
SPECTRUM_BAND_GAIN = 0.5
#: The spectrum rule's ``band_fraction`` stays in this range (fractions of Nyquist).
SPECTRUM_BAND_RANGE = (0.05, 0.2)


def spectrum_band_fraction(radius: float) -> float:
    """The spectrum rule before the input-width floor: ``clip(SPECTRUM_BAND_GAIN · ν, *SPECTRUM_BAND_RANGE)``."""
    low, high = SPECTRUM_BAND_RANGE
    return round(min(max(SPECTRUM_BAND_GAIN * radius, low), high), 6)


def _check_band_rule(options: TunerOptions) -> None:
    """The band-rule options are valid (checked by :func:`prepare` and again by :func:`resolve`)."""
    if options.band_rule not in ("resolution", "spectrum"):
        raise SinetuneError(f"band_rule must be resolution or spectrum, got {options.band_rule!r}")
    check_band_measure(options.band_energy, options.band_psnr)


def fill_capacity(options: TunerOptions, grid_shape: tuple[int, ...]) -> TunerOptions:
    """Replace the widths, depth and band fraction left ``None`` by the grid's
    (:func:`sinetune.capacity.tuner_capacity`).

    Given values win; a given ``input_width`` (or ``input_frequencies``) is what the hidden width then
    follows, and its band is the unraised ``BAND_FRACTION`` (a width the band cannot hold is refused by
    :func:`resolve`, saying why, as before). Idempotent: resolved options come back unchanged.
    """
    if not options.period > 0:
        raise SinetuneError(f"period must be positive, got {options.period}")
    width = options.input_width
    if width is None and options.input_frequencies is not None:
        width = len(options.input_frequencies)
    rule = capacity.tuner_capacity(grid_shape, options.period, width)
    return replace(options, input_width=rule.input_width,
                   hidden_width=rule.hidden_width if options.hidden_width is None else options.hidden_width,
                   hidden_layers=rule.hidden_layers if options.hidden_layers is None else options.hidden_layers,
                   band_fraction=(options.band_fraction if options.band_fraction is not None else
                                  rule.band_fraction if options.input_width is None else capacity.BAND_FRACTION))


def prepare(options: TunerOptions, values: np.ndarray) -> TunerOptions:
    """Under ``band_rule="spectrum"``, measure the target's energy band and choose ``band_fraction``.

    ``ν`` = :func:`~sinetune.methods.base.measure_band` (``band_energy``, or ``band_psnr`` when set);
    ``band_fraction = clip(SPECTRUM_BAND_GAIN · ν, *SPECTRUM_BAND_RANGE)``, raised if needed until the
    band holds ``input_width`` distinct frequencies (the widths left ``None`` are filled from the grid
    first, :func:`fill_capacity`). Nothing happens under the
    resolution rule, with an explicit ``band_limit`` or ``input_frequencies``, or once
    ``energy_radius`` is known (a saved config rebuilds as it was trained).

    Args:
        values: ``grid_shape + (C,)`` samples (any range: ``ν`` is scale-invariant).
    """
    _check_band_rule(options)
    if (options.band_rule != "spectrum" or options.energy_radius is not None or options.band_limit is not None
            or options.input_frequencies is not None):
        return options
    options = fill_capacity(options, tuple(np.shape(values)[:-1]))  # the floor below needs n_0
    radius = measure_band(values, options.band_energy, options.band_psnr)
    fraction = spectrum_band_fraction(radius)
    # never so narrow that the band holds fewer than input_width distinct frequencies
    grid_shape = np.shape(values)[:-1]
    nyquist = nyquist_index(min(grid_shape), options.period)
    narrowest = 1
    while max_input_width(narrowest, len(grid_shape)) < options.input_width and narrowest < nyquist:
        narrowest += 1
    fraction = min(max(fraction, (narrowest + 0.5) / nyquist), 1.0)
    return replace(options, energy_radius=round(radius, 6), band_fraction=round(fraction, 6))


def explain(options: TunerOptions, grid_shape: tuple[int, ...]) -> str:
    """One line on the resolved band: what was chosen and by which rule (printed by ``sinetune fit``)."""
    nyquist = nyquist_index(min(grid_shape), options.period)
    derived = options.band_limit == resolution_defaults(grid_shape, options.period, options.input_width,
                                                         options.band_fraction, options.low_fraction).band_limit
    if options.input_frequencies is not None:
        why = "from the given input_frequencies"
    elif not derived:
        why = "given"
    elif options.band_rule == "spectrum" and options.energy_radius is not None:
        rule = spectrum_band_fraction(options.energy_radius)
        band = describe_band(options.band_energy, options.band_psnr, options.energy_radius)
        why = (f"spectrum rule: {band}; × gain {SPECTRUM_BAND_GAIN:g}, clipped to "
               f"{SPECTRUM_BAND_RANGE[0]:g}–{SPECTRUM_BAND_RANGE[1]:g}: band_fraction {rule:g}"
               + (f", raised to {options.band_fraction:g} to hold {options.input_width} frequencies"
                  if options.band_fraction > rule else ""))
    elif options.band_fraction == capacity.band_fraction(grid_shape, options.period, options.input_width):
        raised = options.band_fraction != capacity.BAND_FRACTION
        why = (f"capacity rule: band_fraction {capacity.BAND_FRACTION:g}"
               + (f", raised to {options.band_fraction:g} to hold {options.input_width} frequencies" if raised else ""))
    else:
        why = f"resolution rule: band_fraction {options.band_fraction:g}"
        if options.band_limit > max(1, math.floor(options.band_fraction * nyquist)):  # d ≥ 3, a short axis
            why += f", raised to hold {options.input_width} frequencies in {len(grid_shape)}-D"
    bounds = ", ".join(f"{bound:g}" for bound in options.block_bounds)
    return (f"{explain_widths(options, grid_shape)}; band-limit b = {options.band_limit} "
            f"({options.band_limit / nyquist:.3f} of Nyquist "
            f"{nyquist:.1f}; {why}), low range l = {options.low_range}, column bounds {bounds} "
            f"(limits {', '.join(map(str, options.block_limits))}, a frequency on a limit in the "
            f"{options.block_edge} block)")


def explain_widths(options: TunerOptions, grid_shape: tuple[int, ...]) -> str:
    """The widths and depth of resolved ``options``, and whether the capacity rule chose them."""
    rule = capacity.tuner_capacity(grid_shape, options.period)
    shape = (f"TUNER {options.input_width} input frequencies, {options.hidden_layers} hidden layer"
             f"{'s' * (options.hidden_layers != 1)} of {options.hidden_width}")
    if options.selected is not None:
        return f"{shape} ({selection.describe(options)})"
    if (options.input_width, options.hidden_width, options.hidden_layers) == (
            rule.input_width, rule.hidden_width, rule.hidden_layers):
        return f"{shape} ({rule.reason()})"
    given = [name for name, value, derived in (
        ("input_width", options.input_width, rule.input_width),
        ("hidden_width", options.hidden_width, capacity.tuner_capacity(grid_shape, options.period,
                                                                       options.input_width).hidden_width),
        ("hidden_layers", options.hidden_layers, rule.hidden_layers)) if value != derived]
    # given, or set by a task's recipe (sinetune.tasks.TASK_DEPTH, which the derived: line names)
    return (f"{shape} ({', '.join(given)} not the capacity rule's: {rule.input_width}/{rule.hidden_width}, "
            f"{rule.hidden_layers} hidden layer{'s' * (rule.hidden_layers != 1)})")


def resolve(options: TunerOptions, grid_shape: tuple[int, ...]) -> TunerOptions:
    """Fill the grid-derived values (the capacity rule's widths, ``band_limit``, ``low_range``,
    ``block_limits``) and validate."""
    dim = len(grid_shape)
    options = fill_capacity(options, grid_shape)
    if options.input_width < dim + 1:
        raise SinetuneError(f"input_width {options.input_width} is too small: TUNER needs at least {dim + 1} "
                            f"input frequencies ({dim} canonical ones and one more)")
    if options.hidden_width < 1 or options.hidden_layers < 1:
        raise SinetuneError("hidden_width and hidden_layers must be positive")
    if not options.period > 0:
        raise SinetuneError(f"period must be positive, got {options.period}")
    if not 0 <= options.low_fraction <= 1:
        raise SinetuneError(f"low_fraction must be in [0, 1], got {options.low_fraction}")
    _check_band_rule(options)
    selection.check(options)
    if not 0 < options.band_fraction <= 1:
        raise SinetuneError(f"band_fraction must be in (0, 1], got {options.band_fraction}")
    if not (options.hidden_omega > 0 and math.isfinite(options.hidden_omega)):
        raise SinetuneError(f"hidden_omega must be a positive number, got {options.hidden_omega}")
    if options.deep_bound is not None and not options.deep_bound > 0:
        raise SinetuneError(f"deep_bound must be positive (or null for none), got {options.deep_bound}")
    if not options.bound_penalty >= 0:
        raise SinetuneError(f"bound_penalty must be non-negative, got {options.bound_penalty}")
    if options.frequency_check not in ("repair", "strict", "off"):
        raise SinetuneError(f"frequency_check must be repair, strict or off, got {options.frequency_check!r}")
    if options.input_frequencies is not None:
        frequencies = np.asarray(options.input_frequencies)
        if frequencies.ndim != 2 or frequencies.shape[1] != dim:
            raise SinetuneError(f"input_frequencies must be a list of {dim}-integer rows")
        if len(frequencies) != options.input_width:
            raise SinetuneError(f"input_width {options.input_width} does not match the "
                                f"{len(frequencies)} input_frequencies given")
        if not (np.abs(frequencies).max(axis=1) > 0).all():
            raise SinetuneError("input_frequencies must not contain the zero vector")
        checked = check_input_frequencies(frequencies, options.frequency_check, "input_frequencies")
        if not np.array_equal(checked, frequencies):
            frequencies = checked
            options = replace(options, input_frequencies=tuple(tuple(int(v) for v in row) for row in checked))
        magnitude = int(np.abs(frequencies).max())
        if options.band_limit is not None and options.band_limit < magnitude:
            raise SinetuneError(f"band_limit {options.band_limit} is below the largest input frequency {magnitude}")
        band_limit = options.band_limit or magnitude
        low_range = options.low_range or max(1, min(band_limit, magnitude) // 2)
    else:
        defaults = resolution_defaults(grid_shape, options.period, options.input_width,
                                       options.band_fraction, options.low_fraction)
        band_limit = options.band_limit if options.band_limit is not None else defaults.band_limit
        low_range = options.low_range if options.low_range is not None else min(defaults.low_range, band_limit)
        if band_limit < 1 or not 1 <= low_range <= band_limit:
            raise SinetuneError(f"need 1 ≤ low_range ≤ band_limit, got low_range={low_range}, band_limit={band_limit}")
        available = max_input_width(band_limit, dim)
        if options.input_width > available:
            raise SinetuneError(
                f"input_width {options.input_width} exceeds the {available} distinct input frequencies below "
                f"band-limit {band_limit} (set by a {'×'.join(map(str, grid_shape))} grid); "
                f"use an input_width ≤ {available}, a larger band_limit, or a larger signal")
    limits = list(options.block_limits) if options.block_limits is not None else [low_range]
    bounds = list(options.block_bounds)
    if any(b <= a for a, b in zip(limits, limits[1:])):
        raise SinetuneError(f"block_limits must be increasing, got {limits}")
    if len(bounds) != len(limits) + 1 or any(not b > 0 for b in bounds):
        raise SinetuneError(f"block_bounds needs {len(limits) + 1} positive values for block_limits {limits}")
    if options.bound_mode not in ("clamp", "learned", "none"):
        raise SinetuneError(f"bound_mode must be clamp, learned or none, got {options.bound_mode!r}")
    if options.block_edge not in ("lower", "upper"):
        raise SinetuneError(f"block_edge must be lower or upper, got {options.block_edge!r}")
    return replace(options, band_limit=int(band_limit), low_range=int(low_range),
                   block_limits=tuple(int(v) for v in limits),
                   block_bounds=tuple(float(v) for v in bounds))


def build(options: TunerOptions, grid_shape: tuple[int, ...], channels: int, generator: torch.Generator) -> Built:
    """Build a TUNER field for a ``grid_shape`` signal with ``channels`` outputs.

    ``options`` must be resolved (:func:`resolve`). All randomness comes from ``generator``: the
    frequency sampling uses a numpy generator seeded from it.
    """
    dim = len(grid_shape)
    if options.input_frequencies is not None:
        frequencies = np.asarray(options.input_frequencies, dtype=np.int64)
    else:
        numpy_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        frequencies = sample_input_frequencies(options.input_width, options.band_limit, options.low_range,
                                               np.random.default_rng(numpy_seed), dim, options.low_fraction)
        # Sampled sets hold e_1 … e_d, so this never fires; it guards future samplers.
        frequencies = check_input_frequencies(frequencies, options.frequency_check, "sampled input frequencies")
    phases = torch.empty(options.input_width)
    uniform_(phases, math.pi / 2, generator)
    encoding = SpectralEncoding(torch.from_numpy(frequencies), options.period, phases)

    column_bounds = torch.from_numpy(
        block_column_bounds(frequencies, tuple(options.block_limits), tuple(options.block_bounds),
                            options.block_edge)).float()
    omega = options.hidden_omega
    hidden: list[SineLayer] = []
    constraints, penalties = [], []
    fan_in = options.input_width
    for index in range(options.hidden_layers):
        first = index == 0
        bounds = column_bounds if first else (
            torch.full((fan_in,), options.deep_bound) if options.deep_bound is not None else None)
        mode = options.bound_mode if (first or bounds is not None) else "none"
        if first and options.hidden_init == "tuner":
            weight = torch.randn(options.hidden_width, fan_in, generator=generator) * (0.3 * column_bounds)
        else:
            weight = torch.empty(options.hidden_width, fan_in)
            uniform_(weight, math.sqrt(6.0 / fan_in), generator)  # effective SIREN init: ω·U(±√(6/n)/ω)
        bias = torch.empty(options.hidden_width)
        uniform_(bias, 1.0 / math.sqrt(fan_in), generator)
        layer = SineLayer(fan_in, options.hidden_width, omega, weight, bias, mode,
                          bounds if mode != "none" else None)
        if mode == "clamp":
            constraints.append(ColumnClamp(layer))
        elif mode == "learned":
            constraints.append(PositiveBounds(layer))
            penalties.append(BoundPenalty(layer, options.bound_penalty))
        hidden.append(layer)
        fan_in = options.hidden_width
    head = default_linear(fan_in, channels, generator)
    uniform_(head.weight, math.sqrt(6.0 / fan_in) / omega, generator)
    return Built(SinusoidalField(encoding, hidden, head), constraints, penalties)
