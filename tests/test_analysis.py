"""Bessel (amplitude–phase) expansion of trained TUNER fields (bessel.py) and ``sinetune analyze`` (analysis.py).

Everything is verified against the network itself: the truncated series evaluated on the grid, the
FFT of the field over one full period, and a brute-force per-neuron sum.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from conftest import smooth_rgb, write_png
from scipy.special import jv

import sinetune
from sinetune import Signal, SinetuneError, TrainOptions, TunerOptions
from sinetune.analysis import analyze_run
from sinetune.bessel import (
    bessel_amplitudes,
    bessel_expansion,
    coefficients_at,
    count_multi_indices,
    evaluate_double,
    period_fft,
    theorem2_bound,
    tuner_parts,
)
from sinetune.cli import main
from sinetune.methods import get_method
from sinetune.signals import grid_coordinates

GRID = (16, 16)


def smooth_signal() -> Signal:
    return Signal(values=smooth_rgb(*GRID).astype(np.float32) / 255.0, name="smooth")


def fit_field(steps: int, seed: int, lr: float | None = None, **options):
    options = {"input_width": 12, "hidden_width": 16, "band_fraction": 0.5, **options}
    return sinetune.fit(smooth_signal(), "tuner", options=TunerOptions(**options),
                        train_options=TrainOptions(steps=steps, lr=lr, log_every=steps), seed=seed, holdout=0.0,
                        device="cpu").field


@pytest.fixture(scope="module")
def trained_field():
    """100 steps at the default lr on a 16² smooth image: n0 = 12, 16 hidden neurons, bounds (1.0, 0.4)."""
    return fit_field(steps=100, seed=0)


@pytest.fixture(scope="module")
def saturated_field():
    """Trained harder (200 steps, lr 2e-3): many weights sit at their bound, the series converges slower."""
    return fit_field(steps=200, seed=2, lr=2e-3)


def grid_errors(field, orders) -> tuple[list[float], list[float]]:
    coords = grid_coordinates(GRID)
    network = evaluate_double(field, coords)
    maxima, rms = [], []
    for order in orders:
        difference = bessel_expansion(field, order).evaluate(coords) - network
        maxima.append(float(np.abs(difference).max()))
        rms.append(float(np.sqrt(np.mean(difference**2))))
    return maxima, rms


# --- the expansion reproduces the network -----------------------------------------------------------

def test_expansion_reproduces_the_trained_network(trained_field):
    parts = tuner_parts(trained_field)
    assert np.abs(parts["weight"]).max() <= 1.0 + 1e-6  # bounds ≤ 1 (clamp)
    maxima, rms = grid_errors(trained_field, [1, 2, 3, 4])
    # measured (torch 2.x, CPU): max 0.081, 0.0154, 0.0099, 0.00047; RMS 0.022, 0.0020, 0.0012, 0.00008
    assert all(later < earlier for earlier, later in zip(maxima, maxima[1:])), maxima
    assert all(later < earlier for earlier, later in zip(rms, rms[1:])), rms
    assert maxima[-1] < 2e-3
    assert maxima[0] > 20 * maxima[-1]


def test_expansion_converges_on_a_saturated_field_two_orders_at_a_time(saturated_field):
    parts = tuner_parts(saturated_field)
    assert (np.abs(parts["weight"]) >= 0.99 * parts["bounds"]).mean() > 0.1  # many weights at the bound
    maxima, rms = grid_errors(saturated_field, [1, 2, 3, 4, 6])
    # measured: max 0.357, 0.275, 0.310, 0.052, (B=5: 0.064), 0.0027 — the max error may rise at an odd
    # order (the k and −k terms pair into cos b̂ / sin b̂ parts), the RMS error does not.
    assert all(later < earlier for earlier, later in zip(rms, rms[1:])), rms
    assert maxima[4] < maxima[3] < maxima[1] < maxima[0]
    assert maxima[4] < 1e-2


def test_expansion_matches_a_brute_force_sum_exactly():
    """Aggregation check: Σ_j C_cj Σ_{|k|₁ ≤ B} α_k(a_j) sin(⟨k, θ⟩ + b̂_j) + d_c term by term."""
    tuner = get_method("tuner")
    frequencies = ((1, 0), (0, 1), (1, 1), (2, -1))
    options = TunerOptions(input_width=4, hidden_width=3, input_frequencies=frequencies, bound_mode="none")
    options = tuner.resolve(options, GRID)
    field = tuner.build(options, GRID, 2, torch.Generator().manual_seed(1)).field
    with torch.no_grad():  # one weight at the first zero of J_0 exercises the careful product
        field.hidden[0].weight[1, 2] = 2.404825557695773 / field.hidden[0].omega
        field.hidden[0].weight[0] *= 4.0
    parts = tuner_parts(field)
    x = grid_coordinates((7, 9)).double().numpy()
    theta = x @ (2 * np.pi * parts["K"].T / parts["period"]) + parts["phases"]
    for order in range(4):
        hidden = np.zeros((len(x), 3))
        for k in itertools.product(range(-order, order + 1), repeat=4):
            if sum(map(abs, k)) <= order:
                alpha = np.prod(jv(np.array(k), parts["weight"]), axis=1)
                hidden += alpha * np.sin((theta @ np.array(k))[:, None] + parts["bias"])
        expected = hidden @ parts["head_weight"].T + parts["head_bias"]
        expansion = bessel_expansion(field, order)
        assert expansion.terms == count_multi_indices(4, order)
        np.testing.assert_allclose(expansion.evaluate(x), expected, atol=1e-12, rtol=0)


def test_expansion_matches_the_fft_of_one_period(trained_field):
    expansion = bessel_expansion(trained_field, 4)
    reach = int(np.abs(expansion.frequencies).max())
    samples = 64
    assert samples > 2 * reach  # resolves every generated frequency
    spectrum = period_fft(trained_field, samples)
    sampled = coefficients_at(spectrum, expansion.frequencies)
    # measured: max |c_F − FFT| 1.7e-5 (the order-5+ terms), against coefficients up to 0.016
    np.testing.assert_allclose(np.abs(expansion.coefficients), np.abs(sampled), atol=1e-4, rtol=0)
    np.testing.assert_allclose(expansion.coefficients, sampled, atol=1e-4, rtol=0)
    np.testing.assert_allclose(expansion.constant, spectrum[0, 0].real, atol=1e-4)
    assert np.abs(spectrum[0, 0].imag).max() < 1e-12
    # the expansion's frequencies carry (nearly) all of the field's energy
    energy = np.abs(spectrum) ** 2
    inside = np.zeros(spectrum.shape[:2], dtype=bool)
    inside[tuple((expansion.frequencies % samples).T)] = True
    inside[tuple((-expansion.frequencies % samples).T)] = True
    inside[0, 0] = True
    assert energy[~inside].sum() < 1e-8 * energy[inside].sum()
    # the frequencies are distinct half-plane representatives
    assert len({tuple(f) for f in expansion.frequencies}) == len(expansion.frequencies)
    first = expansion.frequencies[np.arange(len(expansion.frequencies)), np.argmax(expansion.frequencies != 0, axis=1)]
    assert (first > 0).all()


def test_grid_evaluation_matches_pointwise(trained_field):
    expansion = bessel_expansion(trained_field, 3)
    for shape, domain in (((16, 16), (-1.0, 1.0)), ((9, 13), (-2.0, 2.0))):
        coords = grid_coordinates(shape, domain)
        np.testing.assert_allclose(expansion.evaluate_grid(shape, domain), expansion.evaluate(coords), atol=1e-12)


def test_order_zero_is_the_mean_and_order_one_the_input_frequencies(trained_field):
    k = tuner_parts(trained_field)["K"]
    zero, one = bessel_expansion(trained_field, 0), bessel_expansion(trained_field, 1)
    assert len(zero.frequencies) == 0 and zero.terms == 1
    assert {tuple(f) for f in one.frequencies} == {tuple(f) for f in k}  # K is half-plane, distinct


def test_only_one_hidden_layer_tuner_fields(generator):
    tuner = get_method("tuner")
    deep = tuner.build(tuner.resolve(TunerOptions(input_width=8, hidden_width=4, hidden_layers=2), (32, 32)),
                       (32, 32), 1, generator).field
    with pytest.raises(SinetuneError, match="one hidden sine layer"):
        bessel_expansion(deep, 2)
    siren = get_method("siren")
    field = siren.build(siren.resolve(sinetune.SirenOptions(input_width=8, hidden_width=4, hidden_layers=1), (32, 32)),
                        (32, 32), 1, generator).field
    with pytest.raises(SinetuneError, match="TUNER field"):
        bessel_expansion(field, 2)
    with pytest.raises(SinetuneError, match="order"):
        bessel_expansion(tuner.build(tuner.resolve(TunerOptions(input_width=8, hidden_width=4), (32, 32)),
                                     (32, 32), 1, generator).field, -1)


def test_term_budget_refuses_expensive_orders(trained_field):
    with pytest.raises(SinetuneError, match="choose a lower order"):
        bessel_expansion(trained_field, 4, max_terms=1000)


@pytest.mark.parametrize("n_inputs, order", [(1, 3), (3, 2), (4, 3), (5, 1)])
def test_count_multi_indices(n_inputs, order):
    brute = sum(1 for k in itertools.product(range(-order, order + 1), repeat=n_inputs) if sum(map(abs, k)) <= order)
    assert count_multi_indices(n_inputs, order) == brute


# --- Theorem 2 ----------------------------------------------------------------------------------------

def test_amplitudes_obey_theorem2_for_random_rows():
    rng = np.random.default_rng(0)
    a = rng.uniform(-2, 2, size=(2000, 6))
    k = rng.integers(-4, 5, size=(2000, 6))
    alpha, bound = bessel_amplitudes(a, k), theorem2_bound(a, k)
    assert (np.abs(alpha) <= bound * (1 + 1e-12)).all()
    assert (np.abs(alpha) / bound).max() > 0.5  # the bound is tight for small arguments, not vacuous


def test_expansion_amplitudes_obey_theorem2(trained_field):
    ratio = bessel_expansion(trained_field, 3).bound_ratio
    assert 0.5 < ratio <= 1.0


def test_theorem2_bound_matches_appendix_b():
    # tuner-spec Appendix B: (c/2)^k / k! for c = 1 → 0.5, 0.125, 0.0208, 0.0026, 0.00026
    bounds = [float(theorem2_bound(np.array([1.0]), np.array([k]))) for k in range(1, 6)]
    np.testing.assert_allclose(bounds, [0.5, 0.125, 0.0208, 0.0026, 0.00026], rtol=0.02)
    assert bounds == pytest.approx([0.5 ** k / math.factorial(k) for k in range(1, 6)], rel=1e-12)
    exact = [abs(float(bessel_amplitudes(np.array([1.0]), np.array([k])))) for k in range(1, 5)]
    np.testing.assert_allclose(exact, [0.440, 0.115, 0.0196, 0.0025], rtol=0.02)
    # the product form and the zero-order factor: k = 0 gives 1, negative orders use |k|
    assert float(theorem2_bound(np.array([0.3, 1.0]), np.array([0, -2]))) == pytest.approx(0.125)
    assert float(theorem2_bound(np.array([0.4, 1.0]), np.array([1, 1]))) == pytest.approx(0.2 * 0.5)


# --- sinetune analyze ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyze")
    image = write_png(root / "smooth.png", smooth_rgb(*GRID))
    options = TunerOptions(input_width=10, hidden_width=12, band_fraction=0.5)
    sinetune.fit(str(image), "tuner", size=None, options=options, train_options=TrainOptions(steps=60, log_every=20),
                 seed=0, holdout=0.1, device="cpu", out=root / "run")
    return root / "run", image


def test_analyze_run_writes_three_files_with_the_numbers(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    report = analyze_run(run_dir, order=3, out=tmp_path / "analysis")
    for name in ("analysis_spectrum.png", "analysis_bounds.png", "analysis.txt"):
        assert (tmp_path / "analysis" / name).is_file() and (tmp_path / "analysis" / name).stat().st_size > 0
    text = (tmp_path / "analysis" / "analysis.txt").read_text()
    assert text == report.summary
    assert len(report.max_errors) == 3 and report.max_errors[-1] < report.max_errors[0]
    assert report.max_errors[-1] < 0.02 and report.fft_mismatch < 1e-3
    assert f"max {report.max_errors[-1]:.3g}" in text and f"RMS {report.rms_error:.3g}" in text
    assert "truncation order B = 3" in text and "band-limit b = 3" in text
    assert f"render FFT {100 * report.energy_beyond_band['render']:.3g}%" in text
    assert f"target {100 * report.energy_beyond_band['target']:.3g}%" in text
    assert f"expansion {100 * report.energy_beyond_nyquist['expansion']:.3g}%" in text
    assert "saturated input frequencies" in text and "(holds)" in text
    # the expansion and the render agree on where the energy is
    assert report.energy_beyond_band["expansion"] == pytest.approx(report.energy_beyond_band["render"], abs=0.02)
    assert not (run_dir / "analysis.txt").exists()  # --out was given


def test_analyze_cli_never_overwrites(tiny_run, tmp_path, capsys):
    run_dir, _ = tiny_run
    out = tmp_path / "cli"
    assert main(["analyze", str(run_dir), "--order", "2", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert f"wrote {out / 'analysis.txt'}" in stdout and "order 2: max |expansion − network|" in stdout
    before = (out / "analysis.txt").stat().st_mtime_ns
    assert main(["analyze", str(run_dir), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sinetune: error:") and "already exists" in err[0]
    assert (out / "analysis.txt").stat().st_mtime_ns == before


@pytest.mark.parametrize("argv, fragment", [
    (["--order", "0"], "--order must be a positive integer"),
    (["--order", "40"], "choose a lower order"),  # refused before any work
])
def test_analyze_cli_bad_input(tiny_run, tmp_path, capsys, argv, fragment):
    run_dir, _ = tiny_run
    assert main(["analyze", str(run_dir), "--out", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]


def test_analyze_cli_rejects_missing_and_non_tuner_runs(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nowhere")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    image = write_png(tmp_path / "small.png", smooth_rgb(*GRID))
    sinetune.fit(str(image), "tuner", size=None, options=TunerOptions(input_width=8, hidden_width=4, hidden_layers=2,
                                                                       band_fraction=0.5),
                 train_options=TrainOptions(steps=1), holdout=0.0, device="cpu", out=tmp_path / "deep")
    assert main(["analyze", str(tmp_path / "deep")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "one hidden sine layer" in err[0]
    assert not (tmp_path / "deep" / "analysis.txt").exists()


def test_analyze_without_the_target(tmp_path):
    image = write_png(tmp_path / "gone.png", smooth_rgb(*GRID))
    sinetune.fit(str(image), "tuner", size=None, options=TunerOptions(input_width=8, hidden_width=8, band_fraction=0.5),
                 train_options=TrainOptions(steps=5), holdout=0.0, device="cpu", out=tmp_path / "run")
    image.unlink()
    report = analyze_run(tmp_path / "run", order=2)
    assert "target" not in report.energy_beyond_band
    assert "note: target not available (no such file" in report.summary
    assert (tmp_path / "run" / "analysis_spectrum.png").is_file()
