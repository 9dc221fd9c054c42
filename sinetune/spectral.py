"""Integer input frequencies, band-limits and spectra (tuner-spec.md §2, §5).

Units used throughout:

* An input frequency is an integer vector ``k`` (cycles per period ``p``). Its angular frequency is
  ``2π k / p`` radians per unit coordinate, and the field it generates is ``p``-periodic.
* A signal sampled with ``N`` points on ``[-1, 1]`` (endpoints included) has spacing ``2 / (N - 1)``,
  so its Nyquist frequency in these integer units is ``k_nyq = p (N - 1) / 4``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np


def nyquist_index(samples: int, period: float) -> float:
    """Nyquist frequency of ``samples`` points on [-1, 1], in integer cycles per ``period``.

    A sinusoid ``sin(2π k x / p)`` makes ``2 k / p`` cycles over the domain of length 2; the grid
    resolves at most ``(samples - 1) / 2`` of them, hence ``k_nyq = p (samples - 1) / 4``.
    """
    return period * (samples - 1) / 4.0


@dataclass(frozen=True)
class BandDefaults:
    """Resolution-derived TUNER frequency ranges (integer units, see module docstring).

    Attributes:
        band_limit: ``b``, the largest ``max(|k_x|, |k_y|)`` of a sparse high input frequency.
        low_range: ``l``, half-width of the dense low square ``[0, l] × [-l, l]``.
        nyquist: ``k_nyq`` of the coarsest axis, for reference.
    """

    band_limit: int
    low_range: int
    nyquist: float


def half_plane_count(radius: int, dim: int = 2) -> int:
    """Number of half-plane integer vectors ``k ≠ 0`` with ``max|k_i| ≤ radius`` (one of ±k each)."""
    return ((2 * radius + 1) ** dim - 1) // 2


def resolution_defaults(
    grid_shape: tuple[int, ...],
    period: float,
    input_width: int,
    band_fraction: float = 0.2,
    low_fraction: float = 0.7,
) -> BandDefaults:
    """Derive TUNER's band-limit ``b`` and low range ``l`` from the sampling grid.

    Rule (documented in docs/methods.md, tested in ``tests/test_spectral.py``):

    * ``b = max(1, floor(band_fraction · k_nyq))`` with ``k_nyq = p (N - 1) / 4`` and ``N`` the
      smallest grid side. The authors' 512² settings sit at ≈ 0.3 of Nyquist (b = 85 at p = 2.1,
      b ≈ 156 at p = 4); sinetune defaults to 0.2, so that second-order sums of two high input
      frequencies (up to 2b) stay well below Nyquist. On Kodak at 256² this kept the held-out PSNR
      and gained 1–2 dB of gradient PSNR over 0.3 (BENCHMARKS.md, "Choosing the defaults").
    * ``l`` is the smallest radius whose half-plane square holds the ``low_fraction`` share of the
      input neurons (so the low block is dense), capped at ``b // 2`` so low frequencies stay low.
    * In ``d ≥ 3`` a short axis (a clip's 16 frames) can make ``b`` so small that the band holds fewer
      than ``input_width`` distinct frequencies (``(2b + 1)^d`` grows fast, but from ``b = 1``): there
      ``b`` is raised to the narrowest band that holds them, at most ``k_nyq`` (as the spectrum rule
      does in any ``d``). ``d ≤ 2`` keeps the plain rule (a too-wide ``input_width`` is an error there).
    """
    if period <= 0:
        raise ValueError(f"period must be positive, got {period}")
    if not 0 < band_fraction <= 1:
        raise ValueError(f"band_fraction must be in (0, 1], got {band_fraction}")
    dim = len(grid_shape)
    nyq = nyquist_index(min(grid_shape), period)
    band_limit = max(1, int(math.floor(band_fraction * nyq)))
    if dim >= 3:
        while half_plane_count(band_limit, dim) < input_width and band_limit + 1 <= nyq:
            band_limit += 1
    n_low = round(low_fraction * max(input_width - dim, 0))
    low_range = 1
    while half_plane_count(low_range, dim) - dim < n_low and low_range < band_limit:
        low_range += 1
    low_range = max(1, min(low_range, band_limit // 2 if band_limit >= 2 else 1))
    return BandDefaults(band_limit=band_limit, low_range=low_range, nyquist=nyq)


def half_plane_points(radius: int, dim: int = 2, step: int = 1) -> np.ndarray:
    """All integer vectors on the lattice ``step·Z^dim`` with ``0 < max|k_i| ≤ radius`` in a half-space.

    The half-space keeps ``k`` whose first non-zero coordinate is positive, so exactly one of ``k``
    and ``-k`` is present (they give the same sinusoid up to phase). Returns ``(M, dim)`` int64, in
    lexicographic order.
    """
    axis = np.arange(-(radius // step) * step, radius + 1, step, dtype=np.int64)
    grids = np.meshgrid(*([axis] * dim), indexing="ij")
    points = np.stack([g.reshape(-1) for g in grids], axis=1)
    nonzero = points != 0
    has_any = nonzero.any(axis=1)
    first = np.argmax(nonzero, axis=1)
    sign_first = points[np.arange(len(points)), first]
    return points[has_any & (sign_first > 0)]


def canonical_half_plane(frequencies: np.ndarray) -> np.ndarray:
    """Flip each row ``k`` to the representative of ``±k`` whose first non-zero entry is positive."""
    k = np.asarray(frequencies, dtype=np.int64).copy()
    nonzero = k != 0
    first = np.argmax(nonzero, axis=1)
    sign = np.sign(k[np.arange(len(k)), first])
    sign[sign == 0] = 1
    return k * sign[:, None]


def sample_input_frequencies(
    count: int,
    band_limit: int,
    low_range: int,
    rng: np.random.Generator,
    dim: int = 2,
    low_fraction: float = 0.7,
) -> np.ndarray:
    """TUNER spectral-sampling initialisation: dense low plus sparse high integer frequencies.

    Clean re-implementation of tuner-spec.md §2 ("recommended"): the canonical vectors
    ``e_1 … e_d`` first; then ``round(low_fraction · (count - d))`` distinct draws from the
    half-plane square ``max|k| ≤ low_range``; then the remaining neurons as distinct draws from a
    regular half-plane lattice of spacing ``s`` inside ``max|k| ≤ band_limit`` and outside the low
    square, with ``s`` the largest spacing that offers enough points. No duplicates, deterministic
    given ``rng``.

    Args:
        count: number of input neurons ``n_0`` (rows of the result), including ``e_1 … e_d``.
        band_limit: ``b``, bound on ``max|k_i|`` of every frequency.
        low_range: ``l``, half-width of the dense low square (``l ≤ b``).
        rng: numpy generator; the only source of randomness.
        dim: input dimension ``d``.
        low_fraction: share ``ρ`` of the non-canonical neurons drawn from the low square.

    Returns:
        ``(count, dim)`` int64 array ``K``, half-plane, unique rows, ``max|K| ≤ band_limit``.

    Raises:
        ValueError: if ``count`` is smaller than ``dim + 1`` or larger than the number of distinct
            half-plane frequencies inside the band (see :func:`max_input_width`).
    """
    if count < dim + 1:
        raise ValueError(f"input width {count} is too small: it needs at least {dim + 1} neurons "
                         f"({dim} canonical frequencies and one more)")
    if low_range < 1 or band_limit < low_range:
        raise ValueError(f"need 1 ≤ low_range ≤ band_limit, got low_range={low_range}, band_limit={band_limit}")
    available = half_plane_count(band_limit, dim)
    if count > available:
        raise ValueError(f"input width {count} exceeds the {available} distinct half-plane frequencies "
                         f"with max|k| ≤ {band_limit}; use a width ≤ {available} or a larger band-limit")
    canonical = np.eye(dim, dtype=np.int64)
    chosen = {tuple(row) for row in canonical}

    low_candidates = [p for p in map(tuple, half_plane_points(low_range, dim)) if p not in chosen]
    n_low = min(round(low_fraction * (count - dim)), len(low_candidates))
    low_pick = rng.choice(len(low_candidates), size=n_low, replace=False)
    low = np.array([low_candidates[i] for i in np.sort(low_pick)], dtype=np.int64).reshape(-1, dim)
    chosen.update(map(tuple, low))

    n_high = count - dim - n_low
    high = np.zeros((0, dim), dtype=np.int64)
    if n_high > 0:
        step = max(1, int(band_limit * (2.0 / n_high) ** (1.0 / dim)) + 1)
        while True:
            lattice = half_plane_points(band_limit, dim, step)
            outside_low = np.abs(lattice).max(axis=1) > low_range
            candidates = [p for p in map(tuple, lattice[outside_low]) if p not in chosen]
            if len(candidates) >= n_high or step == 1:
                break
            step -= 1
        if len(candidates) < n_high:  # only possible at step 1: fill from the low square leftovers
            candidates += [p for p in map(tuple, half_plane_points(low_range, dim))
                           if p not in chosen and p not in set(candidates)]
        high_pick = rng.choice(len(candidates), size=n_high, replace=False)
        high = np.array([candidates[i] for i in np.sort(high_pick)], dtype=np.int64)
    return np.concatenate([canonical, low, high], axis=0)


def max_input_width(band_limit: int, dim: int = 2) -> int:
    """Largest input width whose frequencies can all be distinct inside the band."""
    return half_plane_count(band_limit, dim)


def block_column_bounds(
    frequencies: np.ndarray,
    limits: tuple[int, ...],
    bounds: tuple[float, ...],
    edge: Literal["lower", "upper"] = "lower",
) -> np.ndarray:
    """Per-column bounds ``c_j`` from frequency blocks (tuner-spec.md §3a, §7.1).

    Column ``j`` gets ``bounds[i]`` with ``i`` its block index, from ``m_j = max_i |K_j,i|``:

    * ``edge="lower"``: ``i`` = the number of ``limits`` strictly below ``m_j``, so a frequency
      *equal* to a limit belongs to the lower block (blocks ``(L_i, L_{i+1}]``) — the authors' code
      (``utils.create_clamps``). With one limit ``L``: ``c_j = c_L`` if ``m_j ≤ L`` else ``c_H``.
    * ``edge="upper"``: ``i`` = the number of ``limits`` at or below ``m_j``, so a frequency equal to
      a limit belongs to the upper block (blocks ``[L_i, L_{i+1})``) — the tech report's definition
      (TR-24-02 §6, "block bounding": ``max(|ω_j^1|, |ω_j^2|) ∈ [L_i, L_{i+1})``). With one limit:
      ``c_j = c_L`` if ``m_j < L`` else ``c_H``.

    The two differ only for columns with ``m_j`` exactly on a limit.

    Args:
        frequencies: ``(n_0, d)`` integer input frequencies.
        limits: increasing block limits in integer units.
        bounds: ``len(limits) + 1`` bounds on the effective weights (radians per unit activation).
        edge: which block a frequency on a limit belongs to (see above).

    Returns:
        ``(n_0,)`` float array of bounds.
    """
    if len(bounds) != len(limits) + 1:
        raise ValueError(f"need len(bounds) == len(limits) + 1, got {len(bounds)} bounds for {len(limits)} limits")
    if any(b <= 0 for b in bounds):
        raise ValueError(f"bounds must be positive, got {bounds}")
    if list(limits) != sorted(limits):
        raise ValueError(f"limits must be increasing, got {limits}")
    if edge not in ("lower", "upper"):
        raise ValueError(f"edge must be 'lower' or 'upper', got {edge!r}")
    magnitude = np.abs(np.asarray(frequencies)).max(axis=1)
    block = np.searchsorted(np.asarray(limits), magnitude, side="left" if edge == "lower" else "right")
    return np.asarray(bounds, dtype=np.float64)[block]


def log_magnitude_spectrum(gray: np.ndarray) -> np.ndarray:
    """Centred ``log(1 + |FFT|)`` of a 2-D array, min–max normalised to [0, 1] (tuner-spec §5)."""
    spectrum = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(gray))))
    low, high = spectrum.min(), spectrum.max()
    return (spectrum - low) / (high - low) if high > low else np.zeros_like(spectrum)


def spectral_centroid(values: np.ndarray, mode: Literal["flattened", "rowwise"] = "flattened") -> float:
    """SIREN²'s spectral centroid ``SC`` of a sampled signal (peers-spec §2, "Spectral centroid").

    Per channel ``c``: the magnitude spectrum ``|X_c(f)| = |rFFT(x_c)|`` at the bins
    ``f = rfftfreq(n, d=1)`` (cycles per sample, in [0, 0.5]) and its centroid
    ``Σ_f f |X_c(f)| / Σ_f |X_c(f)|`` (0 for an all-zero channel; the DC bin counts, no mean is
    removed). The result is ``SC = 2 · mean_c(centroid_c) / C``: the factor 2 puts Nyquist at 1, and
    the division by the channel count ``C`` is the released code's (SIREN²'s ``ζ = SC / C`` divides
    once more).

    Args:
        values: ``grid_shape + (C,)`` array (audio ``(N, C)``, images ``(H, W, C)``), in the value
            range the centroid is meant for (the released scripts use [-1, 1]; the DC bin depends on it).
        mode: ``"flattened"`` — one rFFT per channel over the row-major flattened samples (what the
            released ``learn_images.py`` computes, since it passes the ``(H·W, C)`` pixel array);
            ``"rowwise"`` — the code's multi-dimensional branch: rFFT along the last grid axis (image
            rows), one centroid per line, mean over lines. Identical for 1-D signals.

    Returns:
        ``SC``, dimensionless (1 = Nyquist of the sampled axis, before the ``/ C``).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim < 2:
        raise ValueError("values must be grid_shape + (C,)")
    if mode not in ("flattened", "rowwise"):
        raise ValueError(f"mode must be 'flattened' or 'rowwise', got {mode!r}")
    channels = values.shape[-1]
    lines = values.reshape(-1, channels) if mode == "flattened" else values
    axis = 0 if mode == "flattened" else lines.ndim - 2  # the sampled axis: last grid axis for rowwise
    magnitude = np.abs(np.fft.rfft(lines, axis=axis))
    shape = [1] * magnitude.ndim
    shape[axis] = magnitude.shape[axis]
    frequencies = np.fft.rfftfreq(lines.shape[axis], d=1.0).reshape(shape)
    total = magnitude.sum(axis=axis)
    weighted = (frequencies * magnitude).sum(axis=axis)
    centroid = np.divide(weighted, total, out=np.zeros_like(total), where=total > 0)
    per_channel = centroid.reshape(-1, channels).mean(axis=0)
    return float(2.0 * per_channel.mean() / channels)


def psnr_energy_share(values: np.ndarray, psnr_db: float, data_range: float) -> float:
    """The share of a signal's energy a band must hold for the energy outside it to cost at most ``psnr_db``.

    A fit that reproduces exactly the part of the target inside a band errs by the part outside it: with a
    share ``f`` of the mean-removed energy inside, the error is ``MSE = (1 − f) σ²`` (``σ²`` the variance
    per value, channels pooled). PSNR ``P`` with data range ``R`` (as :func:`sinetune.metrics.psnr`)
    allows ``MSE ≤ R² 10^(−P/10)``, so ``f = 1 − R² 10^(−P/10) / σ²``. This keys the band to the
    fidelity asked for: 99% of the energy is a 30 dB yardstick for a typical image, a 60–70 dB audio fit
    needs 99.99% or more.

    Args:
        values: ``grid_shape + (C,)`` samples.
        psnr_db: the target PSNR in dB.
        data_range: the PSNR's data range (1 for images in [0, 1], 2 for audio in [-1, 1]).

    Returns:
        ``f`` in [0, 1): 0 when the signal's whole variance is within the error budget.
    """
    if not (math.isfinite(psnr_db) and data_range > 0):
        raise ValueError(f"psnr_db must be finite and data_range positive, got {psnr_db}, {data_range}")
    values = np.asarray(values, dtype=np.float64)
    grid_axes = tuple(range(values.ndim - 1))
    variance = float(np.mean((values - values.mean(axis=grid_axes)) ** 2))  # per-channel means removed
    if variance <= 0:
        return 0.0
    return max(0.0, 1.0 - data_range ** 2 * 10.0 ** (-psnr_db / 10.0) / variance)


def windowed_power(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The power spectrum :func:`energy_radius` and :func:`noise_floor_radius` measure.

    The per-channel mean is removed and a separable Hann window applied (so the jump between
    opposite borders, the FFT's periodic extension, does not pose as broadband energy); the power
    ``|FFT|²`` is summed over channels.

    Args:
        values: ``grid_shape + (C,)`` samples.

    Returns:
        ``(power, nu, window_energy)``: ``power`` and ``nu`` both ``grid_shape``; ``nu`` is each bin's
        frequency in the max-norm as a fraction of Nyquist (``max_i |ν_i|``, 1 at Nyquist);
        ``window_energy = Σ w²`` over the grid, so white noise of variance ``σ²`` has expected power
        ``C σ² Σ w²`` in every bin.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim < 2:
        raise ValueError("values must be grid_shape + (C,)")
    grid_shape = values.shape[:-1]
    axes = tuple(range(len(grid_shape)))
    centred = values - values.mean(axis=axes)
    normalised = np.zeros(grid_shape)
    window_energy = 1.0
    for axis, size in enumerate(grid_shape):
        shape = [1] * values.ndim
        shape[axis] = size
        window = np.hanning(size)
        window_energy *= float(np.sum(window ** 2))
        centred = centred * window.reshape(shape)
        axis_frequency = np.abs(np.fft.fftfreq(size)) * 2.0  # cycles per sample / 0.5
        normalised = np.maximum(normalised, axis_frequency.reshape(shape[:-1]))
    power = (np.abs(np.fft.fftn(centred, axes=axes)) ** 2).sum(axis=-1)
    return power, normalised, window_energy


def energy_radius(values: np.ndarray, energy_fraction: float) -> float:
    """The smallest band ``max_i |ν_i| ≤ ν`` that holds ``energy_fraction`` of a signal's spectral energy.

    ``ν`` is the frequency as a fraction of the grid's Nyquist frequency on each axis (``ν = 1`` at
    Nyquist), measured in the max-norm because TUNER's band-limit bounds ``max_i |k_i|``; in TUNER's
    integer units the band is ``ν · k_nyq`` (:func:`nyquist_index`). The energy is that of the signal
    with its per-channel mean removed and a separable Hann window applied, summed over channels
    (:func:`windowed_power`): the window keeps the jump between opposite borders (the FFT's periodic
    extension) from posing as broadband energy; without it a smooth image would appear to need
    frequencies up to Nyquist.

    Args:
        values: ``grid_shape + (C,)`` samples (any value range; the result is scale-invariant).
        energy_fraction: in [0, 1] (0 gives 0).

    Returns:
        ``ν`` in [0, 1]; 0 for a constant signal.
    """
    if not 0 <= energy_fraction <= 1:
        raise ValueError(f"energy_fraction must be in [0, 1], got {energy_fraction}")
    power, normalised, _ = windowed_power(values)
    power = power.ravel()
    total = power.sum()
    if total <= 0 or energy_fraction == 0:
        return 0.0
    order = np.argsort(normalised.ravel(), kind="stable")
    cumulative = np.cumsum(power[order]) / total
    index = min(int(np.searchsorted(cumulative, energy_fraction * (1 - 1e-12))), len(order) - 1)
    return float(normalised.ravel()[order][index])


def noise_floor_radius(values: np.ndarray, sigma: float, snr: float = 1.0) -> float:
    """Where a noisy signal's spectrum sinks to its white-noise floor: the band beyond which the
    frequencies are mostly noise.

    The windowed power (:func:`windowed_power`) is averaged over max-norm rings, one per integer
    frequency index of the shortest axis (``ν = r / ⌊n/2⌋``); white Gaussian noise of standard
    deviation ``σ`` adds the floor ``F = C σ² Σ w²`` to every bin. The radius is the first ring whose
    mean power is at most ``(1 + snr) · F`` — its signal power (the excess over the floor) is at most
    ``snr`` times the noise there (``snr = 1``: where a Wiener filter's gain falls to ½). More noise
    raises the floor, so the radius shrinks.

    Args:
        values: ``grid_shape + (C,)`` noisy samples, in the units of ``sigma``.
        sigma: the noise's standard deviation (e.g. :func:`sinetune.corruptions.estimate_noise_sigma`), > 0.
        snr: the signal-to-noise power ratio that marks the floor, > 0.

    Returns:
        ``ν`` in (0, 1] (fraction of Nyquist); 1 when no ring reaches the floor.
    """
    if not (sigma > 0 and math.isfinite(sigma)) or not (snr > 0 and math.isfinite(snr)):
        raise ValueError(f"sigma and snr must be positive, got {sigma}, {snr}")
    power, normalised, window_energy = windowed_power(values)
    half = min(np.shape(values)[:-1]) // 2
    if half < 1:
        return 1.0
    floor = np.shape(values)[-1] * sigma ** 2 * window_energy
    ring = np.rint(normalised * half).astype(int).ravel()
    sums = np.bincount(ring, weights=power.ravel(), minlength=half + 1)
    counts = np.bincount(ring, minlength=half + 1)
    for index in range(1, half + 1):
        if counts[index] and sums[index] / counts[index] <= (1.0 + snr) * floor:
            return index / half
    return 1.0
