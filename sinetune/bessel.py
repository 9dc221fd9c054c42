"""Amplitude–phase (Bessel) expansion of a trained TUNER field into its Fourier series (tuner-spec §1).

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

The report built on it is :func:`sinetune.analysis.analyze_run` (``sinetune analyze RUN_DIR``; see
``docs/analysis.md``); its figures are in :mod:`sinetune.analysis_figures`.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import gammaln, jv

from .errors import SinetuneError
from .metrics import BT709
from .models import SineLayer, SinusoidalField, SpectralEncoding
from .signals import grid_coordinates

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


def signed_fft_frequencies(size: int) -> np.ndarray:
    """``(size,)`` int64 signed integer frequencies of an FFT axis of length ``size`` (``0, 1, …, −1``)."""
    return np.rint(np.fft.fftfreq(size) * size).astype(np.int64)


__all__ = ["Expansion", "bessel_amplitudes", "bessel_expansion", "channel_weights", "coefficients_at",
           "count_multi_indices", "evaluate_double", "period_fft", "signed_fft_frequencies", "theorem2_bound",
           "tuner_parts"]
