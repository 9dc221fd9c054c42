"""The grid-derived TUNER defaults (sinetune.capacity, issue #17): formulas, wiring, overrides, rebuilds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sinetune import capacity
from sinetune.errors import SinetuneError
from sinetune.methods import TunerOptions, build_field, tuner
from sinetune.runs import fit, load_run
from sinetune.signals import Signal
from sinetune.spectral import max_input_width, nyquist_index
from sinetune.training import TrainOptions

GRIDS = [(8, 8), (16, 16), (32, 32), (64, 64), (96, 160), (128, 128), (256, 256), (256, 384), (512, 512),
         (2048, 2048)]


@pytest.mark.parametrize("grid", GRIDS)
def test_documented_formulas(grid):
    rule = capacity.tuner_capacity(grid)
    n = math.prod(grid)
    assert rule.samples == n
    expected = min(max(round(math.sqrt(n)), 3), capacity.MAX_INPUT_WIDTH)
    nyquist = nyquist_index(min(grid), 2.1)
    assert rule.input_width == min(expected, max_input_width(int(nyquist), 2))
    assert rule.hidden_width == max(capacity.HIDDEN_WIDTH, rule.input_width)
    assert rule.hidden_layers == 1
    # the band holds n_0 distinct frequencies and never passes Nyquist
    band = math.floor(rule.band_fraction * nyquist)
    assert 0 < rule.band_fraction <= 1
    assert band <= nyquist
    assert max_input_width(band, 2) >= rule.input_width
    assert rule.band_fraction >= capacity.BAND_FRACTION


def test_monotone_in_samples_and_pure():
    sides = [16, 32, 64, 96, 128, 256, 512]
    widths = [capacity.tuner_capacity((s, s)).input_width for s in sides]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    hidden = [capacity.tuner_capacity((s, s)).hidden_width for s in sides]
    assert hidden == sorted(hidden)
    # a pure function of the grid: same answer every call, and the transposed grid has the same capacity
    assert capacity.tuner_capacity((96, 160)) == capacity.tuner_capacity((96, 160))
    assert capacity.tuner_capacity((96, 160)).input_width == capacity.tuner_capacity((160, 96)).input_width


def test_256_square_keeps_the_old_fixed_default():
    """kodak-256 is fitted exactly as before issue #17 (same options → same seeded field)."""
    old = TunerOptions(input_width=256, hidden_width=256, hidden_layers=1, band_fraction=0.2)
    assert tuner.resolve(TunerOptions(), (256, 256)) == tuner.resolve(old, (256, 256))


def test_sound_keeps_256_input_frequencies():
    resolved = tuner.resolve(TunerOptions(), (4000,))
    assert (resolved.input_width, resolved.hidden_width, resolved.hidden_layers) == (256, 256, 1)


def test_64_square_is_accepted_and_explained():
    built = build_field("tuner", (64, 64), 3)
    options = built.options
    assert (options.input_width, options.hidden_width, options.hidden_layers) == (64, 256, 1)
    text = tuner.explain(options, (64, 64))
    assert "capacity rule for 4096 grid points" in text and "64 input frequencies" in text
    # the fixed width of before still refuses there, with the reason
    with pytest.raises(SinetuneError, match="exceeds"):
        tuner.resolve(TunerOptions(input_width=256, band_fraction=0.2), (64, 64))


def test_explicit_options_override_auto():
    resolved = tuner.resolve(TunerOptions(input_width=40, hidden_width=96, hidden_layers=2, band_fraction=0.5),
                             (64, 64))
    assert (resolved.input_width, resolved.hidden_width, resolved.hidden_layers, resolved.band_fraction) == (
        40, 96, 2, 0.5)
    assert "not the capacity rule's" in tuner.explain(resolved, (64, 64))
    # a given input width alone: the hidden width follows it; the band is not raised for it (refused, saying why)
    assert tuner.resolve(TunerOptions(input_width=300), (128, 128)).hidden_width == 300
    assert tuner.resolve(TunerOptions(input_width=300), (128, 128)).band_fraction == capacity.BAND_FRACTION
    with pytest.raises(SinetuneError, match="input_width 300 exceeds"):
        tuner.resolve(TunerOptions(input_width=300), (64, 64))
    # the paper preset is untouched by the rule
    assert tuner.resolve(tuner.PAPER, (512, 512)).input_width == 416


def test_saved_run_rebuilds_without_the_signal(tmp_path):
    rng = np.random.default_rng(0)
    signal = Signal(rng.uniform(0, 1, (24, 24, 3)).astype(np.float32), "noise")
    result = fit(signal, "tuner", train_options=TrainOptions(steps=3), device="cpu", out=tmp_path / "run")
    field, config, info = load_run(tmp_path / "run")
    assert config.options == result.config.options
    assert config.options.input_width == capacity.tuner_capacity((24, 24)).input_width
    # the saved config alone rebuilds the same architecture, frequencies and weights (same seed)
    rebuilt = build_field("tuner", tuple(info["grid_shape"]), 3, config.options,
                          generator=torch.Generator().manual_seed(config.seed)).options
    assert rebuilt == config.options
    coords = torch.rand(50, 2) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(field(coords), result.field(coords), atol=1e-6)
    assert "capacity rule" in result.metrics["derived"]
