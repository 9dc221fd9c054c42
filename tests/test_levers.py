"""Time-to-quality levers (levers.py, issue #16): the schedule's formula and the exact head."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import build

from sinetune import TrainOptions
from sinetune.levers import lr_factor, solve_head
from sinetune.stacking import stack_fields
from sinetune.training import train


def test_lr_factor_follows_the_documented_formula():
    assert [lr_factor(t, 10, "constant", 4) for t in (1, 2, 4, 5, 10)] == [0.25, 0.5, 1.0, 1.0, 1.0]
    assert lr_factor(4, 10, "cosine", 4, 0.1) == 1.0
    assert lr_factor(7, 10, "cosine", 4, 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(10, 10, "cosine", 4, 0.1) == pytest.approx(0.1)
    assert lr_factor(1, 10, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi / 10)))
    with pytest.raises(ValueError):
        lr_factor(1, 10, "step")


def _data(generator, count=200, channels=3, signals=None):
    coords = torch.rand(count, 2, generator=generator) * 2 - 1
    shape = (signals, count, channels) if signals else (count, channels)
    return coords, torch.rand(*shape, generator=generator)


@pytest.mark.parametrize("method", ["tuner", "siren"])
def test_the_solved_head_is_the_least_squares_optimum(generator, tiny_tuner_options, method):
    from sinetune.methods import SirenOptions

    options = tiny_tuner_options if method == "tuner" else SirenOptions(hidden_width=16, hidden_layers=1)
    field = build(method, options)[1].field
    coords, values = _data(generator)
    prepared = field.prepare(coords)
    assert solve_head(field, prepared, values, prepared=True, chunk=64)  # several chunks
    loss = torch.mean((field(coords) - values) ** 2)
    weight, bias = torch.autograd.grad(loss, [field.head.weight, field.head.bias])
    assert weight.abs().max() < 1e-5 and bias.abs().max() < 1e-5  # the normal equations hold
    with torch.no_grad():
        optimum = loss.item()
        field.head.weight.add_(1e-3 * torch.randn(field.head.weight.shape, generator=generator))
        assert torch.mean((field(coords) - values) ** 2).item() > optimum


def test_a_stack_solves_each_signal_like_a_separate_field(generator, tiny_tuner_options):
    fields = [build("tuner", tiny_tuner_options, seed=seed)[1].field for seed in (0, 1)]
    coords, values = _data(generator, signals=2)
    stacked = stack_fields(fields)
    solve_head(stacked, coords, values)
    for index, single in enumerate(fields):
        solve_head(single, coords, values[index])
        assert torch.allclose(stacked.head.weight[index], single.head.weight, atol=1e-5)
        assert torch.allclose(stacked.head.bias[index], single.head.bias, atol=1e-5)


def test_levers_change_training_and_are_validated(generator, tiny_tuner_options):
    coords, values = _data(generator)

    def final_loss(**levers):
        field = build("tuner", tiny_tuner_options)[1].field
        result = train(field, coords, values, TrainOptions(steps=6, log_every=3, **levers), 1e-3)
        return result.history[-1]["loss"]

    plain = final_loss()
    assert final_loss(warmup_steps=6) != plain
    assert final_loss(lr_schedule="cosine") != plain
    assert final_loss(solve_head=True) < plain  # the head at its optimum every 3 steps
    for bad in (dict(lr_schedule="linear"), dict(warmup_steps=-1), dict(lr_floor=2.0)):
        with pytest.raises(Exception, match="lr_schedule|warmup_steps"):
            TrainOptions(**bad).validate()
