"""Pruning (sinetune.pruning) and the shape edits under it (sinetune.structure), on tiny generated signals."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import yaml

from sinetune.config import options_from_dict, options_to_dict
from sinetune.errors import SinetuneError
from sinetune.methods import SirenOptions, TunerOptions, build_field
from sinetune.pruning import (
    HiddenL1Penalty,
    PruneOptions,
    alpha_schedule,
    least_informative,
    prune_field,
)
from sinetune.signals import grid_coordinates
from sinetune.structure import hidden_matrix, hidden_shape, keep_hidden_units, keep_input_atoms
from sinetune.training import TrainOptions, train

GRID = (12, 12)


def _tuner(width: int = 12, layers: int = 1):
    options = TunerOptions(input_width=width, hidden_width=width, hidden_layers=layers, band_limit=5, low_range=2)
    return build_field("tuner", GRID, 3, options, generator=torch.Generator().manual_seed(1))


def _siren(width: int = 10):
    options = SirenOptions(input_width=width, hidden_width=width, hidden_layers=1)
    return build_field("siren", GRID, 3, options, generator=torch.Generator().manual_seed(2))


def _target(coords: torch.Tensor) -> torch.Tensor:
    x, y = coords[:, :1], coords[:, 1:]
    return 0.5 + 0.3 * torch.cat([torch.sin(np.pi * x), torch.cos(np.pi * (x - y)), torch.sin(2 * np.pi * y)], 1)


@pytest.mark.parametrize("make", [_tuner, _siren])
def test_removing_a_zero_column_changes_nothing(make):
    built = make()
    fitted, coords = built.field, grid_coordinates(GRID)
    with torch.no_grad():
        fitted.hidden[0].weight[:, 3] = 0.0
        fitted.hidden[0].weight[:, 7] = 0.0
    expected = fitted(coords)
    rows, columns = hidden_shape(fitted)
    keep_input_atoms(fitted, [j for j in range(columns) if j not in (3, 7)])
    assert hidden_shape(fitted) == (rows, columns - 2)
    assert fitted.hidden[0].weight.shape == (rows, columns - 2)
    assert fitted.encoding.out_features == columns - 2
    torch.testing.assert_close(fitted(coords), expected, rtol=0, atol=1e-6)


def test_removed_tuner_columns_take_their_frequency_phase_and_bound():
    built = _tuner()
    encoding, layer = built.field.encoding, built.field.hidden[0]
    frequencies, phases = encoding.input_frequencies.clone(), encoding.phases.detach().clone()
    bounds = layer.column_bounds.clone()
    keep = [0, 1, 4, 9]
    keep_input_atoms(built.field, keep)
    assert torch.equal(encoding.input_frequencies, frequencies[keep])
    assert torch.equal(encoding.phases.detach(), phases[keep])
    assert torch.equal(layer.column_bounds, bounds[keep])
    built.constraints[0].apply()  # the method's clamp still works on the smaller layer


@pytest.mark.parametrize("layers", [1, 2])
def test_removing_a_row_equals_masking_its_unit(layers):
    built = _tuner(layers=layers)
    fitted, coords = built.field, grid_coordinates(GRID)
    masked = copy.deepcopy(fitted)
    following = masked.hidden[1] if layers > 1 else masked.head
    with torch.no_grad():
        following.weight[:, 5] = 0.0  # what unit 5 contributes downstream is gone
    expected, unmasked = masked(coords), fitted(coords)
    assert not torch.allclose(expected, unmasked, atol=1e-4)  # unit 5 did contribute
    rows, _ = hidden_shape(fitted)
    keep_hidden_units(fitted, [i for i in range(rows) if i != 5])
    assert hidden_shape(fitted)[0] == rows - 1
    assert fitted.hidden[0].bias.shape == (rows - 1,)
    torch.testing.assert_close(fitted(coords), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("make", [_tuner, _siren])
def test_a_zero_row_is_a_constant_that_mean_replacement_keeps(make):
    built = make()
    fitted, coords = built.field, grid_coordinates(GRID)
    with torch.no_grad():
        fitted.hidden[0].weight[2] = 0.0  # unit 2 now outputs sin(ω b_2) everywhere
        fitted.hidden[0].weight[:, 4] = 0.0
    expected = fitted(coords)
    bare = copy.deepcopy(fitted)
    rows, columns = hidden_shape(fitted)
    keep_hidden_units(fitted, [i for i in range(rows) if i != 2], coords)
    keep_input_atoms(fitted, [j for j in range(columns) if j != 4], coords)
    torch.testing.assert_close(fitted(coords), expected, rtol=0, atol=1e-5)
    keep_hidden_units(bare, [i for i in range(rows) if i != 2])  # without the fold the constant is lost
    assert not torch.allclose(bare(coords), expected, atol=1e-4)


def test_shape_edits_refuse_nonsense():
    built = _tuner()
    with pytest.raises(SinetuneError, match="at least one"):
        keep_input_atoms(built.field, [])
    with pytest.raises(SinetuneError, match="distinct"):
        keep_hidden_units(built.field, [0, 0, 1])
    with pytest.raises(SinetuneError, match="distinct"):
        keep_input_atoms(built.field, [99])


def test_alpha_schedule_rises_to_the_scale_then_falls():
    scale, length = 1e-6, 100
    assert alpha_schedule(0, length, scale) == 0.0
    assert alpha_schedule(length, length, scale) == 0.0
    assert alpha_schedule(50, length, scale) == pytest.approx(scale)
    assert alpha_schedule(25, length, scale) == pytest.approx(scale * 0.25)  # (2·25/100)²
    assert alpha_schedule(80, length, scale) == pytest.approx(scale * 0.16)  # (2·20/100)²
    assert alpha_schedule(10, 0, scale) == 0.0


def test_l1_penalty_whole_and_targeted():
    built = _tuner()
    weights = hidden_matrix(built.field).detach().abs()
    penalty = HiddenL1Penalty(built.field, 10, 0.5)
    penalty.advance(4, built.field)  # the next step is 5, the middle: α = α_s = 0.5
    assert float(penalty().detach()) == pytest.approx(float(weights.sum()) * 0.5 / 0.5, rel=1e-5)
    rows, columns = torch.tensor([1, 2]), torch.tensor([0])
    targeted = HiddenL1Penalty(built.field, 10, 0.5, rows, columns)
    targeted.advance(4, built.field)
    expected = float(weights[rows].sum() + weights[:, columns].sum())
    assert float(targeted().detach()) == pytest.approx(expected, rel=1e-5)


def test_least_informative_takes_the_smallest_under_the_threshold():
    norms = torch.tensor([5.0, 1.0, 0.5, 3.0, 0.5])  # total 10
    assert sorted(least_informative(norms, 0.11).tolist()) == [2, 4]  # 0.5 + 0.5 < 1.1, +1 is not
    assert sorted(least_informative(norms, 0.25).tolist()) == [1, 2, 4]
    assert least_informative(norms, 0.25, protected=torch.tensor([1])).tolist() in ([2, 4], [4, 2])


@pytest.mark.parametrize("axes", ["both", "columns", "rows"])
def test_prune_field_really_shrinks_to_the_target(axes):
    built = _tuner(width=16)
    coords = grid_coordinates(GRID)
    values = _target(coords)
    train(built.field, coords, values, TrainOptions(steps=40), 5e-3, built.constraints)
    original = copy.deepcopy(built.field.state_dict())
    options = PruneOptions(target_fraction=0.3, threshold=0.2, axes=axes, mode="decay", decay_steps=6, finetune_steps=6,
                           alpha_scale=1e-4, train=TrainOptions(log_every=3))
    result = prune_field(built.field, coords, values, options, 5e-3, constraints=built.constraints)
    assert result.before["hidden_weights"] == 256
    assert 0.3 <= result.removed_fraction < 0.3 + 16 / 256 + 1e-9  # at most one unit past the target
    rows, columns = hidden_shape(result.field)
    assert rows * columns == result.after["hidden_weights"] < 256
    assert result.field.hidden[0].weight.shape == (rows, columns)
    assert result.field.head.weight.shape == (3, rows)
    assert (rows == 16) if axes == "columns" else (rows < 16)
    assert (columns == 16) if axes == "rows" else (columns < 16)
    assert result.after["parameters"] < result.before["parameters"]
    # the frequencies kept are the original ones at kept_columns, e_1 and e_2 among them
    kept = original["encoding.input_frequencies"][result.kept_columns]
    assert torch.equal(result.field.encoding.input_frequencies, kept)
    assert {(1, 0), (0, 1)} <= {tuple(k) for k in kept.tolist()}
    assert len(result.kept_rows) == rows and result.rounds and result.steps == len(result.rounds) * 12
    for name, tensor in built.field.state_dict().items():  # the field given is untouched
        assert torch.equal(tensor, original[name])
    assert torch.isfinite(result.field(coords)).all()
    assert result.constraints[0].layer is result.field.hidden[0]


def test_targeted_mode_keeps_essential_candidates():
    built = _siren(width=12)
    coords = grid_coordinates(GRID)
    values = _target(coords)
    train(built.field, coords, values, TrainOptions(steps=30), 1e-3)
    options = PruneOptions(target_fraction=None, threshold=0.3, mode="targeted", decay_steps=0, targeted_steps=4,
                           survive_norm=0.0, finetune_steps=2, max_rounds=2)
    result = prune_field(built.field, coords, values, options, 1e-3)
    assert result.after == result.before  # T_n = 0: every candidate "survives", nothing is cut
    cut = prune_field(built.field, coords, values, PruneOptions(**{**options.__dict__, "survive_norm": None}), 1e-3)
    assert cut.after["hidden_weights"] < cut.before["hidden_weights"]


def test_options_round_trip_yaml_and_validate():
    options = PruneOptions(target_fraction=0.5, axes="columns", mode="targeted", survive_norm=0.1,
                           train=TrainOptions(log_every=7, lr=1e-3))
    text = yaml.safe_dump(options_to_dict(options))
    assert options_from_dict(PruneOptions, yaml.safe_load(text)) == options
    with pytest.raises(SinetuneError, match="unknown key"):
        options_from_dict(PruneOptions, {"treshold": 0.1})
    for bad in ({"threshold": 1.5}, {"target_fraction": 1.0}, {"axes": "diagonal"}, {"decay_steps": -1}):
        with pytest.raises(SinetuneError):
            PruneOptions(**bad).validate()
