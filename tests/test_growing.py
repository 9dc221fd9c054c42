"""Growing a TUNER dictionary (sinetune.growing) on tiny generated signals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import yaml

from sinetune.config import options_from_dict, options_to_dict
from sinetune.errors import SinetuneError
from sinetune.growing import GrowOptions, grow_field, initial_frequencies, pick_frequencies, residual_energy
from sinetune.methods import TunerOptions, build_field
from sinetune.signals import Signal, grid_coordinates
from sinetune.structure import add_input_frequencies
from sinetune.training import TrainOptions

PERIOD = 2.1


def _planted(grid: tuple[int, int], k: tuple[int, int], phase: float = 0.4) -> np.ndarray:
    """``0.5 + 0.4 sin(2π ⟨k, (x, y)⟩ / p + phase)`` on the grid, ``(H, W, 1)``."""
    coords = grid_coordinates(grid).numpy()
    wave = 0.5 + 0.4 * np.sin(2 * math.pi / PERIOD * (coords @ np.asarray(k, dtype=float)) + phase)
    return wave.reshape(grid + (1,)).astype(np.float32)


def test_initial_atoms_are_the_canonical_vectors_then_the_low_block():
    start = initial_frequencies(1)
    assert start[:2].tolist() == [[1, 0], [0, 1]]
    assert sorted(map(tuple, start.tolist())) == [(0, 1), (1, -1), (1, 0), (1, 1)]
    assert len(initial_frequencies(2)) == 12 and len(initial_frequencies(3, dim=1)) == 3


def test_residual_energy_is_the_nonuniform_dft_at_each_frequency():
    """Σ_c |Σ_x r_c(x) e^{-2πi ⟨k, x⟩ / p}|², summed directly over every sample, k = (k_x, k_y)."""
    rng = np.random.default_rng(0)
    residual = rng.normal(size=(9, 11, 2))
    frequencies = np.array([[0, 1], [3, -2], [-4, 5], [6, 0], [1, 1]])
    y, x = np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 11), indexing="ij")
    direct = [sum(abs((residual[..., c] * np.exp(-2j * math.pi / PERIOD * (kx * x + ky * y))).sum()) ** 2
                  for c in range(2)) for kx, ky in frequencies]
    np.testing.assert_allclose(residual_energy(residual, frequencies, PERIOD), direct, rtol=1e-10)


def test_residual_energy_peaks_at_the_planted_frequency():
    values = _planted((24, 28), (3, -2)) - 0.5
    candidates = np.array([[3, -2], [3, 2], [2, -2], [1, 0], [0, 1], [5, 5]])
    energy = residual_energy(values, candidates, PERIOD)
    assert int(np.argmax(energy)) == 0
    assert energy[0] > 10 * energy[1]  # (3, 2) is the mirrored axis: x and y are not swapped
    one_d = np.sin(2 * math.pi / PERIOD * 4 * np.linspace(-1, 1, 40))[:, None]
    assert int(np.argmax(residual_energy(one_d, np.arange(1, 8)[:, None], PERIOD))) == 3


def test_pick_skips_known_atoms_and_neighbours():
    values = _planted((24, 24), (3, -2)) + _planted((24, 24), (1, 4), 1.0) - 1.0
    picks = pick_frequencies(values, np.array([[1, 0], [0, 1]]), band_limit=6, count=2, period=PERIOD)
    assert {tuple(k) for k in picks.tolist()} == {(3, -2), (1, 4)}
    again = pick_frequencies(values, np.array([[-3, 2]]), band_limit=6, count=1, period=PERIOD)  # ±k is known
    assert again.tolist() == [[1, 4]]


def test_added_frequencies_keep_the_function_and_grow_every_tensor():
    options = TunerOptions(input_width=5, hidden_width=8, band_limit=4, low_range=2)
    built = build_field("tuner", (10, 10), 3, options, generator=torch.Generator().manual_seed(0))
    coords = grid_coordinates((10, 10))
    before = built.field(coords)
    new = torch.tensor([[3, 1], [0, 4]])
    add_input_frequencies(built.field, new, torch.tensor([0.1, -0.2]), torch.tensor([0.4, 0.4]))
    encoding, layer = built.field.encoding, built.field.hidden[0]
    assert encoding.input_frequencies.shape == (7, 2) and torch.equal(encoding.input_frequencies[5:], new)
    assert layer.weight.shape == (8, 7) and layer.column_bounds.shape == (7,) and layer.in_features == 7
    torch.testing.assert_close(built.field(coords), before, rtol=0, atol=1e-6)
    built.constraints[0].apply()
    with pytest.raises(SinetuneError, match="column bound"):
        add_input_frequencies(built.field, torch.tensor([[2, 3]]), torch.tensor([0.0]))


def test_grow_field_finds_the_planted_sinusoid():
    grid = (20, 20)
    signal = Signal(_planted(grid, (4, -3)), "planted")
    options = GrowOptions(start_radius=1, add_per_round=2, max_input_width=8, round_steps=20, final_steps=20,
                          band_limit=6, train=TrainOptions(log_every=10))
    tuner = TunerOptions(hidden_width=16, period=PERIOD)
    mask = np.zeros(400, dtype=bool)
    mask[::10] = True
    result = grow_field(signal, options, tuner, mask=mask, lr=5e-3, generator=torch.Generator().manual_seed(0))
    assert tuple(result.added[0][0]) == (4, -3)  # the first atom chosen is the planted one
    assert len(result.input_frequencies) == 8 == result.field.encoding.out_features
    assert result.field.hidden[0].weight.shape == (16, 8)
    assert result.options.input_frequencies == tuple(map(tuple, result.input_frequencies.tolist()))
    assert result.steps == 20 * 3 + 20 and [r["input_atoms"] for r in result.rounds] == [4, 6, 8, 8]
    assert result.rounds[-1]["heldout_psnr"] > result.rounds[0]["heldout_psnr"] + 3
    # its options describe a field of the same shape (the fixed dictionary of the same atoms)
    fixed = build_field("tuner", grid, 1, result.options)
    assert torch.equal(fixed.field.encoding.input_frequencies, result.field.encoding.input_frequencies)


def test_grow_stops_at_the_target_psnr():
    signal = Signal(_planted((16, 16), (1, 0)), "easy")
    options = GrowOptions(max_input_width=12, target_psnr=5.0, round_steps=5, final_steps=0, band_limit=4)
    result = grow_field(signal, options, TunerOptions(hidden_width=8), lr=5e-3)
    assert len(result.rounds) == 1 and len(result.input_frequencies) == 4 and not result.added


def test_grow_options_round_trip_yaml_and_validate():
    options = GrowOptions(start_radius=2, add_per_round=4, target_psnr=31.5, band_limit=12,
                          train=TrainOptions(log_every=5))
    assert options_from_dict(GrowOptions, yaml.safe_load(yaml.safe_dump(options_to_dict(options)))) == options
    with pytest.raises(SinetuneError):
        GrowOptions(add_per_round=0).validate()
    with pytest.raises(SinetuneError, match="start_radius"):
        grow_field(Signal(np.zeros((8, 8, 1), np.float32), "z"), GrowOptions(start_radius=3, max_input_width=5))


def test_spectrum_dictionary_starts_with_the_low_block_then_the_signals_peaks():
    from sinetune.growing import spectrum_dictionary

    values = _planted((40, 40), (7, 2)) + _planted((40, 40), (-3, 9), phase=1.0)
    atoms = spectrum_dictionary(values, 8, band_limit=10, period=PERIOD)
    assert atoms[:4].tolist() == initial_frequencies(1).tolist()
    assert {tuple(k) for k in atoms[4:6].tolist()} == {(7, 2), (3, -9)}  # half-plane representatives
    assert len(atoms) == 8 and len({tuple(k) for k in atoms.tolist()}) == 8
    with pytest.raises(SinetuneError, match="starts with 4 atoms"):
        spectrum_dictionary(values, 3, band_limit=10, period=PERIOD)
