"""Amplitude–phase (Bessel) expansion of a trained TUNER field, and ``sinetune analyze`` (tuner-spec §1).

A one-hidden-layer TUNER field is ``y = C h + d`` with hidden neurons

    h_j(x) = sin(Σ_i a_ji sin θ_i + b̂_j),   θ_i = ⟨ω_i, x⟩ + φ_i,   ω_i = 2π K_i / p,

where ``a_j = Ŵ_j`` is the row of *effective* hidden weights (``ω_h W``, or ``c tanh(ω_h V)`` for
learned bounds) and ``b̂_j = ω_h b_j``. Multiplying the Jacobi–Anger series
``e^{i a sin θ} = Σ_n J_n(a) e^{i n θ}`` over the inputs gives (TR Theorem 1)

    h_j(x) = Σ_{k ∈ Z^{n0}} α_k(a_j) sin(⟨k, θ⟩ + b̂_j),   α_k(a) = ∏_i J_{k_i}(a_i),

so neuron ``j`` holds the generated integer frequency ``F = Σ_i k_i K_i`` (cycles per period ``p``)
with phase ``⟨k, φ⟩ + b̂_j``, and ``|α_k(a)| ≤ ∏_i (|a_i|/2)^{|k_i|} / |k_i|!`` (TR Theorem 2).

**Truncation.** ``Z^{n0}`` cannot be enumerated; :func:`bessel_expansion` keeps the multi-indices of
*total order* ``Σ_i |k_i| ≤ B``: ``B = 1`` all single terms ``±e_i``, ``B = 2`` adds pairs
``±e_i ± e_l`` and squares ``±2 e_i``, and so on. There are ``Σ_s 2^s C(n0, s) C(B, s)`` of them
(:func:`count_multi_indices`), e.g. 1 + 1 536 + 391 680 + 22 108 160 for ``n0 = 256`` up to ``B = 3``,
so large networks are analysed at ``B ≤ 2``. The omitted terms are bounded by Theorem 2 and the
reconstruction error is *measured* against the network, never assumed. The RMS error falls with every
order; the max error falls two orders at a time but can rise at an odd order (``k`` and ``−k`` pair
into ``sin b̂_j``/``cos b̂_j`` parts of alternating parity), and slowly when many ``|Ŵ_ij|`` sit at a
bound near 1 (``docs/analysis.md`` has the measured numbers).

**Aggregation.** Terms with equal ``F`` (from any neuron and any ``k``) are summed through the
output layer into the network's Fourier coefficients on the lattice ``Z^d``: a term
``A sin(2π⟨F, x⟩/p + ψ)`` adds ``A e^{iψ}/(2i)`` to ``c_F`` and its conjugate to ``c_{-F}``
(``sin(−u) = −sin(u)``); ``F = 0`` terms (``k = 0``: ``α_0 sin b̂_j``, and combinations such as
``K_1 + K_2 − K_3 = 0``) and the output bias ``d`` form the constant. With ``c_F`` kept for one
representative of each ``±F`` (first non-zero entry positive)::

    y(x) ≈ constant + Σ_F 2 Re(c_F e^{2πi⟨F, x⟩/p})            (Expansion.evaluate)

The same ``c_F`` are what the FFT of the field sampled on ``M^d`` points over one period ``[0, p)^d``
returns (divided by ``M^d``) when ``M`` exceeds twice the largest generated frequency
(:func:`period_fft`); ``tests/test_analysis.py`` checks both identities on a trained field.

:func:`analyze_run` (``sinetune analyze RUN_DIR``) writes ``analysis_spectrum.png``,
``analysis_bounds.png`` and ``analysis.txt``; see ``docs/analysis.md``.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.special import gammaln, jv  # noqa: E402

from .errors import SinetuneError  # noqa: E402
from .metrics import BT709, gray  # noqa: E402
from .models import SineLayer, SinusoidalField, SpectralEncoding  # noqa: E402
from .signals import grid_coordinates  # noqa: E402
from .spectral import nyquist_index  # noqa: E402

ANALYSIS_FILES = ("analysis_spectrum.png", "analysis_bounds.png", "analysis.txt")

#: Default cap on ``(multi-indices per neuron) × (hidden neurons)`` for ``analyze``: ≈ 110 ns each on one CPU
#: core, so ≈ 30 s (n0 = 256: order 2 is 3.4e7 terms, order 3 would be 5.7e9).
MAX_TERMS = 300_000_000
#: Largest render per axis for the period FFT of ``analyze`` (1024² field evaluations).
MAX_FFT_SAMPLES = 1024


# --- amplitudes and the Theorem-2 bound ------------------------------------------------------------

def bessel_amplitudes(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Amplitudes ``α_k(a) = ∏_i J_{k_i}(a_i)`` of the expansion of ``sin(Σ_i a_i sin θ_i + b)``.

    Args:
        a: ``(..., n0)`` effective hidden weights (radians per unit activation).
        k: ``(..., n0)`` integer multi-indices (broadcast against ``a``).

    Returns:
        ``(...)`` float64 amplitudes.
    """
    a, k = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(k))
    return np.prod(jv(k, a), axis=-1)


def theorem2_bound(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """TR Theorem 2: ``|α_k(a)| ≤ ∏_i (|a_i|/2)^{|k_i|} / |k_i|!`` (tuner-spec §1).

    From ``|J_n(x)| ≤ (|x|/2)^{|n|} / |n|!`` for real ``x``. For ``|a_i| ≤ c`` the order-1/2/3 caps
    on multiples of one frequency are ``c/2, (c/2)²/2, (c/2)³/6`` (0.5, 0.125, 0.0208 for ``c = 1``).

    Args:
        a: ``(..., n0)`` effective hidden weights.
        k: ``(..., n0)`` integer multi-indices (broadcast against ``a``).

    Returns:
        ``(...)`` float64 bounds.
    """
    a, k = np.broadcast_arrays(np.abs(np.asarray(a, dtype=np.float64)), np.abs(np.asarray(k)))
    with np.errstate(divide="ignore"):
        log_terms = np.where(k == 0, 0.0, k * np.log(a / 2.0) - gammaln(k + 1.0))
    return np.exp(np.sum(log_terms, axis=-1))


def count_multi_indices(n_inputs: int, order: int) -> int:
    """Number of ``k ∈ Z^{n_inputs}`` with ``Σ|k_i| ≤ order`` (``k = 0`` included): ``Σ_s 2^s C(n, s) C(B, s)``."""
    return sum(2**s * math.comb(n_inputs, s) * math.comb(order, s) for s in range(min(n_inputs, order) + 1))


def _value_patterns(size: int, order: int) -> np.ndarray:
    """All ``v ∈ (Z \\ {0})^size`` with ``Σ|v_i| ≤ order``, as ``(P, size)`` int64."""

    def magnitudes(count: int, budget: int):
        if count == 0:
            yield ()
            return
        for first in range(1, budget - count + 2):
            for rest in magnitudes(count - 1, budget - first):
                yield (first,) + rest

    signs = np.array(list(itertools.product((1, -1), repeat=size)), dtype=np.int64).reshape(-1, size)
    rows = np.array(list(magnitudes(size, order)), dtype=np.int64).reshape(-1, size)
    return (rows[:, None, :] * signs[None, :, :]).reshape(-1, size)


def _multi_index_blocks(n_inputs: int, order: int, block: int):
    """Yield ``(support, values)``: ``(Kb, s)`` input indices and their non-zero ``k_i`` (all ``0 < Σ|k| ≤ order``)."""
    for size in range(1, min(order, n_inputs) + 1):
        patterns = _value_patterns(size, order)
        combos = itertools.combinations(range(n_inputs), size)
        per_block = max(1, block // len(patterns))
        while True:
            chunk = np.fromiter(itertools.chain.from_iterable(itertools.islice(combos, per_block)),
                                dtype=np.int64).reshape(-1, size)
            if not len(chunk):
                break
            yield np.repeat(chunk, len(patterns), axis=0), np.tile(patterns, (len(chunk), 1))


# --- the expansion ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Expansion:
    """A field's truncated Fourier series on the integer lattice (see the module docstring).

    Attributes:
        frequencies: ``(M, d)`` int64 distinct non-zero frequencies ``F`` (cycles per period ``p``), one
            of each ``±F`` (first non-zero entry positive).
        coefficients: ``(M, C)`` complex128 ``c_F``: ``y(x) = constant + Σ_F 2 Re(c_F e^{2πi⟨F, x⟩/p})``.
        constant: ``(C,)`` float64 mean value (``F = 0`` terms plus the output bias).
        period: ``p`` (coordinate units).
        order: ``B``, the truncation ``Σ_i |k_i| ≤ B``.
        terms: multi-indices ``k`` per neuron that were summed (including ``k = 0``).
        bound_ratio: largest ``|α_k(a_j)| / ∏_i (|a_ji|/2)^{|k_i|}/|k_i|!`` over all neurons and kept
            ``k ≠ 0`` (Theorem 2 says ``≤ 1``).
    """

    frequencies: np.ndarray
    coefficients: np.ndarray
    constant: np.ndarray
    period: float
    order: int
    terms: int
    bound_ratio: float

    def evaluate(self, coords: np.ndarray | torch.Tensor, chunk: int = 4096) -> np.ndarray:
        """The truncated series at ``(N, d)`` coordinates → ``(N, C)`` float64 values."""
        x = coords.detach().cpu().double().numpy() if isinstance(coords, torch.Tensor) else np.asarray(coords, float)
        scale = 2 * math.pi / self.period
        out = np.empty((len(x), len(self.constant)))
        for start in range(0, len(x), chunk):
            waves = np.exp(1j * scale * (x[start:start + chunk] @ self.frequencies.T.astype(np.float64)))
            out[start:start + chunk] = self.constant + 2.0 * (waves @ self.coefficients).real
        return out

    def evaluate_grid(self, grid_shape: tuple[int, int], domain: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
        """The series on a regular 2-D grid (the order of :func:`~sinetune.signals.grid_coordinates`).

        Separable: ``y[a, b] = constant + Re(E_y[a] D E_x[b]ᵀ)`` with ``D`` the dense ``(2R+1)²``
        coefficients over ``±F`` and ``E_x[b, f] = e^{2πi f x_b / p}`` — two small matrix products
        instead of ``N × M`` complex exponentials. Returns ``(H·W, C)`` float64.
        """
        if self.frequencies.shape[1] != 2:
            raise ValueError("evaluate_grid needs a 2-D expansion; use evaluate(coords)")
        height, width = grid_shape
        coords = grid_coordinates((height, width), domain).double().numpy()
        xs, ys = coords[:width, 0], coords[::width, 1]
        radius = int(np.abs(self.frequencies).max(initial=0))
        steps = np.arange(-radius, radius + 1)
        scale = 2 * math.pi / self.period
        waves_x, waves_y = np.exp(1j * scale * np.outer(xs, steps)), np.exp(1j * scale * np.outer(ys, steps))
        channels = len(self.constant)
        dense = np.zeros((channels, 2 * radius + 1, 2 * radius + 1), dtype=np.complex128)  # [c, F_y, F_x]
        fx, fy = self.frequencies[:, 0] + radius, self.frequencies[:, 1] + radius
        dense[:, fy, fx] = self.coefficients.T
        dense[:, 2 * radius - fy, 2 * radius - fx] = np.conj(self.coefficients.T)
        values = np.einsum("af,cfg,bg->abc", waves_y, dense, waves_x, optimize=True).real + self.constant
        return values.reshape(height * width, channels)

    def energy(self, weights: np.ndarray | None = None) -> np.ndarray:
        """``(M,)`` energy ``2|c_F|²`` per frequency pair ``±F`` (Parseval) of the channel mix ``weights``.

        ``weights``: ``(C,)`` channel weights (default: BT.709 luma for 3 channels, the mean otherwise).
        """
        mixed = self.coefficients @ channel_weights(self.coefficients.shape[1], weights)
        return 2.0 * np.abs(mixed) ** 2


def channel_weights(channels: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Channel mix used for spectra: ``weights``, else BT.709 luma for RGB, else the mean."""
    if weights is not None:
        return np.asarray(weights, dtype=np.float64)
    if channels == 3:
        return np.asarray(BT709, dtype=np.float64)
    return np.full(channels, 1.0 / channels)


def tuner_parts(field: SinusoidalField) -> dict[str, np.ndarray | float]:
    """The float64 pieces of a one-hidden-layer TUNER field the expansion needs.

    Returns ``{"K": (n0, d) int64, "phases": (n0,), "weight": (H, n0) effective Ŵ, "bias": (H,) b̂ = ω_h b,
    "head_weight": (C, H), "head_bias": (C,), "period": p, "bounds": (n0,) c_j or None}``.

    Raises:
        SinetuneError: for anything but a :class:`SinusoidalField` with a :class:`SpectralEncoding`
            and exactly one hidden :class:`SineLayer` (deeper fields have no closed-form expansion here).
    """
    if not isinstance(field, SinusoidalField) or not isinstance(field.encoding, SpectralEncoding):
        raise SinetuneError("the Bessel expansion needs a TUNER field (integer SpectralEncoding input layer)")
    if len(field.hidden) != 1 or not isinstance(field.hidden[0], SineLayer):
        raise SinetuneError(f"the Bessel expansion supports one hidden sine layer only; this field has "
                            f"{len(field.hidden)} (hidden_layers={len(field.hidden)})")
    layer = field.hidden[0]
    with torch.no_grad():
        bounds = None
        if layer.bound_mode != "none":
            bounds = layer.column_bounds.detach().abs().double().cpu().numpy()
        return {
            "K": field.encoding.input_frequencies.detach().cpu().numpy().astype(np.int64),
            "phases": field.encoding.phases.detach().double().cpu().numpy(),
            "weight": layer.effective_weight().detach().double().cpu().numpy(),
            "bias": layer.omega * layer.bias.detach().double().cpu().numpy(),
            "head_weight": field.head.weight.detach().double().cpu().numpy(),
            "head_bias": field.head.bias.detach().double().cpu().numpy(),
            "period": float(field.encoding.period),
            "bounds": bounds,
        }


def bessel_expansion(field: SinusoidalField, order: int, max_terms: int | None = None) -> Expansion:
    """Expand a one-hidden-layer TUNER field into its Fourier series up to total order ``order``.

    Args:
        field: a TUNER field (``hidden_layers = 1``), any bound mode.
        order: ``B ≥ 0``; every multi-index with ``Σ_i |k_i| ≤ B`` is summed for every neuron.
        max_terms: refuse (``SinetuneError``) when ``count_multi_indices(n0, B) × H`` exceeds this
            (``None``: no limit).

    Returns:
        the aggregated :class:`Expansion` (frequencies in cycles per period, see its docstring).
    """
    if not isinstance(order, int) or order < 0:
        raise SinetuneError(f"the expansion order must be a non-negative integer, got {order!r}")
    parts = tuner_parts(field)
    K, phases, A, bias = parts["K"], parts["phases"], parts["weight"], parts["bias"]
    head_weight, head_bias = parts["head_weight"], parts["head_bias"]
    hidden, n_inputs = A.shape
    dim, channels = K.shape[1], head_weight.shape[0]
    terms = count_multi_indices(n_inputs, order)
    if max_terms is not None and terms * hidden > max_terms:
        raise SinetuneError(f"order {order} needs {terms:,} multi-indices for each of {hidden} neurons "
                            f"({terms * hidden:.2e} > {max_terms:.0e}); choose a lower order")

    tables = _AmplitudeTables(A, order)
    mix = head_weight * np.exp(1j * bias)[None, :]  # (C, H): C_cj e^{i b̂_j}
    constant = head_bias + head_weight @ (tables.alpha0 * np.sin(bias))

    radius = order * int(np.abs(K).max(initial=0))
    base = 2 * radius + 1
    if base**dim >= 2**62:
        raise SinetuneError("generated frequencies too large to index; lower the order")
    keys = np.zeros(0, dtype=np.int64)
    coefficients = np.zeros((0, channels), dtype=np.complex128)
    bound_ratio = 0.0
    block = max(1, 2**21 // max(hidden * order, 1))
    for support, values in _multi_index_blocks(n_inputs, order, block):
        alpha = tables.amplitudes(support, values)  # (Kb, H)
        bound = tables.bounds(support, values)
        positive = bound > 1e-280
        if positive.any():
            bound_ratio = max(bound_ratio, float((np.abs(alpha)[positive] / bound[positive]).max()))
        # through the output layer: z_k = e^{i⟨k,φ⟩} Σ_j C_cj α_jk e^{i b̂_j} / (2i)
        z = (alpha @ mix.T) * (np.exp(1j * (values * phases[support]).sum(-1)) / 2j)[:, None]  # (Kb, C)
        frequency = (values[..., None] * K[support]).sum(1)  # (Kb, d)
        nonzero = frequency != 0
        first = np.argmax(nonzero, axis=1)
        sign = np.sign(frequency[np.arange(len(frequency)), first])
        constant = constant + 2.0 * z[sign == 0].real.sum(0)
        kept = sign != 0
        frequency = frequency[kept] * sign[kept, None]
        z = np.where(sign[kept, None] > 0, z[kept], np.conj(z[kept]))
        chunk_keys = np.ravel_multi_index(tuple((frequency + radius).T), (base,) * dim)
        keys, coefficients = _sum_by_key(np.concatenate([keys, chunk_keys]), np.concatenate([coefficients, z]))
    frequencies = np.stack(np.unravel_index(keys, (base,) * dim), axis=1).astype(np.int64) - radius
    return Expansion(frequencies.reshape(-1, dim), coefficients, np.asarray(constant, dtype=np.float64),
                     parts["period"], order, terms, bound_ratio)


class _AmplitudeTables:
    """``α_k(a_j) = ∏_i J_{k_i}(a_ji)`` for blocks of sparse multi-indices, all neurons at once.

    Tables are laid out ``(order, input, neuron)`` so one gather per block serves every neuron.
    Neurons whose ``J_0(a_ji)`` are all well away from 0 (every ``|a| < 2``) use
    ``α_k = P_0 ∏_{i∈S} J_{k_i}(a_i)/J_0(a_i)`` with ``P_0 = ∏_i J_0(a_i)``; the others (a weight
    near a zero of ``J_0``, ``|a| ≈ 2.405``, or an underflowing ``P_0``) multiply the product of
    ``J_0`` over the inputs outside the support ``S`` from logarithms, counting exact zeros.
    """

    def __init__(self, weight: np.ndarray, order: int):
        self.order = order
        self.bessel = jv(np.arange(-order, order + 1)[:, None, None], weight.T[None])  # (2B+1, n0, H)
        j0 = self.bessel[order]
        zero = np.abs(j0) < np.finfo(np.float64).tiny
        self.log_j0 = np.where(zero, 0.0, np.log(np.where(zero, 1.0, np.abs(j0))))
        self.sign_j0 = np.where(j0 < 0, -1.0, 1.0)
        self.zero = zero
        self.total_log, self.total_sign, self.total_zero = self.log_j0.sum(0), self.sign_j0.prod(0), zero.sum(0)
        self.alpha0 = np.where(self.total_zero > 0, 0.0, self.total_sign * np.exp(self.total_log))  # (H,)
        self.fast = (np.abs(j0).min(axis=0, initial=1.0) > 1e-3) & (self.total_log > -600)
        self.ratio = self.bessel[:, :, self.fast] / j0[None, :, self.fast]
        half = np.abs(weight.T) / 2.0
        self.bound_table = np.stack([half**m / math.factorial(m) for m in range(order + 1)])  # (B+1, n0, H)

    def amplitudes(self, support: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``(Kb, H)`` amplitudes for ``(Kb, s)`` supports and non-zero values."""
        alpha = np.empty((len(support), self.bessel.shape[2]))
        alpha[:, self.fast] = self.alpha0[self.fast] * self.ratio[values + self.order, support].prod(1)
        slow = ~self.fast
        if slow.any():
            in_zero = self.zero[support][..., slow]  # (Kb, s, Hs)
            rest_log = self.total_log[slow] - np.where(in_zero, 0.0, self.log_j0[support][..., slow]).sum(1)
            rest_sign = self.total_sign[slow] * self.sign_j0[support][..., slow].prod(1)
            outside_zero = self.total_zero[slow] - in_zero.sum(1) > 0
            rest = np.where(outside_zero, 0.0, rest_sign * np.exp(rest_log))
            alpha[:, slow] = rest * self.bessel[values + self.order, support][..., slow].prod(1)
        return alpha

    def bounds(self, support: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``(Kb, H)`` Theorem-2 bounds ``∏_{i∈S} (|a_i|/2)^{|k_i|}/|k_i|!``."""
        return self.bound_table[np.abs(values), support].prod(1)


def _sum_by_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the ``(n, C)`` complex ``values`` of equal integer ``keys``; returns sorted unique keys and sums."""
    unique, inverse = np.unique(keys, return_inverse=True)
    summed = np.empty((len(unique), values.shape[1]), dtype=np.complex128)
    for c in range(values.shape[1]):
        summed[:, c] = (np.bincount(inverse, values[:, c].real, len(unique))
                        + 1j * np.bincount(inverse, values[:, c].imag, len(unique)))
    return unique, summed


# --- sampled references ----------------------------------------------------------------------------

def evaluate_double(field: SinusoidalField, coords: torch.Tensor, chunk: int = 65536) -> np.ndarray:
    """The field in float64 on the CPU at ``(N, d)`` coordinates → ``(N, C)`` (the reference for errors)."""
    reference = copy.deepcopy(field).to("cpu").double().eval()
    coords = coords.detach().to("cpu", torch.float64)
    with torch.no_grad():
        return torch.cat([reference(coords[i:i + chunk]) for i in range(0, len(coords), chunk)]).numpy()


def period_fft(field: SinusoidalField, samples: int) -> np.ndarray:
    """Fourier coefficients of a ``p``-periodic field from ``samples^d`` points over one period ``[0, p)^d``.

    Returns ``(samples,)*d + (C,)`` complex: entry ``[F_1 mod M, …, F_d mod M, c]`` is ``c_F`` of
    channel ``c`` (FFT divided by ``M^d``; axis ``i`` is coordinate ``i``, i.e. ``x`` first), exact up
    to aliasing of frequencies above ``M/2``.
    """
    period = float(field.encoding.period)
    dim = field.in_features
    axis = torch.arange(samples, dtype=torch.float64) * (period / samples)
    mesh = torch.meshgrid(*([axis] * dim), indexing="ij")
    coords = torch.stack([m.reshape(-1) for m in mesh], dim=1)
    values = evaluate_double(field, coords).reshape((samples,) * dim + (-1,))
    return np.fft.fftn(values, axes=tuple(range(dim))) / samples**dim


def coefficients_at(spectrum: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """Pick ``(M, C)`` coefficients of :func:`period_fft` output at integer ``(M, d)`` frequencies."""
    size = spectrum.shape[0]
    index = tuple((np.asarray(frequencies) % size).T)
    return spectrum[index]


# --- analyze RUN_DIR ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunAnalysis:
    """What :func:`analyze_run` found (and wrote).

    Attributes:
        paths: file name → path of the three files written.
        order: truncation order ``B``.
        max_errors: max |expansion − network| on the training grid for orders ``1 … B``.
        rms_error: RMS of the same difference at order ``B``.
        fft_mismatch: max |c_F − FFT of the render| over the expansion's frequencies.
        energy_beyond_band: fraction of the (non-constant, luma) energy with ``max|F_i| > b``:
            ``{"expansion", "render", "target"}`` (``target`` absent when the signal is gone).
        energy_beyond_nyquist: same beyond the training grid's Nyquist frequency (per axis).
        saturated: ``(frequency, share of rows)`` of the saturated input frequencies.
        summary: the text of ``analysis.txt``.
    """

    paths: dict[str, Path]
    order: int
    max_errors: tuple[float, ...]
    rms_error: float
    fft_mismatch: float
    energy_beyond_band: dict[str, float]
    energy_beyond_nyquist: dict[str, float]
    saturated: tuple[tuple[tuple[int, ...], float], ...]
    summary: str


def saturated_columns(weight: np.ndarray, bounds: np.ndarray, tolerance: float = 0.01,
                      share: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Input frequencies whose column of ``Ŵ`` sits at its bound (TR §8: a fully used frequency).

    Args:
        weight: ``(H, n0)`` effective hidden weights.
        bounds: ``(n0,)`` column bounds ``c_j``.
        tolerance: ``|Ŵ_ij| ≥ (1 − tolerance) c_j`` counts as saturated.
        share: a column is saturated when more than this fraction of its rows are.

    Returns:
        ``(columns, shares)``: indices of saturated columns and every column's saturated fraction.
    """
    fraction = (np.abs(weight) >= (1.0 - tolerance) * bounds[None, :]).mean(axis=0)
    return np.flatnonzero(fraction > share), fraction


def _signed_fft_frequencies(size: int) -> np.ndarray:
    return np.rint(np.fft.fftfreq(size) * size).astype(np.int64)


def _fraction(energy: np.ndarray, beyond: np.ndarray) -> float:
    total = float(energy.sum())
    return float(energy[beyond].sum()) / total if total > 0 else 0.0


def analyze_run(
    run_dir: str | Path,
    order: int = 2,
    out: str | Path | None = None,
    saturation_share: float = 0.1,
    max_terms: int = MAX_TERMS,
) -> RunAnalysis:
    """Bessel analysis of a saved one-hidden-layer TUNER run; writes three files, never overwrites.

    Writes into ``out`` (default: the run directory):

    * ``analysis_spectrum.png``: luma ``|c_F|`` of the order-``B`` expansion on the integer lattice,
      ``|FFT|`` of the field rendered over one full period, the target's ``|DFT|`` (frequency axes
      rescaled to cycles per period), and the energy per ring ``max|F_i| = r`` of all three.
    * ``analysis_bounds.png``: per input column, Theorem 2's first/second-order caps
      ``max_j |a_ji|/2`` and ``max_j (a_ji/2)²/2`` against the actual ``max_j |α_{e_i}|``,
      ``max_j |α_{2e_i}|``; and the column bounds ``c_j`` (fixed or learned) with ``max_j |Ŵ_ji|``
      against ``max|K_j|``.
    * ``analysis.txt``: reconstruction error per order, the FFT cross-check, the energy beyond the
      band-limit ``b`` and beyond the training grid's Nyquist, saturated input frequencies.

    Args:
        run_dir: a run directory written by ``sinetune fit`` (TUNER, ``hidden_layers = 1``).
        order: truncation ``B`` (``Σ|k_i| ≤ B``); cost grows like ``n0^B``.
        out: output directory (created if missing).
        saturation_share: a column counts as saturated when more than this fraction of its hidden
            rows have ``|Ŵ_ij| ≥ 0.99 c_j``.
        max_terms: refuse orders whose ``multi-indices × neurons`` exceed this.

    Raises:
        SinetuneError: not a run directory, not a one-hidden-layer TUNER field, an output file exists,
            or the order is too expensive.
    """
    from .runs import load_run
    from .signals import load_image

    run_dir = Path(run_dir)
    out_dir = Path(out) if out is not None else run_dir
    if out_dir.exists() and not out_dir.is_dir():
        raise SinetuneError(f"output path exists and is not a directory: {out_dir}")
    paths = {name: out_dir / name for name in ANALYSIS_FILES}
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing:
        raise SinetuneError(f"{existing[0]} already exists; remove it or choose another --out")
    if not isinstance(order, int) or order < 1:
        raise SinetuneError(f"--order must be a positive integer, got {order!r}")
    if not 0 <= saturation_share < 1:
        raise SinetuneError(f"saturation_share must be in [0, 1), got {saturation_share}")
    fitted, config, info = load_run(run_dir)
    if config.method != "tuner":
        raise SinetuneError(f"analyze needs a TUNER run; {run_dir} is a {config.method} run")
    parts = tuner_parts(fitted)
    grid_shape = tuple(info["grid_shape"])
    if len(grid_shape) != 2:
        raise SinetuneError(f"analyze supports images (2-D grids); this run has a {len(grid_shape)}-D grid")
    K, A, period = parts["K"], parts["weight"], parts["period"]
    hidden, n_inputs = A.shape
    if count_multi_indices(n_inputs, order) * hidden > max_terms:
        bessel_expansion(fitted, order, max_terms)  # raises with the counts

    # 1. expansions and their error against the network on the training grid
    coords = grid_coordinates(grid_shape)
    network = evaluate_double(fitted, coords)
    max_errors, expansion, difference = [], None, None
    for b in range(1, order + 1):
        expansion = bessel_expansion(fitted, b, max_terms)
        difference = expansion.evaluate_grid(grid_shape) - network
        max_errors.append(float(np.abs(difference).max()))
    rms_error = float(np.sqrt(np.mean(difference**2)))

    # 2. the render over one full period, FFT; the samples resolve the expansion and the grid's Nyquist
    nyquist = np.array([nyquist_index(n, period) for n in reversed(grid_shape)])  # per coordinate (x, y)
    reach = int(np.abs(expansion.frequencies).max(initial=1))
    samples = int(2 ** math.ceil(math.log2(2 * max(reach, math.ceil(nyquist.max())) + 2)))
    samples = min(samples, MAX_FFT_SAMPLES)
    fft_note = "" if samples > 2 * reach else (f"the {samples}² render FFT does not resolve the expansion's "
                                               f"max |F_i| = {reach}: its numbers include aliasing")
    spectrum = period_fft(fitted, samples)
    fft_mismatch = float(np.abs(coefficients_at(spectrum, expansion.frequencies) - expansion.coefficients).max())
    weights = channel_weights(parts["head_weight"].shape[0])
    render_luma = np.abs(spectrum @ weights) ** 2
    axis = _signed_fft_frequencies(samples)
    fx, fy = np.meshgrid(axis, axis, indexing="ij")  # spectrum axis 0 is x
    render_luma[0, 0] = 0.0
    render_ring = np.maximum(np.abs(fx), np.abs(fy))

    band = int(config.options.band_limit)
    energy = expansion.energy(weights)
    ring = np.abs(expansion.frequencies).max(axis=1)
    beyond_band = {"expansion": _fraction(energy, ring > band), "render": _fraction(render_luma, render_ring > band)}
    beyond_nyquist = {
        "expansion": _fraction(energy, (np.abs(expansion.frequencies) > nyquist).any(axis=1)),
        "render": _fraction(render_luma, (np.abs(fx) > nyquist[0]) | (np.abs(fy) > nyquist[1])),
    }

    # 3. the target, re-loaded from the run config (it may be gone)
    target_note, target_power, target_fx, target_fy = "", None, None, None
    try:
        signal = load_image(config.signal.path, config.signal.size)
        if signal.grid_shape != grid_shape:
            target_note = (f"target {config.signal.path} now loads as {signal.grid_shape}, not {grid_shape}; "
                           f"plotted without it")
        else:
            luma = gray(signal.values).astype(np.float64)
            dft = np.fft.fft2(luma - luma.mean()).T / luma.size  # transpose: axis 0 = x (columns)
            target_power = np.abs(dft) ** 2
            height, width = grid_shape
            target_fx, target_fy = np.meshgrid(np.fft.fftfreq(width) * (period * (width - 1) / 2),
                                               np.fft.fftfreq(height) * (period * (height - 1) / 2), indexing="ij")
            target_ring = np.maximum(np.abs(target_fx), np.abs(target_fy))
            beyond_band["target"] = _fraction(target_power, target_ring > band)
    except SinetuneError as error:
        target_note = f"target not available ({error}); plotted without it"

    # 4. columns: saturation and the Theorem-2 caps
    bounds = parts["bounds"]
    saturated: tuple[tuple[tuple[int, ...], float], ...] = ()
    if bounds is not None:
        columns, shares = saturated_columns(A, bounds, share=saturation_share)
        saturated = tuple((tuple(int(v) for v in K[i]), float(shares[i])) for i in columns)

    out_dir.mkdir(parents=True, exist_ok=True)
    _save_spectrum_figure(paths["analysis_spectrum.png"], expansion, weights, spectrum @ weights, band, nyquist,
                          target_power, target_fx, target_fy, target_note)
    _save_bounds_figure(paths["analysis_bounds.png"], parts, config.options.bound_mode)

    notes = [note for note in (fft_note, target_note) if note]
    summary = _summary(run_dir, config, info, parts, expansion, max_errors, rms_error, fft_mismatch, samples,
                       band, nyquist, beyond_band, beyond_nyquist, saturated, saturation_share, notes)
    paths["analysis.txt"].write_text(summary)
    return RunAnalysis(paths=paths, order=order, max_errors=tuple(max_errors), rms_error=rms_error,
                       fft_mismatch=fft_mismatch, energy_beyond_band=beyond_band,
                       energy_beyond_nyquist=beyond_nyquist, saturated=saturated, summary=summary)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.3g}%"


def _summary(run_dir, config, info, parts, expansion, max_errors, rms_error, fft_mismatch, samples, band, nyquist,
             beyond_band, beyond_nyquist, saturated, saturation_share, notes) -> str:
    hidden, n_inputs = parts["weight"].shape
    shape = "×".join(map(str, info["grid_shape"]))
    by_order = ", ".join(f"B={b}: {e:.3g}" for b, e in enumerate(max_errors, start=1))
    lines = [
        f"sinetune analyze {run_dir}",
        f"field: TUNER, {shape} grid, {info['channels']} channel(s), n0 = {n_inputs} input frequencies, "
        f"{hidden} hidden neurons, period p = {parts['period']:g}, bound_mode = {config.options.bound_mode}",
        f"truncation order B = {expansion.order} (all k with Σ|k_i| ≤ {expansion.order}): "
        f"{expansion.terms:,} multi-indices per neuron, {len(expansion.frequencies):,} distinct generated "
        f"frequencies ±F (max |F_i| = {int(np.abs(expansion.frequencies).max(initial=0))})",
        f"reconstruction error of the expansion vs the network on the training grid: max {max_errors[-1]:.3g}, "
        f"RMS {rms_error:.3g} (max by order: {by_order})",
        f"FFT check: max |c_F − FFT(render)| = {fft_mismatch:.3g} ({samples}×{samples} samples over one period)",
        f"Theorem 2: max |α_k| / ∏(|a_i|/2)^|k_i|/|k_i|! = {expansion.bound_ratio:.6f} over all neurons and kept k "
        f"({'holds' if expansion.bound_ratio <= 1 + 1e-9 else 'VIOLATED'})",
        f"band-limit b = {band}; training-grid Nyquist k_nyq = {nyquist[0]:.4g} (x), {nyquist[1]:.4g} (y) "
        f"(integer cycles per period)",
        f"energy (luma, non-constant) beyond b (max|F_i| > {band}): expansion {_percent(beyond_band['expansion'])}, "
        f"render FFT {_percent(beyond_band['render'])}, target {_percent(beyond_band.get('target'))}",
        f"energy beyond Nyquist: expansion {_percent(beyond_nyquist['expansion'])}, "
        f"render FFT {_percent(beyond_nyquist['render'])}",
    ]
    if parts["bounds"] is None:
        lines.append("saturation: no column bounds (bound_mode none)")
    else:
        listed = "; ".join(f"{k} in {100 * s:.0f}% of rows" for k, s in saturated) or "none"
        lines.append(f"saturated input frequencies (|Ŵ_ij| ≥ 0.99 c_j in > {100 * saturation_share:.0f}% of rows): "
                     f"{len(saturated)} of {n_inputs}: {listed}")
    lines += [f"note: {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _lattice_image(frequencies: np.ndarray, values: np.ndarray, radius: int) -> np.ndarray:
    """``(2r+1, 2r+1)`` image (rows: F_y from −r, columns: F_x from −r) of ``values`` at ``±F``."""
    image = np.zeros((2 * radius + 1, 2 * radius + 1))
    inside = (np.abs(frequencies) <= radius).all(axis=1)
    for f, v in zip(frequencies[inside], values[inside]):
        image[f[1] + radius, f[0] + radius] = v
        image[-f[1] + radius, -f[0] + radius] = v
    return image


def _ring_energy(rings: np.ndarray, energy: np.ndarray, radius: int) -> np.ndarray:
    rings = np.rint(rings).astype(np.int64).reshape(-1)
    inside = rings <= radius
    return np.bincount(rings[inside], energy.reshape(-1)[inside], radius + 1)


def _save_spectrum_figure(path, expansion, weights, render_mix, band, nyquist, target_power, target_fx,
                          target_fy, target_note) -> None:
    samples = render_mix.shape[0]
    reach = int(np.abs(expansion.frequencies).max(initial=1))
    radius = min(max(reach, band) + 2, samples // 2 - 1)
    generated = np.abs(expansion.coefficients @ weights)
    axis = _signed_fft_frequencies(samples)
    fx, fy = np.meshgrid(axis, axis, indexing="ij")
    render_abs = np.abs(render_mix)
    render_abs[0, 0] = 0.0
    window = (np.abs(fx) <= radius) & (np.abs(fy) <= radius)
    render_image = np.zeros((2 * radius + 1, 2 * radius + 1))
    render_image[fy[window] + radius, fx[window] + radius] = render_abs[window]
    peak = max(float(generated.max(initial=0)), float(render_abs.max()), 1e-12)
    style = dict(cmap="magma", vmin=np.log10(peak) - 6, vmax=np.log10(peak), origin="lower",
                 extent=(-radius - 0.5, radius + 0.5, -radius - 0.5, radius + 0.5))

    def log_image(image):
        return np.log10(np.maximum(image, peak * 1e-7))

    figure, axes = plt.subplots(2, 2, figsize=(11, 10), dpi=100)
    panels = [(axes[0, 0], _lattice_image(expansion.frequencies, generated, radius),
               f"expansion (order {expansion.order}): log10 |c_F|"),
              (axes[0, 1], render_image, f"FFT of the render over one period ({samples}²)")]
    for axis_, image, title in panels:
        shown = axis_.imshow(log_image(image), **style)
        axis_.set_title(title, fontsize=10)
    axis_ = axes[1, 0]
    if target_power is not None:
        target_abs = np.sqrt(target_power)
        order_x, order_y = np.argsort(target_fx[:, 0]), np.argsort(target_fy[0, :])
        image = target_abs[np.ix_(order_x, order_y)].T
        axis_.imshow(log_image(image), cmap="magma", vmin=style["vmin"], vmax=style["vmax"], origin="lower",
                     extent=(target_fx.min(), target_fx.max(), target_fy.min(), target_fy.max()))
        axis_.set_xlim(-radius - 0.5, radius + 0.5)
        axis_.set_ylim(-radius - 0.5, radius + 0.5)
        axis_.set_title("target: log10 |DFT| / (H·W) of the mean-free gray image\n"
                        "(not periodic: edge leakage on the axes)", fontsize=10)
    else:
        axis_.text(0.5, 0.5, target_note or "target not available", ha="center", va="center", wrap=True,
                   transform=axis_.transAxes, fontsize=9)
        axis_.set_title("target", fontsize=10)
    for axis_ in (axes[0, 0], axes[0, 1], axes[1, 0]):
        for (size_x, size_y), colour in (((band, band), "cyan"), (tuple(nyquist), "white")):
            if max(size_x, size_y) <= radius:
                axis_.add_patch(plt.Rectangle((-size_x, -size_y), 2 * size_x, 2 * size_y, fill=False, ec=colour,
                                              ls="--", lw=0.8))
        axis_.set_xlabel("F_x (cycles per period)")
        axis_.set_ylabel("F_y")
    figure.colorbar(shown, ax=[axes[0, 0], axes[0, 1]], fraction=0.025, label="log10 magnitude")

    axis_ = axes[1, 1]
    ring_radius = int(max(radius, math.ceil(nyquist.max())))
    ring_radius = min(ring_radius, samples // 2)
    curves = [("expansion", _ring_energy(np.abs(expansion.frequencies).max(axis=1), expansion.energy(weights),
                                         ring_radius)),
              ("render FFT", _ring_energy(np.maximum(np.abs(fx), np.abs(fy)), render_abs**2, ring_radius))]
    if target_power is not None:
        curves.append(("target", _ring_energy(np.maximum(np.abs(target_fx), np.abs(target_fy)), target_power,
                                              ring_radius)))
    for label, values in curves:
        rings = np.arange(len(values))[1:]
        axis_.semilogy(rings, np.maximum(values[1:], 1e-16), label=label, lw=1)
    axis_.axvline(band, color="c", ls="--", lw=0.8, label="band-limit b")
    axis_.axvline(nyquist.min(), color="k", ls=":", lw=0.8, label="Nyquist (training grid)")
    axis_.set_xlabel("ring max|F_i| (cycles per period)")
    axis_.set_ylabel("energy (luma, non-constant)")
    axis_.legend(fontsize=8)
    axis_.grid(alpha=0.3)
    figure.savefig(path)
    plt.close(figure)


def _save_bounds_figure(path, parts, bound_mode: str) -> None:
    K, A, bounds = parts["K"], parts["weight"], parts["bounds"]
    j0 = jv(0, A)
    before = np.concatenate([np.ones((A.shape[0], 1)), np.cumprod(j0, axis=1)[:, :-1]], axis=1)
    after = np.concatenate([np.cumprod(j0[:, ::-1], axis=1)[:, ::-1][:, 1:], np.ones((A.shape[0], 1))], axis=1)
    others = before * after  # ∏_{l≠i} J_0(a_jl), (H, n0)
    first = np.abs(jv(1, A) * others).max(axis=0)
    second = np.abs(jv(2, A) * others).max(axis=0)
    magnitude = np.abs(K).max(axis=1)
    order = np.lexsort((np.arange(len(K)), magnitude))
    columns = np.arange(len(K))

    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), dpi=100)
    left.semilogy(columns, (np.abs(A).max(axis=0) / 2)[order], "C0-", lw=1, label="bound max_j |a_ji|/2 (order 1)")
    left.semilogy(columns, np.maximum(first[order], 1e-16), "C0.", ms=4, label="actual max_j |α_{e_i}|")
    left.semilogy(columns, ((np.abs(A).max(axis=0) / 2) ** 2 / 2)[order], "C1-", lw=1,
                  label="bound max_j (a_ji/2)²/2 (order 2)")
    left.semilogy(columns, np.maximum(second[order], 1e-16), "C1.", ms=4, label="actual max_j |α_{2e_i}|")
    left.set_xlabel("input column, sorted by max|K_i|")
    if len(K) <= 24:
        left.set_xticks(columns, [str(tuple(int(v) for v in K[i])) for i in order], rotation=90, fontsize=7)
    left.set_ylabel("amplitude")
    left.set_title("Theorem 2 per column (first and second order)", fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3)

    right.plot(magnitude, np.abs(A).max(axis=0), "C2.", ms=5, label="max_j |Ŵ_ji| (actual)")
    if bounds is not None:
        kind = "learned" if bound_mode == "learned" else "fixed"
        right.plot(magnitude, bounds, "C3x", ms=5, label=f"column bound c_j ({kind})")
    right.axhline(2.0, color="k", ls=":", lw=0.8, label="2 (Bessel zeros beyond)")
    right.set_xlabel("max|K_j| (cycles per period)")
    right.set_ylabel("effective weight (radians)")
    right.set_title(f"column bounds vs input frequency (bound_mode {bound_mode})", fontsize=10)
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


__all__ = ["Expansion", "RunAnalysis", "analyze_run", "bessel_amplitudes", "bessel_expansion",
           "coefficients_at", "count_multi_indices", "period_fft", "saturated_columns", "theorem2_bound"]
