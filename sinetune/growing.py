"""Growing a TUNER dictionary: start from a few Fourier atoms and add the ones the residual asks for
(tech report TR-24-02 §8, tuner-spec §7.5).

TUNER's input layer is a dictionary of Fourier atoms ``sin(2π ⟨k, x⟩ / p + φ)`` with integer ``k``. A
grown field starts with ``e_1 … e_d`` and the half-plane square ``max|k| ≤ start_radius`` (the "low
block"), and alternates:

1. train ``round_steps`` (``e_rec``) steps (:func:`sinetune.training.train`, TUNER's bounds applied);
2. stop if the held-out PSNR (the training PSNR without held-out samples) reached ``target_psnr`` or
   the dictionary has ``max_input_width`` atoms;
3. add ``add_per_round`` (``n_add``) atoms: the integer frequencies, not yet in the dictionary, where
   the *residual* on the training samples has the most energy — ``Σ_c |R̂_c(k)|²`` with
   ``R̂_c(k) = Σ_x r_c(x) e^{-2πi ⟨k, x⟩ / p}`` evaluated exactly at the integer frequencies of the
   field's period (a non-uniform DFT, :func:`residual_energy`), at most ``band_limit``; within one
   round no two picks are neighbours (``max|k − k'| ≤ 1``: one peak, one atom, its leakage waits for
   the next residual). The new columns of ``A`` start at zero (the function is unchanged; they get
   gradient at once), with the column bound of their block and a phase ``U(−π/2, π/2)``;

then ``final_steps`` more steps. The report ranks *blocks* by the saturation of their weights and
draws new atoms at random inside the chosen band; the residual's spectrum names the atoms themselves
(matching pursuit, which the report likens column pruning to) — the criterion here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from .errors import SinetuneError
from .methods import build_field
from .methods import tuner as tuner_method
from .methods.tuner import TunerOptions
from .progress import Progress, as_progress
from .signals import Signal
from .spectral import block_column_bounds, canonical_half_plane, half_plane_points
from .structure import add_input_frequencies
from .training import TrainOptions, predict, train


@dataclass(frozen=True)
class GrowOptions:
    """How :func:`grow_field` grows the dictionary (report names in brackets).

    Attributes:
        start_radius: the initial atoms are ``e_1 … e_d`` and every half-plane ``k`` with
            ``max|k_i| ≤ start_radius`` (1: 4 atoms in 2-D, 2: 12).
        add_per_round: ``n_add``, atoms added per round.
        max_input_width: the size target: stop growing at this many atoms (``n_0``).
        target_psnr: the quality target in dB: stop growing once it is reached; ``None``: grow to
            ``max_input_width``.
        round_steps: ``e_rec``, training steps between additions.
        final_steps: training steps after the last addition.
        band_limit: candidates have ``max|k_i| ≤ band_limit``; ``None``: the TUNER options' band-limit
            for the grid (:func:`sinetune.methods.tuner.resolve` at ``max_input_width``).
        train: the options of every training phase (``steps`` ignored: the phases above set them).
    """

    start_radius: int = 1
    add_per_round: int = 8
    max_input_width: int = 128
    target_psnr: float | None = None
    round_steps: int = 50
    final_steps: int = 200
    band_limit: int | None = None
    train: TrainOptions = field(default_factory=lambda: TrainOptions(batch_size="full", log_every=50))

    def validate(self) -> None:
        """One-line :class:`SinetuneError` for an invalid option."""
        if self.start_radius < 1 or self.add_per_round < 1 or self.round_steps < 1 or self.final_steps < 0:
            raise SinetuneError("start_radius, add_per_round and round_steps must be positive, final_steps ≥ 0")
        if self.band_limit is not None and self.band_limit < self.start_radius:
            raise SinetuneError(f"band_limit {self.band_limit} is below start_radius {self.start_radius}")
        if self.target_psnr is not None and not math.isfinite(self.target_psnr):
            raise SinetuneError(f"target_psnr must be a number of dB (or null), got {self.target_psnr}")
        replace(self.train, steps=1).validate()


def initial_frequencies(radius: int, dim: int = 2) -> np.ndarray:
    """``e_1 … e_d`` then the other half-plane ``k`` with ``max|k_i| ≤ radius``: ``(m, d)`` int64."""
    canonical = np.eye(dim, dtype=np.int64)
    rest = [p for p in half_plane_points(radius, dim) if np.abs(p).sum() != 1 or np.abs(p).max() != 1]
    return np.concatenate([canonical, np.asarray(rest, dtype=np.int64).reshape(-1, dim)])


def residual_energy(residual: np.ndarray, frequencies: np.ndarray, period: float) -> np.ndarray:
    """``Σ_c |Σ_x r_c(x) e^{-2πi ⟨k, x⟩ / p}|²`` for every row ``k`` of ``frequencies``.

    Args:
        residual: ``grid_shape + (C,)`` on the grid ``linspace(-1, 1, n)`` per axis (1-D or 2-D; in
            2-D ``k = (k_x, k_y)`` with ``x`` along columns, as the coordinates of :mod:`sinetune.signals`).
        frequencies: ``(M, d)`` integers (cycles per period ``p``).

    Returns:
        ``(M,)`` energies (float64). Separable: one ``(K, n)`` exponential per axis, contracted one axis at a time.
    """
    frequencies = np.asarray(frequencies, dtype=np.int64)
    dim = residual.ndim - 1
    if dim not in (1, 2) or frequencies.shape[1] != dim:
        raise SinetuneError("residual energy is defined for 1-D and 2-D signals")
    bound = int(np.abs(frequencies).max()) if len(frequencies) else 0
    ks = np.arange(-bound, bound + 1)

    def exponentials(samples: int) -> np.ndarray:
        positions = np.linspace(-1.0, 1.0, samples)
        return np.exp(-2j * math.pi / period * np.outer(ks, positions))  # (K, n)

    values = residual.astype(np.float64)
    if dim == 1:
        spectrum = np.einsum("kn,nc->kc", exponentials(values.shape[0]), values)  # (K, C)
        energy = (np.abs(spectrum) ** 2).sum(axis=-1)
        return energy[frequencies[:, 0] + bound]
    ey, ex = exponentials(values.shape[0]), exponentials(values.shape[1])
    # two contractions, one axis each: O(K n² C) rather than the K² n² C of one five-index einsum
    rows = np.tensordot(ey, values, axes=(1, 0))  # (K_y, W, C)
    spectrum = np.einsum("awc,bw->abc", rows, ex)  # (K_y, K_x, C)
    energy = (np.abs(spectrum) ** 2).sum(axis=-1)
    return energy[frequencies[:, 1] + bound, frequencies[:, 0] + bound]


def pick_frequencies(residual: np.ndarray, present: np.ndarray, band_limit: int, count: int,
                     period: float) -> np.ndarray:
    """The ``count`` half-plane integer frequencies (``max|k_i| ≤ band_limit``, not ``±`` a row of
    ``present``) with the most residual energy, no two neighbours: ``(≤ count, d)`` int64."""
    dim = residual.ndim - 1
    candidates = half_plane_points(band_limit, dim)
    known = {tuple(row) for row in canonical_half_plane(present)} if len(present) else set()
    candidates = np.asarray([c for c in candidates if tuple(c) not in known], dtype=np.int64).reshape(-1, dim)
    if not len(candidates):
        return candidates
    energy = residual_energy(residual, candidates, period)
    picks: list[np.ndarray] = []
    for index in np.argsort(-energy, kind="stable"):
        k = candidates[index]
        if any(min(np.abs(k - p).max(), np.abs(k + p).max()) <= 1 for p in picks):
            continue
        picks.append(k)
        if len(picks) == count:
            break
    return np.asarray(picks, dtype=np.int64).reshape(-1, dim)


def spectrum_dictionary(values: np.ndarray, count: int, band_limit: int, period: float,
                        start_radius: int = 1) -> np.ndarray:
    """A dictionary of ``count`` atoms picked from a signal's own spectrum: growing's criterion
    (:func:`pick_frequencies`) applied once, to the signal less its mean, before any fit.

    Args:
        values: ``grid_shape + (C,)`` samples (1-D or 2-D, on :func:`residual_energy`'s grid).
        count: ``n_0``, atoms in all (at least the start's).
        band_limit: candidates have ``max|k_i| ≤ band_limit``.
        period: the field's period ``p``.
        start_radius: the atoms every dictionary starts with (:func:`initial_frequencies`).

    Returns:
        ``(≤ count, d)`` int64: ``e_1 … e_d``, the low block, then the strongest non-neighbouring
        frequencies of ``values``, strongest first.
    """
    dim = values.ndim - 1
    start = initial_frequencies(start_radius, dim)
    if count < len(start):
        raise SinetuneError(f"a spectrum dictionary starts with {len(start)} atoms; {count} asked")
    centred = values - values.reshape(-1, values.shape[-1]).mean(axis=0)
    picks = pick_frequencies(centred, start, max(band_limit, start_radius), count - len(start), period)
    return np.concatenate([start, picks])


@dataclass
class GrowResult:
    """What :func:`grow_field` returns.

    Attributes:
        field: the grown TUNER field; constraints / penalties: its training constraints and penalties.
        options: TUNER options that describe it (``input_frequencies`` = the final dictionary): building
            them gives a field of the same shape (a fixed dictionary of the same atoms).
        input_frequencies: ``(n_0, d)`` final atoms; added: the atoms added in each round.
        rounds: per round ``{"round", "input_atoms", "steps", "train_psnr", "heldout_psnr"}`` after its
            training.
        history: every logged training row, ``step`` counted over the whole growth; steps: in all.
    """

    field: nn.Module
    constraints: list
    penalties: list
    options: TunerOptions
    input_frequencies: np.ndarray
    added: list[np.ndarray] = field(default_factory=list)
    rounds: list[dict[str, float]] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0


def grow_field(
    signal: Signal,
    options: GrowOptions,
    tuner: TunerOptions | None = None,
    *,
    mask: np.ndarray | None = None,
    lr: float | None = None,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
    progress: bool | Progress = False,
) -> GrowResult:
    """Fit a TUNER field to ``signal`` while growing its dictionary from a few atoms (module docstring).

    Args:
        signal: an image (2-D) or a sound (1-D).
        options: see :class:`GrowOptions`.
        tuner: the TUNER options of everything but the atoms (widths, period, bounds; ``None`` =
            defaults); resolved for the grid at ``max_input_width`` atoms, so block limits and bounds
            are those a fixed dictionary of that size gets.
        mask: boolean ``(N,)`` over the flattened samples, ``True`` = held out (scored, never fitted
            nor used to choose atoms); ``None``: nothing held out.
        lr: Adam learning rate (``None``: ``options.train.lr``, else TUNER's default).
        generator: weights, phases of new atoms, mini-batches; ``None`` = seed 0.
        device: where the field is trained.
    """
    options.validate()
    if signal.dim not in (1, 2):
        raise SinetuneError("growing supports images and sounds (1-D and 2-D signals)")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    report = as_progress(progress)
    start = initial_frequencies(options.start_radius, signal.dim)
    if len(start) > options.max_input_width:
        raise SinetuneError(f"start_radius {options.start_radius} already gives {len(start)} atoms, more than "
                            f"max_input_width {options.max_input_width}")
    tuner = tuner or TunerOptions()
    sized = tuner_method.resolve(replace(tuner, input_width=options.max_input_width, input_frequencies=None,
                                         band_limit=tuner.band_limit or options.band_limit), signal.grid_shape)
    band_limit = options.band_limit if options.band_limit is not None else sized.band_limit
    first = replace(sized, input_width=len(start), input_frequencies=tuple(map(tuple, start.tolist())),
                    band_limit=max(band_limit, options.start_radius))
    built = build_field("tuner", signal.grid_shape, signal.channels, first, generator=generator)
    fitted = built.field.to(device)
    constraints, penalties = built.constraints, built.penalties
    lr = lr or options.train.lr or tuner_method.DEFAULT_LR
    held = np.zeros(int(np.prod(signal.grid_shape)), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    coords, values = signal.coords(), signal.flat_values()
    keep = torch.from_numpy(~held)
    heldout = (coords[~keep], values[~keep]) if held.any() else None
    result = GrowResult(fitted, constraints, penalties, first, start)

    def phase(steps: int) -> dict[str, float]:
        trained = train(fitted, coords[keep], values[keep], replace(options.train, steps=steps, keep_best=False), lr,
                        constraints, penalties, heldout=heldout, generator=generator, progress=report)
        result.history += [{**row, "step": row["step"] + result.steps} for row in trained.history]
        result.steps += len(trained.step_seconds)
        return trained.history[-1]

    while True:
        last = phase(options.round_steps)
        width = fitted.encoding.out_features
        result.rounds.append({"round": len(result.rounds) + 1, "input_atoms": width, "steps": result.steps,
                              "train_psnr": last["train_psnr"], "heldout_psnr": last["heldout_psnr"]})
        score = last["heldout_psnr"] if heldout is not None else last["train_psnr"]
        if (options.target_psnr is not None and score >= options.target_psnr) or width >= options.max_input_width:
            break
        prediction = predict(fitted, coords, options.train.eval_chunk).cpu().numpy()
        residual = (values.numpy() - prediction) * (~held)[:, None]
        present = fitted.encoding.input_frequencies.cpu().numpy()
        new = pick_frequencies(residual.reshape(signal.values.shape), present, band_limit,
                               min(options.add_per_round, options.max_input_width - width), sized.period)
        if not len(new):
            break
        phases = torch.empty(len(new)).uniform_(-math.pi / 2, math.pi / 2, generator=generator)
        bounds = torch.from_numpy(block_column_bounds(new, sized.block_limits, sized.block_bounds, sized.block_edge))
        add_input_frequencies(fitted, torch.from_numpy(new), phases, bounds.float())
        result.added.append(new)
        report.note(f"grow round {len(result.rounds)}: {score:.2f} dB with {width} atoms; added "
                    + ", ".join(str(tuple(int(v) for v in k)) for k in new))
    if options.final_steps:
        last = phase(options.final_steps)
        result.rounds.append({"round": len(result.rounds) + 1, "input_atoms": fitted.encoding.out_features,
                              "steps": result.steps, "train_psnr": last["train_psnr"],
                              "heldout_psnr": last["heldout_psnr"]})
    final = fitted.encoding.input_frequencies.cpu().numpy()
    result.input_frequencies = final
    result.options = replace(first, input_width=len(final), input_frequencies=tuple(map(tuple, final.tolist())),
                             band_limit=max(band_limit, int(np.abs(final).max())))
    return result


__all__ = ["GrowOptions", "GrowResult", "grow_field", "initial_frequencies", "pick_frequencies", "residual_energy",
           "spectrum_dictionary"]
