"""Peer method recipes (peers-spec §2–§5): SSN, SIREN², FFN, FINER, WIRE, Gauss, MFN, BACON.

Init statistics against each formula, activations on hand inputs, presets, YAML round-trips, the
bench shape, and a tiny fit per method. Everything is CPU-only and small (≤ 32² images, ≤ 200 steps).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch
import yaml
from conftest import build, check_uniform, smooth_rgb

from sinetune import SinetuneError
from sinetune.config import RunConfig, config_from_dict, config_to_dict
from sinetune.methods import (
    METHODS,
    BaconOptions,
    FfnOptions,
    FinerOptions,
    GaussOptions,
    MfnOptions,
    Siren2Options,
    SirenOptions,
    SsnOptions,
    WireOptions,
    get_method,
)
from sinetune.methods import bacon as bacon_module
from sinetune.methods import siren2 as siren2_module
from sinetune.methods import ssn as ssn_module
from sinetune.models import ComplexLinear, FinerLayer, GaborLayer, GaussLayer
from sinetune.signals import grid_coordinates
from sinetune.spectral import spectral_centroid
from sinetune.training import TrainOptions, train

PEERS = ("siren2", "ssn", "ffn", "finer", "wire", "gauss", "mfn", "bacon")


def smooth_values(size: int) -> np.ndarray:
    """``(size, size, 3)`` float32 smooth image in [0, 1]."""
    return smooth_rgb(size, size).astype(np.float32) / 255.0


def check_normal(tensor: torch.Tensor, std: float, rel: float) -> None:
    """Mean ≈ 0 and std ≈ ``std`` (Gaussian: also a kurtosis ≈ 3, unlike a uniform's 1.8)."""
    values = tensor.detach().double().flatten()
    assert values.mean().abs().item() < 5 * std / math.sqrt(values.numel())
    assert values.std().item() == pytest.approx(std, rel=rel)
    if values.numel() >= 2000:
        kurtosis = (((values - values.mean()) / values.std()) ** 4).mean().item()
        assert kurtosis == pytest.approx(3.0, abs=0.4)


# --- registry, bench shape, YAML ----------------------------------------------------------------

def test_registry_lists_every_peer_with_its_documented_lr():
    expected = {"siren2": 1e-4, "ssn": 1e-3, "ffn": 1e-3, "finer": 5e-4, "wire": 5e-3, "gauss": 5e-3, "mfn": 1e-2,
                "bacon": 5e-3}
    for name, lr in expected.items():
        method = get_method(name)
        assert method.name == name and method.default_lr == lr
        assert method.description and "\n" not in method.description
    assert get_method("siren2").prepare is siren2_module.prepare
    assert get_method("ssn").prepare is ssn_module.prepare  # ω from the spectrum (issue #4)
    measured = ("siren2", "tuner", "siren", "ssn")
    assert all(METHODS[name].prepare is None for name in METHODS if name not in measured)


BENCH_SHAPE = {"input_width": 16, "hidden_width": 16, "hidden_layers": 1}


@pytest.mark.parametrize("name", PEERS)
def test_every_peer_builds_and_steps_with_the_bench_shape(name):
    options = get_method(name).options_type(**BENCH_SHAPE)
    _, built = build(name, options, grid_shape=(16, 16))
    field = built.field
    coords = grid_coordinates((16, 16))
    values = torch.from_numpy(smooth_values(16).reshape(-1, 3))
    output = field(coords)
    assert output.shape == (256, 3) and output.dtype == torch.float32 and torch.isfinite(output).all()
    assert field.in_features == 2 and field.out_features == 3
    before = {k: v.clone() for k, v in field.state_dict().items()}
    result = train(field, coords, values, TrainOptions(steps=2, log_every=1), get_method(name).default_lr)
    assert not result.diverged
    changed = [k for k, v in field.state_dict().items() if not torch.equal(v, before[k])]
    # float32 weights; integer frequencies and their float64 angles as in TUNER's encoding (BACON's filters)
    frozen = ("input_frequencies", "angular_frequencies")
    assert changed and all(v.dtype == torch.float32 for k, v in field.state_dict().items() if not k.endswith(frozen))


ROUND_TRIP = {
    "siren2": Siren2Options(input_width=16, preset="paper", centroid_mode="rowwise", centroid=0.25),
    "ssn": SsnOptions(hidden_layers=2, bandwidth_fraction=0.05),
    "ffn": FfnOptions(input_width=64, sigma=14.0, output="sigmoid"),
    "finer": FinerOptions(first_bias_scale=5.0, alpha_grad=True),
    "wire": WireOptions(omega=10.0, scale=10.0),
    "gauss": GaussOptions(scale=10.0),
    "mfn": MfnOptions(input_width=64, hidden_width=64, weight_scale=2.0),
    "bacon": BaconOptions(input_width=64, hidden_width=64, input_scales=(0.125, 0.125, 0.25, 0.25, 0.25)),
}


@pytest.mark.parametrize("name", PEERS)
def test_options_round_trip_through_the_yaml_config(name):
    method = get_method(name)
    options = method.resolve(ROUND_TRIP[name], (32, 32))  # resolved: derived values filled, as saved
    config = RunConfig(method=name, options=options)
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    again = config_from_dict(yaml.safe_load(text))
    assert again == config and type(again.options) is method.options_type
    defaults = config_from_dict({"method": name})
    assert defaults.options == method.options_type()
    with pytest.raises(SinetuneError, match="unknown key"):
        config_from_dict({"method": name, "options": {"omega_0": 3.0}})


# --- spectral centroid --------------------------------------------------------------------------

@pytest.mark.parametrize("samples, bin_", [(64, 5), (101, 17), (48, 24)])
def test_spectral_centroid_of_a_pure_cosine(samples, bin_):
    t = np.arange(samples)
    wave = np.cos(2 * np.pi * bin_ * t / samples)
    assert spectral_centroid(wave[:, None]) == pytest.approx(2 * bin_ / samples, abs=1e-9)
    three = np.repeat(wave[:, None], 3, axis=1)
    assert spectral_centroid(three) == pytest.approx(2 * bin_ / samples / 3, abs=1e-9)  # 2·mean_c / C
    assert spectral_centroid(wave[:, None], "rowwise") == spectral_centroid(wave[:, None], "flattened")


def test_spectral_centroid_flattened_and_rowwise_differ_on_row_structure():
    rows = np.repeat(np.cos(np.linspace(0, 3, 32))[:, None], 32, axis=1)[..., None]  # constant along each row
    assert spectral_centroid(rows, "rowwise") == pytest.approx(0.0, abs=1e-12)  # each row is pure DC
    assert spectral_centroid(rows, "flattened") > 0.05  # the jumps between rows are high frequencies
    columns = np.cos(2 * np.pi * 4 * np.arange(32) / 32)[None, :].repeat(16, axis=0)[..., None]
    assert spectral_centroid(columns, "rowwise") == pytest.approx(2 * 4 / 32, abs=1e-9)
    with pytest.raises(ValueError):
        spectral_centroid(rows, "columnwise")


def test_siren2_centroid_matches_the_released_script_on_camera():
    skimage_data = pytest.importorskip("skimage.data")
    camera = skimage_data.camera().astype(np.float64)[..., None] / 255.0  # 512², the repo's camera.png
    flat = siren2_module.prepare(Siren2Options(), camera)
    rowwise = siren2_module.prepare(Siren2Options(centroid_mode="rowwise"), camera)
    assert flat.centroid == pytest.approx(0.312, abs=5e-4)  # peers-spec §2 table
    assert rowwise.centroid == pytest.approx(0.173, abs=5e-4)
    resolved = get_method("siren2").resolve(flat, (512, 512))
    assert (resolved.s0, resolved.s1) == (pytest.approx(39.5, abs=0.05), pytest.approx(0.125, abs=5e-4))


# --- SIREN² -------------------------------------------------------------------------------------

def test_siren2_differs_from_siren_only_in_w1_and_w2():
    shape = {"input_width": 32, "hidden_width": 24, "hidden_layers": 3}
    _, base = build("siren", SirenOptions(**shape), seed=5)
    _, perturbed = build("siren2", Siren2Options(**shape, centroid=0.3), seed=5)
    a, b = base.field.state_dict(), perturbed.field.state_dict()
    assert list(a) == list(b)
    differ = {name for name in a if not torch.equal(a[name], b[name])}
    assert differ == {"encoding.weight", "hidden.0.weight"}
    assert [layer.omega for layer in perturbed.field.hidden] == [30.0] * 3
    assert perturbed.constraints == [] and perturbed.penalties == []


def test_siren2_noise_variances_follow_the_centroid_formula():
    # first ω 30, hidden ω 25: both scales are divided by the *hidden* ω (peers-spec §2)
    shape = {"input_width": 4096, "hidden_width": 256, "hidden_layers": 1, "first_omega": 30.0, "hidden_omega": 25.0}
    zeta = 0.3
    options, perturbed = build("siren2", Siren2Options(**shape, centroid=zeta), seed=2)
    _, base = build("siren", SirenOptions(**shape), seed=2)
    s0, s1 = 50 * (1 - math.exp(-5 * zeta)), 0.4 * zeta
    assert (options.s0, options.s1) == (pytest.approx(s0), pytest.approx(s1))
    delta1 = perturbed.field.encoding.weight - base.field.encoding.weight
    delta2 = perturbed.field.hidden[0].weight - base.field.hidden[0].weight
    check_normal(delta1, s0 / 25.0, rel=0.04)
    check_normal(delta2, s1 / 25.0, rel=0.02)


def test_siren2_presets_hold_the_documented_constants():
    zeta = 0.2
    code, paper = siren2_module.NOISE_CONSTANTS["code"], siren2_module.NOISE_CONSTANTS["paper"]
    assert code == {1: (3500.0, 7.0, 3.0), 2: (50.0, 5.0, 0.4)}
    assert paper == {1: (3500.0, 5.0, 3.0), 2: (50.0, 5.0, 0.4)}
    assert siren2_module.noise_scales(zeta, 1, "code") == pytest.approx((3500 * (1 - math.exp(-7 * zeta)), 0.6))
    assert siren2_module.noise_scales(zeta, 1, "paper") == pytest.approx((3500 * (1 - math.exp(-5 * zeta)), 0.6))
    assert siren2_module.noise_scales(zeta, 2, "code") == pytest.approx((50 * (1 - math.exp(-1.0)), 0.08))
    # channel normalisation: code ζ = SC / C, paper ζ = SC / √C; images are centred to [-1, 1] first
    values = smooth_values(16)
    sc = spectral_centroid(2.0 * values.astype(np.float64) - 1.0)
    assert siren2_module.prepare(Siren2Options(), values).centroid == pytest.approx(sc / 3)
    assert siren2_module.prepare(Siren2Options(preset="paper"), values).centroid == pytest.approx(sc / math.sqrt(3))
    assert siren2_module.prepare(Siren2Options(centroid=0.7), values).centroid == 0.7  # given: kept
    defaults = Siren2Options()
    assert (defaults.first_omega, defaults.hidden_omega, defaults.preset, defaults.centroid_mode) == (
        30.0, 30.0, "code", "flattened")


def test_siren2_resolve_needs_a_centroid_and_keeps_given_scales():
    with pytest.raises(SinetuneError, match="centroid"):
        get_method("siren2").resolve(Siren2Options(), (32, 32))
    given = get_method("siren2").resolve(Siren2Options(s0=12.0, s1=0.5), (32, 32))
    assert (given.s0, given.s1) == (12.0, 0.5)
    with pytest.raises(SinetuneError, match="3-D"):
        get_method("siren2").resolve(Siren2Options(centroid=0.2), (8, 8, 8))
    assert get_method("siren2").resolve(Siren2Options(s0=1.0, s1=0.1), (8, 8, 8)).s0 == 1.0
    with pytest.raises(SinetuneError, match="hidden_layers"):
        get_method("siren2").resolve(Siren2Options(hidden_layers=0, centroid=0.2), (32, 32))
    with pytest.raises(SinetuneError, match="s0"):
        get_method("siren2").resolve(Siren2Options(s0=-1.0, s1=0.1), (32, 32))


def test_siren2_explain_says_where_the_noise_comes_from():
    method = get_method("siren2")
    derived = method.resolve(Siren2Options(centroid=0.2), (32, 32))
    line = method.explain(derived, (32, 32))
    assert f"s0 = {derived.s0:g}" in line and "centroid ζ = 0.2" in line and "preset code" in line
    assert "(given)" in method.explain(method.resolve(Siren2Options(s0=12.0, s1=0.5), (32, 32)), (32, 32))
    assert "(given)" in method.explain(method.resolve(Siren2Options(centroid=0.2, s0=12.0), (32, 32)), (32, 32))


# --- SSN ----------------------------------------------------------------------------------------

def test_ssn_explain_says_whether_omega_was_derived():
    method = get_method("ssn")
    derived = method.resolve(SsnOptions(), (256, 256))
    assert method.explain(derived, (256, 256)).startswith(f"SSN ω = {derived.omega:g} (grid rule")
    assert method.explain(method.resolve(SsnOptions(omega=3.0), (256, 256)), (256, 256)) == "SSN ω = 3 (given)"


def test_ssn_every_weight_and_bias_is_kaiming_normal():
    options = SsnOptions(input_width=2048, hidden_width=2048, hidden_layers=1, omega=5.0)
    _, built = build("ssn", options, channels=512)
    field = built.field
    first, hidden, head = field.encoding, field.hidden[0], field.head
    assert first.omega == 5.0 and hidden.omega == 1.0
    check_normal(first.weight, 1.0, rel=0.03)  # stored W₁ (not ω W₁), σ = √(2/d), d = 2
    check_normal(first.bias, 1.0, rel=0.08)
    check_normal(hidden.weight, math.sqrt(2 / 2048), rel=0.01)
    check_normal(hidden.bias, math.sqrt(2 / 2048), rel=0.08)
    check_normal(head.weight, math.sqrt(2 / 2048), rel=0.01)
    check_normal(head.bias, math.sqrt(2 / 2048), rel=0.15)
    x = torch.rand(10, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    h = torch.sin(5.0 * (x @ first.weight.T + first.bias))
    h = torch.sin(h @ hidden.weight.T + hidden.bias)  # no ω in the hidden layers
    torch.testing.assert_close(field(x), h @ head.weight.T + head.bias, rtol=1e-4, atol=1e-4)


def test_ssn_omega_from_the_grid_matches_the_siren_equivalence():
    method = get_method("ssn")
    at_256 = method.resolve(SsnOptions(), (256, 256)).omega
    assert at_256 == pytest.approx(30 / (math.sqrt(3) * 2), rel=1e-3)  # SIREN ω₀ = 30 ↔ SSN ω ≈ 8.66
    assert method.resolve(SsnOptions(), (512, 300)).omega == pytest.approx(at_256 * 299 / 255, rel=1e-4)
    kappa = SsnOptions().bandwidth_fraction
    audio = method.resolve(SsnOptions(), (10001,)).omega
    assert audio == pytest.approx(kappa * math.pi * 10000 / 2 / math.sqrt(2), rel=1e-6)  # σ_w = √2 for d = 1
    assert ssn_module.SIREN_EQUIVALENT_BANDWIDTH == pytest.approx(kappa, abs=1e-6)
    assert method.resolve(SsnOptions(omega=3.0), (256, 256)).omega == 3.0
    with pytest.raises(SinetuneError, match="omega"):
        method.resolve(SsnOptions(omega=-1.0), (32, 32))


# --- FFN ----------------------------------------------------------------------------------------

def test_ffn_frequencies_are_frozen_gaussians_with_std_sigma():
    options, built = build("ffn", FfnOptions(input_width=8192, hidden_width=8, hidden_layers=1, sigma=7.0))
    encoding = built.field.encoding
    assert "encoding.frequencies" in built.field.state_dict()
    assert "encoding.frequencies" not in dict(built.field.named_parameters())
    assert encoding.frequencies.shape == (4096, 2) and encoding.out_features == 8192
    check_normal(encoding.frequencies, 7.0, rel=0.03)
    x = torch.tensor([[-1.0, -1.0], [1.0, 0.0], [0.3, -0.6]])
    v = (x + 1) / 2
    angles = 2 * math.pi * v @ encoding.frequencies.T
    torch.testing.assert_close(encoding(x), torch.cat([torch.cos(angles), torch.sin(angles)], 1), rtol=0, atol=1e-4)
    assert torch.equal(encoding(x)[0], torch.cat([torch.ones(4096), torch.zeros(4096)]))  # v = 0
    x.requires_grad_(True)
    built.field(x).sum().backward()
    assert built.field.encoding.frequencies.grad is None


def test_ffn_sigmoid_head_and_width_validation():
    _, built = build("ffn", FfnOptions(input_width=16, hidden_width=16, output="sigmoid", sigma=30.0))
    out = built.field(torch.rand(50, 2) * 2 - 1)
    assert (out > 0).all() and (out < 1).all()
    assert FfnOptions().sigma == 10.0 and FfnOptions().input_width == 512  # m = 256 frequencies
    with pytest.raises(SinetuneError, match="even"):
        get_method("ffn").resolve(FfnOptions(input_width=15), (32, 32))


# --- FINER --------------------------------------------------------------------------------------

def test_finer_activation_on_hand_inputs():
    layer = FinerLayer(2.0, torch.tensor([[1.0], [-3.0]]), torch.tensor([0.5, 0.1]))
    x = torch.tensor([[0.25], [-1.0]], requires_grad=True)
    # z = [[0.75, -0.65], [-0.5, 3.1]]; α = |z| + 1
    expected = torch.sin(2.0 * torch.tensor([[1.75 * 0.75, 1.65 * -0.65], [1.5 * -0.5, 4.1 * 3.1]]))
    out = layer(x)
    torch.testing.assert_close(out, expected)
    out[0, 0].backward()
    # α is a constant in backprop: ∂/∂x = ω α cos(ω α z) · w
    assert x.grad[0, 0].item() == pytest.approx(2.0 * 1.75 * math.cos(2.0 * 1.75 * 0.75), rel=1e-5)
    grad_layer = FinerLayer(2.0, torch.tensor([[1.0]]), torch.tensor([0.5]), alpha_grad=True)
    x = torch.tensor([[0.25]], requires_grad=True)
    grad_layer(x).sum().backward()
    # with gradient through α: d/dz sin(ω (|z|+1) z) = ω (2|z| + 1) cos(ω (|z|+1) z)
    assert x.grad.item() == pytest.approx(2.0 * 2.5 * math.cos(2.0 * 1.75 * 0.75), rel=1e-5)


def test_finer_init_and_first_bias_range():
    options = FinerOptions(input_width=4096, hidden_width=64, hidden_layers=1, first_bias_scale=5.0,
                           hidden_omega=20.0)
    _, built = build("finer", options, channels=256)
    field = built.field
    assert isinstance(field.encoding, FinerLayer) and field.encoding.omega == 30.0
    check_uniform(field.encoding.bias, 5.0)  # U(-k, k)
    check_uniform(field.encoding.weight, 0.5)  # U(±1/d)
    check_uniform(field.hidden[0].weight, math.sqrt(6 / 4096) / 20.0, rel=0.1)
    assert field.hidden[0].bias.abs().max() <= 1 / math.sqrt(4096)
    check_uniform(field.head.weight, math.sqrt(6 / 64) / 20.0, rel=0.1)
    _, default = build("finer", FinerOptions(input_width=4096, hidden_width=8, hidden_layers=1))
    check_uniform(default.field.encoding.bias, 1 / math.sqrt(2))  # PyTorch default U(±1/√d)
    assert FinerOptions().first_bias_scale is None and FinerOptions().alpha_grad is False


# --- WIRE ---------------------------------------------------------------------------------------

def test_wire_gabor_activation_on_hand_inputs():
    real = GaborLayer(ComplexLinear(torch.tensor([[1.0, -2.0]]), torch.tensor([0.1])), omega=2.0, scale=0.5)
    x = torch.tensor([[0.3, 0.05]])
    z = 0.3 - 0.1 + 0.1
    expected = complex(math.cos(2 * z), math.sin(2 * z)) * math.exp(-(0.5 * z) ** 2)
    with torch.no_grad():
        assert complex(real(x)[0, 0]) == pytest.approx(expected, rel=1e-5)
    layer = GaborLayer(ComplexLinear(torch.tensor([[0.5]]), torch.tensor([0.2]), torch.tensor([[-1.0]]),
                                     torch.tensor([0.3])), omega=3.0, scale=2.0)
    h = torch.tensor([[0.4 + 0.1j]], dtype=torch.complex64)
    z = (0.5 - 1.0j) * (0.4 + 0.1j) + (0.2 + 0.3j)
    expected = np.exp(1j * 3.0 * z - abs(2.0 * z) ** 2)
    with torch.no_grad():
        assert complex(layer(h)[0, 0]) == pytest.approx(complex(expected), rel=1e-5)


def test_wire_widths_init_and_real_output():
    options, built = build("wire", WireOptions(input_width=256, hidden_width=64, hidden_layers=1), channels=2)
    field = built.field
    assert field.encoding.out_features == 181 and field.hidden[0].out_features == 45  # int(H/√2)
    assert field.encoding.linear.weight_imag is None and field.encoding.linear.bias_imag is None  # real first layer
    assert field.hidden[0].linear.weight_imag is not None and field.head.linear.weight_imag is not None
    assert (field.encoding.omega, field.encoding.scale) == (20.0, 30.0)
    check_uniform(field.encoding.linear.weight_real, 1 / math.sqrt(2), rel=0.15)
    for part in (field.hidden[0].linear.weight_real, field.hidden[0].linear.weight_imag):
        check_uniform(part, 1 / math.sqrt(181), rel=0.1)
    assert not torch.equal(field.hidden[0].linear.weight_real, field.hidden[0].linear.weight_imag)
    out = field(torch.rand(20, 2) * 2 - 1)
    assert out.shape == (20, 2) and not out.is_complex()


def test_wire_warns_outside_its_stable_range():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_method("wire").resolve(WireOptions(), (32, 32))  # 20 / 30: fine
    with pytest.warns(UserWarning, match="stable range"):
        get_method("wire").resolve(WireOptions(omega=40.0, scale=10.0), (32, 32))
    with pytest.raises(SinetuneError, match="scale"):
        get_method("wire").resolve(WireOptions(scale=0.0), (32, 32))


# --- Gauss --------------------------------------------------------------------------------------

def test_gauss_activation_and_default_init():
    linear = torch.nn.Linear(2, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.5, -1.0]]))
        linear.bias.fill_(0.02)
    layer = GaussLayer(linear, scale=3.0)
    x = torch.tensor([[0.1, 0.05], [-0.2, 0.0]])
    z = torch.tensor([[0.05 - 0.05 + 0.02], [-0.1 + 0.02]])
    torch.testing.assert_close(layer(x), torch.exp(-(3.0 * z) ** 2))
    _, built = build("gauss", GaussOptions(input_width=4096, hidden_width=64, hidden_layers=1))
    field = built.field
    assert field.encoding.scale == 30.0
    check_uniform(field.encoding.linear.weight, 1 / math.sqrt(2))
    check_uniform(field.hidden[0].linear.weight, 1 / math.sqrt(4096), rel=0.1)


# --- MFN ----------------------------------------------------------------------------------------

def test_mfn_filters_and_linear_layers_follow_the_formula():
    options, built = build("mfn", MfnOptions(input_width=2048, hidden_width=2048, hidden_layers=2, weight_scale=2.0),
                           grid_shape=(64, 48), channels=2)
    assert options.input_scale == 48.0  # smallest grid side
    field = built.field
    assert len(field.filters) == 3 and len(field.linears) == 2
    for filter_ in field.filters:
        assert filter_.omega == 1.0
        check_uniform(filter_.weight, 48.0 / math.sqrt(2) / math.sqrt(3), rel=0.05)  # U(±1/√d)·scale/√(L+1)
        check_uniform(filter_.bias, math.pi, rel=0.1)  # phases U(-π, π)
    for linear in field.linears:
        check_uniform(linear.weight, math.sqrt(2.0 / 2048), rel=0.02)
        assert linear.bias.abs().max() <= 1 / math.sqrt(2048)
    x = torch.rand(7, 2, generator=torch.Generator().manual_seed(3)) * 2 - 1

    def g(i):
        return torch.sin(x @ field.filters[i].weight.T + field.filters[i].bias)

    z = g(0)
    for i, linear in enumerate(field.linears, start=1):
        z = g(i) * (z @ linear.weight.T + linear.bias)
    torch.testing.assert_close(field(x), z @ field.head.weight.T + field.head.bias, rtol=1e-4, atol=1e-4)
    with pytest.raises(SinetuneError, match="must equal hidden_width"):
        get_method("mfn").resolve(MfnOptions(input_width=32, hidden_width=16), (32, 32))
    assert get_method("mfn").resolve(MfnOptions(input_scale=256.0), (32, 32)).input_scale == 256.0


# --- BACON ---------------------------------------------------------------------------------------

def test_bacon_filters_and_linear_layers_follow_the_formula():
    options, built = build("bacon", BaconOptions(input_width=2048, hidden_width=2048, hidden_layers=2,
                                                 input_scales=(0.25, 0.25, 0.5)), grid_shape=(64, 48), channels=2)
    # the 48 samples of the smallest axis are one period; f = its samples per period; m_i = round(f s_i / 2)
    assert options.period == pytest.approx(2 * 48 / 47) and options.max_freq == pytest.approx(48.0)
    assert bacon_module.filter_limits(options) == [6, 6, 12] and bacon_module.band_limits(options) == [6, 12, 24]
    field = built.field
    assert len(field.filters) == 3 and len(field.linears) == 2
    for filter_, limit in zip(field.filters, (6, 6, 12)):
        k = filter_.input_frequencies
        assert k.dtype == torch.int64 and k.shape == (2048, 2) and "input_frequencies" in dict(filter_.named_buffers())
        assert k.abs().max() == limit and set(k.unique().tolist()) == set(range(-limit, limit + 1))
        # discrete uniform on {-m, …, m}: variance m (m + 1) / 3
        assert k.double().var().item() == pytest.approx(limit * (limit + 1) / 3, rel=0.05)
        torch.testing.assert_close(filter_.angular_frequencies, 2 * math.pi / options.period * k.double())
        check_uniform(filter_.phases, math.pi, rel=0.1)  # φ ~ U(-π, π), trained
    assert {name for name, p in field.named_parameters()} == {
        "filters.0.phases", "filters.1.phases", "filters.2.phases", "linears.0.weight", "linears.0.bias",
        "linears.1.weight", "linears.1.bias", "head.weight", "head.bias"}  # frequencies are not parameters
    for linear in (*field.linears, field.head):
        check_uniform(linear.weight, math.sqrt(6 / 2048), rel=0.05)
        assert linear.bias.abs().max() <= 1 / math.sqrt(2048)
    x = torch.rand(7, 2, generator=torch.Generator().manual_seed(3)) * 2 - 1

    def g(i):
        return torch.sin(x @ field.filters[i].angular_frequencies.float().T + field.filters[i].phases)

    z = g(0)
    for i, linear in enumerate(field.linears, start=1):
        z = g(i) * (z @ linear.weight.T + linear.bias)
    torch.testing.assert_close(field(x), z @ field.head.weight.T + field.head.bias, rtol=1e-4, atol=1e-4)


def layer_features(field, coords):
    """``z_0 … z_L`` of a multiplicative filter field (the recursion its ``forward`` runs)."""
    features = [field.filters[0](coords)]
    for filter_, linear in zip(field.filters[1:], field.linears):
        features.append(filter_(coords) * linear(features[-1]))
    return features


def test_bacon_layer_i_has_no_energy_beyond_its_band_limit():
    n = 64  # default period 2n/(n-1): the n grid samples are exactly one period, so the DFT does not leak
    options, built = build("bacon", BaconOptions(input_width=32, hidden_width=32, input_scales=(0.125, 0.125, 0.25,
                                                                                                0.25, 0.25)),
                           grid_shape=(n, n))
    limits = bacon_module.band_limits(options)
    assert limits == [4, 8, 16, 24, 32]  # the image config's multiscale schedule: f/16, f/8, f/4, 3f/8, f/2
    field = built.field.double()
    axis = torch.linspace(-1, 1, n, dtype=torch.float64)
    grid_y, grid_x = torch.meshgrid(axis, axis, indexing="ij")
    coords = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)
    bins = np.abs(np.fft.fftfreq(n, 1 / n))  # signed integer frequency of each DFT bin, in cycles per period
    band = np.maximum(bins[:, None], bins[None, :])
    with torch.no_grad():
        features = layer_features(field, coords)
        torch.testing.assert_close(field.head(features[-1]), field(coords))
    for i, (z, limit) in enumerate(zip(features, limits)):
        power = (np.abs(np.fft.fft2(z.numpy().reshape(n, n, -1), axes=(0, 1))) ** 2).sum(axis=-1)
        assert power[band > limit].sum() < 1e-20 * power.sum(), f"layer {i} leaks beyond {limit}"
        if i > 0:  # ... and the band does grow: layer i has energy beyond layer i-1's limit
            assert power[(band > limits[i - 1]) & (band <= limit)].sum() > 1e-3 * power.sum()


def test_bacon_is_deterministic_by_generator_and_its_frequencies_stay_frozen():
    options = BaconOptions(input_width=16, hidden_width=16, hidden_layers=2)
    _, first = build("bacon", options, grid_shape=(16, 16), seed=3)
    _, again = build("bacon", options, grid_shape=(16, 16), seed=3)
    _, other = build("bacon", options, grid_shape=(16, 16), seed=4)
    for key, value in first.field.state_dict().items():
        assert torch.equal(value, again.field.state_dict()[key]), key
    assert not torch.equal(first.field.filters[0].input_frequencies, other.field.filters[0].input_frequencies)
    frozen = [f.input_frequencies.clone() for f in first.field.filters]
    coords = grid_coordinates((16, 16))
    train(first.field, coords, torch.from_numpy(smooth_values(16).reshape(-1, 3)), TrainOptions(steps=3), 5e-3)
    assert all(torch.equal(f.input_frequencies, k) for f, k in zip(first.field.filters, frozen))
    assert not torch.equal(first.field.filters[0].phases, again.field.filters[0].phases)  # phases train


def test_bacon_defaults_and_explain():
    defaults = BaconOptions()
    assert (defaults.hidden_width, defaults.hidden_layers, defaults.input_scales) == (256, 4, None)
    options = get_method("bacon").resolve(defaults, (256, 256))
    # equal scales (the code's BACON class): m = round(256 / 10) = 26 each, 130 > Nyquist 128, as released
    assert options.input_scales == (0.2,) * 5 and bacon_module.band_limits(options)[-1] == 130
    line = get_method("bacon").explain(options, (256, 256))
    assert "26, 52, 78, 104, 130" in line and "Nyquist 128.0; the last is above it by 2.0" in line
    given = get_method("bacon").resolve(BaconOptions(period=3.0, max_freq=40.0), (256, 256))
    assert (given.period, given.max_freq) == (3.0, 40.0) and bacon_module.filter_limits(given) == [4] * 5
    # 1-D (audio): the same rule on the sample axis
    audio, built = build("bacon", BaconOptions(input_width=8, hidden_width=8, hidden_layers=1), grid_shape=(1001,),
                         channels=1)
    assert audio.period == pytest.approx(2 * 1001 / 1000) and bacon_module.band_limits(audio) == [250, 500]
    assert built.field(torch.linspace(-1, 1, 1001)[:, None]).shape == (1001, 1)


# --- resolve validation -------------------------------------------------------------------------

@pytest.mark.parametrize("name, kwargs, message", [
    ("ssn", {"hidden_width": 0}, "hidden_width"),
    ("ssn", {"bandwidth_fraction": 0.0}, "bandwidth_fraction"),
    ("ffn", {"sigma": -1.0}, "sigma"),
    ("ffn", {"output": "tanh"}, "output"),
    ("finer", {"first_bias_scale": 0.0}, "first_bias_scale"),
    ("finer", {"first_omega": 0.0}, "omega"),
    ("wire", {"hidden_width": 1}, "width"),
    ("gauss", {"scale": 0.0}, "scale"),
    ("mfn", {"weight_scale": 0.0}, "weight_scale"),
    ("siren2", {"preset": "blog", "centroid": 0.1}, "preset"),
    ("bacon", {"hidden_width": 16}, "must equal hidden_width"),
    ("bacon", {"input_scales": (0.5, 0.5)}, "input_scales needs hidden_layers \\+ 1 = 5 values"),
    ("bacon", {"input_scales": (0.2, 0.2, 0.2, 0.2, -0.2)}, "input_scales"),
    ("bacon", {"max_freq": -1.0}, "max_freq"),
    ("bacon", {"max_freq": 2.0}, "rounds to 0"),
    ("bacon", {"period": 0.0}, "period"),
])
def test_resolve_rejects_invalid_options(name, kwargs, message):
    options = dataclasses.replace(get_method(name).options_type(), **kwargs)
    with pytest.raises(SinetuneError, match=message):
        get_method(name).resolve(options, (32, 32))


# --- tiny fits ----------------------------------------------------------------------------------
# Thresholds: ~2 dB below what seed 0 reached when measured (200 full-batch steps, one thread). The
# learning rates are the tiny nets' (32 wide); a 15.0 dB constant (mean) prediction is the floor.

FITS = [
    ("siren2", Siren2Options(input_width=32, hidden_width=32, hidden_layers=1), 32, 1e-3, 30.0),   # 32.0
    ("ssn", SsnOptions(input_width=32, hidden_width=32, hidden_layers=1), 32, 5e-3, 27.5),          # 29.5
    ("ffn", FfnOptions(input_width=32, hidden_width=32, hidden_layers=1, sigma=1.0), 32, 5e-3, 34.5),  # 36.6
    ("finer", FinerOptions(input_width=32, hidden_width=32, hidden_layers=1), 32, 5e-3, 26.5),      # 28.8
    ("wire", WireOptions(input_width=32, hidden_width=32, hidden_layers=1, omega=10.0, scale=10.0), 16, 5e-3,
     30.0),                                                                                          # 32.4
    ("gauss", GaussOptions(input_width=32, hidden_width=32, hidden_layers=1, scale=10.0), 32, 5e-3, 30.0),  # 32.4
    ("mfn", MfnOptions(input_width=32, hidden_width=32, hidden_layers=1), 32, 1e-2, 34.0),          # 36.4
    ("bacon", BaconOptions(input_width=32, hidden_width=32, hidden_layers=3), 32, 1e-2, 27.5),      # 29.8
]


@pytest.mark.parametrize("name, options, size, lr, threshold", FITS, ids=[f[0] for f in FITS])
def test_each_peer_fits_a_tiny_smooth_image(name, options, size, lr, threshold):
    values = smooth_values(size)
    _, built = build(name, options, grid_shape=(size, size), values=values)
    coords = grid_coordinates((size, size))
    result = train(built.field, coords, torch.from_numpy(values.reshape(-1, 3)), TrainOptions(steps=200, log_every=50),
                   lr, built.constraints, built.penalties)
    assert not result.diverged
    assert result.history[-1]["train_psnr"] > threshold
    assert result.history[-1]["train_psnr"] > result.history[0]["train_psnr"]
