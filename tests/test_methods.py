"""Method recipes: SIREN init (peers-spec §1) and TUNER build/resolve (tuner-spec §1–3, Appendix B)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from conftest import build, check_uniform, smooth_and_busy

from sinetune import SinetuneError, SirenOptions, TunerOptions
from sinetune.constraints import BoundPenalty, ColumnClamp, PositiveBounds
from sinetune.methods import METHODS, get_method, tuner
from sinetune.spectral import block_column_bounds, energy_radius


def test_registry_and_unknown_method():
    assert {"tuner", "siren"} <= set(METHODS)  # peer methods: tests/test_peers.py
    assert get_method("tuner").options_type is TunerOptions
    assert get_method("siren").default_lr == 1e-4 and get_method("tuner").default_lr == 5e-4
    with pytest.raises(SinetuneError, match="unknown method 'foo'.*tuner, siren"):
        get_method("foo")


# --- SIREN --------------------------------------------------------------------------------------

def test_siren_init_follows_the_official_code():
    options = SirenOptions(input_width=4096, hidden_width=64, hidden_layers=2, first_omega=30.0, hidden_omega=25.0)
    _, built = build("siren", options, channels=512)
    field = built.field
    assert built.constraints == [] and built.penalties == []
    first = field.encoding
    assert first.omega == 30.0
    check_uniform(first.weight, 1 / 2)  # U(-1/d, 1/d), d = 2 coordinates (stored weight)
    check_uniform(first.bias, 1 / math.sqrt(2))
    fan_ins = [4096, 64]
    for layer, fan_in in zip(field.hidden, fan_ins):
        assert layer.omega == 25.0
        check_uniform(layer.weight, math.sqrt(6 / fan_in) / 25.0, rel=0.1)
        assert layer.bias.abs().max() <= 1 / math.sqrt(fan_in)
    check_uniform(field.head.weight, math.sqrt(6 / 64) / 25.0, rel=0.1)  # head: hidden bound, n = fan-in
    assert field.head.bias.abs().max() <= 1 / math.sqrt(64)


def test_siren_first_layer_bound_uses_coordinate_dimension():
    _, built = build("siren", SirenOptions(input_width=3000, hidden_width=8, hidden_layers=1), grid_shape=(64,))
    check_uniform(built.field.encoding.weight, 1.0)  # d = 1: U(-1, 1)
    check_uniform(built.field.encoding.bias, 1.0)


def test_siren_forward_is_sine_of_omega_times_affine(generator):
    _, built = build("siren", SirenOptions(input_width=8, hidden_width=8, hidden_layers=1))
    field = built.field
    x = torch.rand(10, 2, generator=generator) * 2 - 1
    first, hidden = field.encoding, field.hidden[0]
    h = torch.sin(30.0 * (x @ first.weight.T + first.bias))
    h = torch.sin(30.0 * (h @ hidden.weight.T + hidden.bias))
    torch.testing.assert_close(field(x), h @ field.head.weight.T + field.head.bias, rtol=1e-5, atol=1e-5)


def test_siren_shapes_and_parameter_count():
    _, built = build("siren", SirenOptions(input_width=16, hidden_width=12, hidden_layers=3), channels=1)
    count = sum(p.numel() for p in built.field.parameters())
    assert count == (2 * 16 + 16) + (16 * 12 + 12) + 2 * (12 * 12 + 12) + (12 + 1)
    assert built.field(torch.zeros(4, 2)).shape == (4, 1)


@pytest.mark.parametrize("kwargs", [{"input_width": 0}, {"hidden_width": 0}, {"hidden_layers": -1},
                                    {"first_omega": 0.0}, {"hidden_omega": -30.0}])
def test_siren_resolve_validation(kwargs):
    with pytest.raises(SinetuneError):
        get_method("siren").resolve(SirenOptions(**kwargs), (32, 32))


def test_build_is_deterministic_given_the_generator():
    _, a = build("siren", SirenOptions(input_width=8, hidden_width=8), seed=1)
    _, b = build("siren", SirenOptions(input_width=8, hidden_width=8), seed=1)
    _, c = build("siren", SirenOptions(input_width=8, hidden_width=8), seed=2)
    for (name, x), (_, y), (_, z) in zip(a.field.state_dict().items(), b.field.state_dict().items(),
                                         c.field.state_dict().items()):
        assert torch.equal(x, y), name
    assert not torch.equal(a.field.head.weight, c.field.head.weight)
    _, t1 = build("tuner", TunerOptions(input_width=16, hidden_width=8), seed=1)
    _, t2 = build("tuner", TunerOptions(input_width=16, hidden_width=8), seed=1)
    _, t3 = build("tuner", TunerOptions(input_width=16, hidden_width=8), seed=2)
    assert torch.equal(t1.field.encoding.input_frequencies, t2.field.encoding.input_frequencies)
    assert torch.equal(t1.field.hidden[0].weight, t2.field.hidden[0].weight)
    assert not torch.equal(t1.field.encoding.phases, t3.field.encoding.phases)


# --- TUNER --------------------------------------------------------------------------------------

def test_tuner_encoding_frequencies_frozen_phases_trainable():
    options, built = build("tuner", TunerOptions(input_width=64, hidden_width=32), grid_shape=(64, 64))
    field = built.field
    params = dict(field.named_parameters())
    state = field.state_dict()
    assert "encoding.input_frequencies" in state and "encoding.angular_frequencies" in state
    assert not any("frequencies" in name for name in params)
    assert params["encoding.phases"].requires_grad
    phases = field.encoding.phases.detach()
    assert phases.abs().max() <= math.pi / 2 and phases.abs().max() > 1.2  # U(-π/2, π/2)
    k = field.encoding.input_frequencies
    assert k.dtype == torch.int64 and k.shape == (64, 2)
    torch.testing.assert_close(field.encoding.angular_frequencies, 2 * math.pi / options.period * k.double())
    assert k.abs().max() <= options.band_limit
    assert k[:2].tolist() == [[1, 0], [0, 1]]


def test_tuner_first_hidden_init_is_gaussian_per_column():
    # wide hidden layer: 2048 rows per column; pooled std per bound group ≈ 0.3 c_j
    options, built = build("tuner", TunerOptions(input_width=64, hidden_width=2048, block_bounds=(1.0, 0.6)),
                           grid_shape=(64, 64))
    layer = built.field.hidden[0]
    bounds = layer.column_bounds
    effective = layer.effective_weight().detach()
    assert sorted({round(v, 6) for v in bounds.tolist()}) == [0.6, 1.0]
    for value in (1.0, 0.6):
        group = effective[:, (bounds - value).abs() < 1e-6]
        assert group.shape[1] > 5
        assert group.std().item() == pytest.approx(0.3 * value, rel=0.03)
        assert group.mean().abs().item() < 0.01 * value
        assert group.abs().max().item() <= value + 1e-6
    assert (effective.abs() <= bounds + 1e-6).all()
    # per column as well (2048 samples each)
    column_std = effective.std(dim=0)
    torch.testing.assert_close(column_std, 0.3 * bounds, rtol=0.08, atol=0)


def test_tuner_siren_hidden_init_option():
    _, built = build("tuner", TunerOptions(input_width=64, hidden_width=2048, hidden_init="siren"), grid_shape=(64, 64))
    layer = built.field.hidden[0]
    # effective SIREN init ω·U(±√(6/n)/ω) = U(±√(6/64)) ≈ ±0.306, inside every bound
    check_uniform(layer.effective_weight(), math.sqrt(6 / 64))


def test_tuner_column_bounds_follow_the_block_rule():
    options, built = build("tuner", TunerOptions(input_width=64, hidden_width=8, block_bounds=(1.0, 0.4)),
                           grid_shape=(64, 64))
    k = built.field.encoding.input_frequencies.numpy()
    expected = block_column_bounds(k, options.block_limits, options.block_bounds)
    assert options.block_limits == (options.low_range,)
    np.testing.assert_allclose(built.field.hidden[0].column_bounds.numpy(), expected, rtol=1e-6)
    magnitude = np.abs(k).max(axis=1)
    bounds = built.field.hidden[0].column_bounds.numpy()
    assert (bounds[magnitude <= options.low_range] == 1.0).all()
    np.testing.assert_allclose(bounds[magnitude > options.low_range], 0.4, rtol=1e-6)
    assert (magnitude > options.low_range).any() and (magnitude <= options.low_range).any()


# max|K_j| = 1, 1, 2, 2, 3, 3: the 2s sit on the block limit
EDGE_FREQUENCIES = ((1, 0), (0, 1), (2, 0), (1, -2), (3, 1), (0, 3))


@pytest.mark.parametrize("edge, expected", [("lower", [1.0, 1.0, 1.0, 1.0, 0.5, 0.5]),
                                            ("upper", [1.0, 1.0, 0.5, 0.5, 0.5, 0.5])])
@pytest.mark.parametrize("bound_mode", ["clamp", "learned"])
def test_tuner_block_edge_decides_the_block_of_a_frequency_on_the_limit(edge, expected, bound_mode):
    options = TunerOptions(input_width=6, hidden_width=512, input_frequencies=EDGE_FREQUENCIES, block_limits=(2,),
                           block_bounds=(1.0, 0.5), block_edge=edge, bound_mode=bound_mode)
    resolved, built = build("tuner", options, grid_shape=(32, 32))
    assert resolved.block_edge == edge
    layer = built.field.hidden[0]
    np.testing.assert_allclose(layer.column_bounds.detach().numpy(), expected)
    # the init and (clamp) the projection respect the per-column bound: the on-limit columns hold
    # |Ŵ| ≤ 1.0 under "lower" and ≤ 0.5 under "upper"
    bounds = torch.tensor(expected)
    assert (layer.effective_weight().abs() <= bounds + 1e-6).all()
    assert (layer.effective_weight()[:, 2:4].abs().max() > 0.5) == (edge == "lower")
    if bound_mode == "clamp":
        with torch.no_grad():
            layer.weight.fill_(10.0)
        ColumnClamp(layer).apply()
        torch.testing.assert_close(layer.effective_weight()[0], bounds)


def test_tuner_block_edge_default_and_validation():
    assert TunerOptions().block_edge == "lower"  # the authors' code, and every benchmark so far
    with pytest.raises(SinetuneError, match="block_edge must be lower or upper"):
        get_method("tuner").resolve(TunerOptions(input_width=16, block_edge="middle"), (32, 32))


def test_tuner_head_init():
    _, built = build("tuner", TunerOptions(input_width=16, hidden_width=1024), channels=256)
    check_uniform(built.field.head.weight, math.sqrt(6 / 1024) / 30.0)
    assert built.field.head.bias.abs().max() <= 1 / math.sqrt(1024)
    assert built.field.hidden[0].bias.abs().max() <= 1 / math.sqrt(16)


@pytest.mark.parametrize("shift", [(1, 0), (0, 1), (1, -1), (-2, 3)])
def test_tuner_field_is_periodic(shift):
    options, built = build("tuner", TunerOptions(input_width=64, hidden_width=64), grid_shape=(64, 64))
    field = built.field
    x = torch.rand(300, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    offset = torch.tensor(shift, dtype=torch.float32) * options.period
    with torch.no_grad():
        torch.testing.assert_close(field(x + offset), field(x), rtol=0, atol=1e-4)
        # and not periodic with a wrong period
        assert (field(x + torch.tensor([1.0, 0.0])) - field(x)).abs().max() > 1e-2


def test_tuner_learned_bounds_build():
    options, built = build("tuner", TunerOptions(input_width=32, hidden_width=64, bound_mode="learned",
                                                 bound_penalty=1e-3, band_fraction=0.3))
    layer = built.field.hidden[0]
    assert layer.bound_mode == "learned"
    assert "hidden.0.scaled_bounds" in dict(built.field.named_parameters())
    effective = layer.effective_weight().detach()
    torch.testing.assert_close(effective, layer.column_bounds.detach() * torch.tanh(30.0 * layer.weight.detach()))
    assert (effective.abs() <= layer.column_bounds.detach()).all()
    assert [type(c) for c in built.constraints] == [PositiveBounds]
    assert [type(p) for p in built.penalties] == [BoundPenalty]
    assert built.penalties[0].weight == 1e-3
    expected = 1e-3 * layer.column_bounds.detach().abs().sum()
    torch.testing.assert_close(built.penalties[0]().detach(), expected)


def test_tuner_clamp_and_none_modes_build():
    _, clamp = build("tuner", TunerOptions(input_width=16, hidden_width=8))
    assert [type(c) for c in clamp.constraints] == [ColumnClamp] and clamp.penalties == []
    _, free = build("tuner", TunerOptions(input_width=16, hidden_width=8, bound_mode="none"))
    assert free.constraints == [] and free.penalties == []
    assert free.field.hidden[0].bound_mode == "none"


def test_tuner_deep_layers_get_the_deep_bound():
    _, built = build("tuner", TunerOptions(input_width=16, hidden_width=32, hidden_layers=3, deep_bound=0.25))
    assert len(built.field.hidden) == 3 and len(built.constraints) == 3
    for layer in built.field.hidden[1:]:
        assert layer.bound_mode == "clamp"
        torch.testing.assert_close(layer.column_bounds, torch.full((32,), 0.25))
        assert layer.effective_weight().abs().max() <= 0.25 + 1e-6
    _, unbounded = build("tuner", TunerOptions(input_width=16, hidden_width=32, hidden_layers=2, deep_bound=None))
    assert unbounded.field.hidden[1].bound_mode == "none" and len(unbounded.constraints) == 1


def test_tuner_parameter_count_matches_appendix_b():
    # 416/416/3: 416 (φ) + 416·416 + 416 + 416·3 + 3 = 175 139; Ω (832 integers) frozen
    options, built = build("tuner", TunerOptions(input_width=416, hidden_width=416), grid_shape=(512, 512))
    field = built.field
    assert options.band_limit == 53  # floor(0.2 · 2.1 · 511 / 4)
    trainable = sum(p.numel() for p in field.parameters() if p.requires_grad)
    assert trainable == 175139
    assert field.encoding.input_frequencies.numel() == 832


def test_tuner_explicit_input_frequencies():
    k = [(1, 0), (0, 1), (1, 1), (2, -1), (5, 0), (0, -7)]
    options, built = build("tuner", TunerOptions(input_width=6, hidden_width=4, input_frequencies=tuple(k),
                                                block_bounds=(1.0, 0.6)))
    assert built.field.encoding.input_frequencies.tolist() == [list(r) for r in k]
    assert options.band_limit == 7 and options.low_range == 3 and options.block_limits == (3,)
    np.testing.assert_allclose(built.field.hidden[0].column_bounds.numpy(), [1, 1, 1, 1, 0.6, 0.6], rtol=1e-6)


def test_tuner_resolve_fills_resolution_defaults():
    options = get_method("tuner").resolve(TunerOptions(input_width=16, band_fraction=0.3), (32, 32))
    assert (options.band_limit, options.low_range, options.block_limits) == (4, 2, (2,))
    explicit = get_method("tuner").resolve(TunerOptions(input_width=16, band_limit=10, low_range=3,
                                                        block_limits=(3, 6), block_bounds=(1, 0.5, 0.2)), (32, 32))
    assert (explicit.band_limit, explicit.low_range, explicit.block_limits) == (10, 3, (3, 6))
    assert explicit.block_bounds == (1.0, 0.5, 0.2)
    # resolving twice changes nothing
    assert get_method("tuner").resolve(options, (32, 32)) == options


def test_tuner_spectrum_rule_follows_the_target():
    method = get_method("tuner")
    options = TunerOptions(input_width=64, hidden_width=16, band_rule="spectrum")
    smooth, busy = smooth_and_busy(128)
    chosen = {}
    for name, values in (("smooth", smooth), ("busy", busy)):
        prepared = method.prepare(options, values)
        radius = prepared.energy_radius
        assert radius == pytest.approx(energy_radius(values, 0.99), abs=1e-6)
        low, high = tuner.SPECTRUM_BAND_RANGE
        assert prepared.band_fraction >= min(max(tuner.SPECTRUM_BAND_GAIN * radius, low), high) - 1e-6
        chosen[name] = method.resolve(prepared, (128, 128))
        nyquist = 2.1 * 127 / 4
        assert chosen[name].band_limit == math.floor(prepared.band_fraction * nyquist)
    assert chosen["smooth"].band_limit < chosen["busy"].band_limit
    # the band is never too narrow for input_width distinct frequencies
    assert chosen["smooth"].input_width <= (2 * chosen["smooth"].band_limit + 1) ** 2 // 2
    # the resolution rule ignores the values; an explicit band_limit, a known radius and given frequencies win
    assert method.prepare(TunerOptions(input_width=64), busy) == TunerOptions(input_width=64)
    given = dataclasses.replace(options, band_limit=7)
    assert method.prepare(given, busy) == given
    known = method.prepare(options, busy)
    assert method.prepare(known, smooth) == known  # a saved config rebuilds as it was trained


def test_tuner_spectrum_rule_round_trips_through_config(tmp_path):
    from sinetune.config import RunConfig, load_config, save_config
    method = get_method("tuner")
    _, busy = smooth_and_busy(128)
    resolved = method.resolve(method.prepare(TunerOptions(input_width=64, hidden_width=16, band_rule="spectrum"),
                                             busy), (128, 128))
    config = RunConfig(method="tuner", options=resolved)
    save_config(config, tmp_path / "config.yaml")
    loaded = load_config(tmp_path / "config.yaml")
    assert loaded.options == resolved
    assert method.resolve(method.prepare(loaded.options, busy[::2, ::2]), (128, 128)) == resolved


@pytest.mark.parametrize("kwargs, message", [({"band_rule": "auto"}, "band_rule"),
                                             ({"band_energy": 0.0}, "band_energy"),
                                             ({"band_energy": 1.5}, "band_energy")])
def test_tuner_spectrum_rule_validation(kwargs, message):
    with pytest.raises(SinetuneError, match=message):
        get_method("tuner").prepare(dataclasses.replace(TunerOptions(input_width=16), **kwargs),
                                    np.zeros((32, 32, 1)))


def test_tuner_explain_names_the_rule():
    method = get_method("tuner")
    resolution = method.resolve(TunerOptions(input_width=16, band_fraction=0.3), (32, 32))
    line = method.explain(resolution, (32, 32))
    assert "b = 4 " in line and "resolution rule" in line
    given = method.resolve(TunerOptions(input_width=16, band_limit=9), (32, 32))
    assert "b = 9 " in method.explain(given, (32, 32)) and "given" in method.explain(given, (32, 32))
    _, busy = smooth_and_busy(128)
    spectrum = method.resolve(method.prepare(TunerOptions(input_width=16, band_rule="spectrum"), busy), (128, 128))
    line = method.explain(spectrum, (128, 128))
    assert "spectrum rule" in line and f"{spectrum.energy_radius:.3f} of Nyquist" in line


@pytest.mark.parametrize("kwargs, message", [
    ({"input_width": 2}, "input_width 2 is too small"),
    ({"input_width": 41}, "exceeds the 40 distinct input frequencies"),
    ({"hidden_width": 0}, "hidden_width"),
    ({"hidden_layers": 0}, "hidden_layers"),
    ({"period": 0.0}, "period"),
    ({"low_fraction": 1.5}, "low_fraction"),
    ({"band_fraction": 0.0}, "band_fraction"),
    ({"band_limit": 2, "low_range": 3}, "low_range"),
    ({"block_bounds": (1.0,)}, "block_bounds"),
    ({"block_bounds": (1.0, -0.5)}, "block_bounds"),
    ({"bound_mode": "soft"}, "bound_mode"),
    ({"input_frequencies": ((1, 0), (0, 1))}, "does not match"),
    ({"input_width": 3, "input_frequencies": ((1, 0, 0), (0, 1, 0), (1, 1, 1))}, "2-integer rows"),
])
def test_tuner_resolve_validation(kwargs, message):
    options = dataclasses.replace(TunerOptions(input_width=16, band_fraction=0.3), **kwargs)
    with pytest.raises(SinetuneError, match=message):
        get_method("tuner").resolve(options, (32, 32))


@pytest.mark.parametrize("deep_bound, mode", [(0.0, "learned"), (0.0, "clamp"), (-1.0, "clamp")])
def test_tuner_deep_bound_must_be_positive(deep_bound, mode):
    with pytest.raises(SinetuneError, match="deep_bound"):
        get_method("tuner").resolve(TunerOptions(input_width=16, hidden_width=8, hidden_layers=2,
                                                 deep_bound=deep_bound, bound_mode=mode), (32, 32))
