"""Quantisation of a field: the error bound, the straight-through estimator, the plain form, the fine-tune."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sinetune.errors import SinetuneError
from sinetune.methods import SirenOptions, TunerOptions, build_field
from sinetune.quantize import (
    COLUMN_MIN_ROWS,
    QuantizeOptions,
    error_bound,
    fake_quantize,
    grid_count,
    load_quantized,
    plain_field,
    quantization_aware_finetune,
    quantize_field,
    quantize_tensor,
)
from sinetune.signals import grid_coordinates


@pytest.mark.parametrize("granularity", ["tensor", "column"])
@pytest.mark.parametrize("bits", [2, 4, 8, 12])
def test_error_is_within_half_a_step(generator, bits, granularity):
    tensor = torch.randn(40, 24, generator=generator) * torch.linspace(0.01, 5, 24)  # columns of different ranges
    quantized = quantize_tensor(tensor, bits, granularity)
    restored = quantized.dequantize()
    bound = torch.from_numpy(error_bound(quantized))
    assert quantized.levels.min() >= 0 and quantized.levels.max() <= 2**bits - 1
    assert ((restored - tensor).abs() <= bound + 1e-6 * tensor.abs()).all()
    assert quantized.zero.dtype == np.float16 and quantized.scale.dtype == np.float16
    assert quantized.zero.size == (24 if granularity == "column" else 1)
    if granularity == "column":  # a column of small weights gets a fine grid of its own
        assert bound[0] < bound[-1] / 50


def test_per_column_error_beats_per_tensor_on_uneven_columns(generator):
    tensor = torch.randn(64, 16, generator=generator) * torch.logspace(-2, 1, 16)
    errors = {g: float((quantize_tensor(tensor, 6, g).dequantize() - tensor).square().mean())
              for g in ("tensor", "column")}
    assert errors["column"] < errors["tensor"] / 2


def test_small_weights_and_vectors_get_one_grid():
    assert grid_count((COLUMN_MIN_ROWS - 1, 50), "column") == 1  # a 3 × n head: one grid, not n
    assert grid_count((COLUMN_MIN_ROWS, 50), "column") == 50
    assert grid_count((50,), "column") == 1
    assert grid_count((64, 50), "tensor") == 1


def test_constant_and_non_finite_tensors():
    constant = quantize_tensor(torch.full((20, 20), 0.3), 8)
    assert torch.allclose(constant.dequantize(), torch.full((20, 20), 0.3), atol=1e-3)
    with pytest.raises(SinetuneError, match="non-finite"):
        quantize_tensor(torch.tensor([1.0, math.nan]), 8)


@pytest.mark.parametrize("bits", [1, 17, 8.0, True])
def test_bad_bits_are_one_line_errors(bits):
    with pytest.raises(SinetuneError, match="bits must be"):
        quantize_tensor(torch.zeros(3), bits)


def test_options_validate():
    QuantizeOptions().validate()
    for bad in (QuantizeOptions(granularity="row"), QuantizeOptions(qat_steps=-1), QuantizeOptions(qat_lr=0.0)):
        with pytest.raises(SinetuneError):
            bad.validate()


def test_fake_quantize_is_the_decoded_value_with_an_identity_gradient(generator):
    weight = torch.randn(32, 8, generator=generator, requires_grad=True)
    seen = fake_quantize(weight, 5, "column")
    assert torch.equal(seen.detach(), quantize_tensor(weight, 5, "column").dequantize())
    (seen * torch.arange(8.0)).sum().backward()
    assert torch.equal(weight.grad, torch.arange(8.0).expand(32, 8))


@pytest.mark.parametrize("method, options", [
    ("tuner", TunerOptions(input_width=16, hidden_width=12, band_fraction=0.3)),
    ("tuner", TunerOptions(input_width=16, hidden_width=12, band_fraction=0.3, bound_mode="learned",
                           hidden_layers=2)),
    ("siren", SirenOptions(input_width=10, hidden_width=12, hidden_layers=2)),
])
def test_plain_field_computes_the_same_function(generator, method, options):
    built = build_field(method, (32, 32), 3, options, generator=generator)
    with torch.no_grad():  # phases and biases far outside one period: the plain form wraps them
        for name, parameter in built.field.named_parameters():
            if name.endswith("phases") or name.endswith("bias"):
                parameter.add_(7.0)
    plain = plain_field(built.field)
    coords = grid_coordinates((32, 32))
    with torch.no_grad():
        assert torch.allclose(plain(coords), built.field(coords), atol=2e-5)
    for name, parameter in plain.named_parameters():
        if name.startswith("hidden") and name.endswith("bias"):
            omega = plain.get_submodule(name.rpartition(".")[0]).omega
            assert parameter.abs().max() <= math.pi / omega + 1e-6
    if method == "tuner":
        rows = plain.encoding.input_frequencies.tolist()
        assert rows == sorted(rows)  # sorted, so the frequencies delta-code
        assert float(plain.encoding.phases.detach().abs().max()) <= math.pi


def test_quantize_field_and_load_back(generator):
    plain = plain_field(build_field("siren", (16, 16), 3, SirenOptions(8, 8, 1), generator=generator).field)
    tensors = quantize_field(plain, 8)
    assert list(tensors) == [name for name, _ in plain.named_parameters()]
    restored = load_quantized(plain_field(plain), tensors)
    for (name, before), (_, after) in zip(plain.named_parameters(), restored.named_parameters()):
        assert (after - before).abs().max() <= float(error_bound(tensors[name]).max()) + 1e-6


def test_quantisation_aware_finetune_beats_post_training_quantisation(generator):
    coords = grid_coordinates((24, 24))
    values = 0.5 + 0.4 * torch.sin(3 * coords[:, :1]) * torch.cos(2 * coords[:, 1:]) * torch.ones(1, 3)
    built = build_field("siren", (24, 24), 3, SirenOptions(16, 16, 1), generator=generator)
    from sinetune.training import TrainOptions, train

    train(built.field, coords, values, TrainOptions(steps=150, lr=1e-3), 1e-3)
    plain = plain_field(built.field)

    def quantized_mse(field):
        with torch.no_grad():
            decoded = load_quantized(plain_field(field), quantize_field(field, 4))
            return float((decoded(coords) - values).square().mean())

    before = quantized_mse(plain)
    result = quantization_aware_finetune(plain, coords, values, QuantizeOptions(bits=4, qat_steps=60), 1e-3)
    assert result is not None and len(result.history) >= 6
    assert not any("parametrizations" in name for name, _ in plain.named_parameters())  # hooks removed
    assert quantized_mse(plain) < 0.8 * before
    assert quantization_aware_finetune(plain, coords, values, QuantizeOptions(qat_steps=0), 1e-3) is None
