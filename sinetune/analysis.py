"""``sinetune analyze RUN_DIR``: the Bessel report on a saved one-hidden-layer TUNER image run.

The mathematics (the amplitude–phase expansion ``y(x) ≈ constant + Σ_F 2 Re(c_F e^{2πi⟨F, x⟩/p})``,
TR Theorems 1–2, the period FFT) is in :mod:`sinetune.bessel`; the figures are drawn by
:mod:`sinetune.analysis_figures`. :func:`analyze_run` runs four named steps:

1. :func:`load_analysed_run`: the run's field, config and expansion pieces (refuses anything but a
   one-hidden-layer TUNER field on a 2-D grid);
2. :func:`check_expansion`: the expansion at orders ``1 … B`` and its error against the network on
   the training grid;
3. :func:`~sinetune.analysis_spectra.compare_spectra`: the field rendered over one full period and its
   FFT (cross-checked against the expansion's ``c_F``), the target's DFT, and the energy beyond the
   band-limit ``b`` and beyond the training grid's Nyquist frequency in each;
4. :func:`saturation_of`: the input frequencies whose column of ``Ŵ`` sits at its bound;

and writes ``analysis_spectrum.png``, ``analysis_bounds.png`` and ``analysis.txt`` (see
``docs/analysis.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analysis_figures import save_bounds_figure, save_spectrum_figure
from .analysis_spectra import SpectrumComparison, compare_spectra
from .bessel import Expansion, bessel_expansion, count_multi_indices, evaluate_double, tuner_parts
from .config import RunConfig
from .errors import SinetuneError
from .models import SinusoidalField
from .signals import grid_coordinates

ANALYSIS_FILES = ("analysis_spectrum.png", "analysis_bounds.png", "analysis.txt")

#: Default cap on ``(multi-indices per neuron) × (hidden neurons)`` for ``analyze``: ≈ 110 ns each on one CPU
#: core, so ≈ 30 s (n0 = 256: order 2 is 3.4e7 terms, order 3 would be 5.7e9).
MAX_TERMS = 300_000_000


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


# --- step 1: the run --------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class AnalysedRun:
    """A loaded one-hidden-layer TUNER image run.

    Attributes:
        run_dir: the run directory.
        field: the trained field.
        config: its resolved config (``method == "tuner"``).
        grid_shape: the training grid ``(H, W)``.
        parts: the float64 pieces of the expansion (:func:`~sinetune.bessel.tuner_parts`).
    """

    run_dir: Path
    field: SinusoidalField
    config: RunConfig
    grid_shape: tuple[int, int]
    parts: dict

    @property
    def channels(self) -> int:
        """Output channels ``C``."""
        return self.parts["head_weight"].shape[0]

    @property
    def hidden(self) -> int:
        """Hidden neurons ``H``."""
        return self.parts["weight"].shape[0]

    @property
    def n_inputs(self) -> int:
        """Input frequencies ``n0``."""
        return self.parts["weight"].shape[1]

    @property
    def period(self) -> float:
        """The field's period ``p`` (coordinate units)."""
        return self.parts["period"]

    @property
    def band(self) -> int:
        """The band-limit ``b`` (integer cycles per period)."""
        return int(self.config.options.band_limit)


def load_analysed_run(run_dir: Path) -> AnalysedRun:
    """Load a run directory for :func:`analyze_run`; ``SinetuneError`` unless TUNER, one hidden layer, 2-D."""
    from .runs import load_run

    fitted, config, info = load_run(run_dir, single="analyze")
    if config.method != "tuner":
        raise SinetuneError(f"analyze needs a TUNER run; {run_dir} is a {config.method} run")
    parts = tuner_parts(fitted)
    grid_shape = tuple(info["grid_shape"])
    if len(grid_shape) != 2:
        raise SinetuneError(f"analyze supports images (2-D grids); this run has a {len(grid_shape)}-D grid")
    return AnalysedRun(run_dir, fitted, config, grid_shape, parts)


# --- step 2: the expansion against the network -----------------------------------------------------

@dataclass(frozen=True, eq=False)
class ExpansionCheck:
    """The order-``B`` expansion and its measured error against the network on the training grid.

    Attributes:
        expansion: the :class:`~sinetune.bessel.Expansion` at order ``B``.
        max_errors: max |expansion − network| for orders ``1 … B``.
        rms_error: RMS of the difference at order ``B``.
    """

    expansion: Expansion
    max_errors: tuple[float, ...]
    rms_error: float


def check_expansion(run: AnalysedRun, order: int, max_terms: int | None) -> ExpansionCheck:
    """Expand ``run``'s field at every order ``1 … order`` and measure each against the network."""
    network = evaluate_double(run.field, grid_coordinates(run.grid_shape))
    max_errors, expansion, difference = [], None, None
    for b in range(1, order + 1):
        expansion = bessel_expansion(run.field, b, max_terms)
        difference = expansion.evaluate_grid(run.grid_shape) - network
        max_errors.append(float(np.abs(difference).max()))
    return ExpansionCheck(expansion, tuple(max_errors), float(np.sqrt(np.mean(difference**2))))


# --- step 4: saturated columns ----------------------------------------------------------------------

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


@dataclass(frozen=True)
class Saturation:
    """The saturated input frequencies of a run (:func:`saturated_columns` at ``tolerance = 0.01``).

    Attributes:
        share: the fraction of rows above which a column counts as saturated.
        columns: ``(input frequency K_i, fraction of its rows saturated)`` per saturated column (empty
            without column bounds).
    """

    share: float
    columns: tuple[tuple[tuple[int, ...], float], ...]


def saturation_of(run: AnalysedRun, share: float) -> Saturation:
    """The saturated columns of ``run``'s hidden weights (none for ``bound_mode = none``)."""
    bounds = run.parts["bounds"]
    if bounds is None:
        return Saturation(share, ())
    columns, shares = saturated_columns(run.parts["weight"], bounds, share=share)
    return Saturation(share, tuple((tuple(int(v) for v in run.parts["K"][i]), float(shares[i])) for i in columns))


# --- analyze RUN_DIR ---------------------------------------------------------------------------------

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
    run_dir = Path(run_dir)
    paths = _output_paths(Path(out) if out is not None else run_dir)
    if not isinstance(order, int) or order < 1:
        raise SinetuneError(f"--order must be a positive integer, got {order!r}")
    if not 0 <= saturation_share < 1:
        raise SinetuneError(f"saturation_share must be in [0, 1), got {saturation_share}")
    run = load_analysed_run(run_dir)
    if count_multi_indices(run.n_inputs, order) * run.hidden > max_terms:
        bessel_expansion(run.field, order, max_terms)  # raises with the counts

    check = check_expansion(run, order, max_terms)
    comparison = compare_spectra(run.field, check.expansion, run.grid_shape, run.band, run.config.signal)
    saturation = saturation_of(run, saturation_share)

    paths["analysis.txt"].parent.mkdir(parents=True, exist_ok=True)
    save_spectrum_figure(paths["analysis_spectrum.png"], comparison)
    save_bounds_figure(paths["analysis_bounds.png"], run.parts, run.config.options.bound_mode)
    summary = _summary(run, check, comparison, saturation)
    paths["analysis.txt"].write_text(summary)
    return RunAnalysis(paths=paths, order=order, max_errors=check.max_errors, rms_error=check.rms_error,
                       fft_mismatch=comparison.fft_mismatch, energy_beyond_band=comparison.energy_beyond_band,
                       energy_beyond_nyquist=comparison.energy_beyond_nyquist, saturated=saturation.columns,
                       summary=summary)


def _output_paths(out_dir: Path) -> dict[str, Path]:
    """File name → path of :data:`ANALYSIS_FILES` in ``out_dir``; ``SinetuneError`` if any exists."""
    if out_dir.exists() and not out_dir.is_dir():
        raise SinetuneError(f"output path exists and is not a directory: {out_dir}")
    paths = {name: out_dir / name for name in ANALYSIS_FILES}
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing:
        raise SinetuneError(f"{existing[0]} already exists; remove it or choose another --out")
    return paths


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.3g}%"


def _summary(run: AnalysedRun, check: ExpansionCheck, comparison: SpectrumComparison, saturation: Saturation) -> str:
    """The text of ``analysis.txt``."""
    expansion, max_errors, nyquist, band = check.expansion, check.max_errors, comparison.nyquist, comparison.band
    beyond_band, beyond_nyquist = comparison.energy_beyond_band, comparison.energy_beyond_nyquist
    shape = "×".join(map(str, run.grid_shape))
    by_order = ", ".join(f"B={b}: {e:.3g}" for b, e in enumerate(max_errors, start=1))
    lines = [
        f"sinetune analyze {run.run_dir}",
        f"field: TUNER, {shape} grid, {run.channels} channel(s), n0 = {run.n_inputs} input frequencies, "
        f"{run.hidden} hidden neurons, period p = {run.period:g}, bound_mode = {run.config.options.bound_mode}",
        f"truncation order B = {expansion.order} (all k with Σ|k_i| ≤ {expansion.order}): "
        f"{expansion.terms:,} multi-indices per neuron, {len(expansion.frequencies):,} distinct generated "
        f"frequencies ±F (max |F_i| = {int(np.abs(expansion.frequencies).max(initial=0))})",
        f"reconstruction error of the expansion vs the network on the training grid: max {max_errors[-1]:.3g}, "
        f"RMS {check.rms_error:.3g} (max by order: {by_order})",
        f"FFT check: max |c_F − FFT(render)| = {comparison.fft_mismatch:.3g} "
        f"({comparison.samples}×{comparison.samples} samples over one period)",
        f"Theorem 2: max |α_k| / ∏(|a_i|/2)^|k_i|/|k_i|! = {expansion.bound_ratio:.6f} over all neurons and kept k "
        f"({'holds' if expansion.bound_ratio <= 1 + 1e-9 else 'VIOLATED'})",
        f"band-limit b = {band}; training-grid Nyquist k_nyq = {nyquist[0]:.4g} (x), {nyquist[1]:.4g} (y) "
        f"(integer cycles per period)",
        f"energy (luma, non-constant) beyond b (max|F_i| > {band}): expansion {_percent(beyond_band['expansion'])}, "
        f"render FFT {_percent(beyond_band['render'])}, target {_percent(beyond_band.get('target'))}",
        f"energy beyond Nyquist: expansion {_percent(beyond_nyquist['expansion'])}, "
        f"render FFT {_percent(beyond_nyquist['render'])}",
    ]
    if run.parts["bounds"] is None:
        lines.append("saturation: no column bounds (bound_mode none)")
    else:
        listed = "; ".join(f"{k} in {100 * s:.0f}% of rows" for k, s in saturation.columns) or "none"
        lines.append(f"saturated input frequencies (|Ŵ_ij| ≥ 0.99 c_j in > {100 * saturation.share:.0f}% of rows): "
                     f"{len(saturation.columns)} of {run.n_inputs}: {listed}")
    lines += [f"note: {note}" for note in comparison.notes]
    return "\n".join(lines) + "\n"


__all__ = ["ANALYSIS_FILES", "MAX_TERMS", "RunAnalysis", "analyze_run", "saturated_columns"]
