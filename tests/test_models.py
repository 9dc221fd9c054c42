"""Building blocks: SineLayer, SpectralEncoding, SinusoidalField (models.py)."""

from __future__ import annotations

import math

import pytest
import torch

from sinetune.models import SineLayer, SinusoidalField, SpectralEncoding, default_linear, uniform_


def test_uniform_and_default_linear_bounds(generator):
    tensor = uniform_(torch.empty(20000), 0.25, generator)
    assert tensor.abs().max() <= 0.25
    assert tensor.var().item() == pytest.approx(0.25 ** 2 / 3, rel=0.05)
    layer = default_linear(64, 8, generator)
    bound = 1 / math.sqrt(64)
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    assert layer.weight.abs().max() > 0.8 * bound  # actually spread over the interval


def test_uniform_is_driven_by_the_generator():
    a = uniform_(torch.empty(10), 1.0, torch.Generator().manual_seed(5))
    b = uniform_(torch.empty(10), 1.0, torch.Generator().manual_seed(5))
    c = uniform_(torch.empty(10), 1.0, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_sine_layer_forward_matches_hand_formula(generator):
    weight = torch.randn(5, 3, generator=generator)  # effective weights Ŵ
    bias = torch.randn(5, generator=generator)
    layer = SineLayer(3, 5, 30.0, weight, bias)
    x = torch.randn(7, 3, generator=generator)
    stored = layer.weight.detach()
    torch.testing.assert_close(stored, weight / 30.0)
    expected = torch.sin(30.0 * (x @ stored.T + bias))  # ω multiplies the bias too
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.effective_weight(), weight, rtol=1e-6, atol=1e-6)
    # and it is not sin(ωWx + b)
    assert not torch.allclose(layer(x), torch.sin(x @ weight.T + bias), atol=1e-3)


def test_sine_layer_clamp_mode_stores_bounds_as_buffer(generator):
    weight = torch.randn(4, 3, generator=generator) * 3
    bounds = torch.tensor([0.5, 1.0, 2.0])
    layer = SineLayer(3, 4, 10.0, weight, torch.zeros(4), "clamp", bounds)
    assert "column_bounds" in dict(layer.named_buffers())
    assert "column_bounds" not in dict(layer.named_parameters())
    effective = layer.effective_weight()
    assert (effective.abs() <= bounds + 1e-6).all()
    # entries inside the bounds are kept, the others are projected to ±c_j
    torch.testing.assert_close(effective, torch.maximum(torch.minimum(weight, bounds), -bounds))


def test_sine_layer_learned_mode(generator):
    weight = torch.randn(6, 4, generator=generator)
    bounds = torch.tensor([1.0, 0.6, 0.3, 2.0])
    bias = torch.randn(6, generator=generator)
    layer = SineLayer(4, 6, 30.0, weight, bias, "learned", bounds)
    names = dict(layer.named_parameters())
    assert set(names) == {"weight", "bias", "scaled_bounds"}  # c stored as c / ω, like W = Ŵ / ω
    torch.testing.assert_close(layer.scaled_bounds.detach(), bounds / 30.0)
    torch.testing.assert_close(layer.column_bounds.detach(), bounds)
    raw = layer.weight.detach()
    effective = layer.effective_weight().detach()
    torch.testing.assert_close(effective, bounds * torch.tanh(30.0 * raw))
    assert (effective.abs() <= bounds).all()
    # initial effective weights are the requested ones (inside the bounds), up to the 0.999 ratio cap
    inside = torch.maximum(torch.minimum(weight, bounds), -bounds)
    ratio = (inside / bounds).clamp(-0.999, 0.999)
    torch.testing.assert_close(effective, ratio * bounds, rtol=1e-5, atol=1e-5)
    x = torch.randn(9, 4, generator=generator)
    torch.testing.assert_close(layer(x), torch.sin(x @ effective.T + 30.0 * bias), rtol=1e-5, atol=1e-5)
    # |Ŵ| ≤ c_j holds for any raw weight
    with torch.no_grad():
        layer.weight.mul_(1000)
    assert (layer.effective_weight().abs() <= bounds + 1e-6).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"weight": torch.zeros(4, 3)}, "weight must be"),
    ({"bias": torch.zeros(5)}, "weight must be"),
    ({"bound_mode": "clamp"}, "column_bounds"),
    ({"bound_mode": "learned", "column_bounds": torch.ones(3)}, "column_bounds"),
    ({"bound_mode": "other", "column_bounds": torch.ones(4)}, "unknown bound_mode"),
])
def test_sine_layer_validation(kwargs, message):
    args = {"in_features": 4, "out_features": 3, "omega": 30.0, "weight": torch.zeros(3, 4), "bias": torch.zeros(3)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        SineLayer(**args)


def test_spectral_encoding_forward_and_buffers():
    k = torch.tensor([[1, 0], [0, 1], [2, -3]])
    phases = torch.tensor([0.1, -0.2, 0.3])
    encoding = SpectralEncoding(k, 2.1, phases)
    assert encoding.in_features == 2 and encoding.out_features == 3
    assert [n for n, _ in encoding.named_parameters()] == ["phases"]
    assert {"input_frequencies", "angular_frequencies"} <= set(encoding.state_dict())
    x = torch.tensor([[0.3, -0.7], [1.0, 1.0]])
    expected = torch.sin(x @ (2 * math.pi / 2.1 * k.float()).T + phases)
    torch.testing.assert_close(encoding(x), expected)
    with pytest.raises(ValueError):
        SpectralEncoding(k, 2.1, torch.zeros(2))


def test_sinusoidal_field_composes_layers(generator):
    encoding = SpectralEncoding(torch.tensor([[1, 0], [0, 1]]), 2.0, torch.zeros(2))
    hidden = SineLayer(2, 3, 1.0, torch.randn(3, 2, generator=generator), torch.zeros(3))
    head = default_linear(3, 1, generator)
    field = SinusoidalField(encoding, [hidden], head)
    x = torch.randn(5, 2, generator=generator)
    torch.testing.assert_close(field(x), head(hidden(encoding(x))))
    assert field.in_features == 2 and field.out_features == 1


def test_spectral_encoding_basis_reproduces_forward_and_its_phase_gradient(generator):
    k = torch.randint(-9, 10, (24, 2), generator=generator)
    encoding = SpectralEncoding(k, 2.1, torch.rand(24, generator=generator) * 3 - 1.5)
    x = torch.rand(200, 2, generator=generator) * 2 - 1
    basis = encoding.basis(x)
    assert basis.shape == (200, 48) and basis.dtype == x.dtype
    weights = torch.randn(200, 24, generator=generator)
    direct = encoding(x)
    (direct_grad,) = torch.autograd.grad((direct * weights).sum(), encoding.phases)
    cached = encoding.from_basis(basis)
    (cached_grad,) = torch.autograd.grad((cached * weights).sum(), encoding.phases)
    exact = torch.sin(x.double() @ encoding.angular_frequencies.T + encoding.phases.detach().double())
    torch.testing.assert_close(cached.double(), exact, atol=1e-6, rtol=0)  # float64 angles: no larger error
    torch.testing.assert_close(direct.double(), exact, atol=1e-5, rtol=0)  # than the float32 direct path
    torch.testing.assert_close(cached_grad, direct_grad, atol=1e-4, rtol=1e-5)
    assert basis[:, :24].square().add(basis[:, 24:].square()).sub(1).abs().max() < 1e-6  # sin² + cos² = 1


def test_prepared_forward_equals_forward(generator):
    k = torch.tensor([[1, 0], [0, 1], [3, -2], [5, 4]])
    encoding = SpectralEncoding(k, 2.0, torch.rand(4, generator=generator))
    hidden = SineLayer(4, 8, 30.0, torch.randn(8, 4, generator=generator) * 0.3, torch.zeros(8))
    field = SinusoidalField(encoding, [hidden], default_linear(8, 3, generator))
    x = torch.rand(50, 2, generator=generator) * 2 - 1
    torch.testing.assert_close(field.forward_prepared(field.prepare(x)), field(x), atol=1e-5, rtol=0)
    siren_like = SinusoidalField(SineLayer(2, 4, 30.0, torch.randn(4, 2, generator=generator), torch.zeros(4)),
                                 [], default_linear(4, 1, generator))
    assert siren_like.prepare(x) is x  # nothing frozen to cache
    torch.testing.assert_close(siren_like.forward_prepared(x), siren_like(x))


@pytest.mark.parametrize("bound_mode", ["none", "clamp", "learned"])
def test_sine_layer_folded_omega_matches_the_unfolded_formula_and_gradient(generator, bound_mode):
    omega = 30.0
    weight = (torch.rand(6, 5, generator=generator) * 2 - 1) * 0.5
    bounds = None if bound_mode == "none" else torch.full((5,), 0.8)
    layer = SineLayer(5, 6, omega, weight, torch.rand(6, generator=generator) * 0.1, bound_mode, bounds)
    x = torch.rand(40, 5, generator=generator) * 2 - 1
    # sin(ω(Wx + b)) with the stored W (none/clamp) — SIREN's formula as written in the paper
    stored = layer.weight if bound_mode != "learned" else layer.effective_weight() / omega
    reference = torch.sin(omega * (x @ stored.T + layer.bias))
    grads = torch.autograd.grad(reference.sum(), [layer.weight, layer.bias])
    folded = layer(x)
    folded_grads = torch.autograd.grad(folded.sum(), [layer.weight, layer.bias])
    torch.testing.assert_close(folded, reference, atol=2e-5, rtol=0)
    for got, expected in zip(folded_grads, grads):
        torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-4)
