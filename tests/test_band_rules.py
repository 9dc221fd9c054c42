"""Signal-derived frequency choices keyed to the target's band (issue #4): the PSNR-keyed energy share,
TUNER's ``band_psnr``, and ω from the spectrum for SSN and SIREN.

Formulas are checked against hand values; the band a PSNR asks for is checked by actually cutting
a signal's spectrum there; each rule is checked to follow the target (smooth → lower ω than busy),
to round-trip through ``config.yaml`` and to say what it chose.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from conftest import smooth_and_busy

from sinetune import SinetuneError
from sinetune.config import RunConfig, load_config, save_config
from sinetune.methods import SirenOptions, SsnOptions, TunerOptions, get_method
from sinetune.methods import siren as siren_module
from sinetune.methods import ssn as ssn_module
from sinetune.methods.base import measure_band
from sinetune.metrics import psnr
from sinetune.spectral import energy_radius, psnr_energy_share


def _decaying_tones(n: int = 2048, seed: int = 0) -> np.ndarray:
    """``(n, 1)`` periodic 1-D signal: integer-frequency tones with amplitudes falling as 1/k."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / n
    k = np.arange(1, n // 2)
    phases = rng.uniform(0, 2 * np.pi, k.size)
    return (np.sin(2 * np.pi * k[:, None] * t + phases[:, None]) / k[:, None]).sum(0)[:, None] * 0.05


# --- the PSNR-keyed share ----------------------------------------------------------------------

def test_psnr_energy_share_is_one_minus_the_error_budget_over_the_variance():
    values = np.array([[0.0], [1.0], [0.0], [1.0]])  # variance 0.25
    assert psnr_energy_share(values, 20.0, 1.0) == pytest.approx(1 - 0.01 / 0.25)
    assert psnr_energy_share(values, 20.0, 2.0) == pytest.approx(1 - 0.04 / 0.25)
    assert psnr_energy_share(values, 3.0, 1.0) == 0.0  # the budget exceeds the variance: nothing needed
    assert psnr_energy_share(values + 7.0, 20.0, 1.0) == pytest.approx(1 - 0.01 / 0.25)  # mean removed
    assert psnr_energy_share(np.ones((5, 2)), 30.0, 1.0) == 0.0
    shares = [psnr_energy_share(_decaying_tones(), p, 2.0) for p in (40, 50, 60, 70)]
    assert shares == sorted(shares) and shares[-1] < 1
    with pytest.raises(ValueError):
        psnr_energy_share(values, float("inf"), 1.0)


def test_cutting_the_spectrum_at_the_psnr_band_costs_about_that_psnr():
    """Keep only the frequencies below the measured ν: the PSNR of what is left is ≈ the one asked for,
    and cutting clearly lower costs clearly more."""
    values = _decaying_tones()
    n = values.shape[0]
    spectrum = np.fft.rfft(values[:, 0])
    normalised = np.arange(spectrum.size) / (n / 2)  # fraction of Nyquist

    def cut(radius: float) -> float:
        kept = np.where(normalised <= radius, spectrum, 0)
        return psnr(np.fft.irfft(kept, n)[:, None], values, data_range=2.0)

    for target in (45.0, 55.0, 65.0):
        radius = measure_band(values, 0.99, target)
        assert radius == pytest.approx(energy_radius(values, psnr_energy_share(values, target, 2.0)))
        assert cut(radius) == pytest.approx(target, abs=1.5)
        assert cut(0.5 * radius) < target - 2.0


def test_measure_band_uses_the_data_range_of_the_signal_kind():
    audio = _decaying_tones()
    image = smooth_and_busy(64)[1]
    assert measure_band(audio, 0.9, 50.0) == energy_radius(audio, psnr_energy_share(audio, 50.0, 2.0))
    assert measure_band(image, 0.9, 30.0) == energy_radius(image, psnr_energy_share(image, 30.0, 1.0))
    assert measure_band(image, 0.9, None) == energy_radius(image, 0.9)


# --- TUNER's band_psnr -------------------------------------------------------------------------

def test_tuner_band_psnr_replaces_the_fixed_share():
    method = get_method("tuner")
    _, busy = smooth_and_busy(128)
    options = TunerOptions(input_width=64, hidden_width=16, band_rule="spectrum", band_psnr=25.0)
    prepared = method.prepare(options, busy)
    assert prepared.energy_radius == pytest.approx(measure_band(busy, 0.99, 25.0), abs=1e-6)
    strict = method.prepare(dataclasses.replace(options, band_psnr=45.0), busy)
    assert strict.energy_radius > prepared.energy_radius  # a finer fit needs a wider band
    line = method.explain(method.resolve(prepared, (128, 128)), (128, 128))
    assert "costs less than 25 dB PSNR" in line and f"{prepared.energy_radius:.3f} of Nyquist" in line
    with pytest.raises(SinetuneError, match="band_psnr"):
        method.prepare(dataclasses.replace(options, band_psnr="high"), busy)


# --- SSN: ω from the spectrum ------------------------------------------------------------------

def test_ssn_spectrum_rule_scales_the_grid_omega_by_the_band():
    method = get_method("ssn")
    smooth, busy = smooth_and_busy(64)
    options = SsnOptions(omega_rule="spectrum", band_psnr=40.0)
    grid_omega = method.resolve(SsnOptions(), (64, 64)).omega
    chosen = {}
    for name, values in (("smooth", smooth), ("busy", busy)):
        prepared = method.prepare(options, values)
        assert prepared.energy_radius == pytest.approx(measure_band(values, 0.99, 40.0), abs=1e-6)
        chosen[name] = method.resolve(prepared, (64, 64))
        assert chosen[name].omega == pytest.approx(prepared.energy_radius * grid_omega, rel=1e-5)
    assert chosen["smooth"].omega < chosen["busy"].omega <= grid_omega
    line = method.explain(chosen["busy"], (64, 64))
    assert line.startswith(f"SSN ω = {chosen['busy'].omega:g} (spectrum rule") and "40 dB" in line
    # the built first layer has the chosen ω; a given ω skips the measurement
    assert ssn_module.build(chosen["busy"], (64, 64), 3, torch.Generator().manual_seed(0)).field.encoding.omega \
        == pytest.approx(chosen["busy"].omega)
    given = dataclasses.replace(options, omega=4.0)
    assert method.prepare(given, busy) == given and method.explain(method.resolve(given, (64, 64)), (64, 64)) \
        == "SSN ω = 4 (given)"
    with pytest.raises(SinetuneError, match="measures the target"):
        method.resolve(options, (64, 64))
    with pytest.raises(SinetuneError, match="omega_rule"):
        method.prepare(dataclasses.replace(options, omega_rule="nyquist"), busy)


# --- SIREN: ω₀ from the spectrum ---------------------------------------------------------------

def test_siren_spectrum_rule_is_calibrated_to_omega_30_at_256():
    assert siren_module.spectrum_first_omega(1.0, (256, 256)) == pytest.approx(30.0)
    assert siren_module.spectrum_first_omega(0.5, (256, 256)) == pytest.approx(15.0)
    assert siren_module.spectrum_first_omega(1.0, (511, 600)) == pytest.approx(60.0)
    # per axis the first layer spans ω₀/d: the same share of Nyquist in 1-D
    assert siren_module.spectrum_first_omega(1.0, (44101,)) == pytest.approx(15.0 * 44100 / 255)


def test_siren_spectrum_rule_follows_the_target_and_round_trips(tmp_path):
    method = get_method("siren")
    smooth, busy = smooth_and_busy(64)
    options = SirenOptions(input_width=16, hidden_width=16, hidden_layers=1, omega_rule="spectrum",
                           band_psnr=40.0)
    low = method.resolve(method.prepare(options, smooth), (64, 64))
    high = method.resolve(method.prepare(options, busy), (64, 64))
    for chosen in (low, high):
        assert chosen.first_omega == pytest.approx(
            siren_module.spectrum_first_omega(chosen.energy_radius, (64, 64)), rel=1e-5)
    assert low.first_omega < high.first_omega
    built = siren_module.build(high, (64, 64), 3, torch.Generator().manual_seed(0)).field
    assert built.encoding.omega == pytest.approx(high.first_omega)
    assert "(spectrum rule" in method.explain(high, (64, 64)) and "40 dB" in method.explain(high, (64, 64))
    # the saved config rebuilds without re-measuring (prepare keeps a known radius)
    save_config(RunConfig(method="siren", options=high), tmp_path / "config.yaml")
    loaded = load_config(tmp_path / "config.yaml").options
    assert loaded == high and method.prepare(loaded, smooth) == high
    # the fixed rule leaves ω₀ alone and says so
    fixed = method.resolve(method.prepare(SirenOptions(first_omega=3000.0), busy), (64, 64))
    assert fixed.first_omega == 3000.0 and method.explain(fixed, (64, 64)).startswith("SIREN ω₀ = 3000 (given)")
    with pytest.raises(SinetuneError, match="measures the target"):
        method.resolve(options, (64, 64))
    with pytest.raises(SinetuneError, match="no energy"):
        method.prepare(options, np.full((32, 32, 1), 0.5))


def test_spectrum_rules_record_their_choice_in_a_run(tmp_path):
    from sinetune.config import config_from_dict
    from sinetune.runs import run
    from sinetune.signals import Signal

    _, busy = smooth_and_busy(32)
    signal = Signal(values=busy.astype(np.float32), name="busy", source="test")
    config = config_from_dict({"method": "ssn", "options": {"input_width": 16, "hidden_width": 16,
                                                            "hidden_layers": 1, "omega_rule": "spectrum"},
                               "train": {"steps": 2}, "device": "cpu"})
    result = run(config, out=tmp_path / "run", signal=signal)
    saved = load_config(tmp_path / "run" / "config.yaml").options
    assert saved.energy_radius == pytest.approx(energy_radius(busy, 0.99), abs=1e-6)
    grid_omega = ssn_module.derived_omega((32, 32), SsnOptions().bandwidth_fraction)
    assert saved.omega == pytest.approx(saved.energy_radius * grid_omega, rel=1e-4)
    assert result.metrics["derived"].startswith(f"SSN ω = {saved.omega:g} (spectrum rule")
    assert math.isfinite(result.metrics["train_psnr"])
